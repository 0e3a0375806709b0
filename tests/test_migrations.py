"""Migrations on every backend: up from empty, down to base, up again, with data; no drift."""

# The SQLite variants run by default; the PostgreSQL and MariaDB ones carry the `postgres` and
# `mariadb` markers, and each makes and drops a fresh database of its own.

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import make_config
from servers import REPO_ROOT, server_env
from sqlalchemy import Column, Integer, MetaData, create_engine, inspect, select

from meme_api import __version__, create_app
from meme_api.extensions import db

MIGRATIONS = REPO_ROOT / "migrations"
APP_TABLES = ("users", "client_apps", "auth_sessions", "templates")
COMMAND_TIMEOUT = 120
SEED_TIME = datetime(2026, 11, 21, 19, 5, 0)
READY = {"status": "ok", "database": "ok", "migrations": "ok", "rate_limits": "ok",
         "version": __version__}
# A model change without a migration: a new table with an index, which autogenerate renders as
# `create_table` plus (in batch mode) `with op.batch_alter_table(...)`.
MODEL_CHANGE = """
import sys
import warnings
import flask_migrate
from sqlalchemy import Column, Integer, Table
from meme_api import __version__, create_app
from meme_api.extensions import db
Table("migration_probe", db.metadata, Column("id", Integer, primary_key=True),
      Column("size", Integer, index=True))
warnings.simplefilter("ignore", DeprecationWarning)
with create_app().app_context():
    getattr(flask_migrate, sys.argv[1])(directory=sys.argv[2])
"""


# --- databases ----------------------------------------------------------------------------------

# `database_url` (conftest): a fresh, empty database of each backend.


# --- helpers ------------------------------------------------------------------------------------

def flask_db(url: str, *args: str) -> str:
    """Run `flask --app meme_api db ARGS` as the container does; fail with its output."""
    done = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [sys.executable, "-m", "flask", "--app", "meme_api", "db", *args], env=server_env(url),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    assert done.returncode == 0, f"flask db {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def revisions() -> list[str]:
    """Every revision, oldest first; the history must be one straight line."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def seed_first_schema(url: str) -> None:
    """Rows in every table of the first revision's schema, written without the models."""
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine, only=APP_TABLES)
    users, apps = metadata.tables["users"], metadata.tables["client_apps"]
    sessions, templates = metadata.tables["auth_sessions"], metadata.tables["templates"]
    try:
        with engine.begin() as connection:
            connection.execute(users.insert(), [
                {"public_id": str(uuid.uuid4()), "username": name, "username_key": name.lower(),
                 "password_hash": "pbkdf2:sha256:1000$salt$hash", "admin": name == "Root",
                 "active": True, "created": SEED_TIME, "version": 1}
                for name in ("Root", "alice", "bob")
            ])
            owner = dict(connection.execute(select(users.c.username, users.c.id)).all())
            connection.execute(apps.insert(), {
                "name": "Mobile", "name_key": "mobile", "token_hash": "a" * 64,
                "previous_token_hash": None, "previous_valid_until": None,
                "created": SEED_TIME, "last_used": SEED_TIME, "revoked": False})
            connection.execute(sessions.insert(), {
                "id": str(uuid.uuid4()), "user_id": owner["alice"],
                "refresh_jti": str(uuid.uuid4()), "created": SEED_TIME, "expires": SEED_TIME,
                "revoked": False})
            connection.execute(templates.insert(), [
                {"title": f"Template {n} ✓", "url": f"https://example.com/{n}.jpg",
                 "description": None if n % 2 else f"described {n}", "approved": n % 3 == 0,
                 "posted": SEED_TIME, "updated": SEED_TIME,
                 "owner_id": [owner["alice"], owner["bob"], None][n % 3], "version": 1}
                for n in range(30)
            ])
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, dict[str, list[tuple]]]:
    """Each app table that exists: its column names and its rows, in primary-key order."""
    engine = create_engine(url)
    metadata = MetaData()
    try:
        metadata.reflect(engine, only=lambda name, _: name in APP_TABLES)
        with engine.connect() as connection:
            return {
                name: {"columns": [column.name for column in table.columns],
                       "rows": [tuple(row) for row in connection.execute(
                           select(table).order_by(*table.primary_key.columns))]}
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def assert_data_kept(before: dict, after: dict) -> None:
    """Every row of every table present in both snapshots survived, column by column."""
    for name in before.keys() & after.keys():
        common = [c for c in before[name]["columns"] if c in after[name]["columns"]]

        def project(table, columns=common):
            positions = [table["columns"].index(c) for c in columns]
            return [tuple(row[p] for p in positions) for row in table["rows"]]

        assert project(after[name]) == project(before[name]), f"rows of {name} changed"


def readiness(url: str, tmp_path) -> tuple[int, dict]:
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    try:
        response = app.test_client().get("/readyz")
        return response.status_code, response.get_json()
    finally:
        with app.app_context():
            db.engine.dispose()


# --- tests --------------------------------------------------------------------------------------

def test_up_down_and_up_again_keeping_data_and_without_drift(database_url, tmp_path):
    chain = revisions()

    for step, revision in enumerate(chain):
        before = snapshot(database_url)
        flask_db(database_url, "upgrade", revision)
        assert current_revision(database_url) == revision
        assert_data_kept(before, snapshot(database_url))
        if step == 0:
            seed_first_schema(database_url)
    assert all(snapshot(database_url)[name]["rows"] for name in APP_TABLES)
    assert "No new upgrade operations detected" in flask_db(database_url, "check")
    assert readiness(database_url, tmp_path) == (200, READY)

    for revision in reversed(chain[:-1]):
        before = snapshot(database_url)
        flask_db(database_url, "downgrade", revision)
        assert current_revision(database_url) == revision
        assert_data_kept(before, snapshot(database_url))
    flask_db(database_url, "downgrade", "base")
    assert current_revision(database_url) is None
    assert table_names(database_url) <= {"alembic_version"}

    flask_db(database_url, "upgrade")
    assert current_revision(database_url) == chain[-1]
    assert set(APP_TABLES) <= table_names(database_url)
    assert "No new upgrade operations detected" in flask_db(database_url, "check")
    assert readiness(database_url, tmp_path) == (200, READY)


def test_the_models_match_the_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'head.sqlite'}"
    flask_db(url, "upgrade")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True})
            assert compare_metadata(context, db.metadata) == []

            # The comparison is not blind: a column the migrations lack is reported.
            changed = MetaData(naming_convention=db.metadata.naming_convention)
            for table in db.metadata.tables.values():
                table.to_metadata(changed)
            changed.tables["templates"].append_column(Column("views", Integer))
            assert [diff[0] for diff in compare_metadata(context, changed)] == ["add_column"]
    finally:
        engine.dispose()


