"""GET /metrics (contract §8) in one process: names, labels, bounded routes, the token."""

from __future__ import annotations

import pytest
from conftest import assert_problem
from prometheus_client.parser import text_string_to_metric_families

TEMPLATE_RULE = "/template/<int:template_id>"


def samples(client, headers=None) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(found, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def series(found, name: str, **labels) -> int:
    """How many series of `name` carry these labels (among others)."""
    return sum(1 for (sample, sample_labels) in found
               if sample == name and set(labels.items()) <= sample_labels)


def test_requests_are_counted_by_method_rule_and_status(client, auth, alice):
    before = samples(client)
    for _ in range(3):
        assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200
    after = samples(client)
    labels = {"method": "GET", "route": "/user/me", "status": "200"}
    assert value(after, "http_requests_total", **labels) - value(
        before, "http_requests_total", **labels) == 3
    count = "http_request_duration_seconds_count"
    assert value(after, count, method="GET", route="/user/me") - value(
        before, count, method="GET", route="/user/me") == 3


def test_the_route_label_is_the_rule_so_series_stay_fixed(client, auth, alice):
    def ask(ids) -> dict:
        for template_id in ids:
            client.get(f"/template/{template_id}", headers=auth.headers(alice))
        return samples(client)

    few = ask(range(1, 6))
    many = ask(range(6, 206))
    for found in (few, many):
        assert not any("/template/1" in dict(labels).get("route", "") for _, labels in found)
    assert series(many, "http_requests_total", route=TEMPLATE_RULE) == series(
        few, "http_requests_total", route=TEMPLATE_RULE)
    assert series(many, "http_requests_total", method="GET", route=TEMPLATE_RULE,
                  status="404") == 1
    assert series(many, "http_request_duration_seconds_bucket", route=TEMPLATE_RULE) == series(
        few, "http_request_duration_seconds_bucket", route=TEMPLATE_RULE)


def test_logins_by_result_and_rate_limit_rejections(app_config, request):
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                      RATELIMIT_APPLICATION="1000 per minute", RATELIMIT_LOGIN="2 per minute")
    client, auth = request.getfixturevalue("client"), request.getfixturevalue("auth")
    request.getfixturevalue("alice")
    before = samples(client)
    statuses = [client.get("/login", headers=auth.basic("alice", password)).status_code
                for password in ("alicepass1", "wrong-pass", "alicepass1")]
    assert statuses == [200, 401, 429]
    after = samples(client)
    for result in ("success", "failure", "rate_limited"):
        assert value(after, "logins_total", result=result) - value(
            before, "logins_total", result=result) == 1, result
    assert value(after, "rate_limit_rejections_total", route="/login") - value(
        before, "rate_limit_rejections_total", route="/login") == 1


def test_refresh_token_reuse_is_counted(client, auth, alice):
    before = value(samples(client), "refresh_token_reuse_detections_total")
    old = alice.tokens["refresh_token"]
    body = {"refresh_token": old}
    assert client.post("/token/refresh", json=body, headers=auth.headers()).status_code == 200
    assert client.post("/token/refresh", json=body, headers=auth.headers()).status_code == 401
    assert value(samples(client), "refresh_token_reuse_detections_total") - before == 1


def test_pool_use_is_reported(client):
    assert ("db_pool_connections_in_use", frozenset()) in samples(client)


@pytest.fixture
def token_config(app_config) -> dict:
    app_config["METRICS_TOKEN"] = "metrics-secret-token"
    return app_config


def test_metrics_token_is_required_when_set(token_config, client):
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": "metrics-secret-token"}):
        response = client.get("/metrics", headers=headers)
        assert_problem(response, 401)
        assert "metrics-secret-token" not in response.get_data(as_text=True)
    assert samples(client, {"Authorization": "Bearer metrics-secret-token"})


def test_disabled_metrics_are_404_and_count_nothing(app_config, request):
    app_config["METRICS_ENABLED"] = False
    client = request.getfixturevalue("client")
    assert_problem(client.get("/metrics"), 404)
    app = request.getfixturevalue("app")
    assert not any("_count" in getattr(hook, "__name__", "")
                   for hook in app.after_request_funcs.get(None, []))
