"""What each endpoint answers on success, and the errors only it can produce.

Everything a view declares itself is read from the view: its body (`@accepts`), its collection
(`@lists`), its credentials (`@app_token`, `@token_required`, `@admin_required`) and its summary
(the docstring). This table adds what a view cannot declare: the shape of its success.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .components import RATE_LIMIT_HEADERS, header_refs, ref

COLLECTION_HEADERS = ("Link", "X-Total-Count")
NO_STORE = ("Cache-Control",)
STALE = "another request changed the resource meanwhile (without If-Match); fetch and retry"


@dataclass(frozen=True)
class Success:
    """The success answer of an endpoint, the 4xx only it produces, and its links."""

    status: int
    schema: str | None  # a component schema of an application/json body
    description: str
    headers: tuple[str, ...] = ()
    content: dict | None = None  # instead of `schema`, for non-JSON answers
    forbidden: str = ""  # why 403, besides "admins only"
    conflict: str = ""  # why 409
    reads_etag: bool = False  # If-None-Match → 304
    checks_if_match: bool = False  # If-Match → 412
    uses_database: bool = True  # 503 while it is unreachable
    unauthorized: str = ""  # why 401, for routes that take no user token
    basic_auth: bool = False  # HTTP Basic is one way to send the credentials
    links: dict = field(default_factory=dict)


def link(operation_id: str, parameter: str, expression: str, description: str) -> dict:
    """An OpenAPI link from a response value to another operation's parameter."""
    return {"operationId": operation_id, "parameters": {parameter: expression},
            "description": description}


# Each operation's `operationId`: short, unique, snake_case, the name a generated client gives
# the call (contract §8). An endpoint with several methods maps each method to its own id.
OPERATION_IDS: dict[str, str | dict[str, str]] = {
    "login.login": {"GET": "login", "POST": "login_with_body"},
    "login.refresh": "refresh_token",
    "login.logout": "logout",
    "login.logout_all": "logout_all",
    "user.create": "create_user",
    "user.list_users": "list_users",
    "user.me": "get_me",
    "user.change_password": "change_password",
    "user.get_one": "get_user",
    "user.promote": "promote_user",
    "user.update": "update_user",
    "user.delete": "delete_user",
    "template.create": "create_template",
    "template.list_templates": "list_templates",
    "template.feed": "get_feed",
    "template.get_one": "get_template",
    "template.replace": "replace_template",
    "template.update": "update_template",
    "template.delete": "delete_template",
    "apps.list_all": "list_apps",
    "apps.register": "register_app",
    "apps.revoke": "revoke_app",
    "apps.rotate": "rotate_app_token",
    "ops.healthz": "healthz",
    "ops.readyz": "readyz",
    "docs.openapi": "get_openapi",
    "docs.page": "get_docs_page",
    "docs.asset": "get_docs_asset",
}


def operation_id(endpoint: str, method: str) -> str:
    """The `operationId` of one method of an endpoint."""
    ids = OPERATION_IDS[endpoint]
    return ids if isinstance(ids, str) else ids[method]


NEW_USER = "$response.body#/user/public_id"
NEW_TEMPLATE = "$response.body#/template/id"
NEW_APP = "$response.body#/app/name"

