"""General rules of contract §1: one error shape, body media types, request ids, and no 5xx."""

from __future__ import annotations

import base64
import json

import pytest
from conftest import assert_problem, create_template
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from meme_api.extensions import db
from meme_api.models import Template

REQUEST_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# Routes the contract leaves open: liveness, readiness, metrics (METRICS_TOKEN guards them),
# the API description and static assets.
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json")
OPEN_PREFIXES = ("/docs", "/static")
LEAKS = ("Traceback", "pbkdf2:", "scrypt:", "SELECT ", "INSERT ", "UPDATE ")
NEW_TEMPLATE = {"title": "A title", "url": "https://example.org/a.png"}


def template_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Template))


# --- error shape, unknown routes and methods --------------------------------------------------

@pytest.mark.parametrize("with_app_token", [False, True])
def test_unknown_route_is_a_problem_document(client, auth, with_app_token):
    headers = auth.headers() if with_app_token else {}
    response = client.get("/no/such/route", headers=headers)
    body = assert_problem(response, 404)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert set(body) >= {"type", "title", "status", "detail", "message"}
    assert body["title"] == "Not Found"


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/login", {"GET", "POST"}),
    ("PUT", "/template", {"GET", "POST"}),
    ("POST", "/healthz", {"GET"}),
    ("GET", "/logout", {"POST"}),
])
def test_wrong_method_is_405_with_allow(client, auth, method, path, allowed):
    response = client.open(path, method=method, headers=auth.headers())
    assert_problem(response, 405)
    assert allowed <= {name.strip() for name in response.headers["Allow"].split(",")}


# --- request bodies ---------------------------------------------------------------------------

@pytest.fixture
def small_body_client(app_config, request):
    """A client of an app that accepts bodies of at most 64 bytes."""
    app_config["MAX_CONTENT_LENGTH"] = 64
    return request.getfixturevalue("client")


@pytest.mark.parametrize("encoding", ["json", "data"])
def test_body_over_max_content_length_is_413(small_body_client, auth, admin, encoding):
    body = {**NEW_TEMPLATE, "description": "x" * 200}
    response = small_body_client.post("/template", headers=auth.headers(admin),
                                      **{encoding: body})
    assert_problem(response, 413)
    assert template_count() == 0


def test_body_under_max_content_length_is_accepted(small_body_client, auth, admin):
    response = small_body_client.post("/template", json={"title": "t", "url": "http://e.org"},
                                      headers=auth.headers(admin))
    assert response.status_code == 201


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "image/png"])
def test_other_media_types_are_415(client, auth, admin, method, content_type):
    template_id = create_template(client, auth, admin, **NEW_TEMPLATE)["id"]
    path = "/template" if method == "POST" else f"/template/{template_id}"
    response = client.open(path, method=method, data=json.dumps(NEW_TEMPLATE),
                           content_type=content_type, headers=auth.headers(admin))
    assert_problem(response, 415)
    assert template_count() == 1


@pytest.mark.parametrize("encoding", [
    {"json": NEW_TEMPLATE},
    {"data": NEW_TEMPLATE},
    {"data": NEW_TEMPLATE, "content_type": "multipart/form-data"},
    {"data": json.dumps(NEW_TEMPLATE), "content_type": "application/json; charset=utf-8"},
], ids=["json", "urlencoded", "multipart", "json-charset"])
def test_json_and_form_bodies_are_accepted(client, auth, admin, encoding):
    response = client.post("/template", headers=auth.headers(admin), **encoding)
    assert response.status_code == 201
    assert response.get_json()["template"]["title"] == NEW_TEMPLATE["title"]


@pytest.mark.parametrize("raw", [
    b"{", b"{'title': 'x'}", b'{"title": "x",}', b"\xff\xfe{}", b"[1, 2]", b'"a string"',
    b"42", b"null", b"true", b"[" * 100_000, b'{"a":' * 50_000,
], ids=["truncated", "single-quotes", "trailing-comma", "not-utf8", "array", "string", "number",
        "null", "true", "deep-array", "deep-object"])
def test_malformed_or_non_object_json_is_400(client, auth, admin, raw):
    response = client.post("/template", data=raw, content_type="application/json",
                           headers=auth.headers(admin))
    assert_problem(response, 400)
    assert template_count() == 0


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded",
                                          "multipart/form-data"])
def test_duplicated_form_keys_are_400(client, auth, admin, content_type):
    form = MultiDict([("title", "one"), ("title", "two"), ("url", NEW_TEMPLATE["url"])])
    response = client.post("/template", data=form, content_type=content_type,
                           headers=auth.headers(admin))
    body = assert_problem(response, 400)
    assert set(body["errors"]) == {"title"}
    assert template_count() == 0


# --- request ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("incoming", ["abc-123_x.Y", "a", "r" * 128])
def test_sane_request_id_is_echoed(client, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", ["r" * 129, "has space", "semi;colon", "a/b", "<script>",
                                      "ünïcode", ""])
def test_insane_request_id_is_replaced(client, incoming):
    for path in ("/healthz", "/no/such/route"):
        generated = client.get(path, headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
        assert generated != incoming
        assert 0 < len(generated) <= 128 and set(generated) <= REQUEST_ID_CHARS


def test_request_id_is_on_errors_and_unique(client):
    first = client.get("/template").headers["X-Request-ID"]
    second = client.get("/template").headers["X-Request-ID"]
    assert first and second and first != second


# --- every route needs an application token ---------------------------------------------------

def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def test_every_route_requires_an_application_token(app, client):
    adapter = app.url_map.bind("localhost")
    checked, offenders = set(), []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1), method=method)
            if is_open(path):
                continue
            checked.add((method, rule.rule))
            response = client.open(path, method=method)
            body = response.get_json(force=True, silent=True) or {}
            if (response.status_code, body.get("message")) != (401, "Application token is "
                                                                     "missing"):
                offenders.append((method, path, response.status_code, body.get("message")))
    assert offenders == []
    # The enumeration really walked the API, not an empty or partial map.
    assert {("GET", "/login"), ("POST", "/user"), ("PATCH", "/template/<int:template_id>"),
            ("DELETE", "/app/<name>"), ("GET", "/")} <= checked


