"""Rate limits (§6): one budget per user, app token or address; logins per address and name."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import limits.storage.memory
import pytest
from conftest import assert_problem
from servers import free_port

from meme_api.client_apps import register_app
from meme_api.ratelimits import OncePerInterval

BUDGET = 3
WINDOW = 60


# --- helpers ---------------------------------------------------------------------------------

@pytest.fixture
def limited(app_config) -> dict:
    """Rate limiting on with a small default budget; tests may change it before `app` is made."""
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION=f"{BUDGET} per minute",
                      RATELIMIT_LOGIN="1000 per minute")
    return app_config


@pytest.fixture
def login_limited(limited) -> dict:
    """A small login budget, and a default budget too large to get in its way."""
    limited.update(RATELIMIT_APPLICATION="1000 per minute", RATELIMIT_LOGIN="2 per minute")
    return limited


class Clock:
    """The clock of the in-memory rate-limit store, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch, app_config) -> Clock:
    app_config["RATELIMIT_STORAGE_URI"] = "memory://"  # the clock belongs to the memory store
    clock = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=clock.time))
    return clock


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def statuses(client, count: int, path: str = "/user/me", **kwargs) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(count)]


def assert_limited(response) -> dict:
    """A 429 problem document with a message and a positive whole `Retry-After`."""
    body = assert_problem(response, 429)
    assert body["message"]
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW
    assert response.headers["X-RateLimit-Remaining"] == "0"
    return body


def login(client, auth, username: str, password: str, address: str = "10.0.0.1",
          forwarded_for: str | None = None):
    headers = auth.basic(username, password)
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return client.get("/login", headers=headers, **from_address(address))


def spend_logins(client, auth, username: str = "alice", **where) -> None:
    """Use up the login budget of `username` (with wrong passwords)."""
    for _ in range(2):
        assert login(client, auth, username, "wrongpass1", **where).status_code == 401


# --- the default budget -----------------------------------------------------------------------

def test_normal_responses_carry_the_rate_limit_headers(limited, client, auth, alice):
    started = time.time()
    for remaining in range(BUDGET - 1, -1, -1):
        response = client.get("/user/me", headers=auth.headers(alice))
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == str(BUDGET)
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert started <= int(response.headers["X-RateLimit-Reset"]) <= started + WINDOW + 1


def test_an_exhausted_budget_is_a_429_problem_with_retry_after(limited, client, auth, alice):
    assert statuses(client, BUDGET, headers=auth.headers(alice)) == [200] * BUDGET
    response = client.get("/user/me", headers=auth.headers(alice))
    assert_limited(response)
    assert response.headers["X-RateLimit-Limit"] == str(BUDGET)


def test_the_budget_is_one_per_user_across_routes_tokens_and_apps(limited, client, auth, alice,
                                                                  bob):
    second_login = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    other_app = register_app("other")[1]
    spent = [
        client.get("/user/me", headers=auth.headers(alice)),
        client.get("/template", headers=auth.headers(alice)),
        client.get("/template/999", headers=auth.headers(alice)),  # a 404 costs the same
    ]
    assert [r.status_code for r in spent] == [200, 200, 404]

    # Another route, another login session, another application: the same budget.
    assert_limited(client.get("/template", headers=auth.headers(alice)))
    assert_limited(client.get("/user/me", headers=auth.headers(
        **{"x-access-token": second_login["token"]})))
    assert_limited(client.get("/user/me", headers=auth.headers(
        alice, **{"x-application-token": other_app})))
    # Bob's budget is his own.
    assert statuses(client, BUDGET, headers=auth.headers(bob)) == [200] * BUDGET


def test_without_a_user_token_the_budget_is_per_application(limited, client, auth):
    other_app = register_app("other")[1]
    assert statuses(client, BUDGET, headers=auth.headers(), **from_address("10.0.0.1")) == (
        [401] * BUDGET)
    # The same application from another address has no fresh budget ...
    assert_limited(client.get("/user/me", headers=auth.headers(), **from_address("10.0.0.2")))
    # ... another application has its own.
    other = auth.headers(**{"x-application-token": other_app})
    assert statuses(client, BUDGET, headers=other, **from_address("10.0.0.1")) == [401] * BUDGET


def test_made_up_user_tokens_do_not_buy_a_fresh_budget(limited, client, auth, alice):
    made_up = ["garbage", "a.b.c", alice.tokens["token"][:-2] + "xx", alice.tokens["refresh_token"]]
    for token in made_up[:BUDGET]:
        assert client.get("/user/me", headers=auth.headers(
            **{"x-access-token": token})).status_code == 401
    # They all counted against the application, like a request with no user token at all.
    assert_limited(client.get("/user/me", headers=auth.headers(
        **{"x-access-token": made_up[BUDGET]})))
    assert_limited(client.get("/user/me", headers=auth.headers()))
    # Alice's own budget is untouched by what others sent in her name.
    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200


@pytest.mark.parametrize("require_app_token", [True, False])
def test_without_any_token_the_budget_is_per_address(limited, request, require_app_token):
    limited["REQUIRE_APP_TOKEN"] = require_app_token
    client = request.getfixturevalue("client")
    assert statuses(client, BUDGET, **from_address("10.0.0.1")) == [401] * BUDGET
    assert_limited(client.get("/user/me", **from_address("10.0.0.1")))
    assert statuses(client, BUDGET, **from_address("10.0.0.2")) == [401] * BUDGET


