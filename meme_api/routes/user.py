"""Users (contract §3): admins provision and manage them; everyone can see themselves."""

from flask import jsonify

from ..accounts import (
    EVERY_USER,
    PASSWORD_CHANGE,
    USER,
    USER_CREATE,
    USER_UPDATE,
    USERS,
    change_account,
    create_user,
    delete_account,
    load_user,
    new_role,
    own_representation,
    password_hash,
    read_user,
)
from ..audit import record
from ..auth import admin_required, app_token, current_account, current_user, token_required
from ..bodies import accepts, lists, read_body
from ..conditional import check_if_match, with_etag
from ..errors import ApiError
from ..extensions import db
from ..idempotency import IN_PROGRESS, MISMATCH, idempotent
from ..models import new_public_id
from ..openapi.metadata import (
    COLLECTION_HEADERS,
    MESSAGE,
    NO_STORE,
    STALE,
    ApiBlueprint,
    link,
    other_responses,
    response,
)
from ..query import respond
from ..resource import PUBLIC_ID_SCHEMA
from ..security import verify_password
from ..sessions import LOGIN_ANSWER, revoke_user_sessions, start_session
from . import created, no_store

bp = ApiBlueprint("user", __name__, "Users (admins provision them)",
                  path_parameters={"public_id": {"type": "string",
                                                 "format": PUBLIC_ID_SCHEMA["format"]}})

NEW_USER = "$response.body#/user/public_id"
LAST_ADMIN_REASON = "this would leave no active admin"


def single(public_id: str, message: str | None = None):
    """One user as it is now, with its ETag (304 when the client's copy is current)."""
    return answer(read_user(public_id), message)


def answer(representation: dict, message: str | None = None):
    """A user's representation as the body, with its ETag."""
    body = {"user": representation} if message is None else {"message": message,
                                                              "user": representation}
    return with_etag(body, representation)


def load_for_change(public_id: str):
    """The user to change or delete, if the client's `If-Match` (when sent) still holds."""
    user, representation = load_user(public_id)
    check_if_match(representation)
    return user


@bp.post("")
@app_token
@token_required
@admin_required
@idempotent
@accepts(USER_CREATE)
@response("create_user", USER.message, "Created.", 201, headers=("Location",), links={
    "GetUser": link("get_user", "public_id", NEW_USER, "the new user"),
    "PromoteUser": link("promote_user", "public_id", NEW_USER, "promote the new user"),
    "UpdateUser": link("update_user", "public_id", NEW_USER, "change the new user"),
    "DeleteUser": link("delete_user", "public_id", NEW_USER, "delete the new user"),
})
@other_responses({409: f"the username is taken (letter case ignored), or {IN_PROGRESS}",
                  422: MISMATCH})
def create():
    """Provision a user (there is no self-signup)."""
    data = read_body()
    public_id = new_public_id()  # made here, so that the commit does not make us read it again
    create_user(data["username"], data["password"], new_role(data), public_id)
    return created({"message": "User created successfully", "user": read_user(public_id)},
                   f"/user/{public_id}")


@bp.get("")
@app_token
@token_required
@admin_required
@lists(USERS)
@response("list_users", USER.page, "A page of users.", headers=COLLECTION_HEADERS)
def list_users():
    """Every user, as a collection."""
    return respond(USERS, EVERY_USER)


@bp.get("/me")
@app_token
@token_required
@response("get_me", USER.envelope, "The caller.", headers=("ETag",), not_modified=True)
def me():
    """The caller's own account."""
    return answer(own_representation(current_user()))


@bp.post("/me/password")
@app_token
@token_required
@accepts(PASSWORD_CHANGE)
@response("change_password", LOGIN_ANSWER,
          "Changed: every earlier token is revoked; here is a fresh pair.", headers=NO_STORE)
@other_responses({403: "the current password is wrong", 409: STALE})
def change_password():
    """Change one's own password: every earlier token is revoked, a fresh pair returned."""
    data = read_body()
    user = current_account()
    if not verify_password(user.password_hash, data["current_password"]):
        raise ApiError(403, "The current password is wrong")
    user.password_hash = password_hash(data["new_password"])
    revoke_user_sessions(user)
    record("user.password_changed", "user", user.public_id)
    return no_store(jsonify(start_session(user)))


@bp.get("/<public_id:public_id>")
@app_token
@token_required
@response("get_user", USER.envelope, "The user.", headers=("ETag",), not_modified=True)
@other_responses({403: "a non-admin asked for someone else"})
def get_one(public_id: str):
    """One user: admins see anyone, others only themselves."""
    caller = current_user()
    if not caller.admin and public_id != caller.public_id:
        raise ApiError(403)
    return single(public_id)


@bp.put("/<public_id:public_id>")
@app_token
@token_required
@admin_required
@response("promote_user", USER.message, "Promoted.", headers=("ETag",))
@other_responses({409: STALE, 412: None})
def promote(public_id: str):
    """Promote a user to admin (the original behaviour; the body is ignored)."""
    user = load_for_change(public_id)
    user.role = "admin"
    public_id = user.public_id
    record("user.updated", "user", public_id, {"fields": ["role"], "role": "admin"})
    db.session.commit()
    return single(public_id, "The user has been promoted!")


@bp.patch("/<public_id:public_id>")
@app_token
@token_required
@admin_required
@accepts(USER_UPDATE)
@response("update_user", USER.envelope, "Changed.", headers=("ETag",))
@other_responses({409: f"the username is taken, or {LAST_ADMIN_REASON}; or {STALE}", 412: None})
def update(public_id: str):
    """Change a user's name, password, role or activity."""
    user = load_for_change(public_id)
    public_id = user.public_id  # read before the commit expires it
    change_account(user, current_user().id, read_body())
    return single(public_id)


@bp.delete("/<public_id:public_id>")
@app_token
@token_required
@admin_required
@response("delete_user", MESSAGE, "Deleted; their templates remain, ownerless.")
@other_responses({409: f"{LAST_ADMIN_REASON}; or {STALE}", 412: None})
def delete(public_id: str):
    """Delete a user; their tokens die with them, their templates stay, ownerless."""
    delete_account(load_for_change(public_id), current_user().id)
    return jsonify({"message": "The user has been deleted!"})
