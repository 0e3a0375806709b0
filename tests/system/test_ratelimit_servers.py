"""Rate limits (§6) across separate server processes: one budget only through a shared store."""

from __future__ import annotations

import pytest
from servers import LiveClient, Server, migrate, require_redis, running, seed, server_env

BUDGET = 3


# --- counters shared by separate server processes -------------------------------------------

@pytest.mark.parametrize(("storage", "shared"), [
    ("memory", False), pytest.param("redis", True, marks=pytest.mark.redis)])
def test_two_server_processes_share_one_budget_only_through_redis(tmp_path, storage, shared):
    storage_uri = require_redis() if storage == "redis" else "memory://"
    database = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    migrate(database)
    seeded = seed(database, admins=(), users=("carol",))
    env = server_env(database, RATELIMIT_ENABLED="true", RATELIMIT_STORAGE_URI=storage_uri,
                     RATELIMIT_DEFAULT=f"{BUDGET} per minute", RATELIMIT_LOGIN="100 per minute")
    with running(Server(env, tmp_path, workers=1), Server(env, tmp_path, workers=1)) as (
            first, second):
        on_first, on_second = (LiveClient(server.url, seeded.app_token)
                               for server in (first, second))
        token = on_first.login("carol", seeded.passwords["carol"])["token"]

        spent = [on_first.call("GET", "/user/me", token) for _ in range(BUDGET)]
        assert [r.status_code for r in spent] == [200] * BUDGET
        elsewhere = on_second.call("GET", "/user/me", token)

    if shared:
        assert elsewhere.status_code == 429
        assert elsewhere.headers["Content-Type"] == "application/problem+json"
        assert int(elsewhere.headers["Retry-After"]) > 0
    else:
        assert elsewhere.status_code == 200
        assert elsewhere.headers["X-RateLimit-Remaining"] == str(BUDGET - 1)
