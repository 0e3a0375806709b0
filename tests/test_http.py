"""HTTP semantics (contract §1, §6): ETags, conditional requests, HEAD, caching, request ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from conftest import assert_problem, create_template

TEMPLATE = {"title": "Drake", "url": "https://i.imgur.com/drake.png"}
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
NO_STORE = "no-store"
PRIVATE = "private"


# --- helpers -------------------------------------------------------------------------------


@dataclass
class Target:
    """A single resource under test, the account that may write it, and a side change."""

    kind: str
    path: str
    writer_headers: dict
    reader_headers: dict
    side_change: dict  # a PATCH body, sent by the admin, that changes the representation

    def get(self, client):
        return client.get(self.path, headers=self.reader_headers)

    def etag(self, client) -> str:
        response = self.get(client)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.headers["ETag"]


WRITES = {
    # kind, method → the JSON body of a change that succeeds on a fresh resource
    ("template", "PUT"): {"title": "Replaced", "url": "https://example.com/replaced.png"},
    ("template", "PATCH"): {"title": "Patched"},
    ("template", "DELETE"): None,
    ("user", "PUT"): None,
    ("user", "PATCH"): {"username": "alicia"},
    ("user", "DELETE"): None,
}


def write(client, target: Target, method: str, **headers: str):
    body = WRITES[(target.kind, method)]
    return client.open(target.path, method=method, json=body,
                       headers={**target.writer_headers, **headers})


@pytest.fixture(params=["template", "user"])
def target(request, client, auth, admin, alice) -> Target:
    """Alice's template (written by Alice) or Alice's account (written by the admin)."""
    if request.param == "template":
        template = create_template(client, auth, alice, **TEMPLATE)
        return Target("template", f"/template/{template['id']}", auth.headers(alice),
                      auth.headers(admin), {"description": "changed meanwhile"})
    return Target("user", f"/user/{alice.public_id}", auth.headers(admin), auth.headers(admin),
                  {"username": "alice_renamed"})


@pytest.fixture
def single_paths(client, auth, admin, alice) -> dict[str, str]:
    """The single-resource GET routes, each pointing at something Alice may read."""
    template = create_template(client, auth, alice, **TEMPLATE)
    return {"template": f"/template/{template['id']}", "user": f"/user/{alice.public_id}",
            "me": "/user/me"}


# --- ETag and If-None-Match ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["template", "user", "me"])
def test_single_resources_carry_a_strong_etag(client, auth, alice, single_paths, name):
    response = client.get(single_paths[name], headers=auth.headers(alice))
    assert response.status_code == 200
    etag = response.headers["ETag"]
    assert not etag.startswith("W/")
    assert re.fullmatch(r'"[\x21\x23-\x7e]+"', etag), etag
    assert client.get(single_paths[name], headers=auth.headers(alice)).headers["ETag"] == etag


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", ["template", "user", "me"])
def test_matching_if_none_match_is_304_with_empty_body(client, auth, alice, single_paths, name,
                                                       method):
    etag = client.get(single_paths[name], headers=auth.headers(alice)).headers["ETag"]
    for if_none_match in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        response = client.open(single_paths[name], method=method,
                               headers=auth.headers(alice, **{"If-None-Match": if_none_match}))
        assert response.status_code == 304, if_none_match
        assert response.data == b""
        assert response.headers["ETag"] == etag


@pytest.mark.parametrize("name", ["template", "user", "me"])
def test_non_matching_if_none_match_is_200_with_body(client, auth, alice, single_paths, name):
    etag = client.get(single_paths[name], headers=auth.headers(alice)).headers["ETag"]
    response = client.get(single_paths[name],
                          headers=auth.headers(alice, **{"If-None-Match": '"not-it"'}))
    assert response.status_code == 200
    assert response.get_json()
    assert response.headers["ETag"] == etag


def test_etag_changes_with_the_template(client, auth, alice):
    path = f"/template/{create_template(client, auth, alice, **TEMPLATE)['id']}"
    before = client.get(path, headers=auth.headers(alice)).headers["ETag"]
    changed = client.patch(path, json={"title": "New title"}, headers=auth.headers(alice))
    assert changed.status_code == 200
    after = client.get(path, headers=auth.headers(alice))
    assert after.headers["ETag"] not in (before, None)
    assert changed.headers["ETag"] == after.headers["ETag"]
    stale = client.get(path, headers=auth.headers(alice, **{"If-None-Match": before}))
    assert stale.status_code == 200 and stale.get_json()["template"]["title"] == "New title"


def test_template_etag_changes_when_its_owner_is_renamed(client, auth, admin, alice):
    path = f"/template/{create_template(client, auth, alice, **TEMPLATE)['id']}"
    before = client.get(path, headers=auth.headers(alice)).headers["ETag"]
    renamed = client.patch(f"/user/{alice.public_id}", json={"username": "alicia"},
                           headers=auth.headers(admin))
    assert renamed.status_code == 200
    response = client.get(path, headers=auth.headers(alice, **{"If-None-Match": before}))
    assert response.status_code == 200
    assert response.get_json()["template"]["username"] == "alicia"
    assert response.headers["ETag"] != before


def test_user_etags_change_when_the_user_changes(client, auth, admin, alice):
    paths = (f"/user/{alice.public_id}", "/user/me")
    before = {path: client.get(path, headers=auth.headers(alice)).headers["ETag"]
              for path in paths}
    assert before[paths[0]] == before[paths[1]]  # the same representation
    promoted = client.put(paths[0], headers=auth.headers(admin))
    assert promoted.status_code == 200
    for path in paths:
        response = client.get(path, headers=auth.headers(alice, **{"If-None-Match": before[path]}))
        assert response.status_code == 200
        assert response.get_json()["user"]["admin"] is True
        assert response.headers["ETag"] not in (before[path], None)


# --- If-Match --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_stale_if_match_is_412_and_nothing_changes(client, auth, admin, target, method):
    stale = target.etag(client)
    side = client.patch(target.path, json=target.side_change, headers=auth.headers(admin))
    assert side.status_code == 200
    before = target.get(client)
    assert before.headers["ETag"] != stale
    response = write(client, target, method, **{"If-Match": stale})
    assert_problem(response, 412)
    after = target.get(client)
    assert after.status_code == 200
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]


@pytest.mark.parametrize("if_match", ["current", "star", "list"])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_matching_if_match_succeeds_and_answers_the_new_etag(client, target, method, if_match):
    current = target.etag(client)
    header = {"current": current, "star": "*", "list": f'"stale-1", {current}, "stale-2"'}
    response = write(client, target, method, **{"If-Match": header[if_match]})
    assert response.status_code == 200, response.get_data(as_text=True)
    now = target.get(client)
    assert now.headers["ETag"] != current
    assert response.headers["ETag"] == now.headers["ETag"]
    assert response.get_json()[target.kind] == now.get_json()[target.kind]


@pytest.mark.parametrize("if_match", ["current", "star", "list"])
def test_matching_if_match_deletes(client, target, if_match):
    current = target.etag(client)
    header = {"current": current, "star": "*", "list": f'"stale", {current}'}
    response = client.delete(target.path,
                             headers={**target.writer_headers, "If-Match": header[if_match]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert target.get(client).status_code == 404


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_weak_tag_in_if_match_never_matches(client, target, method):
    current = target.etag(client)
    for if_match in (f"W/{current}", f'"stale", W/{current}'):
        response = write(client, target, method, **{"If-Match": if_match})
        assert_problem(response, 412)
    assert target.etag(client) == current


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_star_does_not_conjure_a_missing_resource(client, target, method):
    assert client.delete(target.path, headers=target.writer_headers).status_code == 200
    response = write(client, target, method, **{"If-Match": "*"})
    assert_problem(response, 404)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_writes_without_if_match_are_unconditional(client, target, method):
    response = write(client, target, method)
    assert response.status_code == 200, response.get_data(as_text=True)


# --- HEAD ------------------------------------------------------------------------------------


def get_routes(app, values: dict[str, str]) -> list[str]:
    """A URL for every route that answers GET (unknown arguments get a placeholder)."""
    adapter = app.url_map.bind("localhost")
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            arguments = {name: values.get(name, "1") for name in rule.arguments}
            paths.append(adapter.build(rule.endpoint, arguments))
    return paths


def test_head_matches_get_on_every_get_route(app, client, auth, admin, alice):
    template = create_template(client, auth, alice, **TEMPLATE)
    paths = get_routes(app, {"template_id": str(template["id"]), "public_id": alice.public_id,
                             "name": "tests"})
    assert {"/", "/template", "/user", "/user/me", "/app", "/healthz", "/login",
            f"/template/{template['id']}", f"/user/{alice.public_id}"} <= set(paths)
    mismatches = {}
    for path in paths:
        headers = auth.headers(admin, **{"X-Request-ID": "head-vs-get"})
        got, head = client.get(path, headers=headers), client.head(path, headers=headers)
        got_headers, head_headers = dict(got.headers), dict(head.headers)
        if path == "/metrics":  # its body counts every request, the GET just made included
            got_headers.pop("Content-Length"), head_headers.pop("Content-Length")
        if head.data or (head.status_code, head_headers) != (got.status_code, got_headers):
            mismatches[path] = (got.status_code, head.status_code, head.data[:80])
    assert mismatches == {}


# --- Cache-Control ---------------------------------------------------------------------------


def test_login_answers_no_store(client, auth, alice):
    by_basic = client.get("/login", headers=auth.basic("alice", "alicepass1"))
    by_body = client.post("/login", json={"username": "alice", "password": "alicepass1"},
                          headers=auth.headers())
    for response in (by_basic, by_body):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == NO_STORE


def test_refresh_answers_no_store(client, auth, alice):
    response = client.post("/token/refresh", json={"refresh_token": alice.tokens["refresh_token"]},
                           headers=auth.headers())
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NO_STORE


def test_password_change_answers_no_store(client, auth, alice):
    response = client.post("/user/me/password", headers=auth.headers(alice),
                           json={"current_password": "alicepass1", "new_password": "newpass123"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NO_STORE


@pytest.mark.parametrize("method, path", [
    ("GET", "/"), ("GET", "/template"), ("GET", "/user"), ("GET", "/user/me"), ("GET", "/app"),
    ("GET", "/template/{id}"), ("HEAD", "/template/{id}"), ("POST", "/template"),
    ("PATCH", "/template/{id}"), ("GET", "/template/999999"), ("POST", "/logout"),
])
def test_other_authenticated_responses_are_private(client, auth, admin, method, path):
    template = create_template(client, auth, admin, **TEMPLATE)
    response = client.open(path.format(id=template["id"]), method=method,
                           json=TEMPLATE if method in ("POST", "PATCH") else None,
                           headers=auth.headers(admin))
    assert response.status_code < 500
    assert response.headers["Cache-Control"] == PRIVATE


def test_not_modified_is_private_too(client, auth, alice):
    etag = client.get("/user/me", headers=auth.headers(alice)).headers["ETag"]
    response = client.get("/user/me", headers=auth.headers(alice, **{"If-None-Match": etag}))
    assert response.status_code == 304
    assert response.headers["Cache-Control"] == PRIVATE


def test_healthz_is_private_only_when_credentials_are_sent(client, auth, alice):
    """The code marks any request carrying a credential header private, /healthz included."""
    anonymous = client.get("/healthz")
    assert anonymous.status_code == 200
    assert "Cache-Control" not in anonymous.headers
    for credentials in (auth.headers(), auth.headers(alice),
                        {"Authorization": "Bearer " + alice.tokens["token"]}):
        response = client.get("/healthz", headers=credentials)
        assert response.headers["Cache-Control"] == PRIVATE


# --- X-Request-ID ----------------------------------------------------------------------------


def request_cases(client, auth, alice) -> dict[str, dict]:
    """Requests answered 200, 304 and the usual errors, keyed by the status they get."""
    path = f"/template/{create_template(client, auth, alice, **TEMPLATE)['id']}"
    etag = client.get(path, headers=auth.headers(alice)).headers["ETag"]
    return {
        "200": {"method": "GET", "path": path, "headers": auth.headers(alice)},
        "304": {"method": "GET", "path": path,
                "headers": auth.headers(alice, **{"If-None-Match": etag})},
        "400": {"method": "POST", "path": "/template", "data": "{not json",
                "headers": auth.headers(alice, **{"Content-Type": "application/json"})},
        "401": {"method": "GET", "path": "/template", "headers": {}},
        "404": {"method": "GET", "path": "/no/such/route", "headers": auth.headers(alice)},
        "405": {"method": "DELETE", "path": "/template", "headers": auth.headers(alice)},
        "412": {"method": "PATCH", "path": path, "json": {"title": "x"},
                "headers": auth.headers(alice, **{"If-Match": '"stale"'})},
        "413": {"method": "POST", "path": "/template", "data": "x" * (1024 * 1024 + 1),
                "headers": auth.headers(alice, **{"Content-Type": "application/json"})},
        "415": {"method": "POST", "path": "/template", "data": "title=x",
                "headers": auth.headers(alice, **{"Content-Type": "text/plain"})},
    }


def send_case(client, case: dict, request_id: str | None):
    case = dict(case)
    headers = dict(case.pop("headers"))
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    return client.open(case.pop("path"), method=case.pop("method"), headers=headers, **case)


def test_request_id_is_echoed_on_every_kind_of_response(client, auth, alice):
    for status, case in request_cases(client, auth, alice).items():
        incoming = f"req-{status}_A.b"
        response = send_case(client, case, incoming)
        assert str(response.status_code) == status
        assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", [None, "", "x" * 129, "has space", "semi;colon", "ünï"])
def test_request_id_is_generated_when_absent_or_insane(client, auth, alice, incoming):
    seen, cases = set(), request_cases(client, auth, alice)
    for status, case in cases.items():
        response = send_case(client, case, incoming)
        assert str(response.status_code) == status
        generated = response.headers["X-Request-ID"]
        assert SANE_ID.fullmatch(generated) and generated != incoming
        seen.add(generated)
    assert len(seen) == len(cases)


def test_request_id_of_128_sane_characters_is_kept(client):
    incoming = "a1._-" * 25 + "xyz"
    assert len(incoming) == 128
    assert client.get("/healthz", headers={"X-Request-ID": incoming}).headers[
        "X-Request-ID"] == incoming


@pytest.fixture
def tight_login_limit(app_config) -> None:
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="1 per minute")


def test_request_id_is_echoed_when_rate_limited(tight_login_limit, client, auth, alice):
    statuses = []
    for attempt in range(2):
        incoming = f"limited-{attempt}"
        response = client.get("/login", headers=auth.basic("alice", "alicepass1")
                              | {"X-Request-ID": incoming})
        statuses.append(response.status_code)
        assert response.headers["X-Request-ID"] == incoming
    assert statuses == [200, 429]
