"""The decorators of contract §2: `app_token`, `token_required`, `admin_required`.

They sit directly under `@bp.route`, in that order, and the current user is reached one way only:
`current_user()`. Roles and activity are read from the database on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from flask import current_app, g
from sqlalchemy import Row, bindparam, or_, select, update

from . import security
from .credentials import presented_access_token, presented_app_token
from .errors import ApiError
from .extensions import db
from .models import AuthSession, ClientApp, User, utcnow

BEARER_CHALLENGE = 'Bearer realm="meme_api"'
LAST_USED_RESOLUTION = timedelta(seconds=60)

# The two lookups every authenticated request makes: Core statements built once, with bound
# parameters, reading plain rows. Building a statement, computing the cache key of a new statement
# object and loading ORM objects each cost more than running these indexed lookups.
APP = ClientApp.__table__.c
APP_BY_TOKEN_HASH = select(
    APP.id, APP.name, APP.token_hash, APP.previous_token_hash, APP.previous_valid_until,
    APP.last_used, APP.revoked,
).where(or_(APP.token_hash == bindparam("digest"), APP.previous_token_hash == bindparam("digest")))
USER, SESSION = User.__table__.c, AuthSession.__table__.c
CALLER_BY_SESSION = (
    select(USER.id, USER.public_id, USER.username, USER.admin, USER.active, USER.created,
           SESSION.id.label("session_id"), SESSION.revoked)
    .select_from(User.__table__.join(AuthSession.__table__, SESSION.user_id == USER.id))
    .where(SESSION.id == bindparam("sid"), USER.public_id == bindparam("sub"))
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an access token authenticated, as read on this request: never the password hash.

    Views read identity and role from it; the few that change the account load the `User` row
    with `current_account()`.
    """

    id: int
    public_id: str
    username: str
    admin: bool
    active: bool
    created: datetime
    session_id: str

    @classmethod
    def from_row(cls, row: Row) -> Caller:
        """The caller a row of `CALLER_BY_SESSION` names."""
        return cls(id=row.id, public_id=row.public_id, username=row.username, admin=row.admin,
                   active=row.active, created=row.created, session_id=row.session_id)

    @classmethod
    def of(cls, user: User, session_id: str) -> Caller:
        """The caller a login session of `user` makes (read before a commit expires `user`)."""
        return cls(user.id, user.public_id, user.username, user.admin, user.active, user.created,
                   session_id)


def current_user() -> Caller:
    """The user whose access token authenticated this request."""
    return g.current_user


def current_account() -> User:
    """The caller's `User` row, for a change to their own account (401 if it has just gone)."""
    user = db.session.get(User, current_user().id)
    if user is None:
        raise user_token_error("Token has been revoked")
    return user


def user_token_error(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": BEARER_CHALLENGE})


def find_client_app(token: str) -> Row | None:
    """The live application a token belongs to (current token, or previous within its grace)."""
    digest = security.hash_app_token(token)
    client = db.session.execute(APP_BY_TOKEN_HASH, {"digest": digest}).first()
    if client is None or client.revoked:
        return None
    if security.app_token_matches(client.token_hash, digest):
        return client
    grace_ends = client.previous_valid_until
    if (security.app_token_matches(client.previous_token_hash, digest)
            and grace_ends is not None and utcnow() < grace_ends):
        return client
    return None


def _touch_last_used(client: Row) -> None:
    """Record use at most about once a minute per app, so reads stay free of writes."""
    now = utcnow()
    if client.last_used is not None and now - client.last_used < LAST_USED_RESOLUTION:
        return
    db.session.execute(
        update(ClientApp)
        .where(ClientApp.id == client.id)
        .where(or_(ClientApp.last_used.is_(None),
                   ClientApp.last_used <= now - LAST_USED_RESOLUTION))
        .values(last_used=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def app_token(view):
    """Require a registered, unrevoked client application (`x-application-token`)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_app.config["REQUIRE_APP_TOKEN"]:
            token = presented_app_token()
            if not token:
                raise ApiError(401, "Application token is missing")
            client = find_client_app(token)
            if client is None:
                raise ApiError(401, "Application token is invalid")
            _touch_last_used(client)
            g.client_app = client
        return view(*args, **kwargs)

    wrapper.needs_app_token = True  # read by the OpenAPI document
    return wrapper


def authenticate(token: str, token_type: str = "access") -> tuple[Caller, dict]:
    """The live user and login session behind a token, in one indexed lookup."""
    try:
        claims = security.decode_token(token, current_app.config["SECRET_KEY"], token_type)
    except security.TokenError as error:
        raise user_token_error(str(error)) from None
    row = db.session.execute(CALLER_BY_SESSION,
                             {"sid": claims["sid"], "sub": claims["sub"]}).first()
    if row is None or row.revoked or not row.active:
        raise user_token_error("Token has been revoked")
    return Caller.from_row(row), claims


def token_required(view):
    """Require a valid access token of a live, active user."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = presented_access_token()
        if not token:
            raise user_token_error("Token is missing")
        g.current_user, _ = authenticate(token)
        return view(*args, **kwargs)

    wrapper.needs_user = True
    return wrapper


def admin_required(view):
    """Require the authenticated user to be an admin (403 otherwise)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user().admin:
            raise ApiError(403, "Cannot perform that function!")
        return view(*args, **kwargs)

    wrapper.needs_admin = True
    return wrapper
