"""What a view declares about its answers, next to its route, for the OpenAPI document.

    @bp.get("/template/<int:template_id>")
    @app_token
    @token_required
    @response("get_template", TEMPLATE.envelope, "The template.", headers=("ETag",),
              not_modified=True)
    def get_one(template_id: int): ...

`@response` declares the success; `@other_responses` the errors only this view produces, and
why. Everything else is read from what the view declares anyway: its credentials
(`@app_token`, `@token_required`, `@admin_required`), its body (`@accepts`), its collection
(`@lists`), its path arguments (the blueprint's `path_parameters`), its summary (the first line
of its docstring) and its tag (its blueprint, described by `ApiBlueprint`). A view without
`@response` is left out of the document, and a test fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import Blueprint

from ..resource import STRING_SCHEMA, Body, object_schema

# Why a write without If-Match may answer 409 (the one reason every such write shares).
STALE = "another request changed the resource meanwhile (without If-Match); fetch and retry"
MESSAGE = Body("Message", {"Message": object_schema({"message": STRING_SCHEMA})})
NO_STORE = ("Cache-Control",)
COLLECTION_HEADERS = ("Link", "X-Total-Count")


@dataclass(frozen=True)
class Success:
    """A view's success answer."""

    operation_id: str | Mapping[str, str]  # short snake_case; per method if the view has several
    status: int
    body: Body | None  # an application/json body
    description: str
    headers: tuple[str, ...] = ()
    content: dict | None = None  # instead of `body`, for other media types
    not_modified: bool = False  # honours If-None-Match with 304
    uses_database: bool = True  # 503 while it is unreachable
    basic_auth: bool = False  # HTTP Basic is one way to send the credentials
    links: Mapping[str, dict] = field(default_factory=dict)


def response(operation_id: str | Mapping[str, str], body: Body | None, description: str,
             status: int = 200, **options):
    """Declare the view's `operationId` and success answer (see `Success` for the options).

    The operation id is what a generated client names the call (contract §8): short, unique,
    snake_case, such as `get_template`.
    """

    def decorate(view):
        view.success = Success(operation_id, status, body, description, **options)
        return view

    return decorate


def other_responses(reasons: Mapping[int, str | dict | None]):
    """Declare the errors only this view produces: status -> why (None: the shared response as
    it is; a dict: a whole response object of its own). 412 also documents `If-Match`."""

    def decorate(view):
        view.other_responses = {**getattr(view, "other_responses", {}), **reasons}
        return view

    return decorate


def link(operation_id: str, parameter: str, expression: str, description: str) -> dict:
    """An OpenAPI link from a value of the answer to another operation's parameter."""
    return {"operationId": operation_id, "parameters": {parameter: expression},
            "description": description}


class ApiBlueprint(Blueprint):
    """A blueprint whose routes the document tags with its name; it declares what that tag
    means and the schema of each of its routes' path arguments."""

    def __init__(self, name: str, import_name: str, description: str,
                 path_parameters: Mapping[str, dict] | None = None, **options) -> None:
        super().__init__(name, import_name, **options)
        self.description = description
        self.path_parameters = dict(path_parameters or {})
