"""Operations (contract §8): liveness, readiness against migrations, and a database outage."""

from __future__ import annotations

import socket

import pytest
from conftest import assert_problem, make_config
from sqlalchemy import text

from meme_api import __version__, create_app
from meme_api.extensions import db


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def migrated_client(app_config, tmp_path, request):
    """A client of an app whose SQLite database was built by the migrations (as every test's is:
    conftest runs them), on SQLite whatever `TEST_DATABASE_URL` says."""
    app_config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    return request.getfixturevalue("client")


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_client(tmp_path, request):
    """A client of an app whose database cannot be reached."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'db.sqlite'}"
    else:
        url = f"postgresql+psycopg://meme:pw@127.0.0.1:{unused_port()}/meme"
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_healthz_needs_no_tokens(client, method):
    response = client.open("/healthz", method=method)
    assert response.status_code == 200
    if method == "GET":
        assert response.get_json() == {"status": "ok"}


def test_healthz_does_not_touch_the_database(unreachable_client):
    response = unreachable_client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.fixture
def unmigrated_client(migrated_client):
    """The same tables, but no record of a migration: a schema someone made by other means."""
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    return migrated_client


def test_readyz_reports_a_schema_made_without_migrations_as_pending(unmigrated_client):
    response = unmigrated_client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json() == {"status": "unavailable", "database": "ok",
                                   "migrations": "pending", "rate_limits": "ok",
                                   "version": __version__}


def test_readyz_is_ok_after_the_real_migrations(migrated_client):
    response = migrated_client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ok", "database": "ok", "migrations": "ok",
                                   "rate_limits": "ok", "version": __version__}
    assert "Retry-After" not in response.headers


def test_readyz_reports_an_old_revision_as_pending(migrated_client):
    db.session.execute(text("UPDATE alembic_version SET version_num = 'an_older_one'"))
    db.session.commit()
    response = migrated_client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["migrations"] == "pending"


def test_migrated_schema_serves_requests(migrated_client, auth, admin):
    response = migrated_client.post("/template", json={"title": "t", "url": "https://e.org/a"},
                                    headers=auth.headers(admin))
    assert response.status_code == 201


def test_readyz_reports_an_unreachable_database(unreachable_client):
    response = unreachable_client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["database"] == "error"
    assert body["version"] == __version__


def test_routes_answer_503_while_the_database_is_unreachable(unreachable_client):
    response = unreachable_client.get("/template", headers={"x-application-token": "mapp_x",
                                                            "x-access-token": "whatever"})
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"]
    assert "Traceback" not in body["message"] and "SELECT" not in body["message"]
