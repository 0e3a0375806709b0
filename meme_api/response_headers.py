"""Headers every answer carries, set in one place after every other hook has had its say.

- `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` on every answer.
- `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` on every answer that does
  not bring its own: JSON and problem documents may load nothing and be framed by no page. The
  documentation page and its files set theirs (Swagger UI runs scripts from this origin).
- `Retry-After` only where RFC 9110 gives it a meaning: on 429 the rate limiter's wait, on 503
  the service's own. Flask-Limiter writes its wait onto every answer it counts, under the name
  `RATELIMIT_HEADER_RETRY_AFTER` (config), which never leaves the service.
- `Vary: Origin` on every answer while CORS is on: whether `Access-Control-Allow-Origin` is sent,
  and what it says, depends on the request's `Origin` (and is not sent without one).
"""

from __future__ import annotations

from flask import Flask, Response, current_app

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
RETRY_AFTER_STATUSES = frozenset({429, 503})


def finish_headers(response: Response) -> Response:
    """Apply the policies above to a finished answer."""
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
    limiter_wait = headers.pop(current_app.config["RATELIMIT_HEADER_RETRY_AFTER"], None)
    if response.status_code == 429 and limiter_wait is not None:
        headers["Retry-After"] = limiter_wait
    elif response.status_code not in RETRY_AFTER_STATUSES:
        headers.pop("Retry-After", None)
    if current_app.config["CORS_ORIGINS"]:
        response.vary.add("Origin")
    return response


def register_response_headers(app: Flask) -> None:
    """Install `finish_headers`; call it before any extension adds its own after-request hook.

    Flask runs after-request hooks in the reverse order of their registration, so the first one
    registered sees the answer last: after Flask-Limiter and flask-cors have added theirs.
    """
    app.after_request(finish_headers)
