"""Output shapes: allowlists of what a client sees, so a new column is never exposed by accident."""

from __future__ import annotations

from datetime import UTC, datetime

from .models import ClientApp, Template, User


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z` suffix.

    Stored times are naive UTC; `isoformat` renders them twice as fast as `strftime`, which
    counts at two timestamps per row of every list.
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def user_json(user: User) -> dict:
    return {
        "public_id": user.public_id,
        "username": user.username,
        "admin": user.admin,
        "active": user.active,
        "created": timestamp(user.created),
    }


def template_json(template: Template) -> dict:
    owner = template.owner
    return {
        "id": template.id,
        "title": template.title,
        "url": template.url,
        "description": template.description,
        "approved": template.approved,
        "posted": timestamp(template.posted),
        "updated": timestamp(template.updated),
        "user_id": owner.public_id if owner is not None else None,
        "username": owner.username if owner is not None else None,
    }


def app_json(client: ClientApp) -> dict:
    return {
        "name": client.name,
        "created": timestamp(client.created),
        "last_used": timestamp(client.last_used),
        "revoked": client.revoked,
    }


# JSON Schemas of the representations above, for the OpenAPI document (a test checks that each
# schema names exactly the keys its function returns).
TIMESTAMP_SCHEMA = {"type": "string", "format": "date-time", "examples": ["2026-11-21T19:05:00Z"],
                    "description": "ISO 8601 in UTC with a Z suffix"}
PUBLIC_ID_SCHEMA = {"type": "string", "format": "uuid",
                    "examples": ["e9572ee6-4b5e-45e4-a840-58a33b04b8a7"]}


def nullable(schema: dict) -> dict:
    """The same schema, also allowing null."""
    return {**schema, "type": [schema["type"], "null"]}


def object_schema(properties: dict, description: str = "") -> dict:
    """A closed object whose properties are all present."""
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return {**schema, "description": description} if description else schema


USER_SCHEMA = object_schema({
    "public_id": PUBLIC_ID_SCHEMA,
    "username": {"type": "string", "examples": ["alice"]},
    "admin": {"type": "boolean"},
    "active": {"type": "boolean"},
    "created": TIMESTAMP_SCHEMA,
}, "A user: never a password or its hash, never an internal id.")
TEMPLATE_SCHEMA = object_schema({
    "id": {"type": "integer", "examples": [27]},
    "title": {"type": "string", "examples": ["Test thing"]},
    "url": {"type": "string", "examples": ["https://i.imgur.com/yYGxFJX.jpeg"]},
    "description": nullable({"type": "string"}),
    "approved": {"type": "boolean"},
    "posted": TIMESTAMP_SCHEMA,
    "updated": TIMESTAMP_SCHEMA,
    "user_id": {**nullable(PUBLIC_ID_SCHEMA), "description": "the owner's public_id"},
    "username": {**nullable({"type": "string"}), "description": "the owner's username"},
}, "A template (a post); user_id and username are null once the owner is deleted.")
APP_SCHEMA = object_schema({
    "name": {"type": "string", "examples": ["mobile-client"]},
    "created": TIMESTAMP_SCHEMA,
    "last_used": nullable(TIMESTAMP_SCHEMA),
    "revoked": {"type": "boolean"},
}, "A registered client application: never its token or the token's hash.")
