"""User accounts: creation, lookup and the rules that guard admins (shared by API and CLI)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError

from .errors import ApiError
from .extensions import db
from .models import User
from .security import hash_password
from .sessions import revoke_user_sessions

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


# Who counts as an admin for the last-admin rule: one predicate, for a later role column to
# replace.
ACTIVE_ADMIN = and_(User.admin.is_(True), User.active.is_(True))
LAST_ADMIN = "The last active admin cannot be demoted, deactivated or deleted"


def lock_active_admins() -> set[int]:
    """The ids of the active admins, read so that no other change to them commits before ours.

    PostgreSQL and MariaDB: the rows are locked (`FOR UPDATE`), in id order so that two requests
    never wait for each other crosswise; a request that waited reads the rows as committed by
    the one it waited for (READ COMMITTED), so it sees the admin that request removed as gone.
    SQLite has no row locks: the transaction takes the database's write lock before it reads
    (`BEGIN IMMEDIATE`, waiting up to the busy timeout), so writers take turns and no other one
    can commit between this read and our write (which would otherwise answer SQLITE_BUSY).
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # pysqlite opens a transaction only before a write; one already open holds the lock.
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        query = select(User.id).where(ACTIVE_ADMIN)
    else:
        query = select(User.id).where(ACTIVE_ADMIN).order_by(User.id).with_for_update()
    return set(db.session.scalars(query))


def keep_an_active_admin(user: User, actor_id: int) -> None:
    """Guard a change that takes `user` out of the active admins, until the commit.

    Decided on the rows as they are now, under `lock_active_admins`: 403 if the actor is no
    longer an active admin (another request took their rights first), 409 if `user` is the last.
    """
    admins = lock_active_admins()
    if actor_id not in admins:
        raise ApiError(403, "Cannot perform that function!")
    if admins <= {user.id}:
        raise ApiError(409, LAST_ADMIN)


def change_account(user: User, actor_id: int, changes: Mapping[str, Any]) -> None:
    """Apply validated changes (username, password, admin, active) to `user` and commit.

    Demoting or deactivating is one atomic decision with the last-admin rule; deactivating and a
    new password revoke every token of the user in the same commit.
    """
    deactivating = changes.get("active") is False and user.active
    # Hashed first: the slow part stays outside the locks the guard takes.
    new_hash = password_hash(changes["password"]) if "password" in changes else None
    if changes.get("admin") is False or changes.get("active") is False:
        keep_an_active_admin(user, actor_id)
    for name in ("username", "admin", "active"):
        if name in changes:
            setattr(user, name, changes[name])
    if new_hash is not None:
        user.password_hash = new_hash
    if deactivating or "password" in changes:
        revoke_user_sessions(user)
    commit_unique(USERNAME_TAKEN, "username")


def delete_account(user: User, actor_id: int) -> None:
    """Delete `user` and commit, unless that would leave no active admin."""
    keep_an_active_admin(user, actor_id)
    db.session.delete(user)
    db.session.commit()