# --- nasty input never gets a 5xx or leaks ----------------------------------------------------

NASTY_VALUES = {
    "nul": "a\x00b",
    "lone-surrogate": "\ud800",
    "huge-int": 10**30,
    "negative-huge-int": -(10**30),
    "huge-float": 1e308,
    "nested": {"a": {"b": [1, {"c": None}]}},
    "list": ["x", "y"],
    "true": True,
    "null": None,
    "huge-string": "x" * 200_000,
    "unicode": "\uff4d\uff45\uff4d\uff45 \U0001f600 \u202e\u0301 \u00df",
    "empty": "",
    "blank": " \t\n",
    "sql": "' OR 1=1; --",
    "like-pattern": "%_%\\",
}
BODY_TARGETS = {
    "POST /template": ("POST", "/template", NEW_TEMPLATE, ("title", "url", "description")),
    "POST /user": ("POST", "/user", {"username": "newbie", "password": "newbiepass1"},
                   ("username", "password", "admin")),
    "PATCH /user": ("PATCH", "/user/{alice}", {}, ("username", "password", "admin", "active")),
    "POST /login": ("POST", "/login", {"username": "alice", "password": "alicepass1"},
                    ("username", "password")),
}
QUERY_VALUES = ["0", "-1", "1e3", "1.5", "10" * 15, "9" * 400, "abc", "", "%20", "%00",
                "%ED%A0%80", "%F0%9F%98%80", "1%00"]
PATH_VALUES = ["0", "-1", "1.5", "9" * 30, "%00", "%ED%A0%80", "%F0%9F%98%80", "..%2F..",
               "x" * 3000, "%25", "null"]
BASIC_CREDENTIALS = [b"\xff\xfe:\x00", b"alice", b":", b"alice:" + b"p" * 100_000,
                     "\U0001f600:\u00e9".encode(), b"alice\x00:alicepass1"]


def breaks_the_rules(response) -> str | None:
    """Why a response breaks §1 (a server error or a leak), or None."""
    if response.status_code >= 500:
        return f"status {response.status_code}"
    text = response.get_data(as_text=True)
    leaked = [leak for leak in LEAKS if leak in text]
    return f"leaks {leaked}" if leaked else None


def assert_all_survive(attempts, expected: int) -> None:
    """Send every (label, request): none may break the rules, and the input must have reached
    the checks that answer `expected` (so the attempts were not all stopped at the door)."""
    offenders, statuses = [], set()
    for label, send in attempts:
        response = send()
        statuses.add(response.status_code)
        if why := breaks_the_rules(response):
            offenders.append((label, why))
    assert offenders == []
    assert expected in statuses, statuses


def form_safe(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("target", list(BODY_TARGETS))
def test_nasty_body_values_never_break_the_service(client, auth, admin, alice, target):
    method, path, base, fields = BODY_TARGETS[target]
    path = path.format(alice=alice.public_id)
    headers = auth.headers() if path == "/login" else auth.headers(admin)

    def sender(body, encoding):
        return lambda: client.open(path, method=method, headers=headers, **{encoding: body})

    attempts = []
    for field in fields:
        for name, value in NASTY_VALUES.items():
            body = {**base, field: value}
            attempts.append((f"{field}={name} json", sender(body, "json")))
            if form_safe(value):
                attempts.append((f"{field}={name} form", sender(body, "data")))
    assert_all_survive(attempts, expected=400)


@pytest.mark.parametrize("path", ["/template", "/user", "/"])
def test_nasty_query_parameters_never_break_the_service(client, auth, admin, path):
    def sender(query):
        return lambda: client.get(path, query_string=query, headers=auth.headers(admin))

    attempts = [(f"{name}={value}", sender(f"{name}={value}"))
                for name in ("page", "limit", "per_page") for value in QUERY_VALUES]
    assert_all_survive(attempts, expected=400)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/template/{}"), ("PATCH", "/template/{}"), ("DELETE", "/template/{}"),
    ("GET", "/user/{}"), ("PUT", "/user/{}"), ("DELETE", "/user/{}"), ("DELETE", "/app/{}"),
])
def test_nasty_path_ids_never_break_the_service(client, auth, admin, method, path):
    create_template(client, auth, admin, **NEW_TEMPLATE)["id"]

    def sender(value):
        return lambda: client.open(path.format(value), method=method, json={"title": "t"},
                                   headers=auth.headers(admin))

    assert_all_survive(((value[:20], sender(value)) for value in PATH_VALUES), expected=404)


def test_nasty_basic_credentials_never_break_the_service(client, auth, alice):
    def sender(authorization):
        return lambda: client.get("/login", headers={**auth.headers(),
                                                     "Authorization": authorization})

    headers = ["Basic " + base64.b64encode(raw).decode() for raw in BASIC_CREDENTIALS]
    headers += ["Basic", "Basic !!!", "Basic " + "A" * 10_001, "Bearer", "Digest x=y"]
    assert_all_survive(((header[:20], sender(header)) for header in headers), expected=401)
