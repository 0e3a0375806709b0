"""The OpenAPI 3.1 document, generated from the routes themselves (contract §8).

Paths and methods come from the URL map; everything else from what each view declares (see
`metadata`): its success and its own errors (`@response`, `@other_responses`), its body
(`@accepts`, the same shape that validates it), its query parameters (`@lists`), its security
(the markers the auth decorators leave), its summary (its docstring) and its tag and path
arguments (its `ApiBlueprint`). Views that declare no `@response` are left out, and a test fails.
"""

from __future__ import annotations

import re

from flask import Flask
from werkzeug.routing import Rule

from .. import __version__
from ..shapes import Shape
from .components import ERROR_NAMES, RATE_LIMIT_HEADERS, RESPONSES, components, header_refs, ref
from .description import DESCRIPTION
from .metadata import ApiBlueprint, Success
from .queries import collection_parameters

IGNORED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = ("POST", "PUT", "PATCH")
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_MEDIA_TYPES = ("application/json", *FORM_MEDIA_TYPES)
UNDECLARED_PATH_PARAMETER = {"type": "string"}


def openapi_path(rule: Rule) -> str:
    """`/template/<int:template_id>` → `/template/{template_id}`."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)


def operation_id(success: Success, method: str) -> str:
    """The `operationId` the view declares for this method."""
    declared = success.operation_id
    return declared if isinstance(declared, str) else declared[method]


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
    """Every error status this operation can answer: from its markers and its declarations."""
    # The URL or the headers can be too large on every operation (contract §1).
    statuses = {414, 431, *getattr(view, "other_responses", {})}
    if takes_tokens(view):
        statuses |= {401, 429}
    if getattr(view, "needs_admin", False):
        statuses.add(403)
    if rule.arguments:
        statuses.add(404)
    if method in BODY_METHODS:
        statuses |= {400, 413, 415}
    if getattr(view, "lists", None) is not None:
        statuses.add(400)
    if success.uses_database:
        statuses.add(503)
    return sorted(statuses)


def error_response(status: int, view) -> dict:
    """A reference to the shared response, or a copy that says why for this route."""
    declared = getattr(view, "other_responses", {}).get(status)
    if isinstance(declared, dict):
        return declared
    reasons = []
    if status == 403 and getattr(view, "needs_admin", False):
        reasons.append("the caller is not an admin")
    if declared:
        reasons.append(declared)
    if not reasons:
        return ref("responses", ERROR_NAMES[status])
    shared = RESPONSES[ERROR_NAMES[status]]
    return {**shared, "description": f"{shared['description'][:-1]}: {'; '.join(reasons)}."}


def path_parameters(app: Flask, rule: Rule) -> list[dict]:
    """The rule's arguments, with the schemas their blueprint declares."""
    blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
    declared = getattr(blueprint, "path_parameters", {})
    return [{"name": name, "in": "path", "required": True,
             "schema": declared.get(name, UNDECLARED_PATH_PARAMETER)}
            for name in sorted(rule.arguments)]


def parameters(app: Flask, view, rule: Rule, success: Success) -> list[dict]:
    """Path parameters, the collection's query parameters, and the conditional headers."""
    result = path_parameters(app, rule)
    collection = getattr(view, "lists", None)
    if collection is not None:
        result += collection_parameters(collection, app.config["DEFAULT_PAGE_SIZE"],
                                        app.config["MAX_PAGE_SIZE"])
    if success.not_modified:
        result.append(ref("parameters", "If-None-Match"))
    if 412 in getattr(view, "other_responses", {}):
        result.append(ref("parameters", "If-Match"))
    if getattr(view, "idempotent", False):
        result.append(ref("parameters", "Idempotency-Key"))
    result.append(ref("parameters", "X-Request-ID"))
    return result


def success_response(success: Success, limited: bool, idempotent: bool = False) -> dict:
    """The response object of the success status."""
    headers = (*success.headers, *(RATE_LIMIT_HEADERS if limited else ()),
               *(("Idempotent-Replayed",) if idempotent else ()))
    response: dict = {"description": success.description, "headers": header_refs(headers)}
    if success.content is not None:
        response["content"] = success.content
    elif success.body is not None:
        response["content"] = {"application/json": {"schema": ref("schemas", success.body.name)}}
    if success.links:
        response["links"] = dict(success.links)
    return response


def operation(app: Flask, rule: Rule, method: str) -> dict:
    """One operation object."""
    view = app.view_functions[rule.endpoint]
    success: Success = view.success
    summary, _, details = (view.__doc__ or rule.endpoint).strip().partition("\n")
    responses = {str(success.status): success_response(success, takes_tokens(view),
                                                       getattr(view, "idempotent", False))}
    if success.not_modified:
        responses["304"] = ref("responses", "NotModified")
    for status in error_statuses(view, method, rule, success):
        responses[str(status)] = error_response(status, view)
    result: dict = {
        "tags": [rule.endpoint.partition(".")[0]],
        "summary": summary.strip(),
        "operationId": operation_id(success, method),
        "parameters": parameters(app, view, rule, success),
        "security": security(view, success, app.config["REQUIRE_APP_TOKEN"]),
        "responses": responses,
    }
    if details.strip():
        result["description"] = details.strip()
    shape = getattr(view, "accepts", None)
    if shape is not None and method in BODY_METHODS:
        result["requestBody"] = request_body(shape)
    return result


def tags(app: Flask) -> list[dict]:
    """One tag per blueprint that describes itself, in the order they were registered."""
    return [{"name": name, "description": blueprint.description}
            for name, blueprint in app.blueprints.items() if isinstance(blueprint, ApiBlueprint)]


def build_document(app: Flask) -> dict:
    """The whole document for this app and its configuration (call in an app context)."""
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        success = getattr(app.view_functions[rule.endpoint], "success", None)
        if success is None:
            continue
        if success.body is not None:
            schemas.update(success.body.schemas)
        item = paths.setdefault(openapi_path(rule), {})
        for method in sorted(rule.methods - IGNORED_METHODS):
            item[method.lower()] = operation(app, rule, method)
    return {
        "openapi": "3.1.0",
        "info": {"title": "meme_api", "version": __version__, "description": DESCRIPTION,
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "tags": tags(app),
        "paths": paths,
        "components": components(schemas),
    }
