"""Wait until the database accepts connections: the first step of the container's boot.sh."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

RETRY_INTERVAL = 1.0


class DatabaseUnreachable(Exception):
    """The database did not accept a connection before the deadline; the message says why."""


def reason_of(error: DBAPIError) -> str:
    """The first line of the driver's message: enough to act on, no traceback, no SQL."""
    lines = str(error.orig).strip().splitlines() or [type(error.orig).__name__]
    return lines[0][:200]


def wait_for_database(engine: Engine, timeout: float, interval: float = RETRY_INTERVAL,
                      on_retry: Callable[[str], None] | None = None) -> None:
    """Return once `SELECT 1` succeeds; raise DatabaseUnreachable after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except DBAPIError as error:
            reason = reason_of(error)
        if time.monotonic() + interval > deadline:
            raise DatabaseUnreachable(reason)
        if on_retry is not None:
            on_retry(reason)
        time.sleep(interval)
