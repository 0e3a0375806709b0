"""Registered client applications (contract §7): their representation, input shape, and the
register, list, revoke and rotate rules (shared by the API and the CLI)."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam

from .accounts import commit_unique
from .audit import record
from .errors import ApiError
from .extensions import db
from .models import ClientApp, utcnow
from .query.portable import iso_utc
from .resource import TIMESTAMP_SCHEMA, Output, Resource, nullable
from .security import hash_app_token, new_app_token
from .shapes import Field, Shape

# --- the representation --------------------------------------------------------------------------

A = ClientApp.__table__.c
APP = Resource(
    name="App", key="app", plural="apps",
    description="A registered client application: never its token or the token's hash.",
    source=ClientApp.__table__,
    fields={
        "name": Output(A.name, {"type": "string", "examples": ["mobile-client"]}),
        "created": Output(iso_utc(A.created), TIMESTAMP_SCHEMA),
        "last_used": Output(iso_utc(A.last_used), nullable(TIMESTAMP_SCHEMA)),
        "revoked": Output(A.revoked, {"type": "boolean"}),
    },
    identity=("name",),
)
EVERY_APP = APP.rows.order_by(A.name_key)
READ_ONE = APP.rows.where(A.name_key == bindparam("name_key"))
APP_TOKEN_SCHEMA = {"type": "string", "pattern": "^mapp_",
                    "description": "the application token, shown only in this answer"}
# Registering and rotating answer with the application and its new token.
APP_WITH_TOKEN = APP.body("AppToken", {"app": {"$ref": "#/components/schemas/App"},
                                       "token": APP_TOKEN_SCHEMA})

# --- input shape ----------------------------------------------------------------------------------

APP_NAME = Field("string", required=True, min_length=1, max_length=64, pattern=r"[A-Za-z0-9._-]+",
                 pattern_hint="may contain only ASCII letters, digits, '.', '_' and '-'")
APP_CREATE = Shape("AppCreate", {"name": APP_NAME})

# --- the rules ------------------------------------------------------------------------------------


def list_apps() -> list[dict]:
    """Every application's representation, by name."""
    return [APP.item(row) for row in db.session.execute(EVERY_APP)]


def read_app(name: str) -> dict:
    """An application's representation (404 if there is none by that name)."""
    row = db.session.execute(READ_ONE, {"name_key": name.lower()}).first()
    if row is None:
        raise ApiError(404, "No application found")
    return APP.item(row)


def register_app(name: str) -> tuple[ClientApp, str]:
    """Create an application; return it and its token, which is shown this once only."""
    token = new_app_token()
    client = ClientApp(name=name, token_hash=hash_app_token(token), revoked=False)
    db.session.add(client)
    record("app.registered", "app", name)
    commit_unique("An application with this name already exists", "name")
    return client, token


def get_app_or_404(name: str) -> ClientApp:
    client = None
    if re.fullmatch(APP_NAME.pattern, name) and len(name) <= APP_NAME.max_length:
        client = db.session.scalar(db.select(ClientApp).where(ClientApp.name_key == name.lower()))
    if client is None:
        raise ApiError(404, "No application found")
    return client


def revoke_app(name: str) -> str:
    """Refuse the application's tokens from now on, on every instance. Its name as registered."""
    client = get_app_or_404(name)
    client.revoked = True
    registered = client.name  # read before the commit expires it
    record("app.revoked", "app", registered)
    db.session.commit()
    return registered


def rotate_app(name: str) -> str:
    """Issue a new token; the old one keeps working for APP_TOKEN_GRACE seconds."""
    client = get_app_or_404(name)
    if client.revoked:
        raise ApiError(409, "The application is revoked")
    token = new_app_token()
    grace = current_app.config["APP_TOKEN_GRACE"]
    client.previous_token_hash = client.token_hash if grace > 0 else None
    client.previous_valid_until = utcnow() + timedelta(seconds=grace) if grace > 0 else None
    client.token_hash = hash_app_token(token)
    record("app.rotated", "app", client.name)
    db.session.commit()
    return token
