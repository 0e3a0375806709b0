"""Idempotent creates (contract §12): `Idempotency-Key` on a view, kept in the database.

A request with a key first claims it: it inserts its row (caller, key, fingerprint, no status
yet) and commits, so that the unique (caller, request_key) index — not a read before the
insert — decides which of concurrent requests with one key runs, across workers and instances.
The others find the row: a different fingerprint is 422, no status yet is 409, a kept answer is
replayed. A success keeps its status, body and `Location` until `IDEMPOTENCY_TTL` runs out; a
failure deletes the row, so the key may be used again.

The rows are written on connections of their own, outside the view's session, so the view's
transaction and its loaded objects are the same with a key as without one. Requests without the
header send no statement more. Expired rows are deleted a few at a time by keyed requests
(`SWEEP`), and all at once by `flask --app meme_api idempotency purge`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import timedelta

import click
from flask import Response, current_app, request
from flask.cli import AppGroup
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .auth import current_user
from .errors import ApiError, ValidationError
from .extensions import db
from .models import IdempotencyKey, utcnow

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY = re.compile(r"[\x21-\x7e]{1,255}")
# Expired rows one keyed request deletes at most: bounded work, and still faster than keys
# expire as long as fewer than this many keyed creates share a second.
SWEEP = 20
# A claim this old without an answer belongs to a request that died (gunicorn kills a worker
# after 30 s); it no longer blocks the key.
ABANDONED_AFTER = timedelta(seconds=60)

TABLE = IdempotencyKey.__table__
# Why a keyed create may answer 409 and 422, for the views' `@other_responses`.
IN_PROGRESS = "a request with the same Idempotency-Key is still in progress"
MISMATCH = "the Idempotency-Key was used with another method, path or body"


def fingerprint() -> str:
    """SHA-256 of the method, the path and the body exactly as sent."""
    digest = hashlib.sha256(f"{request.method}\n{request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def sweep(connection, now) -> None:
    """Delete up to SWEEP expired rows (a SELECT, and a DELETE only when some are found)."""
    expired = list(connection.scalars(
        select(TABLE.c.id).where(TABLE.c.expires < now).order_by(TABLE.c.expires).limit(SWEEP)))
    if expired:
        connection.execute(delete(TABLE).where(TABLE.c.id.in_(expired), TABLE.c.expires < now))


def purge() -> int:
    """Delete every expired row; how many went."""
    with db.engine.begin() as connection:
        return connection.execute(delete(TABLE).where(TABLE.c.expires < utcnow())).rowcount


def claim(caller: str, key: str, print_: str) -> int | Response:
    """The id of this request's new row, or the answer for a key already taken."""
    for _ in range(2):  # a second time only after removing an expired or abandoned row
        now = utcnow()
        try:
            with db.engine.begin() as connection:
                sweep(connection, now)
                return connection.execute(insert(TABLE).values(
                    caller=caller, request_key=key, fingerprint=print_, created=now,
                    expires=now + timedelta(seconds=current_app.config["IDEMPOTENCY_TTL"]),
                )).inserted_primary_key[0]
        except IntegrityError:
            pass
        with db.engine.begin() as connection:
            row = connection.execute(select(TABLE).where(
                TABLE.c.caller == caller, TABLE.c.request_key == key)).one_or_none()
            if row is None:
                continue  # the other request failed and let the key go meanwhile
            stale = row.expires < now or (row.status is None
                                          and row.created < now - ABANDONED_AFTER)
            if not stale:
                return answer_for(row, print_)
            connection.execute(delete(TABLE).where(TABLE.c.id == row.id))
    raise ApiError(409, "Another request with this Idempotency-Key is in progress; retry")


def answer_for(row, print_: str) -> Response:
    """What a request finds when its key is taken (contract §12)."""
    if row.fingerprint != print_:
        raise ApiError(422, "This Idempotency-Key was used with another method, path or body",
                       errors={HEADER: "already used for a different request"})
    if row.status is None:
        raise ApiError(409, "A request with this Idempotency-Key is still in progress; retry")
    response = current_app.response_class(row.body, status=row.status,
                                          mimetype="application/json")
    if row.location:
        response.headers["Location"] = row.location
    response.headers[REPLAYED] = "true"
    return response


def keep(row_id: int, response: Response) -> None:
    """Store a success for replay."""
    with db.engine.begin() as connection:
        connection.execute(update(TABLE).where(TABLE.c.id == row_id).values(
            status=response.status_code, body=response.get_data(as_text=True),
            location=response.headers.get("Location")))


def release(row_id: int) -> None:
    """Let the key go after a failure."""
    with db.engine.begin() as connection:
        connection.execute(delete(TABLE).where(TABLE.c.id == row_id))


def idempotent(view):
    """Honour `Idempotency-Key` on this view (declared for the OpenAPI document too)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not KEY.fullmatch(key):
            raise ValidationError({HEADER: "must be 1-255 visible ASCII characters"})
        claimed = claim(f"user:{current_user().public_id}", key, fingerprint())
        if isinstance(claimed, Response):
            return claimed
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            db.session.rollback()
            release(claimed)
            raise
        if 200 <= response.status_code < 300:
            keep(claimed, response)
        else:
            release(claimed)
        return response

    wrapper.idempotent = True
    return wrapper


commands = AppGroup("idempotency", help="Manage kept Idempotency-Key answers.")


@commands.command("purge")
def purge_command() -> None:
    """Delete every expired key at once (keyed requests delete a few at a time anyway)."""
    click.echo(f"Deleted {purge()} expired idempotency key(s).")
