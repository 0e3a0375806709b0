"""The audit trail (contract §11): events, how they are written, read, listed, pruned, exported.

`record` adds an event to the session of the change it describes, so the two commit together
or not at all. The actor, application, address and request id come from the request when there
is one; the command line records `actor` null. Details carry field names and new role/active
values, attempted usernames and the like, never a password, a hash or a token.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context
from sqlalchemy import Integer, bindparam, delete

from .errors import ApiError
from .extensions import db
from .models import AuditEvent, utcnow
from .query import INTEGER, PUBLIC_ID, TEXT, TIMESTAMP, Collection, Scope
from .query import Field as QueryField
from .query.portable import iso_utc
from .ratelimits import client_address
from .resource import TIMESTAMP_SCHEMA, Output, Resource, nullable

MAX_ID = 2**31 - 1  # the largest id every backend's INTEGER holds
TEXT_OR_NULL = nullable({"type": "string"})

# --- the representation --------------------------------------------------------------------------

E = AuditEvent.__table__.c
EVENT = Resource(
    name="AuditEvent", key="event", plural="events",
    description="A security-relevant change, as it was recorded; never a secret.",
    source=AuditEvent.__table__,
    fields={
        "id": Output(E.id, {"type": "integer", "examples": [1042]}),
        "time": Output(iso_utc(E.time), TIMESTAMP_SCHEMA),
        "action": Output(E.action, {"type": "string", "examples": ["template.approved"]}),
        "actor": Output(E.actor, {**TEXT_OR_NULL, "description": "the actor's public_id; null "
                                                                 "for the command line"}),
        "actor_username": Output(E.actor_username, {**TEXT_OR_NULL,
                                                    "description": "at the time of the event"}),
        "app": Output(E.app, {**TEXT_OR_NULL, "description": "the client application's name"}),
        "target_type": Output(E.target_type, TEXT_OR_NULL),
        "target_id": Output(E.target_id, TEXT_OR_NULL),
        "ip": Output(E.ip, {**TEXT_OR_NULL, "description": "the client address"}),
        "request_id": Output(E.request_id, {**TEXT_OR_NULL, "description": "X-Request-ID"}),
        "details": Output(E.details, {"type": ["object", "null"]}),
    },
    identity=("id",),
)
READ_ONE = EVENT.rows.where(E.id == bindparam("event_id", type_=Integer))

# --- the collection -------------------------------------------------------------------------------

FILTERS = {
    "id": QueryField(E.id, INTEGER),
    "action": QueryField(E.action, TEXT),
    "actor": QueryField(E.actor, PUBLIC_ID, nullable=True),
    "actor_username": QueryField(E.actor_username, TEXT, nullable=True),
    "app": QueryField(E.app, TEXT, nullable=True),
    "target_type": QueryField(E.target_type, TEXT, nullable=True),
    "target_id": QueryField(E.target_id, TEXT, nullable=True),
    "time": QueryField(E.time, TIMESTAMP),
}
EVENTS = Collection(
    resource=EVENT,
    filters=FILTERS,
    orderings={name: FILTERS[name] for name in ("id", "time")},
    default_ordering=("-id",),
    cursor_orderings=("id", "-id", "time", "-time"),
    tie_breaker=E.id,
)
EVERY_EVENT = Scope("every event")

# --- writing --------------------------------------------------------------------------------------


def record(action: str, target_type: str | None = None, target_id: Any = None,
           details: Mapping[str, Any] | None = None) -> None:
    """Add an event to the current transaction; it commits with the change, or not at all."""
    event = AuditEvent(action=action, time=utcnow(), target_type=target_type,
                       target_id=None if target_id is None else str(target_id),
                       details=dict(details) if details else None)
    if has_request_context():
        caller = g.get("current_user")
        client = g.get("client_app")
        if caller is not None:
            event.actor, event.actor_username = caller.public_id, caller.username
        event.app = client.name if client is not None else None
        event.ip = client_address()[:64]
        event.request_id = g.get("request_id")
    db.session.add(event)


# --- reading --------------------------------------------------------------------------------------


def read_event(event_id: int) -> dict:
    """One event's representation, or 404."""
    row = None
    if event_id <= MAX_ID:
        row = db.session.execute(READ_ONE, {"event_id": event_id}).first()
    if row is None:
        raise ApiError(404, "No audit event found")
    return EVENT.item(row)


def prune(now: datetime | None = None) -> int:
    """Delete the events older than AUDIT_RETENTION_DAYS and commit; how many went."""
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["AUDIT_RETENTION_DAYS"])
    removed = db.session.execute(delete(AuditEvent).where(AuditEvent.time < cutoff)).rowcount
    db.session.commit()
    return removed


def export(since: datetime | None = None, batch: int = 1000) -> Iterator[dict]:
    """Every event (from `since` on), oldest first, read in keyset batches of `batch`."""
    last = 0
    while True:
        query = EVENT.rows.where(E.id > last).order_by(E.id).limit(batch)
        if since is not None:
            query = query.where(E.time >= since)
        rows = db.session.execute(query).all()
        for row in rows:
            yield EVENT.item(row)
        if len(rows) < batch:
            return
        last = rows[-1][0]
