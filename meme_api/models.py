"""Database models (SQLAlchemy 2.0 typed mappings). Only migrations create or change the schema."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    type_coerce,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

# MariaDB would otherwise create latin1 tables (no emoji) with case-insensitive comparison;
# utf8mb4_bin stores any text and compares it like PostgreSQL and SQLite do.
MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def utcnow() -> datetime:
    """Now in UTC, naive, to the second: the precision every supported backend keeps alike."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def new_public_id() -> str:
    return str(uuid.uuid4())


# The roles of contract §3, least to most rights. `admin`, as the original clients see it, is
# derived: true exactly for the role `admin` (one column, so the two can never disagree).
ROLES = ("user", "moderator", "admin")


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        # Collections order users by creation, ties broken by id (query language, contract §5).
        Index("ix_users_created_id", "created", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    username: Mapped[str] = mapped_column(String(64))
    # Lower-cased username under a unique constraint: the database, not a check-then-insert,
    # keeps usernames unique without regard to case on every backend.
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user",
                                      index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Bumped on every change and checked in the UPDATE itself (optimistic concurrency).
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": version}

    sessions: Mapped[list[AuthSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def __repr__(self) -> str:
        return f"<User {self.username}>"


@event.listens_for(User.username, "set", retval=False)
def _keep_username_key(target: User, value: str, oldvalue, initiator) -> None:
    target.username_key = value.lower() if value is not None else None


# The `admin` clients see, as SQL: the role seen as a boolean.
IS_ADMIN = type_coerce(User.__table__.c.role == "admin", Boolean)


class AuthSession(db.Model):
    """One login: its tokens carry its id, so revoking the row revokes them everywhere at once."""

    __tablename__ = "auth_sessions"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The one refresh token of this session that may still be exchanged (rotation).
    refresh_jti: Mapped[str] = mapped_column(String(36))
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # What its owner sees of it (contract §10): where it was opened, and when it was last used
    # (kept to within a minute, see auth.touch_session).
    app: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, default=utcnow)

    user: Mapped[User] = relationship(back_populates="sessions")


class Template(db.Model):
    __tablename__ = "templates"
    __table_args__ = (
        # What collections filter and order by, each ending in id, the tie-breaker: the feed and
        # moderation (approved, newest first), ordering and cursors by posted, and an owner's
        # templates (this one also backs the owner foreign key on MySQL/MariaDB).
        Index("ix_templates_approved_posted_id", "approved", "posted", "id"),
        Index("ix_templates_posted_id", "posted", "id"),
        Index("ix_templates_owner_id_posted_id", "owner_id", "posted", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    posted: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": version}

    owner: Mapped[User | None] = relationship(lazy="joined", innerjoin=False)


class ClientApp(db.Model):
    """A registered client application; only a hash of its token is kept."""

    __tablename__ = "client_apps"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # After a rotation the previous token keeps working until `previous_valid_until`.
    previous_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    previous_valid_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


@event.listens_for(ClientApp.name, "set", retval=False)
def _keep_app_name_key(target: ClientApp, value: str, oldvalue, initiator) -> None:
    target.name_key = value.lower() if value is not None else None


class TemplateTotals(db.Model):
    """The unfiltered template counts, one row (id 1) kept exact by triggers on `templates`.

    Page mode must report an exact total; reading it here is one primary-key lookup where a
    COUNT over every visible row grows with the table. The triggers are in the migration that
    made these tables (0003); counts.py reads the row.
    """

    __tablename__ = "template_totals"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    templates: Mapped[int] = mapped_column(Integer)
    approved: Mapped[int] = mapped_column(Integer)


class OwnerTemplateCount(db.Model):
    """How many of one user's templates await moderation; a missing row means none.

    Kept by the same triggers. The row goes with its user (ON DELETE CASCADE): the user's
    templates stay, ownerless, and no one's count includes them any more.
    """

    __tablename__ = "owner_template_counts"
    __table_args__ = MYSQL_TABLE_ARGS

    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    unapproved: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(db.Model):
    """A create sent with an `Idempotency-Key` (contract §12): claimed, then its kept answer.

    The unique (caller, request_key) decides which of concurrent requests with one key runs;
    `status` is null while that request is in progress. idempotency.py keeps the rows.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("uq_idempotency_keys_caller_request_key", "caller", "request_key", unique=True),
        Index("ix_idempotency_keys_expires", "expires"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller: Mapped[str] = mapped_column(String(64))  # "user:<public_id>"
    request_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(DateTime)


class AuditEvent(db.Model):
    """One security-relevant change (contract §11), written in the transaction that makes it.

    Append-only: nothing in the service updates a row; `audit prune` deletes old ones. Actors
    and targets are kept by value (public id, username at the time), not by foreign key, so an
    event outlives the user or application it names.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        # What an investigator filters by, each ending in id, the default order and tie-breaker.
        Index("ix_audit_events_action", "action", "id"),
        Index("ix_audit_events_actor", "actor", "id"),
        Index("ix_audit_events_target", "target_type", "target_id", "id"),
        Index("ix_audit_events_time", "time", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    app: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    details: Mapped[dict | None] = mapped_column(JSON, nullable=True)