def test_healthz_and_readyz_are_exempt(limited, client):
    baseline = client.get("/readyz", **from_address("10.0.0.1")).status_code
    statuses(client, BUDGET, **from_address("10.0.0.1"))
    assert_limited(client.get("/user/me", **from_address("10.0.0.1")))

    for path, status in [("/healthz", 200), ("/readyz", baseline)]:
        for _ in range(BUDGET + 1):
            response = client.get(path, **from_address("10.0.0.1"))
            assert response.status_code == status
            assert "X-RateLimit-Limit" not in response.headers


def test_the_budget_comes_back_when_its_window_ends(limited, clock, client, auth, alice):
    assert statuses(client, BUDGET, headers=auth.headers(alice)) == [200] * BUDGET
    reset_at = int(client.get("/user/me", headers=auth.headers(alice))
                   .headers["X-RateLimit-Reset"])

    clock.advance(WINDOW - 1)
    assert_limited(client.get("/user/me", headers=auth.headers(alice)))

    clock.now = reset_at + 1
    response = client.get("/user/me", headers=auth.headers(alice))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == str(BUDGET - 1)


@pytest.fixture
def switched_off(limited) -> None:
    limited.update(RATELIMIT_ENABLED=False, RATELIMIT_APPLICATION="1 per minute",
                   RATELIMIT_LOGIN="1 per minute")


def test_rate_limiting_can_be_switched_off(switched_off, client, auth, alice):
    for _ in range(5):
        response = client.get("/user/me", headers=auth.headers(alice))
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
    assert [login(client, auth, "alice", "wrongpass1").status_code for _ in range(5)] == [401] * 5


@pytest.fixture
def unreachable_store(limited) -> None:
    limited["RATELIMIT_STORAGE_URI"] = f"redis://127.0.0.1:{free_port()}/0"


def test_an_unreachable_store_falls_back_to_counting_in_the_process(unreachable_store, client,
                                                                    auth, alice):
    assert statuses(client, BUDGET + 1, headers=auth.headers(alice)) == [200] * BUDGET + [429]
    response = client.get("/readyz")
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["rate_limits"]) == (
        "degraded", "error")


def test_readyz_names_the_in_memory_store(limited, request):
    limited["RATELIMIT_STORAGE_URI"] = "memory://"
    client = request.getfixturevalue("client")
    assert client.get("/readyz").get_json()["rate_limits"] == "memory"


def test_limiter_warnings_are_let_through_once_a_minute_without_a_traceback(caplog):
    log = logging.getLogger(f"flask-limiter-test-{id(caplog)}")
    log.addFilter(OncePerInterval(60))
    with caplog.at_level(logging.INFO, logger=log.name):
        for _ in range(3):
            try:
                raise ConnectionError("store gone")
            except ConnectionError:
                log.exception("Failed to rate limit. Swallowing error")
            log.info("Rate limit storage recovered")
    assert [r.levelname for r in caplog.records] == ["ERROR", "INFO", "INFO", "INFO"]
    assert "Traceback" not in caplog.text


# --- the login budget ----------------------------------------------------------------------------

def test_login_budget_is_per_address_and_username(login_limited, client, auth, alice, bob):
    spend_logins(client, auth)
    # The right password no longer helps, in any spelling or way of sending it.
    assert_limited(login(client, auth, "alice", "alicepass1"))
    assert_limited(login(client, auth, "ALICE", "alicepass1"))
    assert_limited(client.post("/login", headers=auth.headers(), **from_address("10.0.0.1"),
                               json={"username": "Alice", "password": "alicepass1"}))
    # Another username from the same address, and alice from another address, still may.
    assert login(client, auth, "bob", "bobpass123").status_code == 200
    assert login(client, auth, "alice", "alicepass1", address="10.0.0.2").status_code == 200


def test_login_budget_follows_the_forwarded_address_behind_a_trusted_proxy(login_limited,
                                                                          request):
    login_limited["TRUSTED_PROXY_COUNT"] = 1
    client, auth = request.getfixturevalue("client"), request.getfixturevalue("auth")
    request.getfixturevalue("alice")
    proxy = "192.0.2.1"
    spend_logins(client, auth, address=proxy, forwarded_for="203.0.113.7")
    assert_limited(login(client, auth, "alice", "alicepass1", address=proxy,
                         forwarded_for="203.0.113.7"))
    # Another client behind the same proxy is another address.
    assert login(client, auth, "alice", "alicepass1", address=proxy,
                 forwarded_for="203.0.113.8").status_code == 200
    # Entries the client wrote itself before the proxy's own are not believed.
    assert_limited(login(client, auth, "alice", "alicepass1", address=proxy,
                         forwarded_for="198.51.100.1, 203.0.113.7"))


@pytest.mark.parametrize("forged", ["203.0.113.9", "198.51.100.1, 203.0.113.9", "unknown"])
def test_forged_forwarded_for_does_not_dodge_the_login_limit(login_limited, client, auth, alice,
                                                              forged):
    spend_logins(client, auth, forwarded_for="203.0.113.7")
    assert_limited(login(client, auth, "alice", "alicepass1", forwarded_for=forged))


def test_the_login_budget_comes_back_when_its_window_ends(login_limited, clock, client, auth,
                                                          alice):
    spend_logins(client, auth)
    assert_limited(login(client, auth, "alice", "alicepass1"))
    clock.advance(WINDOW + 1)
    assert login(client, auth, "alice", "alicepass1").status_code == 200
