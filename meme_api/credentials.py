"""Where credentials are found in a request (shared by authentication and rate limiting)."""

from __future__ import annotations

from flask import request
from werkzeug.datastructures import Authorization

APP_TOKEN_HEADER = "x-application-token"
ACCESS_TOKEN_HEADER = "x-access-token"


class ConflictingAccessTokens(ValueError):
    """Two different access tokens in one request (RFC 6750 §3.1 `invalid_request`)."""


def presented_access_token() -> str | None:
    """The JWT from `x-access-token` or `Authorization: Bearer` (the same token in both is fine).

    Raises `ConflictingAccessTokens` when the two disagree: answering as either user would be a
    guess, and a proxy or client that adds a header of its own must not decide who the caller is.
    """
    token = request.headers.get(ACCESS_TOKEN_HEADER, "").strip() or None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    if token and bearer and token != bearer:
        raise ConflictingAccessTokens
    return token or bearer or None


def presented_app_token() -> str | None:
    return request.headers.get(APP_TOKEN_HEADER) or None


def basic_authorization() -> Authorization | None:
    """The parsed `Authorization: Basic` header, or None when absent, of another scheme or bad."""
    try:
        auth = request.authorization
    except ValueError:  # Werkzeug lets base64 with non-ASCII characters raise
        return None
    return auth if auth is not None and auth.type == "basic" else None
