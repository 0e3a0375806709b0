"""Client applications (contract §7 without rotation): register, list, revoke, and the app token."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from conftest import assert_problem
from sqlalchemy import select, update

from meme_api.extensions import db
from meme_api.models import ClientApp, utcnow

TOKEN_PREFIX = "mapp_"
# token_urlsafe characters carry 6 bits each: 22 of them hold at least 128 bits.
MIN_RANDOM_CHARS = 22


def app_row(name: str) -> ClientApp:
    """The application's row as the database has it now (not as the session remembers it)."""
    db.session.expire_all()
    return db.session.scalar(select(ClientApp).where(ClientApp.name_key == name.lower()))


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register(client, auth, admin, name: str):
    return client.post("/app", json={"name": name}, headers=auth.headers(admin))


def as_app(auth, account, app_token: str) -> dict:
    """Headers of `account` calling through the application holding `app_token`."""
    return auth.headers(account, **{"x-application-token": app_token})


def test_register_returns_a_prefixed_random_token_once(client, auth, admin):
    response = register(client, auth, admin, "mobile")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    token = body["token"]
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) - len(TOKEN_PREFIX) >= MIN_RANDOM_CHARS
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token[len(TOKEN_PREFIX):])
    assert body["app"] == {"name": "mobile", "created": body["app"]["created"],
                           "last_used": None, "revoked": False}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["app"]["created"])
    other = register(client, auth, admin, "desktop").get_json()["token"]
    assert other != token


def test_new_token_works_as_application_token(client, auth, admin):
    token = register(client, auth, admin, "mobile").get_json()["token"]
    response = client.get("/user/me", headers=as_app(auth, admin, token))
    assert response.status_code == 200
    assert response.get_json()["user"]["username"] == "admin"


def test_token_is_stored_only_as_its_hash(client, auth, admin):
    token = register(client, auth, admin, "mobile").get_json()["token"]
    row = app_row("mobile")
    assert row.token_hash == sha256_hex(token)
    stored = [getattr(row, column.key) for column in ClientApp.__table__.columns]
    assert not any(isinstance(value, str) and token in value for value in stored)


def test_list_shows_apps_but_never_a_token_or_hash(client, auth, admin):
    token = register(client, auth, admin, "mobile").get_json()["token"]
    response = client.get("/app", headers=auth.headers(admin))
    assert response.status_code == 200
    apps = response.get_json()["apps"]
    assert sorted(entry["name"] for entry in apps) == ["mobile", "tests"]
    assert all(set(entry) == {"name", "created", "last_used", "revoked"} for entry in apps)
    text = response.get_data(as_text=True)
    for secret in (token, auth.app_token):
        assert secret not in text
        assert sha256_hex(secret) not in text


@pytest.mark.parametrize(("method", "path"), [("GET", "/app"), ("POST", "/app"),
                                              ("DELETE", "/app/tests")])
def test_app_routes_are_admin_only(client, auth, alice, method, path):
    response = client.open(path, method=method, json={"name": "sneaky"} if method == "POST"
                           else None, headers=auth.headers(alice))
    assert_problem(response, 403)
    assert app_row("sneaky") is None
    assert app_row("tests").revoked is False


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "emoji-😀", "a/b", "ünï"])
def test_register_refuses_bad_names(client, auth, admin, name):
    body = assert_problem(register(client, auth, admin, name), 400)
    assert "name" in body["errors"]


@pytest.mark.parametrize("body", [{}, {"name": 5}, {"name": None}, {"name": "ok", "extra": 1}])
def test_register_refuses_bad_bodies(client, auth, admin, body):
    assert_problem(client.post("/app", json=body, headers=auth.headers(admin)), 400)


@pytest.mark.parametrize("name", ["tests", "TESTS", "Tests"])
def test_register_refuses_a_taken_name_in_any_case(client, auth, admin, name):
    assert_problem(register(client, auth, admin, name), 409)
    assert len(db.session.scalars(select(ClientApp)).all()) == 1


def test_revoked_token_is_refused_at_once(client, auth, admin):
    token = register(client, auth, admin, "mobile").get_json()["token"]
    assert client.get("/user/me", headers=as_app(auth, admin, token)).status_code == 200
    response = client.delete("/app/mobile", headers=auth.headers(admin))
    assert response.status_code == 200
    assert response.get_json()["message"]
    assert app_row("mobile").revoked is True
    assert_problem(client.get("/user/me", headers=as_app(auth, admin, token)), 401,
                   "Application token is invalid")
    listed = client.get("/app", headers=auth.headers(admin)).get_json()["apps"]
    assert {entry["name"]: entry["revoked"] for entry in listed} == {"mobile": True,
                                                                     "tests": False}


def test_revoke_matches_the_name_in_any_case(client, auth, admin):
    assert client.delete("/app/TESTS", headers=auth.headers(admin)).status_code == 200
    assert app_row("tests").revoked is True


@pytest.mark.parametrize("name", ["missing", "bad name", "x" * 300])
def test_revoke_of_an_unknown_app_is_404(client, auth, admin, name):
    assert_problem(client.delete(f"/app/{name}", headers=auth.headers(admin)), 404)


@pytest.mark.parametrize(("token", "message"), [
    (None, "Application token is missing"),
    ("", "Application token is missing"),
    ("mapp_not-a-registered-token-at-all", "Application token is invalid"),
    ("\u00e9t\u00e9", "Application token is invalid"),
])
def test_bad_application_tokens_are_refused(client, auth, admin, token, message):
    headers = auth.headers(admin)
    if token is None:
        del headers["x-application-token"]
    else:
        headers["x-application-token"] = token
    assert_problem(client.get("/user/me", headers=headers), 401, message)


@pytest.fixture
def tokenless_client(app_config, request):
    """A client of an app configured with REQUIRE_APP_TOKEN=false."""
    app_config["REQUIRE_APP_TOKEN"] = False
    return request.getfixturevalue("client")


def test_app_token_can_be_switched_off(tokenless_client, auth, alice):
    headers = {"x-access-token": alice.tokens["token"]}
    response = tokenless_client.get("/user/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["user"]["username"] == "alice"
    # The user token is still required.
    assert_problem(tokenless_client.get("/user/me"), 401, "Token is missing")


def set_last_used(name: str, value) -> None:
    db.session.execute(update(ClientApp).where(ClientApp.name_key == name).values(last_used=value))
    db.session.commit()


def test_last_used_is_set_on_first_use(client, auth, admin):
    assert app_row("tests").last_used is None
    before = utcnow()
    listed = client.get("/app", headers=auth.headers(admin)).get_json()["apps"]
    assert app_row("tests").last_used >= before
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed[0]["last_used"])


def test_last_used_is_not_rewritten_on_every_request(client, auth, alice):
    recent = utcnow() - timedelta(seconds=5)
    set_last_used("tests", recent)
    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200
    assert app_row("tests").last_used == recent


def test_last_used_is_refreshed_once_it_is_old(client, auth, alice):
    stale = utcnow() - timedelta(hours=1)
    set_last_used("tests", stale)
    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200
    assert app_row("tests").last_used > stale
