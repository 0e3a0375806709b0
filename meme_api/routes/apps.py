"""Client applications (contract §7): admins register, list, revoke and rotate them."""

from flask import Blueprint, jsonify

from ..auth import admin_required, app_token, token_required
from ..bodies import accepts, read_body
from ..client_apps import list_apps, register_app, revoke_app, rotate_app
from ..representations import app_json
from ..schemas import APP_CREATE
from . import no_store

bp = Blueprint("apps", __name__)


@bp.get("")
@app_token
@token_required
@admin_required
def list_all():
    """Every registered application, never with a token or its hash."""
    return jsonify({"apps": [app_json(client) for client in list_apps()]})


@bp.post("")
@app_token
@token_required
@admin_required
@accepts(APP_CREATE)
def register():
    """Register an application; its token is in this answer and nowhere else, ever."""
    client, token = register_app(read_body()["name"])
    response = jsonify({"app": app_json(client), "token": token})
    response.status_code = 201
    return no_store(response)


@bp.delete("/<name>")
@app_token
@token_required
@admin_required
def revoke(name: str):
    """Revoke an application: its token is refused from now on."""
    client = revoke_app(name)
    return jsonify({"message": f"The application {client.name} has been revoked"})


@bp.post("/<name>/rotate")
@app_token
@token_required
@admin_required
def rotate(name: str):
    """Issue a new token; the old one works for APP_TOKEN_GRACE more seconds."""
    client, token = rotate_app(name)
    return no_store(jsonify({"app": app_json(client), "token": token}))
