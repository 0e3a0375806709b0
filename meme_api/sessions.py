"""Login sessions: issuing token pairs, refresh rotation with reuse detection, revocation.

Every access and refresh token names its session (`sid`). Revoking the session row revokes its
tokens on every worker and instance that shares the database, on their very next request.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, has_request_context, request
from sqlalchemy import update

from . import security
from .audit import record
from .auth import Caller, authenticate, user_token_error
from .extensions import db
from .metrics import REFRESH_REUSE
from .models import AuthSession, User, utcnow
from .ratelimits import client_address
from .resource import Body, object_schema
from .shapes import Field, Shape

LOGIN = Shape("LoginBody", {
    "username": Field("string", max_length=1024),
    "password": Field("string", max_length=1024, write_only=True),
}, description="alternative to HTTP Basic credentials")
REFRESH = Shape("RefreshBody", {
    "refresh_token": Field("string", required=True, max_length=4096, write_only=True),
})
# What logging in, refreshing and changing one's password answer.
LOGIN_ANSWER = Body("Login", {"Login": object_schema({
    "token": {"type": "string", "description": "access token (JWT)"},
    "refresh_token": {"type": "string", "description": "refresh token (JWT), single use"},
    "token_type": {"type": "string", "const": "bearer"},
    "expires_in": {"type": "integer", "minimum": 1,
                   "description": "seconds the access token lives (ACCESS_TOKEN_TTL)"},
}, "A fresh access and refresh token.")})


def issue_token_pair(user: User | Caller, session_id: str, refresh: security.IssuedToken) -> dict:
    """Issue a new access token and answer with it and `refresh`: the login answer's body."""
    config = current_app.config
    access = security.issue_token(config["SECRET_KEY"], subject=user.public_id,
                                  session_id=session_id, token_type="access",
                                  ttl=config["ACCESS_TOKEN_TTL"])
    return {"token": access.token, "refresh_token": refresh.token, "token_type": "bearer",
            "expires_in": access.expires_in}


def _new_refresh(user: User | Caller, session_id: str) -> security.IssuedToken:
    config = current_app.config
    return security.issue_token(config["SECRET_KEY"], subject=user.public_id,
                                session_id=session_id, token_type="refresh",
                                ttl=config["REFRESH_TOKEN_TTL"])


def start_session(user: User, action: str | None = None) -> dict:
    """Open a login session for `user`, commit it (with the audit event `action`, if given),
    and return the login answer.

    The tokens, and the caller the request log names, are made before the commit, which expires
    every loaded row: nothing is read again after it.
    """
    session_id = security.new_session_id()
    refresh = _new_refresh(user, session_id)
    answer = issue_token_pair(user, session_id, refresh)
    g.current_user = Caller.of(user, session_id)
    if action is not None:
        record(action, "user", user.public_id)
    now = utcnow()
    db.session.add(AuthSession(
        id=session_id, user_id=user.id, refresh_jti=refresh.jti, created=now, last_used=now,
        expires=now + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"]),
        **where_from()))
    db.session.commit()
    return answer


def where_from() -> dict:
    """Where a login comes from, as its owner will see it (contract §10): the application, the
    client address as the rate limiter sees it (so TRUSTED_PROXY_COUNT applies), the User-Agent
    cut to 256 characters. Nothing outside a request."""
    if not has_request_context():
        return {}
    client = g.get("client_app")
    agent = request.headers.get("User-Agent") or None
    return {"app": client.name if client is not None else None, "ip": client_address()[:64],
            "user_agent": agent[:256] if agent else None}


def refresh_session(refresh_token: str) -> dict:
    """Exchange a refresh token for a new pair; a retired one revokes its whole session."""
    user, claims = authenticate(refresh_token, "refresh")
    g.current_user = user  # the request log names who refreshed
    session_id = user.session_id
    refresh = _new_refresh(user, session_id)
    # Compare-and-swap: of two concurrent exchanges of one token, only one can win.
    rotated = db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.refresh_jti == claims["jti"],
               AuthSession.revoked.is_(False))
        .values(refresh_jti=refresh.jti, last_used=utcnow(),
                expires=utcnow() + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"]))
        .execution_options(synchronize_session=False)
    ).rowcount
    if rotated != 1:
        # A retired refresh token came back: assume it was stolen and end the session.
        REFRESH_REUSE.inc()
        revoke_sessions(AuthSession.id == session_id)
        record("session.refresh_reused", "user", user.public_id)
        db.session.commit()
        raise user_token_error("Token has been revoked")
    db.session.commit()
    return issue_token_pair(user, session_id, refresh)


def revoke_sessions(*criteria) -> None:
    """Mark matching sessions revoked (the caller commits with the rest of its change)."""
    db.session.execute(
        update(AuthSession).where(*criteria).values(revoked=True)
        .execution_options(synchronize_session=False)
    )


def revoke_user_sessions(user: User | Caller) -> None:
    """Revoke every token of `user` (logout everywhere, password change, deactivation)."""
    revoke_sessions(AuthSession.user_id == user.id, AuthSession.revoked.is_(False))
