"""The decorators of contract §2: `app_token`, `token_required`, `admin_required`.

They sit directly under `@bp.route`, in that order, and the current user is reached one way only:
`current_user()`. Roles and activity are read from the database on every request.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from flask import current_app, g
from sqlalchemy import Row, and_, bindparam, or_, select, update

from . import security
from .credentials import ConflictingAccessTokens, presented_access_token, presented_app_token
from .errors import ApiError
from .extensions import db
from .models import IS_ADMIN, AuthSession, ClientApp, User, utcnow
from .query.portable import iso_utc

BEARER_CHALLENGE = 'Bearer realm="meme_api"'
TOKENS_DISAGREE = "x-access-token and Authorization: Bearer carry different tokens; send one"
LAST_USED_RESOLUTION = timedelta(seconds=60)
TOKEN_LIFETIMES = {"access": "ACCESS_TOKEN_TTL", "refresh": "REFRESH_TOKEN_TTL"}

# The lookups of authenticated requests: Core statements built once, with bound parameters,
# reading plain rows. Building a statement, computing the cache key of a new statement
# object and loading ORM objects each cost more than running these indexed lookups.
APP = ClientApp.__table__.c
APP_BY_TOKEN_HASH = select(
    APP.id, APP.name, APP.token_hash, APP.previous_token_hash, APP.previous_valid_until,
    APP.last_used, APP.revoked,
).where(or_(APP.token_hash == bindparam("digest"), APP.previous_token_hash == bindparam("digest")))
USER, SESSION = User.__table__.c, AuthSession.__table__.c
# Caller's fields, then revoked. Those a client sees are rendered as the users resource renders
# them (accounts.USER; a test holds them equal), so GET /user/me answers from this row.
CALLER_COLUMNS = (USER.id, USER.public_id, USER.username, USER.role, IS_ADMIN.label("admin"),
                  USER.active,
                  iso_utc(USER.created).label("created"), SESSION.id.label("session_id"),
                  SESSION.last_used.label("session_last_used"), SESSION.revoked)
USER_WITH_SESSIONS = User.__table__.join(AuthSession.__table__, SESSION.user_id == USER.id)
IS_THE_SESSION = and_(SESSION.id == bindparam("sid"), USER.public_id == bindparam("sub"))
CALLER_BY_SESSION = select(*CALLER_COLUMNS).select_from(USER_WITH_SESSIONS).where(IS_THE_SESSION)
# Both at once, for views that need an app and a user: the app's row, and the caller's columns
# (NULL where the token's session, or its user, does not exist). Joined left-deep, each join on
# its own condition; `client_apps.id IS NOT NULL` (always true) ties the first join to the app
# for SQLAlchemy's cartesian-product check.
APP_COLUMNS = len(APP_BY_TOKEN_HASH.selected_columns)
AppRow = namedtuple("AppRow", [column.key for column in APP_BY_TOKEN_HASH.selected_columns])
APP_AND_CALLER = (
    select(*APP_BY_TOKEN_HASH.selected_columns, *CALLER_COLUMNS)
    .select_from(
        ClientApp.__table__
        .outerjoin(AuthSession.__table__, and_(APP.id.is_not(None), SESSION.id == bindparam("sid")))
        .outerjoin(User.__table__, and_(USER.id == SESSION.user_id,
                                        USER.public_id == bindparam("sub"))))
    .where(APP_BY_TOKEN_HASH.whereclause)
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
    role: str
    admin: bool  # the role is `admin`
    active: bool
    created: str | None  # as clients see it; None in the caller a login makes (never shown)
    session_id: str
    session_last_used: datetime | None = None

    @property
    def moderates(self) -> bool:
        """Whether the caller moderates templates: admins and moderators (contract §4)."""
        return self.role in ("admin", "moderator")

    @classmethod
    def of(cls, user: User, session_id: str) -> Caller:
        """The caller a login session of `user` makes (read before a commit expires `user`)."""
        return cls(user.id, user.public_id, user.username, user.role, user.admin,
                   user.active, None,
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


def find_client_app(token: str, claims: dict | None = None) -> Row | AppRow | None:
    """The live application a token belongs to (current token, or previous within its grace).

    With the verified `claims` of the request's access token, the same statement also reads the
    caller and their login session, for `authenticate` (one round trip instead of two).
    """
    digest = security.hash_app_token(token)
    if claims is None:
        client = db.session.execute(APP_BY_TOKEN_HASH, {"digest": digest}).first()
    else:
        row = db.session.execute(
            APP_AND_CALLER, {"digest": digest, "sid": claims["sid"], "sub": claims["sub"]},
        ).first()
        client = None if row is None else AppRow(*row[:APP_COLUMNS])
        if row is not None:
            # Keyed by the token, so only that token's authentication can take it.
            g.prefetched_caller = (claims["jti"], row[APP_COLUMNS:])
    if client is None or client.revoked:
        return None
    if security.app_token_matches(client.token_hash, digest):
        return client
    grace_ends = client.previous_valid_until
    if (security.app_token_matches(client.previous_token_hash, digest)
            and grace_ends is not None and utcnow() < grace_ends):
        return client
    return None


def decode_user_token(token: str, token_type: str) -> dict:
    """`security.decode_token` with this app's secret and the configured lifetime of the type."""
    config = current_app.config
    return security.decode_token(token, config["SECRET_KEY"], token_type,
                                 max_lifetime=config[TOKEN_LIFETIMES[token_type]])