def run_with_model_change(command: str, url: str, directory) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", MODEL_CHANGE, command, str(directory)], env=server_env(url),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)


def test_flask_db_check_fails_on_a_model_change_without_a_migration(tmp_path):
    url = f"sqlite:///{tmp_path / 'head.sqlite'}"
    flask_db(url, "upgrade")

    done = run_with_model_change("check", url, MIGRATIONS)

    assert done.returncode != 0
    assert "New upgrade operations detected" in done.stderr
    assert "migration_probe" in done.stderr


def test_autogenerate_on_sqlite_renders_batch_operations(tmp_path):
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    url = f"sqlite:///{tmp_path / 'head.sqlite'}"
    flask_db(url, "upgrade")

    done = run_with_model_change("migrate", url, directory)

    assert done.returncode == 0, done.stderr[-3000:]
    new = set((directory / "versions").glob("*.py")) - {
        directory / "versions" / path.name for path in (MIGRATIONS / "versions").glob("*.py")}
    assert len(new) == 1, done.stderr[-3000:]
    script = new.pop().read_text()
    assert "op.create_table('migration_probe'" in script
    # render_as_batch reached migrations/env.py: the index is created inside a batch block.
    assert "with op.batch_alter_table('migration_probe'" in script


def roles_and_flags(url: str) -> dict[str, tuple]:
    """Each user's `role` and/or `admin`, whichever columns the schema has, by username."""
    engine = create_engine(url)
    metadata = MetaData()
    try:
        metadata.reflect(engine, only=("users",))
        users = metadata.tables["users"]
        columns = [users.c[name] for name in ("role", "admin") if name in users.c]
        with engine.connect() as connection:
            return {row[0]: tuple(row[1:]) for row in connection.execute(
                select(users.c.username, *columns))}
    finally:
        engine.dispose()


def test_roles_migration_maps_admins_both_ways_with_data(database_url):
    flask_db(database_url, "upgrade", "0001_initial")
    seed_first_schema(database_url)  # Root is the admin, alice and bob are not
    flask_db(database_url, "upgrade", "0003_template_counts")
    sessions_before = snapshot(database_url)["auth_sessions"]["rows"]
    templates_before = snapshot(database_url)["templates"]["rows"]

    flask_db(database_url, "upgrade", "0004_roles")
    assert roles_and_flags(database_url) == {"Root": ("admin",), "alice": ("user",),
                                             "bob": ("user",)}
    # The foreign keys pointing at users fired nothing: sessions and owners are all there.
    assert snapshot(database_url)["auth_sessions"]["rows"] == sessions_before
    assert snapshot(database_url)["templates"]["rows"] == templates_before

    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE users SET role = 'moderator' WHERE username = 'bob'")
    finally:
        engine.dispose()
    flask_db(database_url, "downgrade", "0003_template_counts")
    # Down, `admin` is true for the admins; the moderator goes back to a plain user.
    assert {name: bool(flags[0]) for name, flags in roles_and_flags(database_url).items()} == {
        "Root": True, "alice": False, "bob": False}
    assert snapshot(database_url)["auth_sessions"]["rows"] == sessions_before
    assert snapshot(database_url)["templates"]["rows"] == templates_before
