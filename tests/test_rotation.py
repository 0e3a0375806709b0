"""Rotating and revoking application tokens, with and without a grace period, over HTTP and CLI."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from conftest import assert_problem
from sqlalchemy import select, update

from meme_api.extensions import db
from meme_api.models import ClientApp, utcnow

INVALID = "Application token is invalid"
GRACE = 300


# --- helpers ---------------------------------------------------------------------------------

def see_committed() -> None:
    """End the test's transaction: under REPEATABLE READ (MariaDB) it would keep an old view."""
    db.session.commit()


def app_row(name: str) -> ClientApp:
    """The application's row as the database has it now."""
    see_committed()
    return db.session.scalar(select(ClientApp).where(ClientApp.name_key == name.lower()))


def register(client, auth, admin, name: str = "mobile") -> str:
    response = client.post("/app", json={"name": name}, headers=auth.headers(admin))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["token"]


def rotate(client, auth, admin, name: str = "mobile", app_token: str | None = None):
    headers = auth.headers(admin)
    if app_token:
        headers["x-application-token"] = app_token
    return client.post(f"/app/{name}/rotate", headers=headers)


def rotated_token(client, auth, admin, name: str = "mobile") -> str:
    response = rotate(client, auth, admin, name)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["token"]


def through(client, auth, account, app_token: str):
    """`GET /user/me` as `account`, calling through the application holding `app_token`."""
    return client.get("/user/me", headers=auth.headers(account,
                                                        **{"x-application-token": app_token}))


def assert_works(client, auth, account, app_token: str) -> None:
    assert through(client, auth, account, app_token).status_code == 200


def assert_refused(client, auth, account, app_token: str) -> None:
    assert_problem(through(client, auth, account, app_token), 401, INVALID)


def set_grace_end(name: str, when) -> None:
    db.session.execute(update(ClientApp).where(ClientApp.name_key == name)
                       .values(previous_valid_until=when))
    db.session.commit()


def cli_apps(runner) -> dict[str, str]:
    """`flask apps list` as {name: active|revoked}."""
    see_committed()  # the command runs in the test's application context, on its session
    result = runner.invoke(args=["apps", "list"])
    assert result.exit_code == 0, result.output
    return {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:]}


@pytest.fixture
def with_grace(app_config):
    app_config["APP_TOKEN_GRACE"] = GRACE


# --- POST /app/<name>/rotate --------------------------------------------------------------------

def test_rotate_answers_a_new_prefixed_token_once_and_stores_only_its_hash(client, auth, admin):
    old = register(client, auth, admin)
    response = rotate(client, auth, admin)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"app", "token"}
    assert body["app"]["name"] == "mobile" and body["app"]["revoked"] is False
    new = body["token"]
    assert new.startswith("mapp_") and new != old
    assert app_row("mobile").token_hash == hashlib.sha256(new.encode()).hexdigest()
    listing = client.get("/app", headers=auth.headers(admin)).get_data(as_text=True)
    assert new not in listing and hashlib.sha256(new.encode()).hexdigest() not in listing


def test_without_grace_the_new_token_works_and_the_old_is_refused_at_once(client, auth, admin,
                                                                         alice):
    old = register(client, auth, admin)
    assert_works(client, auth, alice, old)
    new = rotated_token(client, auth, admin)

    assert_works(client, auth, alice, new)
    assert_refused(client, auth, alice, old)
    assert app_row("mobile").previous_token_hash is None


def test_rotating_the_callers_own_application_cuts_it_off_from_the_next_request(client, auth,
                                                                                admin):
    response = rotate(client, auth, admin, "tests")
    assert response.status_code == 200
    assert_refused(client, auth, admin, auth.app_token)
    assert_works(client, auth, admin, response.get_json()["token"])


def test_rotate_matches_the_name_in_any_case(client, auth, admin, alice):
    old = register(client, auth, admin)
    new = rotated_token(client, auth, admin, "MOBILE")
    assert_works(client, auth, alice, new)
    assert_refused(client, auth, alice, old)


@pytest.mark.parametrize(("caller", "status"), [("alice", 403), (None, 401)])
def test_rotate_is_admin_only_and_changes_nothing_when_refused(client, auth, admin, alice,
                                                               caller, status):
    old = register(client, auth, admin)
    account = alice if caller == "alice" else None
    response = client.post("/app/mobile/rotate", headers=auth.headers(account))
    assert_problem(response, status)
    assert "token" not in response.get_json()
    assert_works(client, auth, alice, old)


