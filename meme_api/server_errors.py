"""Answers the HTTP server makes itself, before the app sees a request, as problem documents.

Contract §1: a URL over 8,190 bytes is 414, request headers over the limits are 431, and every
error is a problem document, never the HTTP server's HTML page. The app enforces the limits
(`check_request_size`, the first thing each request meets), so both servers answer the same way
with the app's headers and log line. The servers are configured to let such requests through to
the app (gunicorn.conf.py; Python's http.server allows 64 KiB lines and 100 header fields); what
they still refuse themselves (a request line over 1 MiB, a malformed request) is rendered here:
`install_in_gunicorn` for gunicorn, `ProblemRequestHandler` for the development server.
"""

from __future__ import annotations

import json
import secrets
from http import HTTPStatus

from flask import request
from werkzeug.serving import WSGIRequestHandler

from .errors import DEFAULT_MESSAGES, PROBLEM_MEDIA_TYPE, ApiError
from .request_log import log_request_line

MAX_URL_BYTES = 8190  # the request target: path and query string
MAX_HEADER_LINE_BYTES = 8190  # one `Name: value` line
MAX_HEADER_FIELDS = 100
MAX_HEADER_BYTES = 32768  # all header lines together
URL_TOO_LONG = f"The URL is longer than {MAX_URL_BYTES:,} bytes"
HEADERS_TOO_LARGE = (f"The request headers are too large (at most {MAX_HEADER_FIELDS} fields, "
                     f"{MAX_HEADER_LINE_BYTES:,} bytes a line, {MAX_HEADER_BYTES:,} in all)")
SERVER_MESSAGES = {414: URL_TOO_LONG, 431: HEADERS_TOO_LARGE}


def request_target_bytes(environ: dict) -> int:
    """The length of the request target as sent (gunicorn and Werkzeug both keep it)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is not None:
        return len(raw.encode("latin-1", "replace"))
    query = environ.get("QUERY_STRING", "")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return len(path.encode("latin-1", "replace")) + (len(query) + 1 if query else 0)


def header_lines(environ: dict) -> list[int]:
    """The length of each request header line (`Name: value` and its CRLF)."""
    lengths = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name_length = len(key) - len("HTTP_")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name_length = len(key)
        else:
            continue
        lengths.append(name_length + len(str(value).encode("latin-1", "replace")) + 4)
    return lengths


def check_request_size() -> None:
    """Refuse (414, 431) a request whose URL or headers are over the limits of contract §1."""
    if request_target_bytes(request.environ) > MAX_URL_BYTES:
        raise ApiError(414, URL_TOO_LONG)
    lines = header_lines(request.environ)
    if (len(lines) > MAX_HEADER_FIELDS or sum(lines) > MAX_HEADER_BYTES
            or any(length > MAX_HEADER_LINE_BYTES for length in lines)):
        raise ApiError(431, HEADERS_TOO_LARGE)


def client_status(status: int) -> int:
    """A server-made 5xx for a request it could not read is the client's fault (§1: no 5xx)."""
    return 400 if status in (501, 505) else status


def problem_response(status: int, method: str | None = None) -> tuple[bytes, bytes]:
    """The head (status line and headers) and body of a problem answer made by the server."""
    status = client_status(status)
    message = SERVER_MESSAGES.get(status) or DEFAULT_MESSAGES.get(status) \
        or HTTPStatus(status).phrase
    request_id = secrets.token_hex(16)
    body = json.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase,
                       "status": status, "detail": message, "message": message},
                      separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Request-ID: {request_id}\r\n"
            "Connection: close\r\n\r\n").encode("latin-1")
    # The request could not be read, so its path is unknown (and would be the oversized part).
    log_request_line(request_id=request_id, method=method, path=None, status=status)
    return head, body


def _gunicorn_write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, answering a problem document instead of an HTML page."""
    from gunicorn import util

    head, body = problem_response(int(status_int))
    util.write_nonblock(sock, head + body)


def install_in_gunicorn() -> None:
    """Make gunicorn's own error answers problem documents (called from gunicorn.conf.py)."""
    from gunicorn import util

    util.write_error = _gunicorn_write_error


class ProblemRequestHandler(WSGIRequestHandler):
    """The development server's handler: problem documents, and the app's log line only."""

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """What http.server answers itself (line or headers too long, malformed request)."""
        self.close_connection = True
        head, body = problem_response(int(code), getattr(self, "command", None))
        self.wfile.write(head)
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Nothing: the app logs one JSON line per request (contract §8)."""
