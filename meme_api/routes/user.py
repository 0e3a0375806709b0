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
from ..auth import admin_required, app_token, current_account, current_user, token_required
from ..bodies import accepts, lists, read_body
from ..conditional import check_if_match, with_etag
from ..errors import ApiError
from ..extensions import db
from ..models import User
from ..query import BOOLEAN, PUBLIC_ID, TEXT, TIMESTAMP, Collection, Field, Scope, respond
from ..query.portable import iso_utc
from ..representations import user_json
from ..schemas import PASSWORD_CHANGE, USER_CREATE, USER_UPDATE
from ..security import verify_password
from ..sessions import revoke_user_sessions, start_session
from . import created, no_store

bp = Blueprint("user", __name__)

USER = User.__table__.c
USER_FILTERS = {
    "public_id": Field(USER.public_id, PUBLIC_ID),
    "username": Field(USER.username, TEXT),
    "admin": Field(USER.admin, BOOLEAN),
    "active": Field(USER.active, BOOLEAN),
    "created": Field(USER.created, TIMESTAMP),
}
USERS = Collection(
    key="users",
    rows=select(USER.public_id, USER.username, USER.admin, USER.active,
                iso_utc(USER.created).label("created")),
    filters=USER_FILTERS,
    orderings={"username": Field(USER.username_key, TEXT),
               **{name: USER_FILTERS[name] for name in ("created", "admin", "active")}},
    default_ordering=("created",),
    cursor_orderings=("created", "-created"),
    tie_breaker=USER.id,
    always_fields=("public_id",),
)
EVERY_USER = Scope("every user")


def single(user: User):
    """One user with its ETag (304 when the client's copy is current)."""
    representation = user_json(user)
    return with_etag({"user": representation}, representation)


def get_for_change(public_id: str) -> User:
    """The user to change or delete, if the client's `If-Match` (when sent) still holds."""
    user = get_user_or_404(public_id)
    check_if_match(user_json(user))
    return user


@bp.post("")
@app_token
@token_required
@admin_required
@accepts(USER_CREATE)
def create():
    """Provision a user (there is no self-signup)."""
    data = read_body()
    user = create_user(data["username"], data["password"], data.get("admin", False))
    return created({"message": "User created successfully", "user": user_json(user)},
                   f"/user/{user.public_id}")


@bp.get("")
@app_token
@token_required
@admin_required
@lists(USERS)
def list_users():
    """Every user, as a collection."""
    return respond(USERS, EVERY_USER)


@bp.get("/me")
@app_token
@token_required
def me():
    """The caller's own account."""
    return single(current_user())


@bp.post("/me/password")
@app_token
@token_required
@accepts(PASSWORD_CHANGE)
def change_password():
    """Change one's own password: every earlier token is revoked, a fresh pair returned."""
    data = read_body()
    user = current_account()
    if not verify_password(user.password_hash, data["current_password"]):
        raise ApiError(403, "The current password is wrong")
    user.password_hash = password_hash(data["new_password"])
    revoke_user_sessions(user)
    return no_store(jsonify(start_session(user)))


@bp.get("/<public_id:public_id>")
@app_token
@token_required
def get_one(public_id: str):
    """One user: admins see anyone, others only themselves."""
    caller = current_user()
    if not caller.admin and public_id != caller.public_id:
        raise ApiError(403, "Cannot perform that function!")
    return single(get_user_or_404(public_id))


@bp.put("/<public_id:public_id>")
@app_token
@token_required
@admin_required
def promote(public_id: str):
    """Promote a user to admin (the original behaviour; the body is ignored)."""
    user = get_for_change(public_id)
    user.admin = True
    db.session.commit()
    representation = user_json(user)
    return with_etag({"message": "The user has been promoted!", "user": representation},
                     representation)


@bp.patch("/<public_id:public_id>")
@app_token
@token_required
@admin_required
@accepts(USER_UPDATE)
def update(public_id: str):
    """Change a user's name, password, role or activity."""
    user = get_for_change(public_id)
    data = read_body()
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
    return single(user)


@bp.delete("/<public_id:public_id>")
@app_token
@token_required
@admin_required
def delete(public_id: str):
    """Delete a user; their tokens die with them, their templates stay, ownerless."""
    user = get_for_change(public_id)
    ensure_not_last_admin(user)
    db.session.delete(user)
    db.session.commit()
    return jsonify({"message": "The user has been deleted!"})
