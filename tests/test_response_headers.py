"""Headers on every answer: no sniffing, a strict policy, no referrer; Retry-After only on 429/503.

Checked on successes, problem documents of each kind, the operational routes and the API
description, with rate limits on (Flask-Limiter adds headers of its own to every answer).
"""

from __future__ import annotations

import pytest
from conftest import make_config
from sqlalchemy import text

from meme_api import create_app
from meme_api.extensions import db

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
JSON_TYPES = {"application/json", "application/problem+json"}


@pytest.fixture
def limits_on(app_config) -> None:
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION="100 per minute",
                      RATELIMIT_LOGIN="100 per minute")


def readyz_with_an_old_revision(client):
    """/readyz while the database is at another revision than this version's (503)."""
    db.session.execute(text("UPDATE alembic_version SET version_num = 'an_older_one'"))
    db.session.commit()
    return client.get("/readyz")


@pytest.fixture
def answers(limits_on, client, auth, alice, admin) -> dict:
    """One answer of each kind, by name."""
    made = client.post("/template", json={"title": "t", "url": "https://e.org/t.png"},
                       headers=auth.headers(alice))
    path = made.headers["Location"]
    etag = client.get(path, headers=auth.headers(alice)).headers["ETag"]
    return {
        "200 list": client.get("/template", headers=auth.headers(alice)),
        "200 single": client.get(path, headers=auth.headers(alice)),
        "201 created": made,
        "304 not modified": client.get(path, headers=auth.headers(alice, **{
            "If-None-Match": etag})),
        "200 login": client.post("/login", headers=auth.basic(alice.username, alice.password)),
        "400 bad query": client.get("/template?nope=1", headers=auth.headers(alice)),
        "400 malformed JSON": client.patch(path, data="{", headers=auth.headers(
            alice, **{"Content-Type": "application/json"})),
        "401 no app token": client.get("/template"),
        "401 no user token": client.get("/user/me", headers=auth.headers()),
        "403 not admin": client.get("/user", headers=auth.headers(alice)),
        "404 unknown route": client.get("/no/such/route", headers=auth.headers(alice)),
        "405 wrong method": client.put("/template", headers=auth.headers(alice)),
        "409 last admin": client.delete(f"/user/{admin.public_id}", headers=auth.headers(admin)),
        "412 stale": client.delete(path, headers=auth.headers(alice, **{"If-Match": '"x"'})),
        "415 media type": client.post("/template", data="x", headers=auth.headers(
            alice, **{"Content-Type": "text/plain"})),
        "200 healthz": client.get("/healthz"),
        "503 readyz (an old revision)": readyz_with_an_old_revision(client),
        "200 openapi.json": client.get("/openapi.json"),
    }


def test_each_kind_of_answer_is_what_its_name_says(answers):
    # The control for the tests below: the table holds the statuses and media types it names.
    for name, response in answers.items():
        assert response.status_code == int(name.split()[0]), name
        if response.status_code != 304:
            assert response.mimetype in JSON_TYPES, name


def test_json_answers_forbid_sniffing_framing_loading_and_referrers(answers):
    for name, response in answers.items():
        for header, value in {**SECURITY_HEADERS, "Content-Security-Policy": API_POLICY}.items():
            assert response.headers.getlist(header) == [value], (name, header)


def test_retry_after_only_on_429_and_503(answers):
    for name, response in answers.items():
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) > 0, name
        else:
            assert "Retry-After" not in response.headers, name
        assert not any(header.lower().startswith("x-limiter") for header, _ in response.headers)
    # Flask-Limiter counted these (and would have added its `Retry-After`).
    for name in ("200 list", "201 created", "304 not modified", "401 no user token", "412 stale"):
        assert "X-RateLimit-Limit" in answers[name].headers, name


@pytest.fixture
def one_login_a_minute(app_config) -> None:
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="1 per minute")


def test_a_429_says_when_to_retry(one_login_a_minute, client, auth, alice):
    basic = auth.basic(alice.username, "wrong password")
    answers = [client.post("/login", headers=basic) for _ in range(3)]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited
    for answer in limited:
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Security-Policy"] == API_POLICY
    assert all("Retry-After" not in answer.headers for answer in answers
               if answer.status_code != 429)


@pytest.fixture
def unreachable(tmp_path):
    """An app with rate limits on whose database cannot be reached."""
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'db.sqlite'}"
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=True))
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def test_a_503_for_an_unreachable_database_says_when_to_retry(unreachable):
    response = unreachable.get("/template", headers={"x-application-token": "mapp_x"})
    assert response.status_code == 503
    # The outage's own hint (docs/deployment.md), not the rate limiter's window of a minute.
    assert response.headers["Retry-After"] == "5"
    assert "X-RateLimit-Limit" in response.headers  # the limiter counted it
    assert response.headers["Content-Security-Policy"] == API_POLICY


def test_the_docs_page_keeps_its_own_policy_for_swagger_ui(client):
    for path in ("/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"):
        response = client.get(path)
        assert response.status_code == 200
        policy = response.headers.getlist("Content-Security-Policy")
        assert len(policy) == 1 and "script-src 'self'" in policy[0], path
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.getlist(header) == [value], (path, header)
        assert "Retry-After" not in response.headers
