"""Users (contract §3): their representation, input shapes, and the rules that guard admins.

Shared by the API and the CLI.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, select
from sqlalchemy.exc import IntegrityError

from .audit import record
from .auth import Caller
from .errors import ApiError
from .extensions import db
from .models import IS_ADMIN, ROLES, User, new_public_id
from .query import BOOLEAN, PUBLIC_ID, TEXT, TIMESTAMP, Collection, Scope
from .query import Field as QueryField
from .query.portable import iso_utc
from .resource import PUBLIC_ID_SCHEMA, TIMESTAMP_SCHEMA, Output, Resource
from .security import hash_password
from .sessions import revoke_user_sessions
from .shapes import Field, Shape

USERNAME_TAKEN = "Username is already taken"

# --- the representation --------------------------------------------------------------------------

U = User.__table__.c
ROLE_SCHEMA = {"type": "string", "enum": list(ROLES)}
USER = Resource(
    name="User", key="user", plural="users",
    description="A user: never a password or its hash, never an internal id.",
    source=User.__table__,
    fields={
        "public_id": Output(U.public_id, PUBLIC_ID_SCHEMA),
        "username": Output(U.username, {"type": "string", "examples": ["alice"]}),
        "role": Output(U.role, ROLE_SCHEMA),
        "admin": Output(IS_ADMIN, {"type": "boolean", "description": "true exactly for the "
                                                                      "role `admin`"}),
        "active": Output(U.active, {"type": "boolean"}),
        "created": Output(iso_utc(U.created), TIMESTAMP_SCHEMA),
    },
    identity=("public_id",),
)
BY_PUBLIC_ID = U.public_id == bindparam("public_id")
READ_ONE = USER.rows.where(BY_PUBLIC_ID)
LOAD_ONE = USER.loading(User).where(BY_PUBLIC_ID)

# --- input shapes ---------------------------------------------------------------------------------


def _min_password_length() -> int:
    return current_app.config["MIN_PASSWORD_LENGTH"]


USERNAME = Field("string", required=True, min_length=3, max_length=64,
                 pattern=r"[A-Za-z0-9._-]+",
                 pattern_hint="may contain only ASCII letters, digits, '.', '_' and '-'",
                 description="3-64 of ASCII letters, digits, '.', '_', '-'; unique without "
                             "regard to case")
PASSWORD = Field("string", required=True, min_length=_min_password_length, max_length=128,
                 write_only=True, description="MIN_PASSWORD_LENGTH (default 8) to 128 characters")
READ_ONLY = ("public_id", "created")
ROLE = Field("string", choices=ROLES, description="`user`, `moderator` or `admin`")
ADMIN = Field("boolean", description="the original clients' flag: `true` means role `admin`; "
                                     "sent with `role`, the two must agree")
USER_CREATE = Shape("UserCreate", {
    "username": USERNAME, "password": PASSWORD, "role": ROLE, "admin": ADMIN,
}, read_only=READ_ONLY)
USER_UPDATE = Shape("UserUpdate", {
    "username": USERNAME, "password": PASSWORD, "role": ROLE, "admin": ADMIN,
    "active": Field("boolean"),
}, read_only=READ_ONLY, partial=True)
PASSWORD_CHANGE = Shape("PasswordChange", {
    "current_password": Field("string", required=True, max_length=1024, write_only=True),
    "new_password": PASSWORD,
})

# --- the collection -------------------------------------------------------------------------------

FILTERS = {
    "public_id": QueryField(U.public_id, PUBLIC_ID),
    "username": QueryField(U.username, TEXT),
    "role": QueryField(U.role, TEXT),
    "admin": QueryField(IS_ADMIN, BOOLEAN),
    "active": QueryField(U.active, BOOLEAN),
    "created": QueryField(U.created, TIMESTAMP),
}
USERS = Collection(
    resource=USER,
    filters=FILTERS,
    orderings={"username": QueryField(U.username_key, TEXT),
               **{name: FILTERS[name] for name in ("created", "role", "admin", "active")}},
    default_ordering=("created",),
    cursor_orderings=("created", "-created"),
    tie_breaker=U.id,
)
EVERY_USER = Scope("every user")

# --- the rules ------------------------------------------------------------------------------------


def password_hash(password: str) -> str:
    return hash_password(password, current_app.config["PASSWORD_HASH_METHOD"])


def new_role(data: Mapping[str, Any], current: str = "user") -> str:
    """The role a body asks for: `role`, or the original clients' `admin` flag; 400 if both
    are sent and disagree. `admin: false` takes an admin back to `user` and leaves any other
    role as it is."""
    role, admin = data.get("role"), data.get("admin")
    if role is not None and admin is not None and admin != (role == "admin"):
        raise ApiError(400, "`role` and `admin` disagree",
                       errors={"admin": f"must be {str(role == 'admin').lower()} with role {role}"})
    if role is not None:
        return role
    if admin is True:
        return "admin"
    if admin is False and current == "admin":
        return "user"
    return current


def create_user(username: str, password: str, role: str = "user",
                public_id: str | None = None) -> User:
    """Insert and commit a user; a taken name (any case) is a 409 decided by the database.

    `public_id`, when the caller made it, lets it name the user without reading it again.
    """
    user = User(public_id=public_id or new_public_id(), username=username,
                password_hash=password_hash(password), role=role, active=True)
    db.session.add(user)
    record("user.created", "user", user.public_id, {"username": username, "role": role})
    commit_unique(USERNAME_TAKEN, "username")
    return user


def commit_unique(message: str, field: str) -> None:
    """Commit; a unique-constraint violation becomes a 409 naming the field."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, message, errors={field: "is already taken"}) from None


