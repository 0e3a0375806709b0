"""Users (contract §3): admins provision and manage them; everyone can see themselves."""

from flask import Blueprint, jsonify
from sqlalchemy import select

from ..accounts import (
    USERNAME_TAKEN,
    commit_unique,
    create_user,
    ensure_not_last_admin,
    get_user_or_404,
    password_hash,
)
from ..auth import admin_required, app_token, current_user, token_required
from ..bodies import read_body
from ..errors import ApiError
from ..extensions import db
from ..models import User
from ..query import Collection, respond
from ..representations import user_json
from ..schemas import PASSWORD_CHANGE, USER_CREATE, USER_UPDATE
from ..security import verify_password
from ..sessions import revoke_user_sessions, start_session
from . import created, no_store

bp = Blueprint("user", __name__)

USERS = Collection(
    key="users",
    serialize=user_json,
    orderings={"username": User.username_key, "created": User.created, "admin": User.admin,
               "active": User.active},
    default_ordering=("created",),
    tie_breaker=User.id,
)


@bp.post("")
@app_token
@token_required
@admin_required
def create():
    """Provision a user (there is no self-signup)."""
    data = read_body(USER_CREATE)
    user = create_user(data["username"], data["password"], data.get("admin", False))
    return created({"message": "User created successfully", "user": user_json(user)},
                   f"/user/{user.public_id}")


@bp.get("")
@app_token
@token_required
@admin_required
def list_users():
    """Every user, as a collection."""
    return respond(USERS, select(User))


@bp.get("/me")
@app_token
@token_required
def me():
    """The caller's own account."""
    return jsonify({"user": user_json(current_user())})


@bp.post("/me/password")
@app_token
@token_required
def change_password():
    """Change one's own password: every earlier token is revoked, a fresh pair returned."""
    data = read_body(PASSWORD_CHANGE)
    user = current_user()
    if not verify_password(user.password_hash, data["current_password"]):
        raise ApiError(403, "The current password is wrong")
    user.password_hash = password_hash(data["new_password"])
    revoke_user_sessions(user)
    return no_store(jsonify(start_session(user)))


@bp.get("/<public_id>")
@app_token
@token_required
def get_one(public_id: str):
    """One user: admins see anyone, others only themselves."""
    caller = current_user()
    if not caller.admin and public_id != caller.public_id:
        raise ApiError(403, "Cannot perform that function!")
    return jsonify({"user": user_json(get_user_or_404(public_id))})


@bp.put("/<public_id>")
@app_token
@token_required
@admin_required
def promote(public_id: str):
    """Promote a user to admin (the original behaviour; the body is ignored)."""
    user = get_user_or_404(public_id)
    user.admin = True
    db.session.commit()
    return jsonify({"message": "The user has been promoted!", "user": user_json(user)})


@bp.patch("/<public_id>")
@app_token
@token_required
@admin_required
def update(public_id: str):
    """Change a user's name, password, role or activity."""
    user = get_user_or_404(public_id)
    data = read_body(USER_UPDATE)
    demoting = data.get("admin") is False and user.admin
    deactivating = data.get("active") is False and user.active
    if demoting or deactivating:
        ensure_not_last_admin(user)
    for name in ("username", "admin", "active"):
        if name in data:
            setattr(user, name, data[name])
    if "password" in data:
        user.password_hash = password_hash(data["password"])
    if deactivating or "password" in data:
        revoke_user_sessions(user)
    commit_unique(USERNAME_TAKEN, "username")
    return jsonify({"user": user_json(user)})


@bp.delete("/<public_id>")
@app_token
@token_required
@admin_required
def delete(public_id: str):
    """Delete a user; their tokens die with them, their templates stay, ownerless."""
    user = get_user_or_404(public_id)
    ensure_not_last_admin(user)
    db.session.delete(user)
    db.session.commit()
    return jsonify({"message": "The user has been deleted!"})
