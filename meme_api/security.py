"""Security primitives as pure functions: passwords, access/refresh tokens, app tokens.

Nothing here touches Flask or the database, so each piece is trivial to test on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any

import jwt
from werkzeug.security import check_password_hash, generate_password_hash

JWT_ALGORITHM = "HS256"
TOKEN_TYPES = ("access", "refresh")
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "type", "sid"]
APP_TOKEN_PREFIX = "mapp_"
APP_TOKEN_BYTES = 32  # 256 random bits
# Seconds a token's `iat` may lie in the future (the clocks of the instances that issue and check
# tokens may differ by that much), and its lifetime (`exp` - `iat`) exceed the configured one.
TOKEN_LEEWAY = 30


# --- passwords -----------------------------------------------------------------------------

def hash_password(password: str, method: str | None = None) -> str:
    """Hash with Werkzeug's current default (scrypt) unless a method is named."""
    if method:
        return generate_password_hash(password, method=method)
    return generate_password_hash(password)


@cache
def _dummy_hash(method: str | None) -> str:
    return hash_password(secrets.token_urlsafe(16), method)


def verify_password(password_hash: str | None, password: str, method: str | None = None) -> bool:
    """Check a password; with no hash (unknown user) do the same work against a dummy hash."""
    if password_hash is None:
        check_password_hash(_dummy_hash(method), password)
        return False
    return check_password_hash(password_hash, password)


# --- access and refresh tokens -------------------------------------------------------------

class TokenError(Exception):
    """A token that must be refused; the message is safe to show to the client."""


class TokenExpired(TokenError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int


def issue_token(secret: str, *, subject: str, session_id: str, token_type: str, ttl: int,
                now: datetime | None = None) -> IssuedToken:
    """Sign a JWT of the given type for a user (`sub`) within a login session (`sid`)."""
    if token_type not in TOKEN_TYPES:
        raise ValueError(f"unknown token type {token_type!r}")
    issued = now or datetime.now(UTC)
    jti = str(uuid.uuid4())
    claims = {
        "sub": subject,
        "sid": session_id,
        "type": token_type,
        "jti": jti,
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl),
    }
    return IssuedToken(jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), jti, ttl)


# Verified claims by token, so that a client's token is checked once, not on every request and
# again by the rate limiter: the signature and claim checks cost more than the database lookups
# (measured: BENCHMARKS.md, "Issue 14"). Only correctly signed tokens are kept, keyed by token and
# secret: what is kept cannot become false. What time changes is checked on every use (the
# lifetime, below); a claim check added later that depends on time (`nbf`) must go there too.
VERIFIED_TOKENS_KEPT = 4096


@lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verified_claims(token: str, secret: str) -> Mapping[str, Any]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            # `iat` is checked by `decode_token`, with a leeway PyJWT would also give `exp`.
            options={"require": REQUIRED_CLAIMS, "verify_iat": False},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("Token has expired") from None
    except jwt.PyJWTError:
        raise TokenError("Token is invalid") from None
    if not _well_typed(claims):
        raise TokenError("Token is invalid")
    return MappingProxyType(claims)


def _is_numeric_date(value: Any) -> bool:
    """A JSON number of seconds (RFC 7519 NumericDate): not a string, a boolean or infinite."""
    return type(value) in (int, float) and math.isfinite(value)


def _well_typed(claims: Mapping[str, Any]) -> bool:
    """Every claim we read has the type we read it as (PyJWT accepts `"exp": "1700000000"`)."""
    return (claims.get("type") in TOKEN_TYPES
            and all(isinstance(claims.get(name), str) for name in ("sub", "sid", "jti"))
            and all(_is_numeric_date(claims.get(name)) for name in ("iat", "exp")))


def decode_token(token: str, secret: str, expected_type: str, *,
                 max_lifetime: int) -> dict[str, Any]:
    """Verify signature (HS256 only), every required claim, the token type and the times.

    Refused: expired (at `exp` exactly, PyJWT's rule), issued in the future, or made to live
    longer than `max_lifetime` seconds (the configured lifetime of its type), each beyond
    `TOKEN_LEEWAY`.
    """
    claims = _verified_claims(token, secret)
    now = time.time()
    if claims["exp"] <= now:
        raise TokenExpired("Token has expired")
    if claims["type"] != expected_type:
        raise TokenError("Token is invalid")
    if claims["iat"] > now + TOKEN_LEEWAY:
        raise TokenError("Token is invalid")
    if claims["exp"] - claims["iat"] > max_lifetime + TOKEN_LEEWAY:
        raise TokenError("Token is invalid")
    return dict(claims)  # the caller's own copy; the kept claims stay as verified


def verified_subject(token: str, secret: str, max_lifetime: int) -> str | None:
    """The `sub` of a valid access token (verified like any other), or None; for keying rate
    limits."""
    try:
        return decode_token(token, secret, "access", max_lifetime=max_lifetime)["sub"]
    except TokenError:
        return None


def new_session_id() -> str:
    return str(uuid.uuid4())


# --- client application tokens -------------------------------------------------------------

def new_app_token() -> str:
    """A fresh application token: a recognisable prefix and 256 random bits."""
    return APP_TOKEN_PREFIX + secrets.token_urlsafe(APP_TOKEN_BYTES)


def hash_app_token(token: str) -> str:
    """SHA-256 of the token: it has full entropy, so a fast hash is the right one to store."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def app_token_matches(stored_hash: str | None, presented_hash: str) -> bool:
    """Compare two token hashes in constant time."""
    return stored_hash is not None and hmac.compare_digest(stored_hash, presented_hash)
