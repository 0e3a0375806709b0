"""The commands of contract §9: create-admin, apps register|list|revoke, seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_problem
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from meme_api.extensions import db
from meme_api.models import ClientApp, Template, User


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def find_user(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username_key == username.lower()))


def assert_clean_failure(result) -> str:
    """A non-zero exit with exactly one `Error: …` line and no traceback; returns that line."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert errors[0] in result.stderr
    return errors[0]


def register_cli_app(runner, name: str) -> str:
    result = runner.invoke(args=["apps", "register", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_create_admin_with_password_option(runner):
    result = runner.invoke(args=["create-admin", "root", "--password", "rootpass1"])
    assert result.exit_code == 0, result.output
    user = find_user("root")
    assert user.admin is True and user.active is True
    assert check_password_hash(user.password_hash, "rootpass1")
    assert "rootpass1" not in result.output


def test_create_admin_prompts_for_the_password_twice(runner):
    result = runner.invoke(args=["create-admin", "root"], input="rootpass1\nrootpass1\n")
    assert result.exit_code == 0, result.output
    assert check_password_hash(find_user("root").password_hash, "rootpass1")


def test_created_admin_can_log_in(runner, client, auth):
    runner.invoke(args=["create-admin", "root", "--password", "rootpass1"])
    response = client.get("/login", headers=auth.basic("root", "rootpass1"))
    assert response.status_code == 200
    assert response.get_json()["token"]


@pytest.mark.parametrize("name", ["admin", "ADMIN", "Admin"])
def test_create_admin_refuses_a_taken_name_in_any_case(runner, admin, name):
    line = assert_clean_failure(
        runner.invoke(args=["create-admin", name, "--password", "otherpass1"]))
    assert "taken" in line
    assert count(User) == 1


@pytest.mark.parametrize("args", [
    ["create-admin", "a b", "--password", "goodpass1"],
    ["create-admin", "ab", "--password", "goodpass1"],
    ["create-admin", "x" * 65, "--password", "goodpass1"],
    ["create-admin", "root", "--password", "short"],
    ["create-admin", "root", "--password", "x" * 129],
    ["create-admin", "root", "--password", "bad\x00password"],
])
def test_create_admin_refuses_bad_input(runner, args):
    assert_clean_failure(runner.invoke(args=args))
    assert count(User) == 0


def test_create_admin_refuses_mismatched_prompted_passwords(runner):
    result = runner.invoke(args=["create-admin", "root"], input="rootpass1\nrootpass2\n")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert count(User) == 0


def test_apps_register_prints_a_working_token_last(runner, client, auth, alice):
    token = register_cli_app(runner, "mobile")
    assert token.startswith("mapp_")
    headers = auth.headers(alice, **{"x-application-token": token})
    assert client.get("/user/me", headers=headers).status_code == 200


@pytest.mark.parametrize("args", [
    ["apps", "register", "bad name"],
    ["apps", "register", ""],
    ["apps", "register", "x" * 65],
    ["apps", "revoke", "missing"],
])
def test_apps_commands_refuse_bad_input(runner, args):
    assert_clean_failure(runner.invoke(args=args))
    assert count(ClientApp) == 0


def test_apps_register_refuses_a_taken_name(runner):
    register_cli_app(runner, "mobile")
    assert_clean_failure(runner.invoke(args=["apps", "register", "MOBILE"]))
    assert count(ClientApp) == 1


def test_apps_list_shows_names_and_status(runner):
    assert "No applications" in runner.invoke(args=["apps", "list"]).output
    for name in ("mobile", "desktop"):
        register_cli_app(runner, name)
    assert runner.invoke(args=["apps", "revoke", "desktop"]).exit_code == 0
    result = runner.invoke(args=["apps", "list"])
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:]}
    assert rows == {"desktop": "revoked", "mobile": "active"}


def test_apps_revoke_refuses_the_token_over_http(runner, client, auth, alice):
    token = register_cli_app(runner, "mobile")
    result = runner.invoke(args=["apps", "revoke", "mobile"])
    assert result.exit_code == 0, result.output
    headers = auth.headers(alice, **{"x-application-token": token})
    assert_problem(client.get("/user/me", headers=headers), 401, "Application token is invalid")


def test_seed_creates_users_and_templates(runner):
    result = runner.invoke(args=["seed", "--users", "3", "--posts", "10"])
    assert result.exit_code == 0, result.output
    assert count(User) == 3
    assert count(Template) == 10
    owners = set(db.session.scalars(select(Template.owner_id)))
    assert owners <= set(db.session.scalars(select(User.id)))


def test_seed_twice_adds_more_users_without_clashing(runner):
    for _ in range(2):
        assert runner.invoke(args=["seed", "--users", "2", "--posts", "0"]).exit_code == 0
    assert count(User) == 4


@pytest.mark.parametrize("value", ["-1", "many"])
def test_seed_refuses_bad_counts(runner, value):
    result = runner.invoke(args=["seed", "--users", value])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert count(User) == 0


def flask_command(*args: str, database_url: str, cwd: Path,
                  **extra_env: str) -> subprocess.CompletedProcess:
    """Run the installed `flask` script next to this interpreter, as a user would."""
    flask = Path(sys.executable).parent / "flask"
    env = {key: value for key, value in os.environ.items()
           if key not in ("SQLALCHEMY_DATABASE_URI", "TEST_DATABASE_URL")}
    env.update(DATABASE_URL=database_url, APP_ENV="testing", **extra_env)
    return subprocess.run([str(flask), "--app", "meme_api", *args], cwd=cwd, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)


def test_command_on_an_unmigrated_database_fails_cleanly(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    result = flask_command("apps", "list", database_url=f"sqlite:///{empty}", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert "db upgrade" in lines[0]
