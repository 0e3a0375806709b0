"""Where credentials are found in a request, and what a token says once verified (shared by
authentication and rate limiting)."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from werkzeug.datastructures import Authorization

from . import security

APP_TOKEN_HEADER = "x-application-token"
ACCESS_TOKEN_HEADER = "x-access-token"


def presented_access_token() -> str | None:
    """The JWT from `x-access-token` or `Authorization: Bearer`."""
    token = request.headers.get(ACCESS_TOKEN_HEADER)
    if token:
        return token.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def presented_app_token() -> str | None:
    return request.headers.get(APP_TOKEN_HEADER) or None


def basic_authorization() -> Authorization | None:
    """The parsed `Authorization: Basic` header, or None when absent, of another scheme or bad."""
    try:
        auth = request.authorization
    except ValueError:  # Werkzeug lets base64 with non-ASCII characters raise
        return None
    return auth if auth is not None and auth.type == "basic" else None


def verified_claims(token: str, token_type: str = "access") -> dict[str, Any]:
    """The token's claims, verified once per request (`security.decode_token`); raises its
    TokenError when the token must be refused.

    The rate limiter's key and the decorators both need the request's access token verified:
    the result is kept on `g`, for this request only, so the signature is checked once.
    """
    memo = g.setdefault("verified_tokens", {})
    found = memo.get((token, token_type))
    if found is None:
        try:
            found = security.decode_token(token, current_app.config["SECRET_KEY"], token_type)
        except security.TokenError as error:
            found = error
        memo[token, token_type] = found
    if isinstance(found, security.TokenError):
        raise found
    return dict(found)  # the caller's own copy
