"""`flask --app meme_api bootstrap`: the first admin and an application in one command (§9)."""

from __future__ import annotations

import pytest
from test_cli import assert_clean_failure, count, find_user
from werkzeug.security import check_password_hash

from meme_api.bootstrap import NOTHING_TO_DO
from meme_api.models import ClientApp, User

PASSWORD = "first-admin-password"


def bootstrap(runner, *args: str, input: str | None = None, **env: str):
    # An empty value unsets the variable for the command (CliRunner's convention is None).
    environment = {"BOOTSTRAP_ADMIN_PASSWORD": None, "BOOTSTRAP_ADMIN_PASSWORD_FILE": None}
    environment.update(env)
    return runner.invoke(args=["bootstrap", *args], input=input, env=environment)


def test_bootstrap_makes_an_admin_and_an_app_and_prints_the_token_last(runner, client, auth):
    before = count(ClientApp)  # the `auth` fixture registers one of its own
    result = bootstrap(runner, "root", "--app", "web", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("mapp_")
    assert PASSWORD not in result.output
    assert find_user("root").admin is True
    assert count(ClientApp) == before + 1

    login = {**auth.basic("root", PASSWORD), "x-application-token": token}
    answer = client.get("/login", headers=login)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    me = client.get("/user/me", headers={"x-application-token": token,
                                         "x-access-token": answer.get_json()["token"]})
    assert me.get_json()["user"]["admin"] is True


def test_bootstrap_prompts_for_the_password_twice(runner):
    result = bootstrap(runner, "root", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert check_password_hash(find_user("root").password_hash, PASSWORD)
    assert result.stdout.strip().splitlines()[-1].startswith("Created admin root")
    assert count(ClientApp) == 0
    # The prompt is on stderr: `bootstrap … | tail -n 1` shows it and keeps only the output.
    assert "Password" in result.stderr and "Password" not in result.stdout


def test_bootstrap_reads_the_password_from_its_file(runner, tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    result = bootstrap(runner, "root", BOOTSTRAP_ADMIN_PASSWORD_FILE=str(secret))
    assert result.exit_code == 0, result.output
    assert check_password_hash(find_user("root").password_hash, PASSWORD)


def test_bootstrap_refuses_when_an_admin_exists(runner, admin):
    apps = count(ClientApp)  # the fixture's own
    line = assert_clean_failure(
        bootstrap(runner, "second", "--app", "web", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD))
    assert "admin exists" in line
    assert count(User) == 1 and count(ClientApp) == apps


def test_bootstrap_counts_only_admins(runner, alice):
    result = bootstrap(runner, "root", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD)
    assert result.exit_code == 0, result.output
    assert count(User) == 2


def test_if_no_admin_does_nothing_once_an_admin_exists(runner, admin):
    # The boot script runs this on every start; later starts need no password any more.
    result = bootstrap(runner, "second", "--if-no-admin")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == NOTHING_TO_DO
    assert count(User) == 1


def test_if_no_admin_makes_the_first_admin_from_the_environment(runner):
    result = bootstrap(runner, "root", "--if-no-admin", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD)
    assert result.exit_code == 0, result.output
    assert find_user("root").admin is True


def test_if_no_admin_needs_the_password_in_the_environment(runner):
    line = assert_clean_failure(bootstrap(runner, "root", "--if-no-admin", input="x\nx\n"))
    assert "BOOTSTRAP_ADMIN_PASSWORD" in line
    assert count(User) == 0


def test_a_taken_app_name_leaves_neither_admin_nor_app(runner):
    assert runner.invoke(args=["apps", "register", "web"]).exit_code == 0
    line = assert_clean_failure(
        bootstrap(runner, "root", "--app", "WEB", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD))
    assert "taken" in line
    assert count(User) == 0 and count(ClientApp) == 1


@pytest.mark.parametrize("args", [
    ["a b"], ["ab"], ["root", "--app", "bad name"], ["root", "--app", ""],
])
def test_bootstrap_refuses_bad_names(runner, args):
    assert_clean_failure(bootstrap(runner, *args, BOOTSTRAP_ADMIN_PASSWORD=PASSWORD))
    assert count(User) == 0 and count(ClientApp) == 0


def test_bootstrap_refuses_a_short_password(runner):
    assert_clean_failure(bootstrap(runner, "root", BOOTSTRAP_ADMIN_PASSWORD="short"))
    assert count(User) == 0
