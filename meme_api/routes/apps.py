"""Client applications (contract §7): admins register, list, revoke and rotate them."""

from flask import jsonify

from ..auth import admin_required, app_token, token_required
from ..bodies import accepts, read_body
from ..client_apps import (
    APP,
    APP_CREATE,
    APP_NAME,
    APP_WITH_TOKEN,
    list_apps,
    read_app,
    register_app,
    revoke_app,
    rotate_app,
)
from ..openapi.metadata import MESSAGE, NO_STORE, ApiBlueprint, link, other_responses, response
from . import no_store

bp = ApiBlueprint("apps", __name__, "Registered client applications",
                  path_parameters={"name": APP_NAME.json_schema()})

NEW_APP = "$response.body#/app/name"


@bp.get("")
@app_token
@token_required
@admin_required
@response("list_apps", APP.listing, "Every application, by name.")
def list_all():
    """Every registered application, never with a token or its hash."""
    return jsonify({"apps": list_apps()})


@bp.post("")
@app_token
@token_required
@admin_required
@accepts(APP_CREATE)
@response("register_app", APP_WITH_TOKEN, "Registered; the token is shown only here.", 201,
          headers=NO_STORE, links={
              "RevokeApp": link("revoke_app", "name", NEW_APP, "revoke the new application"),
              "RotateApp": link("rotate_app_token", "name", NEW_APP, "rotate its token"),
          })
@other_responses({409: "the name is taken (letter case ignored)"})
def register():
    """Register an application; its token is in this answer and nowhere else, ever."""
    name = read_body()["name"]
    _, token = register_app(name)
    answer = jsonify({"app": read_app(name), "token": token})
    answer.status_code = 201
    return no_store(answer)


@bp.delete("/<name>")
@app_token
@token_required
@admin_required
@response("revoke_app", MESSAGE, "Revoked: its token is refused from now on.")
def revoke(name: str):
    """Revoke an application: its token is refused from now on."""
    return jsonify({"message": f"The application {revoke_app(name)} has been revoked"})


@bp.post("/<name>/rotate")
@app_token
@token_required
@admin_required
@response("rotate_app_token", APP_WITH_TOKEN, "Rotated; the new token is shown only here.",
          headers=NO_STORE)
@other_responses({409: "the application is revoked"})
def rotate(name: str):
    """Issue a new token; the old one works for APP_TOKEN_GRACE more seconds."""
    token = rotate_app(name)
    return no_store(jsonify({"app": read_app(name), "token": token}))