OPERATIONS: dict[str, Success] = {
    "login.login": Success(200, "Login", "Logged in.", NO_STORE, basic_auth=True,
                           unauthorized="the credentials are missing or wrong, or the user is "
                                        "deactivated (one answer for all)"),
    "login.refresh": Success(200, "Login", "A new pair; the presented refresh token is retired.",
                             NO_STORE, unauthorized="the refresh token is not valid, or was "
                                                    "used before (its session is revoked)"),
    "login.logout": Success(200, "Message", "This login session is revoked."),
    "login.logout_all": Success(200, "Message", "Every session of the caller is revoked."),
    "user.create": Success(
        201, "UserMessage", "Created.", ("Location",),
        conflict="the username is taken (letter case ignored)",
        links={
            "GetUser": link("get_user", "public_id", NEW_USER, "the new user"),
            "PromoteUser": link("promote_user", "public_id", NEW_USER, "promote the new user"),
            "UpdateUser": link("update_user", "public_id", NEW_USER, "change the new user"),
            "DeleteUser": link("delete_user", "public_id", NEW_USER, "delete the new user"),
        }),
    "user.list_users": Success(200, "UserList", "A page of users.", COLLECTION_HEADERS),
    "user.me": Success(200, "UserEnvelope", "The caller.", ("ETag",), reads_etag=True),
    "user.change_password": Success(
        200, "Login", "Changed: every earlier token is revoked; here is a fresh pair.", NO_STORE,
        forbidden="the current password is wrong", conflict=STALE),
    "user.get_one": Success(200, "UserEnvelope", "The user.", ("ETag",),
                            forbidden="a non-admin asked for someone else", reads_etag=True),
    "user.promote": Success(200, "UserMessage", "Promoted.", ("ETag",), conflict=STALE,
                            checks_if_match=True),
    "user.update": Success(
        200, "UserEnvelope", "Changed.", ("ETag",), checks_if_match=True,
        conflict="the username is taken, or this would leave no active admin; or " + STALE),
    "user.delete": Success(200, "Message", "Deleted; their templates remain, ownerless.",
                           checks_if_match=True,
                           conflict="this would leave no active admin; or " + STALE),
    "template.create": Success(
        201, "TemplateMessage", "Posted.", ("Location",),
        forbidden="a non-admin sent `approved`",
        links={
            "GetTemplate": link("get_template", "template_id", NEW_TEMPLATE, "the new post"),
            "ReplaceTemplate": link("replace_template", "template_id", NEW_TEMPLATE,
                                    "replace the new post"),
            "UpdateTemplate": link("update_template", "template_id", NEW_TEMPLATE,
                                   "change the new post"),
            "DeleteTemplate": link("delete_template", "template_id", NEW_TEMPLATE,
                                   "delete the new post"),
        }),
    "template.list_templates": Success(200, "TemplateList", "A page of the visible templates.",
                                       COLLECTION_HEADERS),
    "template.feed": Success(200, "TemplateList", "A page of the feed.", COLLECTION_HEADERS),
    "template.get_one": Success(200, "TemplateEnvelope", "The template.", ("ETag",),
                                reads_etag=True),
    "template.replace": Success(
        200, "TemplateMessage", "Replaced.", ("ETag",), checks_if_match=True, conflict=STALE,
        forbidden="not the caller's template (and the caller is no admin), or a non-admin "
                  "sent `approved`"),
    "template.update": Success(
        200, "TemplateMessage", "Changed.", ("ETag",), checks_if_match=True, conflict=STALE,
        forbidden="not the caller's template (and the caller is no admin), or a non-admin "
                  "sent `approved`"),
    "template.delete": Success(
        200, "Message", "Deleted.", checks_if_match=True, conflict=STALE,
        forbidden="not the caller's template (and the caller is no admin)"),
    "apps.list_all": Success(200, "AppList", "Every application, by name."),
    "apps.register": Success(
        201, "AppToken", "Registered; the token is shown only here.", NO_STORE,
        conflict="the name is taken (letter case ignored)",
        links={
            "RevokeApp": link("revoke_app", "name", NEW_APP, "revoke the new application"),
            "RotateApp": link("rotate_app_token", "name", NEW_APP, "rotate its token"),
        }),
    "apps.revoke": Success(200, "Message", "Revoked: its token is refused from now on."),
    "apps.rotate": Success(200, "AppToken", "Rotated; the new token is shown only here.",
                           NO_STORE, conflict="the application is revoked"),
    "ops.healthz": Success(200, "Health", "The process is up.", uses_database=False),
    "ops.readyz": Success(200, "Ready", "Ready to serve."),
    "docs.openapi": Success(200, None, "This document.", uses_database=False,
                            content={"application/json": {"schema": {"type": "object"}}}),
    "docs.page": Success(200, None, "The interactive documentation (Swagger UI).",
                         uses_database=False,
                         content={"text/html": {"schema": {"type": "string"}}}),
    "docs.asset": Success(200, None, "A file of the documentation page.", ("ETag",),
                          uses_database=False, reads_etag=True,
                          content={media: {"schema": {"type": "string"}} for media in
                                   ("text/css", "text/javascript", "image/png")}),
}


def success_response(success: Success, limited: bool) -> dict:
    """The response object of the success status."""
    headers = (*success.headers, *(RATE_LIMIT_HEADERS if limited else ()))
    response: dict = {"description": success.description, "headers": header_refs(headers)}
    if success.content is not None:
        response["content"] = success.content
    elif success.schema is not None:
        response["content"] = {"application/json": {"schema": ref("schemas", success.schema)}}
    if success.links:
        response["links"] = success.links
    return response