def canonical_public_id(public_id: str) -> str:
    """The public id as stored (lower-case UUID), or 404 for anything that is not a UUID."""
    try:
        return str(uuid.UUID(public_id))
    except ValueError:
        raise ApiError(404, "No user found!") from None


def read_user(public_id: str) -> dict:
    """A user's representation, or 404."""
    row = db.session.execute(READ_ONE, {"public_id": canonical_public_id(public_id)}).first()
    if row is None:
        raise ApiError(404, "No user found!")
    return USER.item(row)


def own_representation(caller: Caller) -> dict:
    """The caller's representation, from the row their authentication read (no statement)."""
    return USER.item([getattr(caller, name) for name in USER.fields])


def load_user(public_id: str) -> tuple[User, dict]:
    """The user to change, with the representation an `If-Match` is checked against; or 404."""
    row = db.session.execute(LOAD_ONE, {"public_id": canonical_public_id(public_id)}).first()
    if row is None:
        raise ApiError(404, "No user found!")
    return row[0], USER.item(row[1:])


# Who counts as an admin for the last-admin rule.
ACTIVE_ADMIN = and_(User.role == "admin", User.active.is_(True))
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
        raise ApiError(403)
    if admins <= {user.id}:
        raise ApiError(409, LAST_ADMIN)


def change_account(user: User, actor_id: int, changes: Mapping[str, Any]) -> None:
    """Apply validated changes (username, password, role or admin, active) to `user`; commit.

    Demoting or deactivating is one atomic decision with the last-admin rule; deactivating and a
    new password revoke every token of the user in the same commit.
    """
    deactivating = changes.get("active") is False and user.active
    # Hashed first: the slow part stays outside the locks the guard takes.
    new_hash = password_hash(changes["password"]) if "password" in changes else None
    role = new_role(changes, user.role)
    if (user.role == "admin" and role != "admin") or changes.get("active") is False:
        keep_an_active_admin(user, actor_id)
    user.role = role
    for name in ("username", "active"):
        if name in changes:
            setattr(user, name, changes[name])
    if new_hash is not None:
        user.password_hash = new_hash
    if deactivating or "password" in changes:
        revoke_user_sessions(user)
    if changes:
        record_update(user.public_id, changes, role)
    commit_unique(USERNAME_TAKEN, "username")


def record_update(public_id: str, changes: Mapping[str, Any], role: str) -> None:
    """`user.updated`: the names of the fields sent, and the new role and activity; no values
    of anything else (a password above all)."""
    details: dict[str, Any] = {"fields": sorted(changes)}
    if "role" in changes or "admin" in changes:
        details["role"] = role
    if "active" in changes:
        details["active"] = changes["active"]
    record("user.updated", "user", public_id, details)


def delete_account(user: User, actor_id: int) -> None:
    """Delete `user` and commit, unless that would leave no active admin."""
    keep_an_active_admin(user, actor_id)
    record("user.deleted", "user", user.public_id, {"username": user.username})
    db.session.delete(user)
    db.session.commit()
