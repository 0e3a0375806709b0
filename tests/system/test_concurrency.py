"""Concurrent writers against real servers (contract §6): exactly one wins, the others get 412."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from conftest import make_config
from servers import (
    BACKENDS,
    SECRET_KEY,
    LiveClient,
    Server,
    migrated_database,
    running,
    seed,
    serve_in_thread,
    server_env,
)

from meme_api import create_app
from meme_api.extensions import db

TIMEOUT = 30
WRITERS = 12
SIGNUPS = 20
# Races are won by timing: several rounds make a broken check all but certain to show.
ROUNDS = 5
PROBLEM = "application/problem+json"


@dataclass
class Deployment:
    """One database served by gunicorn (two workers) and by a threaded in-process server."""

    urls: list[str]
    app_token: str
    admin_token: str = ""

    def client(self, index: int = 0) -> LiveClient:
        return LiveClient(self.urls[index % len(self.urls)], self.app_token, TIMEOUT)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.client().call(method, path, self.admin_token, **kwargs)

    def race(self, method: str, path: str, bodies: list[dict | None],
             **headers: str) -> list[requests.Response]:
        """Send one request per body, all released at once, spread over every server."""
        barrier = threading.Barrier(len(bodies))

        def writer(index: int) -> requests.Response:
            client = self.client(index)
            barrier.wait(timeout=TIMEOUT)
            return client.call(method, path, self.admin_token, json=bodies[index],
                               headers=headers)

        with ThreadPoolExecutor(len(bodies)) as pool:
            return list(pool.map(writer, range(len(bodies))))


@pytest.fixture(scope="module", params=BACKENDS)
def deployment(request, tmp_path_factory) -> Iterator[Deployment]:
    """A migrated database of each kind, served by gunicorn (two workers) and a threaded server."""
    workdir = tmp_path_factory.mktemp(f"race-{request.param}")
    with migrated_database(request.param, workdir) as url:
        seeded = seed(url)
        app = create_app(make_config(workdir, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=SECRET_KEY))
        try:
            with (running(Server(server_env(url), workdir, workers=2)) as (server,),
                  serve_in_thread(app) as in_process):
                found = Deployment([server.url, in_process], seeded.app_token)
                login = found.call("POST", "/login", json={
                    "username": "root", "password": seeded.passwords["root"]})
                assert login.status_code == 200, login.text
                found.admin_token = login.json()["token"]
                yield found
        finally:
            with app.app_context():
                db.engine.dispose()


def new_template(deployment: Deployment) -> str:
    made = deployment.call("POST", "/template",
                           json={"title": "Race", "url": "https://example.com/race.png"})
    assert made.status_code == 201, made.text
    return made.headers["Location"]


def new_user(deployment: Deployment) -> str:
    made = deployment.call("POST", "/user", json={"username": f"u{uuid.uuid4().hex[:12]}",
                                                  "password": "racer-password-1"})
    assert made.status_code == 201, made.text
    return made.headers["Location"]


NEW = {"template": new_template, "user": new_user}
CHANGES = {
    # kind, method → the body writer `i` sends (each different, so each would change something)
    ("template", "PATCH"): lambda i: {"title": f"writer {i}"},
    ("template", "PUT"): lambda i: {"title": f"writer {i}", "url": f"https://example.com/{i}"},
    ("user", "PATCH"): lambda i: {"username": f"w{i}{uuid.uuid4().hex[:10]}"},
    ("user", "PUT"): lambda i: None,  # promotion; every writer asks for the same change
}


def statuses(responses: list[requests.Response]) -> Counter:
    return Counter(response.status_code for response in responses)


def current(deployment: Deployment, path: str) -> requests.Response:
    response = deployment.call("GET", path)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("kind, method", list(CHANGES), ids=[f"{k}-{m}" for k, m in CHANGES])
def test_if_match_race_has_exactly_one_winner(deployment, kind, method, round_):
    path = NEW[kind](deployment)
    etag = current(deployment, path).headers["ETag"]
    bodies = [CHANGES[(kind, method)](i) for i in range(WRITERS)]

    answers = deployment.race(method, path, bodies, **{"If-Match": etag})

    assert statuses(answers) == {200: 1, 412: WRITERS - 1}
    assert all(answer.headers["Content-Type"] == PROBLEM
               for answer in answers if answer.status_code == 412)
    winner = next(answer for answer in answers if answer.status_code == 200)
    now = current(deployment, path)
    assert now.json()[kind] == winner.json()[kind]
    assert now.headers["ETag"] == winner.headers["ETag"] != etag


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("kind", list(NEW))
def test_delete_race_has_exactly_one_winner(deployment, kind, round_):
    path = NEW[kind](deployment)
    etag = current(deployment, path).headers["ETag"]

    answers = deployment.race("DELETE", path, [None] * WRITERS, **{"If-Match": etag})

    counted = statuses(answers)
    # A loser that read the row before the winner's commit gets 412; one that looked after
    # finds nothing to delete (404, RFC 9110 §13.2.1: preconditions apply to what exists).
    assert counted[200] == 1
    assert counted[412] + counted[404] == WRITERS - 1
    assert deployment.call("GET", path).status_code == 404


def case_variant(name: str, index: int) -> str:
    """`name` with its first letters upper-cased according to the bits of `index`."""
    return "".join(char.upper() if position < 8 and index >> position & 1 else char
                   for position, char in enumerate(name))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_signups_of_one_name_in_any_case_have_one_winner(deployment, round_):
    name = f"racer{uuid.uuid4().hex[:8]}"
    variants = [case_variant(name, index) for index in range(SIGNUPS)]
    assert len({variant for variant in variants}) == SIGNUPS

    answers = deployment.race("POST", "/user", [
        {"username": variant, "password": "racer-password-1"} for variant in variants])

    assert statuses(answers) == {201: 1, 409: SIGNUPS - 1}
    assert all(answer.json()["errors"] == {"username": "is already taken"}
               for answer in answers if answer.status_code == 409)
    listed = deployment.call("GET", "/user", params={"username__ilike": name})
    assert [user["username"] for user in listed.json()["users"]] == [
        next(answer.json()["user"]["username"] for answer in answers if answer.status_code == 201)]


# --- idempotent creates (contract §12) ---------------------------------------------------------

SAME_KEY = 20


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_creates_with_one_idempotency_key_create_one_template(deployment, round_):
    before = int(deployment.call("GET", "/template?limit=1").headers["X-Total-Count"])
    body = {"title": f"Once {round_}", "url": "https://example.com/once.png"}

    answers = deployment.race("POST", "/template", [body] * SAME_KEY,
                              **{"Idempotency-Key": f"once-{uuid.uuid4()}"})

    firsts = [a for a in answers if a.status_code == 201
              and "Idempotent-Replayed" not in a.headers]
    replays = [a for a in answers if a.headers.get("Idempotent-Replayed") == "true"]
    assert len(firsts) == 1, statuses(answers)
    assert statuses(answers)[409] + len(replays) == SAME_KEY - 1, statuses(answers)
    assert all(a.headers["Content-Type"] == PROBLEM for a in answers if a.status_code == 409)
    assert {a.headers["Location"] for a in replays} <= {firsts[0].headers["Location"]}
    after = int(deployment.call("GET", "/template?limit=1").headers["X-Total-Count"])
    assert after == before + 1
