"""Registered client applications: register, list, revoke, rotate (shared by API and CLI)."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from .accounts import commit_unique
from .errors import ApiError
from .extensions import db
from .models import ClientApp, utcnow
from .schemas import APP_NAME
from .security import hash_app_token, new_app_token


def register_app(name: str) -> tuple[ClientApp, str]:
    """Create an application; return it and its token, which is shown this once only."""
    token = new_app_token()
    client = ClientApp(name=name, token_hash=hash_app_token(token), revoked=False)
    db.session.add(client)
    commit_unique("An application with this name already exists", "name")
    return client, token


def list_apps() -> list[ClientApp]:
    return list(db.session.scalars(select(ClientApp).order_by(ClientApp.name_key)))


def get_app_or_404(name: str) -> ClientApp:
    client = None
    if re.fullmatch(APP_NAME.pattern, name) and len(name) <= APP_NAME.max_length:
        client = db.session.scalar(select(ClientApp).where(ClientApp.name_key == name.lower()))
    if client is None:
        raise ApiError(404, "No application found")
    return client


def revoke_app(name: str) -> ClientApp:
    """Refuse the application's tokens from now on, on every instance."""
    client = get_app_or_404(name)
    client.revoked = True
    db.session.commit()
    return client


def rotate_app(name: str) -> tuple[ClientApp, str]:
    """Issue a new token; the old one keeps working for APP_TOKEN_GRACE seconds."""
    client = get_app_or_404(name)
    if client.revoked:
        raise ApiError(409, "The application is revoked")
    token = new_app_token()
    grace = current_app.config["APP_TOKEN_GRACE"]
    client.previous_token_hash = client.token_hash if grace > 0 else None
    client.previous_valid_until = utcnow() + timedelta(seconds=grace) if grace > 0 else None
    client.token_hash = hash_app_token(token)
    db.session.commit()
    return client, token
