"""Fixtures: app → client → runner, a fresh database per test, and helpers for credentials.

The database is SQLite in a temporary folder unless `TEST_DATABASE_URL` names a server
(PostgreSQL or MariaDB). Only the migrations make the schema, here as in production: they run
once per session per database, and each test then starts from that schema with no rows (see
`fresh_database`). A test that makes its own app on another database builds the schema with
`upgrade_to_head()` in that app's context, never with `db.create_all()`.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import flask_migrate
import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from meme_api import create_app
from meme_api.accounts import create_user
from meme_api.audit import EVENT
from meme_api.client_apps import register_app
from meme_api.extensions import db, limiter
from meme_api.models import User
from meme_api.sessions import start_session

# Tests hash with a cheap method; one test checks that the real default is Werkzeug's scrypt.
FAST_HASH = "pbkdf2:sha256:1000"
SERVER_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")


def fast_sqlite(dbapi_connection, connection_record) -> None:
    """Test databases are thrown away: skip SQLite's disk syncs, which dominate the run time."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def create_test_app(config: dict):
    """`create_app(config)`, its SQLite connections without disk syncs (after the app's own
    pragmas, which the factory registered first)."""
    app = create_app(config)
    with app.app_context():
        event.listen(db.engine, "connect", fast_sqlite)
    return app


def make_config(tmp_path, **overrides) -> dict:
    url = SERVER_DATABASE_URL or f"sqlite:///{tmp_path / 'test.sqlite'}"
    config = {
        "TESTING": True,
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
        "SQLALCHEMY_DATABASE_URI": url,
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "RATELIMIT_ENABLED": False,
        # Where tests that turn limits on keep counters; .ci/run points this at Redis once.
        "RATELIMIT_STORAGE_URI": os.environ.get("TEST_RATELIMIT_STORAGE_URI") or "memory://",
    }
    config.update(overrides)
    return config


# --- the schema: the migrations', once per session per database --------------------------------

# Per server database URL, the head its migrations reached this session.
MIGRATED_HEADS: dict[str, str] = {}
FIRST_TOTALS_ROW = "INSERT INTO template_totals (id, templates, approved) VALUES (1, 0, 0)"


def upgrade_to_head() -> str:
    """`flask db upgrade` in the current app context; the revision it reached."""
    from servers import logging_left_alone  # servers imports conftest

    with logging_left_alone():
        flask_migrate.upgrade()
    with db.engine.connect() as connection:
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


