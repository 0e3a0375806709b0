"""Where credentials are found in a request (shared by authentication and rate limiting)."""

from __future__ import annotations

from flask import request
from werkzeug.datastructures import Authorization

APP_TOKEN_HEADER = "x-application-token"
ACCESS_TOKEN_HEADER = "x-access-token"


def presented_access_token() -> str | None:
    """The JWT from `x-access-token` or `Authorization: Bearer`."""
    token = request.headers.get(ACCESS_TOKEN_HEADER)
    if token:
        return token.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def presented_app_token() -> str | None:
    return request.headers.get(APP_TOKEN_HEADER) or None


def basic_authorization() -> Authorization | None:
    """The parsed `Authorization: Basic` header, or None when absent, of another scheme or bad."""
    try:
        auth = request.authorization
    except ValueError:  # Werkzeug lets base64 with non-ASCII characters raise
        return None
    return auth if auth is not None and auth.type == "basic" else None
