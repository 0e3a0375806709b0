"""Revocation across gunicorn workers on SQLite and PostgreSQL: real processes, one database."""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext

import pytest
from servers import (
    HeldRequest,
    LiveClient,
    Seed,
    Server,
    fresh_postgres_database,
    migrate,
    on_two_workers,
    running,
    seed,
    server_env,
)

TIMEOUT = 10


class Deployment(LiveClient):
    """A gunicorn server (two workers) on a seeded database, and the admin's access token."""

    def __init__(self, server: Server, seeded: Seed, admin_token: str = ""):
        super().__init__(server.url, seeded.app_token, TIMEOUT)
        self.server, self.seed, self.admin_token = server, seeded, admin_token

    def new_user(self) -> tuple[str, str, dict]:
        """A user made over HTTP by the admin, logged in: (public_id, password, tokens)."""
        name, password = f"user{uuid.uuid4().hex[:10]}", "first-password-1"
        made = self.call("POST", "/user", self.admin_token,
                         json={"username": name, "password": password})
        assert made.status_code == 201, made.text
        return made.json()["user"]["public_id"], password, self.login(name, password)

    def statuses_on_two_workers(self, token: str, path: str = "/user/me") -> list[int]:
        return [answer.status
                for answer in on_two_workers(self.server, "GET", path, self.headers(token))]


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def deployment(request, tmp_path_factory):
    """A migrated database of each kind, served by gunicorn with two workers."""
    workdir = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        database = nullcontext(f"sqlite:///{workdir / 'meme.sqlite'}")
    else:
        database = fresh_postgres_database()
    with database as url:
        migrate(url)
        seeded = seed(url)
        with running(Server(server_env(url), workdir, workers=2)) as (server,):
            admin_token = Deployment(server, seeded).login("root", seeded.passwords["root"])
            yield Deployment(server, seeded, admin_token["token"])


def test_the_schema_is_migrated_and_both_workers_serve(deployment):
    ready = deployment.call("GET", "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["migrations"] == "ok"
    assert deployment.statuses_on_two_workers(deployment.admin_token) == [200, 200]


def _logout(deployment, public_id, tokens):
    return deployment.call("POST", "/logout", tokens["token"])


def _logout_all(deployment, public_id, tokens):
    return deployment.call("POST", "/logout/all", tokens["token"])


def _deactivate(deployment, public_id, tokens):
    return deployment.call("PATCH", f"/user/{public_id}", deployment.admin_token,
                           json={"active": False})


def _password_set_by_admin(deployment, public_id, tokens):
    return deployment.call("PATCH", f"/user/{public_id}", deployment.admin_token,
                           json={"password": "second-password-2"})


def _own_password_change(deployment, public_id, tokens):
    return deployment.call("POST", "/user/me/password", tokens["token"],
                           json={"current_password": "first-password-1",
                                 "new_password": "second-password-2"})


def _delete(deployment, public_id, tokens):
    return deployment.call("DELETE", f"/user/{public_id}", deployment.admin_token)


REVOCATIONS = [_logout, _logout_all, _deactivate, _password_set_by_admin, _own_password_change,
               _delete]


@pytest.mark.parametrize("revoke", REVOCATIONS, ids=lambda f: f.__name__.strip("_"))
def test_revocation_in_one_request_is_seen_by_every_worker(deployment, revoke):
    public_id, _, tokens = deployment.new_user()
    assert deployment.statuses_on_two_workers(tokens["token"]) == [200, 200]

    assert revoke(deployment, public_id, tokens).status_code == 200

    assert deployment.statuses_on_two_workers(tokens["token"]) == [401, 401]
    refresh_body = json.dumps({"refresh_token": tokens["refresh_token"]}).encode()
    refreshes = on_two_workers(deployment.server, "POST", "/token/refresh",
                               deployment.headers(**{"Content-Type": "application/json"}),
                               refresh_body)
    assert [answer.status for answer in refreshes] == [401, 401]


def test_demotion_in_one_request_is_seen_by_every_worker(deployment):
    second_admin = deployment.call("POST", "/user", deployment.admin_token,
                                   json={"username": f"admin{uuid.uuid4().hex[:8]}",
                                         "password": "admin-password-1", "admin": True})
    public_id = second_admin.json()["user"]["public_id"]
    tokens = deployment.login(second_admin.json()["user"]["username"], "admin-password-1")
    assert deployment.statuses_on_two_workers(tokens["token"], "/user") == [200, 200]

    demoted = deployment.call("PATCH", f"/user/{public_id}", deployment.admin_token,
                              json={"admin": False})
    assert demoted.status_code == 200

    assert deployment.statuses_on_two_workers(tokens["token"], "/user") == [403, 403]
    assert deployment.statuses_on_two_workers(tokens["token"], "/user/me") == [200, 200]


def test_concurrent_refresh_on_two_workers_has_exactly_one_winner(deployment):
    _, _, tokens = deployment.new_user()
    body = json.dumps({"refresh_token": tokens["refresh_token"]}).encode()
    headers = deployment.headers(**{"Content-Type": "application/json"})
    # Both requests wait on their own worker for their last byte, then go at once.
    held = [HeldRequest(deployment.server.port, "POST", "/token/refresh", headers, body)
            for _ in range(2)]
    answers = [request.finish() for request in [request.release() for request in held]]

    assert sorted(answer.status for answer in answers) == [200, 401]
    assert len({deployment.server.worker_of(a.request_id) for a in answers}) == 2
    # The loser presented a retired refresh token: the whole session is revoked.
    winner = next(json.loads(a.body) for a in answers if a.status == 200)
    assert deployment.statuses_on_two_workers(winner["token"]) == [401, 401]
