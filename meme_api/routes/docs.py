"""The API description (contract §8): /openapi.json and its Swagger UI page, with no tokens.

Swagger UI's files come from the flask-swagger-ui package and are served from here, so the page
works with no internet access; its Content-Security-Policy forbids loading anything from
elsewhere.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import flask_swagger_ui
from flask import Response, current_app, jsonify, request, send_from_directory, url_for

from ..errors import ApiError
from ..openapi.document import build_document
from ..openapi.metadata import ApiBlueprint, response

SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
INITIALIZER = "swagger-initializer.js"
# The files the page uses, and their media types (fixed: the platform's guesses vary).
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
    INITIALIZER: "text/javascript",
}
bp = ApiBlueprint("docs", __name__, "This document and its interactive page",
                  path_parameters={"asset": {"type": "string", "enum": list(ASSETS)}})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# persistAuthorization keeps what was entered in "Authorize" (in the browser's localStorage) across
# reloads. The interceptor makes a login tried on the page authorize the calls that follow: a
# successful /login, /token/refresh or password change hands its access token to the page, and
# a successful logout takes it back.
INITIALIZER_SOURCE = """\
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  var issuesTokens = /\\/(login|token\\/refresh|user\\/me\\/password)$/;
  var endsSessions = /\\/logout(\\/all)?$/;
  var ui = window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: true,
    responseInterceptor: function (response) {
      var path = new URL(response.url, window.location.href).pathname;
      var body = response.body || response.obj;
      if (response.ok && issuesTokens.test(path) && body && body.token) {
        ui.preauthorizeApiKey("accessToken", body.token);
        ui.authActions.persistAuthorizationIfNeeded();
      } else if (response.ok && endsSessions.test(path)) {
        ui.authActions.logoutWithPersistOption(["accessToken", "bearerAuth"]);
      }
      return response;
    },
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""
PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>meme_api API documentation</title>
  <link rel="stylesheet" href="{css}">
  <link rel="icon" type="image/png" href="{icon32}" sizes="32x32">
  <link rel="icon" type="image/png" href="{icon16}" sizes="16x16">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{spec}"></div>
  <script src="{bundle}"></script>
  <script src="{initializer}"></script>
</body>
</html>
"""


def document() -> dict:
    """The OpenAPI document of this app, built once and kept."""
    cached = current_app.extensions.get("openapi")
    if cached is None:
        cached = current_app.extensions["openapi"] = build_document(current_app)
    return cached


def locked_down(response: Response) -> Response:
    """Forbid the page to load anything from elsewhere, and browsers to guess media types."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/openapi.json")
@response("get_openapi", None, "This document.", uses_database=False,
          content={"application/json": {"schema": {"type": "object"}}})
def openapi():
    """The OpenAPI 3.1 document of this API."""
    servers = [{"url": request.script_root or "/"}]
    return jsonify({**document(), "servers": servers})


@bp.get("/docs")
@response("get_docs_page", None, "The interactive documentation (Swagger UI).",
          uses_database=False, content={"text/html": {"schema": {"type": "string"}}})
def page():
    """Interactive documentation (Swagger UI), served entirely by this service."""

    def asset(name: str) -> str:
        return escape(url_for("docs.asset", asset=name))

    html = PAGE.format(css=asset("swagger-ui.css"), icon32=asset("favicon-32x32.png"),
                       icon16=asset("favicon-16x16.png"), bundle=asset("swagger-ui-bundle.js"),
                       initializer=asset(INITIALIZER), spec=escape(url_for("docs.openapi")))
    return locked_down(Response(html, mimetype="text/html"))


@bp.get("/docs/<asset>")
@response("get_docs_asset", None, "A file of the documentation page.", headers=("ETag",),
          uses_database=False, not_modified=True,
          content={media: {"schema": {"type": "string"}}
                   for media in ("text/css", "text/javascript", "image/png")})
def asset(asset: str):
    """A file of the documentation page (Swagger UI's, from the flask-swagger-ui package)."""
    if asset not in ASSETS:
        raise ApiError(404)
    if asset == INITIALIZER:
        response = Response(INITIALIZER_SOURCE, mimetype=ASSETS[asset])
    else:
        response = send_from_directory(SWAGGER_UI_DIR, asset, mimetype=ASSETS[asset],
                                       max_age=3600)
    return locked_down(response)
