"""Reading request bodies: JSON or form data, checked once per request (contract §1)."""

from __future__ import annotations

from typing import Any

from flask import Request, current_app, g, request

from .errors import ApiError, ValidationError
from .shapes import Shape

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_METHODS = ("POST", "PUT", "PATCH")


class BodyRequest(Request):
    """Flask's request, except that a malformed multipart body is noted, not read as empty."""

    malformed_form = False

    def make_form_data_parser(self):
        parser = super().make_form_data_parser()
        parser.silent = False
        return parser

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except ValueError:
            self.malformed_form = True
            self.__dict__["form"] = self.parameter_storage_class()
            self.__dict__["files"] = self.parameter_storage_class()


def _has_body() -> bool:
    if request.content_length:
        return True
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _is_json(mimetype: str) -> bool:
    return mimetype in JSON_TYPES or (mimetype.startswith("application/")
                                      and mimetype.endswith("+json"))


def parse_request_body() -> None:
    """Before every request: parse the body into `g.body` or refuse it (400, 413, 415)."""
    g.body, g.body_is_form = {}, False
    if request.method not in BODY_METHODS or not _has_body():
        return
    mimetype = request.mimetype
    if _is_json(mimetype):
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # nesting deeper than the parser's stack: not JSON we accept
            data = None
        if data is None:
            raise ApiError(400, "The body is not valid JSON")
        if not isinstance(data, dict):
            raise ApiError(400, "The JSON body must be an object")
        g.body = data
    elif mimetype in FORM_TYPES:
        g.body, g.body_is_form = _form_fields(), True
    else:
        raise ApiError(415)


def _form_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    form = request.form
    if getattr(request, "malformed_form", False):
        raise ApiError(400, "The form body is malformed")
    for name, values in form.lists():
        if len(values) > 1:
            errors[name] = "is given more than once"
        fields[name] = values[0]
    for name in request.files:
        errors[name] = "file uploads are not accepted"
    if errors:
        raise ValidationError(errors)
    return fields


def accepts(shape: Shape):
    """Declare the body a view reads: `read_body()` validates against it, OpenAPI describes it."""

    def decorate(view):
        view.accepts = shape
        return view

    return decorate


def lists(collection):
    """Declare the collection a view answers with: OpenAPI describes its query parameters."""

    def decorate(view):
        view.lists = collection
        return view

    return decorate


def read_body() -> dict[str, Any]:
    """The request body validated against the view's declared shape (only fields it carried)."""
    shape = current_app.view_functions[request.endpoint].accepts
    return shape.load(g.body, from_form=g.body_is_form)
