"""User accounts: creation, lookup and the rules that guard admins (shared by API and CLI)."""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .errors import ApiError
from .extensions import db
from .models import User
from .security import hash_password

USERNAME_TAKEN = "Username is already taken"


def password_hash(password: str) -> str:
    return hash_password(password, current_app.config["PASSWORD_HASH_METHOD"])


def create_user(username: str, password: str, admin: bool = False) -> User:
    """Insert and commit a user; a taken name (any case) is a 409 decided by the database."""
    user = User(username=username, password_hash=password_hash(password), admin=admin,
                active=True)
    db.session.add(user)
    commit_unique(USERNAME_TAKEN, "username")
    return user


def commit_unique(message: str, field: str) -> None:
    """Commit; a unique-constraint violation becomes a 409 naming the field."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, message, errors={field: "is already taken"}) from None


def get_user_or_404(public_id: str) -> User:
    """The user with this public id, or 404 (also for ids that are not UUIDs)."""
    try:
        public_id = str(uuid.UUID(public_id))
    except ValueError:
        raise ApiError(404, "No user found!") from None
    user = db.session.scalar(select(User).where(User.public_id == public_id))
    if user is None:
        raise ApiError(404, "No user found!")
    return user


def ensure_not_last_admin(user: User) -> None:
    """409 if taking `user` out of the active admins would leave none."""
    if not (user.admin and user.active):
        return
    # FOR UPDATE (on backends with row locks) makes two admins demoting each other take turns.
    admins = db.session.scalars(
        select(User.id).where(User.admin.is_(True), User.active.is_(True)).with_for_update()
    ).all()
    if set(admins) <= {user.id}:
        raise ApiError(409, "The last active admin cannot be demoted, deactivated or deleted")
