"""One error path: every error leaves as the RFC 9457 problem document of contract §1."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, Response, json, request
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .extensions import db

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_OUTAGE = "5"

# Messages of the original service, kept where clients may read them.
DEFAULT_MESSAGES = {
    400: "The request could not be understood",
    401: "Authentication is required",
    403: "Cannot perform that function!",
    404: "The requested resource was not found",
    405: "The method is not allowed for this resource",
    409: "The request conflicts with the current state of the resource",
    412: "The resource has changed since it was fetched",
    413: "The request body is too large",
    415: "The request body must be JSON or form data",
    429: "Too many requests",
    500: "The server could not complete the request",
    503: "The service is temporarily unavailable",
}


class ApiError(Exception):
    """Raised by views (or helpers they call) to answer with a problem document."""

    def __init__(self, status: int, message: str | None = None, *,
                 errors: dict[str, str] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message or DEFAULT_MESSAGES.get(status) or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers or {}


class ValidationError(ApiError):
    """Bad input: a 400 whose `errors` maps each offending field or parameter to a reason."""

    def __init__(self, errors: dict[str, str], message: str = "The input is not valid"):
        super().__init__(400, message, errors=errors)


def problem(status: int, message: str | None = None, *, errors: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """Render a problem document (`type`, `title`, `status`, `detail`, `message`[, `errors`])."""
    message = message or DEFAULT_MESSAGES.get(status) or HTTPStatus(status).phrase
    body: dict = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": message,
        "message": message,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection may be gone; nothing more to undo
        log.debug("rollback failed", exc_info=True)


def handle_api_error(error: ApiError) -> Response:
    _rollback()
    return problem(error.status, error.message, errors=error.errors, headers=error.headers)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if status == 429 and getattr(error, "retry_after", None) is not None:
        headers["Retry-After"] = str(error.retry_after)
    # Werkzeug's descriptions are generic and safe; ours are shorter where we have one.
    message = DEFAULT_MESSAGES.get(status) or error.description
    if error.response is not None and status == 429:
        headers.update({k: v for k, v in error.response.headers.items() if k.startswith("X-Rate")})
    return problem(status, message, headers=headers)


def handle_integrity_error(error: IntegrityError) -> Response:
    _rollback()
    return problem(409)


def handle_stale_data(error: StaleDataError) -> Response:
    # Another request changed or deleted the row between our read and our write: with If-Match
    # that is the precondition failing; without, a conflict the client may retry.
    _rollback()
    if "If-Match" in request.headers:
        return problem(412, "The resource has changed since it was fetched (If-Match)")
    return problem(409, "The resource was changed by another request; fetch it and retry")


def handle_data_error(error: DataError) -> Response:
    # Input validation should stop such values first; if one slips through it is still bad input.
    _rollback()
    log.warning("database refused a value: %s", type(error.orig).__name__)
    return problem(400, "A value is out of range or malformed")


def handle_database_unavailable(error: DBAPIError) -> Response:
    _rollback()
    log.error("database unavailable: %s", type(error.orig).__name__)
    return problem(503, "The database is unavailable, try again shortly",
                   headers={"Retry-After": RETRY_AFTER_OUTAGE})


def handle_unexpected(error: Exception) -> Response:
    _rollback()
    log.exception("unhandled error")
    return problem(500)


def end_session(error: BaseException | None = None) -> None:
    """Release the request's database session without ever failing the finished response."""
    try:
        db.session.remove()
    except SQLAlchemyError:
        # The database died after the response was made: the rollback on close failed, which
        # invalidated the connection and detached the transaction. Drop the session; raising
        # here would turn the response (often already a 503) into a 500.
        log.warning("database connection lost while ending a request")
        db.session.registry.clear()


def register_error_handlers(app: Flask) -> None:
    """Route every kind of failure through `problem`."""
    # Registered after Flask-SQLAlchemy's own teardown, so it runs before it (reverse order).
    app.teardown_appcontext(end_session)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(StaleDataError, handle_stale_data)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(DBAPIError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
