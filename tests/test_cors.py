"""CORS (contract §1): allowed origins get the headers, preflights need no tokens, others none."""

from __future__ import annotations

import pytest

ALLOWED = "https://app.example.com"
OTHER_ALLOWED = "http://localhost:5173"
DISALLOWED = "https://evil.example.net"
EXPOSED = {"x-request-id", "etag", "link", "x-total-count", "location", "retry-after"}
REQUESTED_HEADERS = ["x-access-token", "x-application-token", "content-type", "if-match",
                     "authorization", "if-none-match", "x-request-id"]
PREFLIGHT_PATHS = ["/template", "/template/1", "/user/me", "/user", "/login", "/token/refresh",
                   "/"]


def cors_headers(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()
            if name.lower().startswith("access-control-")}


def listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def preflight(client, path: str, origin: str, method: str = "PATCH",
              headers: list[str] = REQUESTED_HEADERS):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": ", ".join(headers)})


@pytest.fixture
def cors_on(app_config) -> None:
    app_config["CORS_ORIGINS"] = [ALLOWED, OTHER_ALLOWED]


@pytest.fixture
def requests_of_each_kind(client, auth, alice) -> dict[str, tuple[str, str, dict]]:
    """Requests answered 200, 201 and with errors (401, 404, 412), as (method, path, headers)."""
    made = client.post("/template", json={"title": "t", "url": "https://e.org/t.png"},
                       headers=auth.headers(alice))
    path = made.headers["Location"]
    return {
        "list": ("GET", "/template", auth.headers(alice)),
        "single": ("GET", path, auth.headers(alice)),
        "no app token": ("GET", "/template", {}),
        "no user token": ("GET", "/user/me", auth.headers()),
        "unknown route": ("GET", "/no/such/route", auth.headers(alice)),
        "precondition": ("DELETE", path, auth.headers(alice, **{"If-Match": '"stale"'})),
        "health": ("GET", "/healthz", {}),
    }


# --- CORS on -------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [ALLOWED, OTHER_ALLOWED])
def test_allowed_origin_gets_cors_headers_on_answers_and_errors(cors_on, client,
                                                                requests_of_each_kind, origin):
    statuses = set()
    for method, path, headers in requests_of_each_kind.values():
        response = client.open(path, method=method, headers={**headers, "Origin": origin})
        statuses.add(response.status_code)
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert listed(response.headers["Access-Control-Expose-Headers"]) >= EXPOSED
        assert "origin" in listed(response.headers.get("Vary", ""))
    assert statuses == {200, 401, 404, 412}


@pytest.mark.parametrize("path", PREFLIGHT_PATHS)
def test_preflight_from_allowed_origin_needs_no_tokens(cors_on, client, alice, path):
    response = preflight(client, path, ALLOWED)
    assert response.status_code == 200
    assert "WWW-Authenticate" not in response.headers
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == ALLOWED
    assert set(REQUESTED_HEADERS) <= listed(headers["access-control-allow-headers"])
    assert "patch" in listed(headers["access-control-allow-methods"])
    assert int(headers["access-control-max-age"]) > 0


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_preflight_allows_every_method_of_the_api(cors_on, client, method):
    response = preflight(client, "/template/1", ALLOWED, method=method)
    assert response.status_code == 200
    assert method.lower() in listed(response.headers["Access-Control-Allow-Methods"])


def test_preflight_does_not_allow_headers_outside_the_list(cors_on, client):
    response = preflight(client, "/template", ALLOWED, headers=["x-access-token", "x-secret"])
    allowed = listed(response.headers.get("Access-Control-Allow-Headers", ""))
    assert "x-secret" not in allowed


@pytest.fixture
def tight_limit(app_config) -> None:
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION="2 per minute")


def test_preflights_are_not_rate_limited(cors_on, tight_limit, client):
    for _ in range(5):
        response = preflight(client, "/template", ALLOWED)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
    assert [client.get("/template").status_code for _ in range(3)] == [401, 401, 429]


def test_disallowed_origin_gets_no_cors_headers(cors_on, client, requests_of_each_kind):
    for method, path, headers in requests_of_each_kind.values():
        response = client.open(path, method=method, headers={**headers, "Origin": DISALLOWED})
        assert cors_headers(response) == {}
    for path in PREFLIGHT_PATHS:
        assert cors_headers(preflight(client, path, DISALLOWED)) == {}


# --- CORS off (the default) ------------------------------------------------------------------


def test_without_cors_origins_there_are_no_cors_headers(app, client, requests_of_each_kind):
    assert not app.config["CORS_ORIGINS"]
    for origin in (ALLOWED, DISALLOWED, "null"):
        for method, path, headers in requests_of_each_kind.values():
            response = client.open(path, method=method, headers={**headers, "Origin": origin})
            assert cors_headers(response) == {}
        for path in PREFLIGHT_PATHS:
            assert cors_headers(preflight(client, path, origin)) == {}


# --- caches: the answer depends on Origin, and says so -------------------------------------------


@pytest.fixture(params=[[ALLOWED], [ALLOWED, OTHER_ALLOWED], ["*"]],
                ids=["one origin", "two origins", "any origin"])
def any_cors_setting(request, app_config) -> list[str]:
    app_config["CORS_ORIGINS"] = request.param
    return request.param


def test_every_answer_varies_on_origin_when_cors_is_on(any_cors_setting, client,
                                                       requests_of_each_kind):
    # With or without Origin, allowed or not: a shared cache must not hand one origin's answer
    # (with or without Access-Control-Allow-Origin) to another.
    for origin in (None, ALLOWED, DISALLOWED):
        extra = {} if origin is None else {"Origin": origin}
        for method, path, headers in requests_of_each_kind.values():
            response = client.open(path, method=method, headers={**headers, **extra})
            assert "origin" in listed(response.headers.get("Vary", "")), (origin, path)
        assert "origin" in listed(preflight(client, "/template", ALLOWED).headers["Vary"])


def test_no_cors_headers_without_an_origin(any_cors_setting, client, requests_of_each_kind):
    for method, path, headers in requests_of_each_kind.values():
        response = client.open(path, method=method, headers=headers)
        assert cors_headers(response) == {}, path


def test_one_allowed_origin_is_named_only_to_itself(any_cors_setting, client):
    response = client.get("/healthz", headers={"Origin": ALLOWED})
    assert response.headers.getlist("Access-Control-Allow-Origin") == [ALLOWED]


def test_without_cors_origins_nothing_varies_on_origin(app, client, requests_of_each_kind):
    for method, path, headers in requests_of_each_kind.values():
        response = client.open(path, method=method, headers={**headers, "Origin": ALLOWED})
        assert "origin" not in listed(response.headers.get("Vary", ""))
