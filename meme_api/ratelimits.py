"""Who a request counts against, for Flask-Limiter (contract §6).

The default budget is per user (the `sub` of a correctly signed access token), else per
application token, else per client address; logins count per client address and username.
Client addresses come from `request.remote_addr`, which Werkzeug's ProxyFix sets from
`X-Forwarded-For` only for the `TRUSTED_PROXY_COUNT` proxies the operator declared.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app, request

from . import security
from .credentials import (
    ConflictingAccessTokens,
    basic_authorization,
    presented_access_token,
    presented_app_token,
)


def client_address() -> str:
    return request.remote_addr or "unknown"


def default_key() -> str:
    """Per user, else per application token, else per client address."""
    try:
        token = presented_access_token()
    except ConflictingAccessTokens:
        token = None  # refused by the view (401); counted against the app or address meanwhile
    if token:
        config = current_app.config
        subject = security.verified_subject(token, config["SECRET_KEY"],
                                            config["ACCESS_TOKEN_TTL"])
        if subject:
            return f"user:{subject}"
    app_token = presented_app_token()
    if app_token:
        return f"app:{security.hash_app_token(app_token)}"
    return f"addr:{client_address()}"


def login_key() -> str:
    """Per client address and (case-folded) username, however the credentials were sent."""
    username = ""
    auth = basic_authorization()
    if auth is not None:
        username = auth.username or ""
    elif request.method == "POST":
        body = request.get_json(silent=True) if request.is_json else request.form
        if isinstance(body, dict) or hasattr(body, "get"):
            value = body.get("username")
            username = value if isinstance(value, str) else ""
    return f"login:{client_address()}:{username.lower()[:64]}"


def default_limit() -> str:
    return current_app.config["RATELIMIT_APPLICATION"]


def login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


class OncePerInterval(logging.Filter):
    """Lets one warning (or worse) through per interval, without its traceback.

    Flask-Limiter warns each time it finds its store gone, and logs a traceback for errors it
    swallows; while a store flaps or stays away that would be a line, or a traceback, per
    request. One line a minute per process says the same.
    """

    def __init__(self, interval: float = 60.0):
        super().__init__()
        self.interval = interval
        self._last: float | None = None
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last < self.interval:
                return False
            self._last = now
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_limiter_log() -> None:
    """Install `OncePerInterval` on Flask-Limiter's logger, once per process."""
    limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(f, OncePerInterval) for f in limiter_log.filters):
        limiter_log.addFilter(OncePerInterval())


def storage_state(limiter) -> str:
    """`memory`, or whether the configured shared store answers now: `ok` or `error` (§8)."""
    config = current_app.config
    if not config["RATELIMIT_ENABLED"]:
        return "ok"  # no limits, nothing depends on a store
    if config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        return "memory"
    try:
        return "ok" if limiter.storage.check() else "error"
    except Exception:  # noqa: BLE001 - any failure of the store means the same to an operator
        return "error"
