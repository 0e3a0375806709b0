"""/openapi.json as client generators and the docs page use it (contract §8).

These hold the served document to what generated code needs: short unique snake_case operation
ids, defaults that can all be sent together, one problem schema for every error response, and
the §1 limits (414, 431) on every operation.
"""

from __future__ import annotations

import re

import pytest

OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
MAX_OPERATION_ID = 24
COLLECTIONS = ("/template", "/", "/user")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def each_operation(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolved(document: dict, response: dict) -> dict:
    if "$ref" in response:
        return document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def test_operation_ids_are_short_unique_snake_case(document):
    ids = [operation["operationId"] for *_, operation in each_operation(document)]
    assert len(ids) == len(set(ids))
    bad = [name for name in ids if not OPERATION_ID.match(name) or len(name) > MAX_OPERATION_ID]
    assert bad == []
    by_route = {(method, path): operation["operationId"]
                for method, path, operation in each_operation(document)}
    assert by_route[("get", "/template")] == "list_templates"
    assert by_route[("get", "/template/{template_id}")] == "get_template"
    assert by_route[("get", "/login")] == "login"
    assert by_route[("get", "/user/me")] == "get_me"


def test_operation_ids_come_from_the_views_declarations(app, document):
    served = {operation["operationId"] for *_, operation in each_operation(document)}
    declared = [view.success.operation_id for view in app.view_functions.values()
                if hasattr(view, "success")]
    names = {name for ids in declared
             for name in ([ids] if isinstance(ids, str) else ids.values())}
    assert served == names


def test_links_name_existing_operations(document):
    ids = {operation["operationId"] for *_, operation in each_operation(document)}
    linked = {link["operationId"] for *_, operation in each_operation(document)
              for response in operation["responses"].values()
              for link in response.get("links", {}).values()}
    assert linked
    assert linked <= ids


@pytest.mark.parametrize("path", COLLECTIONS)
def test_exclusive_parameters_have_no_default_and_say_so(document, path):
    parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]
                  if p.get("in") == "query"}
    assert "default" not in parameters["page"]["schema"]
    assert "default" not in parameters["per_page"]["schema"]
    assert "default" not in parameters["cursor"]["schema"]
    assert parameters["per_page"]["deprecated"] is True
    assert "limit" in parameters["per_page"]["description"]
    assert "`cursor`" in parameters["page"]["description"]
    assert "`page`" in parameters["cursor"]["description"]
    assert "Excludes" in parameters["page"]["description"]
    assert "Excludes" in parameters["cursor"]["description"]


def defaults(document: dict, path: str) -> dict[str, str]:
    """What a docs page or a generated client sends when the user changes nothing."""
    return {p["name"]: str(p["schema"]["default"]).lower()
            for p in document["paths"][path]["get"]["parameters"]
            if p.get("in") == "query" and "default" in p.get("schema", {})}


@pytest.mark.parametrize("path", COLLECTIONS)
def test_every_default_sent_together_is_accepted(client, auth, admin, document, path):
    sent = defaults(document, path)
    assert "limit" in sent
    page_mode = client.get(path, query_string=sent, headers=auth.headers(admin))
    assert page_mode.status_code == 200, page_mode.get_json()
    assert "page" in page_mode.get_json()["meta"]
    cursor_mode = client.get(path, query_string={**sent, "cursor": ""},
                             headers=auth.headers(admin))
    assert cursor_mode.status_code == 200, cursor_mode.get_json()
    assert "next_cursor" in cursor_mode.get_json()["meta"]


def test_every_error_response_is_the_one_problem_schema(document):
    for method, path, operation in each_operation(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/readyz", "503"):
                continue
            content = resolved(document, response)["content"]
            assert content == {"application/problem+json": {"schema": PROBLEM_REF}}, \
                (method, path, status)


def test_no_schema_uses_all_of(document):
    # generators (openapi-python-client) cannot merge an allOf that narrows a property
    assert "allOf" not in str(document)


def test_url_and_header_limits_are_documented_on_every_operation(document):
    for method, path, operation in each_operation(document):
        assert {"414", "431"} <= set(operation["responses"]), (method, path)
    assert "8,190" in document["components"]["responses"]["UriTooLong"]["description"]


def test_the_description_points_at_the_contract_in_the_repository(document):
    assert "docs/api.md" in document["info"]["description"]
    assert "shared/" not in document["info"]["description"]
