"""Login sessions as a resource (contract §10): what a user sees of them, listing, ending one.

How sessions are made, rotated and revoked lives in sessions.py; this module is what their owner
(or an admin) reads and ends. Ended sessions (revoked or expired) are never listed.
"""

from __future__ import annotations

from sqlalchemy import Boolean, DateTime, Integer, String, and_, bindparam, type_coerce, update

from .audit import record
from .errors import ApiError
from .extensions import db
from .models import AuthSession, utcnow
from .query import TEXT, TIMESTAMP, Collection, Scope
from .query import Field as QueryField
from .query.portable import iso_utc
from .resource import TIMESTAMP_SCHEMA, Output, Resource, nullable

NO_SESSION = "No session found"

S = AuthSession.__table__.c
SESSION = Resource(
    name="Session", key="session", plural="sessions",
    description="A login: the tokens it issued and those its refreshes rotated in.",
    source=AuthSession.__table__,
    fields={
        "id": Output(S.id, {"type": "string", "description": "opaque and stable"}),
        "app": Output(S.app, {**nullable({"type": "string"}),
                              "description": "the client application's name"}),
        "created": Output(iso_utc(S.created), TIMESTAMP_SCHEMA),
        "last_used": Output(iso_utc(S.last_used), {**TIMESTAMP_SCHEMA,
                                                   "description": "to within a minute"}),
        "expires": Output(iso_utc(S.expires), {**TIMESTAMP_SCHEMA,
                                               "description": "when its refresh token expires"}),
        "ip": Output(S.ip, {**nullable({"type": "string"}),
                            "description": "the client address at login"}),
        "user_agent": Output(S.user_agent, {**nullable({"type": "string", "maxLength": 256}),
                                            "description": "the User-Agent at login"}),
        "current": Output(type_coerce(S.id == bindparam("current", type_=String), Boolean),
                          {"type": "boolean",
                           "description": "the session of the token making the request"}),
    },
    identity=("id",),
)

FILTERS = {
    "app": QueryField(S.app, TEXT, nullable=True),
    "created": QueryField(S.created, TIMESTAMP),
    "last_used": QueryField(S.last_used, TIMESTAMP),
}
SESSIONS = Collection(
    resource=SESSION,
    filters=FILTERS,
    orderings={name: FILTERS[name] for name in ("created", "last_used")},
    default_ordering=("-last_used",),
    cursor_orderings=("-last_used", "last_used", "created", "-created"),
    tie_breaker=S.id,
    tie_breaker_type=TEXT,
)
LIVE = and_(S.revoked.is_(False), S.expires > bindparam("now", type_=DateTime))
USERS_LIVE_SESSIONS = Scope("a user's live sessions",
                            and_(S.user_id == bindparam("owner", type_=Integer), LIVE))


def listing_parameters(owner_id: int, current_session: str | None) -> dict:
    """The bound values of a listing: whose sessions, now, and which one is `current`."""
    return {"owner": owner_id, "now": utcnow(), "current": current_session or ""}


def end_session(owner_id: int, owner_public_id: str, session_id: str) -> None:
    """Revoke one live session of the owner and commit; 404 for any other id.

    Its tokens are refused from the next request on, on every instance (they name the row).
    """
    ended = db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.user_id == owner_id,
               AuthSession.revoked.is_(False), AuthSession.expires > utcnow())
        .values(revoked=True)
        .execution_options(synchronize_session=False)
    ).rowcount
    if ended != 1:
        db.session.rollback()
        raise ApiError(404, NO_SESSION)
    record("session.revoked", "session", session_id, {"user": owner_public_id})
    db.session.commit()
