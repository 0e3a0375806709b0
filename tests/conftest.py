"""Fixtures: app → client → runner, a fresh database per test, and helpers for credentials.

The database is SQLite in a temporary folder unless `TEST_DATABASE_URL` names a server
(PostgreSQL or MariaDB); then each test gets freshly created tables in that database.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text

from meme_api import create_app
from meme_api.accounts import create_user
from meme_api.client_apps import register_app
from meme_api.extensions import db, limiter
from meme_api.models import User
from meme_api.sessions import start_session

# Tests hash with a cheap method; one test checks that the real default is Werkzeug's scrypt.
FAST_HASH = "pbkdf2:sha256:1000"
SERVER_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")


@event.listens_for(Engine, "connect")
def _fast_sqlite(dbapi_connection, connection_record) -> None:
    """Test databases are thrown away: skip SQLite's disk syncs, which dominate the run time."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


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


def reset_schema() -> None:
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.create_all()


@pytest.fixture
def app_config(tmp_path) -> dict:
    """Overrides for the app under test; a test may update it before asking for `app`."""
    return make_config(tmp_path)


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        reset_schema()
        shared_store = os.environ.get("TEST_RATELIMIT_STORAGE_URI")
        if app.config["RATELIMIT_ENABLED"] and app.config["RATELIMIT_STORAGE_URI"] == shared_store:
            limiter.reset()  # a shared store (Redis) must not carry counters between tests
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own `g` and session), as on a real server."""

    def open(self, *args, **kwargs):
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

    def make_user(self, username: str = "alice", password: str = "password123",
                  admin: bool = False) -> Account:
        user = create_user(username, password, admin=admin)
        return Account(user, username, password, start_session(user))

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
