"""Output shapes: allowlists of what a client sees, so a new column is never exposed by accident."""

from __future__ import annotations

from datetime import datetime

from .models import ClientApp, Template, User


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z` suffix."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


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
