"""Two instances, one service: two gunicorns (two workers each) on one PostgreSQL and one Redis."""

# Revocation, rate-limit budgets, If-Match and unique usernames hold across both instances.

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from conftest import FAST_HASH
from servers import (
    SECRET_KEY,
    LiveClient,
    Server,
    fresh_postgres_database,
    migrate,
    require_redis,
    running,
    server_env,
)

from meme_api import create_app
from meme_api.accounts import create_user
from meme_api.client_apps import register_app
from meme_api.extensions import db
from meme_api.sessions import start_session

pytestmark = pytest.mark.postgres

TIMEOUT = 30
BUDGET = 20  # RATELIMIT_DEFAULT of both instances: "20 per minute", one budget per user
# A Redis database of its own, flushed before use (checkouts sharing a Redis: one each).
REDIS_DB = int(os.environ.get("MEME_TEST_INSTANCES_REDIS_DB", "12"))


@dataclass
class Deployment:
    """Two instances, an application token, and a way to mint accounts straight in the database."""

    instances: tuple[Server, Server]
    database_url: str
    app_token: str

    def account(self, admin: bool = False) -> dict:
        """A new user, logged in without spending any request budget: name, ids, tokens."""
        app = create_app({"SQLALCHEMY_DATABASE_URI": self.database_url, "SECRET_KEY": SECRET_KEY,
                          "PASSWORD_HASH_METHOD": FAST_HASH, "RATELIMIT_ENABLED": False})
        with app.app_context():
            name = f"user{uuid.uuid4().hex[:10]}"
            user = create_user(name, f"{name}-password", "admin" if admin else "user")
            tokens = start_session(user)
            account = {"username": name, "public_id": user.public_id, **tokens}
            db.session.remove()
            db.engine.dispose()
        return account

    def call(self, instance: int, method: str, path: str, token: str | None = None, **kwargs):
        client = LiveClient(self.instances[instance % 2].url, self.app_token, TIMEOUT)
        return client.call(method, path, token, **kwargs)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A migrated database, a flushed Redis database, and two instances sharing both."""
    import redis

    redis_url = urlsplit(require_redis())._replace(path=f"/{REDIS_DB}").geturl()
    counters = redis.Redis.from_url(redis_url)
    counters.flushdb()
    workdir = tmp_path_factory.mktemp("instances")
    with fresh_postgres_database() as url:
        migrate(url)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY})
        with app.app_context():
            app_token = register_app("instances")[1]
            db.session.remove()
            db.engine.dispose()
        env = server_env(url, RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT=f"{BUDGET} per minute",
                         RATELIMIT_STORAGE_URI=redis_url)
        servers = (Server(env, workdir, workers=2), Server(env, workdir, workers=2))
        try:
            with running(*servers):
                yield Deployment(servers, url, app_token)
        finally:
            counters.flushdb()
            counters.close()


def race(count: int, request) -> list[requests.Response]:
    """Send `count` requests at once (a barrier releases them together); return the answers."""
    barrier = threading.Barrier(count)
    answers: list = [None] * count

    def send(n: int) -> None:
        barrier.wait(timeout=TIMEOUT)
        try:
            answers[n] = request(n)
        except requests.RequestException as error:
            answers[n] = error

    threads = [threading.Thread(target=send, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * TIMEOUT)
    assert all(isinstance(answer, requests.Response) for answer in answers), answers
    return answers


def test_both_instances_are_ready_on_the_same_schema(deployment):
    for instance in (0, 1):
        ready = deployment.call(instance, "GET", "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["migrations"] == "ok"


def test_a_token_revoked_through_one_instance_is_refused_by_the_other(deployment):
    account = deployment.account()
    assert [deployment.call(i, "GET", "/user/me", account["token"]).status_code
            for i in (0, 1)] == [200, 200]

    assert deployment.call(0, "POST", "/logout", account["token"]).status_code == 200

    refused = deployment.call(1, "GET", "/user/me", account["token"])
    assert refused.status_code == 401
    assert refused.json()["message"] == "Token has been revoked"
    refresh = deployment.call(1, "POST", "/token/refresh",
                              json={"refresh_token": account["refresh_token"]})
    assert refresh.status_code == 401


def test_a_session_ended_through_one_instance_is_refused_by_the_other(deployment):
    """Contract §10: ending a session is immediate on every instance."""
    account = deployment.account()
    login = deployment.call(1, "POST", "/login", json={
        "username": account["username"], "password": f"{account['username']}-password"})
    assert login.status_code == 200, login.text
    device = login.json()["token"]
    listed = deployment.call(1, "GET", "/user/me/sessions", device)
    assert listed.status_code == 200, listed.text
    ended = next(item["id"] for item in listed.json()["sessions"] if item["current"])

    gone = deployment.call(0, "DELETE", f"/user/me/sessions/{ended}", account["token"])
    assert gone.status_code == 200, gone.text

    for instance in (1, 0):
        refused = deployment.call(instance, "GET", "/user/me", device)
        assert refused.status_code == 401
        assert refused.json()["message"] == "Token has been revoked"
    assert deployment.call(1, "GET", "/user/me", account["token"]).status_code == 200


def test_rate_limit_counters_are_shared_by_both_instances(deployment):
    account = deployment.account()
    remaining = []
    for n in range(BUDGET):
        answer = deployment.call(n, "GET", "/user/me", account["token"])
        assert answer.status_code == 200, (n, answer.text)
        assert answer.headers["X-RateLimit-Limit"] == str(BUDGET)
        remaining.append(int(answer.headers["X-RateLimit-Remaining"]))
    # One counter: each request, whichever instance and worker took it, counts once.
    assert remaining == list(range(BUDGET - 1, -1, -1))

    for instance in (0, 1):
        over = deployment.call(instance, "GET", "/user/me", account["token"])
        assert over.status_code == 429
        assert int(over.headers["Retry-After"]) > 0
        assert over.headers["Content-Type"] == "application/problem+json"


def test_an_if_match_race_across_instances_has_one_winner(deployment):
    owner = deployment.account()
    made = deployment.call(0, "POST", "/template", owner["token"],
                           json={"title": "original", "url": "https://example.com/a.jpg"})
    assert made.status_code == 201, made.text
    path = made.headers["Location"]
    etag = deployment.call(1, "GET", path, owner["token"]).headers["ETag"]
    contenders = 12

    answers = race(contenders, lambda n: deployment.call(
        n, "PATCH", path, owner["token"], headers={"If-Match": etag},
        json={"title": f"contender {n}"}))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 412: contenders - 1}, statuses
    (winner,) = [n for n, answer in enumerate(answers) if answer.status_code == 200]
    final = deployment.call(winner + 1, "GET", path, owner["token"])
    assert final.json()["template"]["title"] == f"contender {winner}"
    assert final.headers["ETag"] != etag


def test_concurrent_creations_of_one_username_across_instances_make_one_user(deployment):
    # Five admins, ten requests each, so no one's rate-limit budget runs out.
    admins = [deployment.account(admin=True) for _ in range(5)]
    base = "racer" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:6])
    # Fifty distinct spellings of the same name, differing only in case.
    variants = [
        "".join(c.upper() if (n >> i) & 1 else c for i, c in enumerate(base))
        for n in range(50)
    ]
    assert len(set(variants)) == 50 and len({v.lower() for v in variants}) == 1

    answers = race(50, lambda n: deployment.call(
        n, "POST", "/user", admins[n % 5]["token"],
        json={"username": variants[n], "password": "racer-password-1"}))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: 1, 409: 49}, statuses
    (created,) = [answer for answer in answers if answer.status_code == 201]
    user = deployment.call(0, "GET", created.headers["Location"], admins[0]["token"])
    assert user.status_code == 200
    assert user.json()["user"]["username"] in variants
