"""The OpenAPI 3.1 document, generated from the routes themselves (contract §8).

Paths and methods come from the URL map; request bodies from each view's `@accepts` shape (the
same object that validates the body); query parameters from its `@lists` collection; security
from the markers the auth decorators leave; summaries from docstrings. `operations.py` adds
each endpoint's success answer. An endpoint missing there is left out, and a test fails.
"""

from __future__ import annotations

import re

from flask import Flask
from werkzeug.routing import Rule

from .. import __version__
from ..routes.docs import ASSETS
from ..schemas import APP_NAME, Shape
from .components import ERROR_NAMES, RESPONSES, components, header_refs, ref
from .description import DESCRIPTION
from .operations import OPERATIONS, Success, operation_id, success_response
from .queries import collection_parameters

IGNORED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = ("POST", "PUT", "PATCH")
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_MEDIA_TYPES = ("application/json", *FORM_MEDIA_TYPES)
PATH_PARAMETERS = {
    "public_id": {"type": "string", "format": "uuid"},
    "template_id": {"type": "integer", "minimum": 1},
    "name": APP_NAME.json_schema(),
    "asset": {"type": "string", "enum": list(ASSETS)},
}
TAGS = [
    {"name": "login", "description": "Logging in, refreshing and revoking tokens"},
    {"name": "user", "description": "Users (admins provision them)"},
    {"name": "template", "description": "Templates, the posts, and the feed"},
    {"name": "apps", "description": "Registered client applications"},
    {"name": "ops", "description": "Liveness and readiness"},
    {"name": "docs", "description": "This document and its interactive page"},
]


def openapi_path(rule: Rule) -> str:
    """`/template/<int:template_id>` → `/template/{template_id}`."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)


def security(view, success: Success, require_app_token: bool) -> list[dict]:
    """Alternative credential sets: the app token with each way of sending the user token."""
    app = {"appToken": []} if require_app_token and getattr(view, "needs_app_token", False) else {}
    if getattr(view, "needs_user", False):
        return [{**app, "accessToken": []}, {**app, "bearerAuth": []}]
    if success.basic_auth:
        return [{**app, "basicAuth": []}, app]
    return [app]


def request_body(shape: Shape) -> dict:
    """JSON or form data, both validated by the same shape."""
    json_schema, form_schema = shape.json_schema(), shape.json_schema(form=True)
    return {
        "required": any(spec.required for spec in shape.fields.values()) and not shape.partial,
        "description": shape.description or f"{shape.name}: JSON or form data.",
        "content": {media: {"schema": form_schema if media in FORM_MEDIA_TYPES else json_schema}
                    for media in BODY_MEDIA_TYPES},
    }


def takes_tokens(view) -> bool:
    """Routes that take tokens are rate limited; the others (ops, docs) are exempt."""
    return getattr(view, "needs_app_token", False) or getattr(view, "needs_user", False)


def error_statuses(view, method: str, rule: Rule, success: Success) -> list[int]:
    """Every error status this operation can answer, from its markers and its table entry."""
    statuses = {414, 431}  # the URL or the headers can be too large on every operation
    if takes_tokens(view):
        statuses |= {401, 429}
    if success.unauthorized:
        statuses.add(401)
    if getattr(view, "needs_admin", False) or success.forbidden:
        statuses.add(403)
    if rule.arguments:
        statuses.add(404)
    if method in BODY_METHODS:
        statuses |= {400, 413, 415}
    if getattr(view, "lists", None) is not None:
        statuses.add(400)
    if success.conflict:
        statuses.add(409)
    if success.checks_if_match:
        statuses.add(412)
    if success.uses_database and rule.endpoint != "ops.readyz":
        statuses.add(503)
    return sorted(statuses)


def error_response(status: int, view, success: Success) -> dict:
    """A reference to the shared response, or a copy that says why for this route."""
    reasons = []
    if status == 403:
        if getattr(view, "needs_admin", False):
            reasons.append("the caller is not an admin")
        if success.forbidden:
            reasons.append(success.forbidden)
    elif status == 409:
        reasons.append(success.conflict)
    elif status == 401 and success.unauthorized:
        reasons.append(success.unauthorized)
    if not reasons:
        return ref("responses", ERROR_NAMES[status])
    shared = RESPONSES[ERROR_NAMES[status]]
    return {**shared, "description": f"{shared['description'][:-1]}: {'; '.join(reasons)}."}


def parameters(view, rule: Rule, success: Success, config) -> list[dict]:
    """Path parameters, the collection's query parameters, and the conditional headers."""
    result = [{"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
              for name in sorted(rule.arguments)]
    collection = getattr(view, "lists", None)
    if collection is not None:
        result += collection_parameters(collection, config["DEFAULT_PAGE_SIZE"],
                                        config["MAX_PAGE_SIZE"])
    if success.reads_etag:
        result.append(ref("parameters", "If-None-Match"))
    if success.checks_if_match:
        result.append(ref("parameters", "If-Match"))
    result.append(ref("parameters", "X-Request-ID"))
    return result


def operation(app: Flask, rule: Rule, method: str, success: Success) -> dict:
    """One operation object."""
    view = app.view_functions[rule.endpoint]
    summary, _, details = (view.__doc__ or rule.endpoint).strip().partition("\n")
    responses = {str(success.status): success_response(success, takes_tokens(view))}
    if success.reads_etag:
        responses["304"] = ref("responses", "NotModified")
    for status in error_statuses(view, method, rule, success):
        responses[str(status)] = error_response(status, view, success)
    if rule.endpoint == "ops.readyz":
        responses["503"] = {
            "description": "Not ready: the database is unreachable or not migrated.",
            "headers": header_refs(("Retry-After",)),
            "content": {"application/json": {"schema": ref("schemas", "Ready")}},
        }
    result: dict = {
        "tags": [rule.endpoint.partition(".")[0]],
        "summary": summary.strip(),
        "operationId": operation_id(rule.endpoint, method),
        "parameters": parameters(view, rule, success, app.config),
        "security": security(view, success, app.config["REQUIRE_APP_TOKEN"]),
        "responses": responses,
    }
    if details.strip():
        result["description"] = details.strip()
    shape = getattr(view, "accepts", None)
    if shape is not None and method in BODY_METHODS:
        result["requestBody"] = request_body(shape)
    return result


def build_document(app: Flask) -> dict:
    """The whole document for this app and its configuration (call in an app context)."""
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        success = OPERATIONS.get(rule.endpoint)
        if success is None:
            continue
        item = paths.setdefault(openapi_path(rule), {})
        for method in sorted(rule.methods - IGNORED_METHODS):
            item[method.lower()] = operation(app, rule, method, success)
    return {
        "openapi": "3.1.0",
        "info": {"title": "meme_api", "version": __version__, "description": DESCRIPTION,
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "tags": TAGS,
        "paths": paths,
        "components": components(),
    }