def request_access_token() -> str | None:
    """The request's access token; 401 when `x-access-token` and `Bearer` carry different ones.

    RFC 6750 §3.1 names this `invalid_request`, said in the challenge; the status is the 401 that
    contract §2 gives every problem with the user token.
    """
    try:
        return presented_access_token()
    except ConflictingAccessTokens:
        raise ApiError(401, TOKENS_DISAGREE, headers={
            "WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_request"'}) from None


def access_claims() -> dict | None:
    """The verified claims of the request's access token, or None (`token_required` says why)."""
    try:
        token = presented_access_token()
    except ConflictingAccessTokens:
        return None
    if not token:
        return None
    try:
        return decode_user_token(token, "access")
    except security.TokenError:
        return None


def _record_use(model, row_id: int | str, last_used: datetime | None) -> None:
    """Set `model.last_used` of one row to now, at most about once a minute, so reads stay free
    of writes; the condition in the UPDATE keeps concurrent requests from writing twice."""
    now = utcnow()
    if last_used is not None and now - last_used < LAST_USED_RESOLUTION:
        return
    db.session.execute(
        update(model)
        .where(model.id == row_id)
        .where(or_(model.last_used.is_(None), model.last_used <= now - LAST_USED_RESOLUTION))
        .values(last_used=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _touch_last_used(client: Row | AppRow) -> None:
    """Record the application's use (contract §7 `last_used`)."""
    _record_use(ClientApp, client.id, client.last_used)


def app_token(view):
    """Require a registered, unrevoked client application (`x-application-token`)."""

    # A view that also needs a user (`token_required` below) gets its caller read together with
    # the application, when the access token is a valid one.
    reads_caller = getattr(view, "needs_user", False)

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_app.config["REQUIRE_APP_TOKEN"]:
            token = presented_app_token()
            if not token:
                raise ApiError(401, "Application token is missing")
            client = find_client_app(token, access_claims() if reads_caller else None)
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
        claims = decode_user_token(token, token_type)
    except security.TokenError as error:
        raise user_token_error(str(error)) from None
    prefetched = g.pop("prefetched_caller", None)
    if prefetched is not None and prefetched[0] == claims["jti"]:
        row = prefetched[1]  # read with the application (`find_client_app`)
        row = None if row[0] is None else row  # no such session, or not this user's
    else:
        row = db.session.execute(CALLER_BY_SESSION,
                                 {"sid": claims["sid"], "sub": claims["sub"]}).first()
    if row is None:
        raise user_token_error("Token has been revoked")
    caller, revoked = Caller(*row[:-1]), row[-1]
    if revoked or not caller.active:
        raise user_token_error("Token has been revoked")
    return caller, claims


def touch_session(caller: Caller) -> None:
    """Record the session's use (contract §10 `last_used`, kept to within a minute)."""
    _record_use(AuthSession, caller.session_id, caller.session_last_used)


def token_required(view):
    """Require a valid access token of a live, active user."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = request_access_token()
        if not token:
            raise user_token_error("Token is missing")
        g.current_user, _ = authenticate(token)
        touch_session(g.current_user)
        return view(*args, **kwargs)

    wrapper.needs_user = True
    return wrapper


def admin_required(view):
    """Require the authenticated user to be an admin (403 otherwise)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user().admin:
            raise ApiError(403)
        return view(*args, **kwargs)

    wrapper.needs_admin = True
    return wrapper
