"""A rate-limit store that goes away and comes back (contract §6, §8), on real gunicorn.

The test runs its own `redis-server` on a free port, stops it mid-run and starts it again.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from servers import (
    LiveClient,
    Server,
    basic_header,
    free_port,
    migrate,
    on_two_workers,
    running,
    seed,
    server_env,
)

pytestmark = pytest.mark.redis

LOGIN_BUDGET = 10
FALLBACK_WARNING = "Rate limit storage unreachable"
RECOVERY_WITHIN = 90.0  # Flask-Limiter re-checks a dead store with a back-off of up to 32 s


class RedisServer:
    """`redis-server` on a free port with no persistence; `stop()` and `start()` again."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (the redis marker needs it)",
                        pytrace=False)
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and our arguments
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=1).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("the test's redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def wrong_login(server: Server, client: LiveClient, username: str) -> tuple[int, str]:
    """One failed login for `username`: its status and the pid of the worker that answered."""
    request_id = uuid.uuid4().hex
    response = client.call("GET", "/login", headers={
        "Authorization": basic_header(username, "not-the-password"), "X-Request-ID": request_id})
    return response.status_code, server.worker_of(request_id)


def remaining_on_two_workers(server: Server, client: LiveClient, username: str) -> set[str]:
    """`X-RateLimit-Remaining` of the same failed login answered by two different workers."""
    headers = {**client.headers(), "Authorization": basic_header(username, "not-the-password")}
    answers = on_two_workers(server, "GET", "/login", headers)
    assert {answer.status for answer in answers} == {401}
    return {answer.headers["x-ratelimit-remaining"] for answer in answers}


def test_limits_count_per_worker_while_the_store_is_down_and_shared_again_after(tmp_path):
    store = RedisServer(tmp_path).start()
    database = f"sqlite:///{tmp_path / 'outage.sqlite'}"
    migrate(database)
    seeded = seed(database, admins=(), users=("carol",))
    env = server_env(database, RATELIMIT_ENABLED="true", RATELIMIT_STORAGE_URI=store.url,
                     RATELIMIT_DEFAULT="10000 per minute",
                     RATELIMIT_LOGIN=f"{LOGIN_BUDGET} per minute")
    server = Server(env, tmp_path, workers=2)
    try:
        with running(server):
            client = LiveClient(server.url, seeded.app_token)
            token = client.login("carol", seeded.passwords["carol"])["token"]
            ready = client.call("GET", "/readyz").json()
            assert (ready["status"], ready["rate_limits"]) == ("ok", "ok")
            # Shared counting before the outage: two workers see one budget.
            assert remaining_on_two_workers(server, client, "before") == {"9", "8"}

            store.stop()
            statuses = [client.call("GET", "/user/me", token).status_code for _ in range(20)]
            assert statuses == [200] * 20
            for _ in range(2):  # both workers answer readyz themselves
                degraded = client.call("GET", "/readyz")
                assert degraded.status_code == 200
                assert (degraded.json()["status"], degraded.json()["rate_limits"]) == (
                    "degraded", "error")

            # Logins stay limited, per worker: each refuses its 11th attempt of the minute.
            by_worker: dict[str, list[int]] = {}
            for _ in range(3 * LOGIN_BUDGET):
                status, worker = wrong_login(server, client, "dave")
                by_worker.setdefault(worker, []).append(status)
            assert max(len(seen) for seen in by_worker.values()) > LOGIN_BUDGET
            for seen in by_worker.values():
                allowed = min(len(seen), LOGIN_BUDGET)
                assert seen == [401] * allowed + [429] * (len(seen) - allowed), by_worker

            store.start()  # the same port, an empty store
            deadline = time.monotonic() + RECOVERY_WITHIN
            while remaining_on_two_workers(server, client, f"after-{uuid.uuid4().hex[:8]}") != {
                    "9", "8"}:
                assert time.monotonic() < deadline, "shared counting did not resume"
                time.sleep(1)
            ready = client.call("GET", "/readyz").json()
            assert (ready["status"], ready["rate_limits"]) == ("ok", "ok")
    finally:
        store.stop()

    output = server.output.read_text()
    assert "Traceback" not in output
    # At most one warning a minute in each of the two workers (the test takes well under two).
    assert 1 <= output.count(FALLBACK_WARNING) <= 2, output[-3000:]
    for line in server.access_log.read_text().splitlines():
        assert not line.split()[-1].startswith("5"), line
