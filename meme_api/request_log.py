"""One JSON line per request on stdout (contract §8) — never a token, password or header value."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime

from flask import Flask, Response, g, request
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger("meme_api.requests")


class JsonLineFormatter(logging.Formatter):
    """The record's `fields` as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(getattr(record, "fields", {"message": record.getMessage()}),
                          separators=(",", ":"))


def _handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLineFormatter())
    return handler


def _logged_attribute(record, name: str) -> str | None:
    """`record.name`, or None when it cannot be read: the log must never fail a response."""
    # An error handler's rollback expires every loaded row, so reading the attribute may need the
    # database again; when the database is what failed, the 503 must still go out.
    if record is None:
        return None
    try:
        return getattr(record, name)
    except SQLAlchemyError:
        return None


def _attach_handler() -> None:
    if not logger.handlers:
        logger.addHandler(_handler())
        logger.propagate = False
    logger.setLevel(logging.INFO)


def log_request_line(*, request_id: str | None, method: str | None, path: str | None,
                     status: int, duration_ms: float = 0.0, user: str | None = None,
                     app: str | None = None) -> None:
    """Write one request's line (also for answers the HTTP server makes without the app)."""
    _attach_handler()
    logger.info("request", extra={"fields": {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": request_id, "method": method, "path": path, "status": status,
        "duration_ms": duration_ms, "user": user, "app": app,
    }})


def init_request_log(app: Flask) -> None:
    """Time each request and log its line once the response is ready."""
    _attach_handler()

    @app.before_request
    def _start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("request_started", time.perf_counter())
        user = g.get("current_user")
        client = g.get("client_app")
        log_request_line(
            request_id=g.get("request_id"), method=request.method, path=request.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            user=_logged_attribute(user, "public_id"), app=_logged_attribute(client, "name"))
        return response
