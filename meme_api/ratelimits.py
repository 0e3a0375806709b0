"""Who a request counts against, for Flask-Limiter (contract §6).

The default budget is per user (the `sub` of a correctly signed access token), else per
application token, else per client address; logins count per client address and username.
Client addresses come from `request.remote_addr`, which Werkzeug's ProxyFix sets from
`X-Forwarded-For` only for the `TRUSTED_PROXY_COUNT` proxies the operator declared.
"""

from __future__ import annotations

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