@pytest.mark.parametrize("name", ["missing", "mobile2", "bad name", "x" * 300, "%00"])
def test_rotate_of_an_unknown_app_is_404(client, auth, admin, name):
    register(client, auth, admin)
    assert_problem(rotate(client, auth, admin, name), 404)


def test_rotate_of_a_revoked_app_is_409_and_it_stays_revoked(client, auth, admin, alice):
    old = register(client, auth, admin)
    assert client.delete("/app/mobile", headers=auth.headers(admin)).status_code == 200
    stored = app_row("mobile").token_hash

    response = rotate(client, auth, admin)

    assert_problem(response, 409)
    assert "token" not in response.get_json()
    assert app_row("mobile").token_hash == stored
    assert app_row("mobile").revoked is True
    assert_refused(client, auth, alice, old)


# --- the grace period ---------------------------------------------------------------------------

def test_with_grace_both_tokens_work_until_the_stored_end(with_grace, client, auth, admin,
                                                          alice):
    old = register(client, auth, admin)
    before = utcnow()
    new = rotated_token(client, auth, admin)
    after = utcnow()

    assert_works(client, auth, alice, old)
    assert_works(client, auth, alice, new)
    ends = app_row("mobile").previous_valid_until
    assert before + timedelta(seconds=GRACE) <= ends <= after + timedelta(seconds=GRACE)


@pytest.mark.parametrize(("ends_in", "old_works"), [
    (timedelta(minutes=1), True),
    (timedelta(0), False),
    (timedelta(seconds=-1), False),
    (timedelta(days=-1), False),
])
def test_the_old_token_is_refused_once_its_grace_has_ended(with_grace, client, auth, admin, alice,
                                                           ends_in, old_works):
    old = register(client, auth, admin)
    new = rotated_token(client, auth, admin)
    set_grace_end("mobile", utcnow() + ends_in)

    if old_works:
        assert_works(client, auth, alice, old)
    else:
        assert_refused(client, auth, alice, old)
    assert_works(client, auth, alice, new)


def test_a_second_rotation_keeps_only_the_latest_old_token_in_grace(with_grace, client, auth,
                                                                    admin, alice):
    first = register(client, auth, admin)
    second = rotated_token(client, auth, admin)
    third = rotated_token(client, auth, admin)

    assert_refused(client, auth, alice, first)
    assert_works(client, auth, alice, second)
    assert_works(client, auth, alice, third)


def test_revocation_during_grace_refuses_old_and_new_at_once(with_grace, client, auth, admin,
                                                             alice):
    old = register(client, auth, admin)
    new = rotated_token(client, auth, admin)
    assert client.delete("/app/mobile", headers=auth.headers(admin)).status_code == 200

    assert_refused(client, auth, alice, old)
    assert_refused(client, auth, alice, new)


# --- the command line and the API agree ----------------------------------------------------------

def test_cli_lists_what_the_api_registered_revoked_and_rotated(client, auth, admin, runner):
    register(client, auth, admin, "mobile")
    register(client, auth, admin, "desktop")
    rotated_token(client, auth, admin, "desktop")
    assert client.delete("/app/mobile", headers=auth.headers(admin)).status_code == 200

    assert cli_apps(runner) == {"desktop": "active", "mobile": "revoked", "tests": "active"}


def test_cli_revocation_refuses_current_and_in_grace_tokens_over_http(with_grace, client, auth,
                                                                      admin, alice, runner):
    old = register(client, auth, admin)
    new = rotated_token(client, auth, admin)
    assert_works(client, auth, alice, old)

    see_committed()
    result = runner.invoke(args=["apps", "revoke", "mobile"])
    assert result.exit_code == 0, result.output

    assert_refused(client, auth, alice, old)
    assert_refused(client, auth, alice, new)
    assert_problem(rotate(client, auth, admin), 409)
    listed = {a["name"]: a["revoked"] for a in
              client.get("/app", headers=auth.headers(admin)).get_json()["apps"]}
    assert listed["mobile"] is True


def test_an_app_registered_by_the_cli_rotates_over_http(client, auth, admin, alice, runner):
    result = runner.invoke(args=["apps", "register", "kiosk"])
    assert result.exit_code == 0, result.output
    cli_token = result.stdout.strip().splitlines()[-1]
    assert_works(client, auth, alice, cli_token)

    new = rotated_token(client, auth, admin, "kiosk")

    assert_refused(client, auth, alice, cli_token)
    assert_works(client, auth, alice, new)
    assert cli_apps(runner)["kiosk"] == "active"