def wipe_server_database() -> None:
    """Drop everything in the current app's server database (tables, triggers, functions)."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            return
        tables = connection.scalars(text(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"))
        connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in list(tables):
            connection.execute(text(f"DROP TABLE `{table}`"))
        connection.execute(text("SET FOREIGN_KEY_CHECKS = 1"))


def migrate_server_database(url: str) -> None:
    MIGRATED_HEADS.pop(url, None)
    wipe_server_database()
    MIGRATED_HEADS[url] = upgrade_to_head()


@functools.cache
def sqlite_template(tmp_root: Path) -> Path:
    """The migrated SQLite file of this session, made on first use."""
    path = tmp_root / "migrated-template.sqlite"
    app = create_test_app(make_config(tmp_root, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))
    with app.app_context():
        upgrade_to_head()
        db.engine.dispose()  # the last connection's close checkpoints the write-ahead log
    return path


def empty_server_tables() -> None:
    """Every table emptied, identities restarted, and the counters' first row put back.

    TRUNCATE fires no triggers, so the counter tables are reset here by hand, to what the
    migration leaves in an empty database.
    """
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for table in tables:
                connection.execute(text(f"TRUNCATE TABLE `{table}`"))
            connection.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
        connection.execute(text(FIRST_TOTALS_ROW))
        head = connection.scalar(text("SELECT version_num FROM alembic_version"))
    if head != MIGRATED_HEADS[str(db.engine.url)]:
        raise LookupError("the schema is not the migrated one")


def fresh_database(tmp_root: Path) -> None:
    """The current app's database as the migrations make it, with no rows.

    SQLite: a copy of the session's migrated file (the backup API, which also fills an
    in-memory database). A server: the migrations run once per session, then each test
    empties the tables; a test that changed the schema (a downgrade, a dropped table) makes
    the next one migrate again from nothing.
    """
    url = make_url(db.engine.url)
    if url.get_backend_name() == "sqlite":
        with (closing(sqlite3.connect(sqlite_template(tmp_root))) as source,
              db.engine.connect() as connection):
            source.backup(connection.connection.dbapi_connection)
        return
    key = str(db.engine.url)
    if key not in MIGRATED_HEADS:
        migrate_server_database(key)
        return
    try:
        empty_server_tables()
    except (DBAPIError, LookupError):
        migrate_server_database(key)


@pytest.fixture(scope="session")
def schema_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("schema")


@pytest.fixture
def app_config(tmp_path) -> dict:
    """Overrides for the app under test; a test may update it before asking for `app`."""
    return make_config(tmp_path)


@pytest.fixture
def app(app_config, schema_root):
    if not SERVER_DATABASE_URL:
        # Made first: the template builds an app of its own, and the extensions (the rate
        # limiter above all) keep the settings of the last app they were bound to.
        sqlite_template(schema_root)
    app = create_test_app(app_config)
    with app.app_context():
        fresh_database(schema_root)
        shared_store = os.environ.get("TEST_RATELIMIT_STORAGE_URI")
        if app.config["RATELIMIT_ENABLED"] and app.config["RATELIMIT_STORAGE_URI"] == shared_store:
            limiter.reset()  # a shared store (Redis) must not carry counters between tests
        # The extension object outlives each app: a store an earlier test found dead must not
        # leave this one counting in Flask-Limiter's in-memory fallback.
        limiter._storage_dead = False
        yield app
        db.session.remove()
        assert_no_secret_in_any_audit_event()
        db.session.remove()
        db.engine.dispose()


# --- no audit event ever holds a secret (contract §11) --------------------------------------------

# Every password and token the suite sends or is given, and the shapes of secrets it is not told
# about (password hashes, JWTs, app tokens). After each test that builds the app, every audit
# event in its database is scanned for both.
SECRETS: set[str] = set()
SECRET_SHAPES = re.compile(r"pbkdf2:|scrypt:|\$2[aby]\$|argon2|eyJ[\w-]{8,}|mapp_[\w-]{8,}")
SECRET_FIELDS = re.compile(r"password|token", re.IGNORECASE)
MIN_SECRET_LENGTH = 6  # shorter strings are refused as passwords, and would match by chance


def remember_secrets(json_body, form, headers) -> None:
    """The passwords and tokens of one request: body fields named so, and Basic credentials."""
    for body in (json_body, form):
        if isinstance(body, dict):
            SECRETS.update(value for name, value in body.items()
                           if SECRET_FIELDS.search(str(name)) and isinstance(value, str))
    for name, value in dict(headers or {}).items():
        if name.lower() == "authorization" and str(value).startswith("Basic "):
            with suppress(ValueError, UnicodeDecodeError):
                SECRETS.add(base64.b64decode(value[6:]).decode().partition(":")[2])
        elif name.lower() in ("x-access-token", "x-application-token"):
            SECRETS.add(str(value))


def secrets_in(text: str) -> list[str]:
    found = [shape.group() for shape in SECRET_SHAPES.finditer(text)]
    return found + [secret for secret in SECRETS
                    if len(secret) >= MIN_SECRET_LENGTH and secret in text]


def assert_no_secret_in_any_audit_event() -> None:
    try:
        rows = db.session.execute(EVENT.rows.order_by(EVENT.source.c.id)).all()
    except DBAPIError:  # a test that dropped or never built the schema
        db.session.rollback()
        return
    for row in rows:
        event_text = repr(EVENT.item(row))
        assert not secrets_in(event_text), f"an audit event holds a secret: {event_text}"


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own `g` and session), as on a real server."""

    def open(self, *args, **kwargs):
        remember_secrets(kwargs.get("json"), kwargs.get("data"), kwargs.get("headers"))
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Account:
    user: User
    username: str
    password: str
    tokens: dict

    @property
    def public_id(self) -> str:
        return self.user.public_id


class Auth:
    """Makes users and credentials, and builds the headers the API wants."""

    def __init__(self, app):
        self.app = app
        self.app_token = register_app("tests")[1]
        SECRETS.add(self.app_token)

    def make_user(self, username: str = "alice", password: str = "password123",
                  admin: bool = False, role: str | None = None) -> Account:
        user = create_user(username, password, role or ("admin" if admin else "user"))
        tokens = start_session(user)
        SECRETS.update({password, tokens["token"], tokens["refresh_token"]})
        return Account(user, username, password, tokens)

    def headers(self, account: Account | None = None, **extra: str) -> dict:
        headers = {"x-application-token": self.app_token}
        if account is not None:
            headers["x-access-token"] = account.tokens["token"]
        headers.update(extra)
        return headers

    def basic(self, username: str, password: str) -> dict:
        raw = f"{username}:{password}".encode()
        return {"x-application-token": self.app_token,
                "Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def auth(app) -> Auth:
    return Auth(app)


@pytest.fixture
def admin(auth) -> Account:
    return auth.make_user("admin", "adminpass1", admin=True)


@pytest.fixture
def alice(auth) -> Account:
    return auth.make_user("alice", "alicepass1")


@pytest.fixture
def bob(auth) -> Account:
    return auth.make_user("bob", "bobpass123")


@contextmanager
def statements() -> Iterator[list[str]]:
    """Collect the SQL statements sent to the database inside the block."""
    sent: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database of each backend, for tests of migrations and their data."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    from servers import fresh_mariadb_database, fresh_postgres_database  # servers imports conftest

    fresh = fresh_postgres_database if request.param == "postgresql" else fresh_mariadb_database
    with fresh() as url:
        yield url


def create_template(client, auth, account, **fields) -> dict:
    """POST /template as `account` (JSON: `fields` over a valid body) and return the created
    template's representation; the test fails unless the answer is 201."""
    body = {"title": "Drake", "url": "https://e.org/d.png", **fields}
    response = client.post("/template", json=body, headers=auth.headers(account))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["template"]


def assert_problem(response, status: int, message: str | None = None) -> dict:
    """The response is a problem document of this status (and message, when given)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"] and body["title"]
    assert body["detail"] == body["message"]
    if message is not None:
        assert body["message"] == message
    return body
