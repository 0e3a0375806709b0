"""Login sessions: issuing token pairs, refresh rotation with reuse detection, revocation.

Every access and refresh token names its session (`sid`). Revoking the session row revokes its
tokens on every worker and instance that shares the database, on their very next request.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g
from sqlalchemy import update

from . import security
from .auth import authenticate, user_token_error
from .extensions import db
from .models import AuthSession, User, utcnow


def _pair(user: User, session: AuthSession, refresh: security.IssuedToken) -> dict:
    config = current_app.config
    access = security.issue_token(config["SECRET_KEY"], subject=user.public_id,
                                  session_id=session.id, token_type="access",
                                  ttl=config["ACCESS_TOKEN_TTL"])
    return {"token": access.token, "refresh_token": refresh.token, "token_type": "bearer",
            "expires_in": access.expires_in}


def _new_refresh(user: User, session_id: str) -> security.IssuedToken:
    config = current_app.config
    return security.issue_token(config["SECRET_KEY"], subject=user.public_id,
                                session_id=session_id, token_type="refresh",
                                ttl=config["REFRESH_TOKEN_TTL"])


def start_session(user: User) -> dict:
    """Open a login session for `user`, commit it, and return the login answer."""
    session = AuthSession(user_id=user.id)
    session.id = security.new_session_id()
    refresh = _new_refresh(user, session.id)
    session.refresh_jti = refresh.jti
    session.expires = utcnow() + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"])
    db.session.add(session)
    db.session.commit()
    return _pair(user, session, refresh)


def refresh_session(refresh_token: str) -> dict:
    """Exchange a refresh token for a new pair; a retired one revokes its whole session."""
    user, session, claims = authenticate(refresh_token, "refresh")
    g.current_user = user  # the request log names who refreshed
    refresh = _new_refresh(user, session.id)
    # Compare-and-swap: of two concurrent exchanges of one token, only one can win.
    rotated = db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == session.id, AuthSession.refresh_jti == claims["jti"],
               AuthSession.revoked.is_(False))
        .values(refresh_jti=refresh.jti)
        .execution_options(synchronize_session=False)
    ).rowcount
    if rotated != 1:
        # A retired refresh token came back: assume it was stolen and end the session.
        revoke_sessions(AuthSession.id == session.id)
        db.session.commit()
        raise user_token_error("Token has been revoked")
    db.session.commit()
    return _pair(user, session, refresh)


def revoke_sessions(*criteria) -> None:
    """Mark matching sessions revoked (the caller commits with the rest of its change)."""
    db.session.execute(
        update(AuthSession).where(*criteria).values(revoked=True)
        .execution_options(synchronize_session=False)
    )


def revoke_user_sessions(user: User) -> None:
    """Revoke every token of `user` (logout everywhere, password change, deactivation)."""
    revoke_sessions(AuthSession.user_id == user.id, AuthSession.revoked.is_(False))
