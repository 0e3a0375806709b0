"""Login sessions (contract §10): see yours and end one; admins see and end anyone's."""

import re

from flask import jsonify
from sqlalchemy import select

from ..accounts import canonical_public_id
from ..auth import admin_required, app_token, current_user, token_required
from ..bodies import lists
from ..errors import ApiError
from ..extensions import db
from ..models import User
from ..openapi.metadata import COLLECTION_HEADERS, MESSAGE, ApiBlueprint, other_responses, response
from ..query import respond
from ..resource import PUBLIC_ID_SCHEMA
from ..user_sessions import (
    NO_SESSION,
    SESSION,
    SESSIONS,
    USERS_LIVE_SESSIONS,
    end_session,
    listing_parameters,
)

bp = ApiBlueprint("sessions", __name__, "Login sessions: see them, end one",
                  path_parameters={
                      "public_id": {"type": "string", "format": PUBLIC_ID_SCHEMA["format"]},
                      "session_id": {"type": "string", "maxLength": 36}})
ENDED = "Session ended"
SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def user_id_of(public_id: str) -> int:
    """The internal id of a user, or 404."""
    user_id = db.session.scalar(select(User.id).where(
        User.public_id == canonical_public_id(public_id)))
    if user_id is None:
        raise ApiError(404, "No user found!")
    return user_id


def checked(session_id: str) -> str:
    """The id, if it can be one (a lower-case UUID, as issued); 404 without a lookup if not."""
    if not SESSION_ID.fullmatch(session_id):
        raise ApiError(404, NO_SESSION)
    return session_id


@bp.get("/me/sessions")
@app_token
@token_required
@lists(SESSIONS)
@response("list_my_sessions", SESSION.page, "A page of the caller's live sessions.",
          headers=COLLECTION_HEADERS)
def list_mine():
    """The caller's live sessions, most recently used first."""
    caller = current_user()
    return respond(SESSIONS, USERS_LIVE_SESSIONS,
                   **listing_parameters(caller.id, caller.session_id))


@bp.delete("/me/sessions/<session_id>")
@app_token
@token_required
@response("end_my_session", MESSAGE, "Ended: its tokens are refused from now on.")
@other_responses({404: "no live session of the caller has this id"})
def end_mine(session_id: str):
    """End one of the caller's sessions (log out that device)."""
    caller = current_user()
    end_session(caller.id, caller.public_id, checked(session_id))
    return jsonify({"message": ENDED})


@bp.get("/<public_id:public_id>/sessions")
@app_token
@token_required
@admin_required
@lists(SESSIONS)
@response("list_user_sessions", SESSION.page, "A page of the user's live sessions.",
          headers=COLLECTION_HEADERS)
@other_responses({404: "no such user"})
def list_users(public_id: str):
    """A user's live sessions (`current` is false)."""
    return respond(SESSIONS, USERS_LIVE_SESSIONS, **listing_parameters(user_id_of(public_id), None))


@bp.delete("/<public_id:public_id>/sessions/<session_id>")
@app_token
@token_required
@admin_required
@response("end_user_session", MESSAGE, "Ended: its tokens are refused from now on.")
@other_responses({404: "no such user, or no live session of theirs has this id"})
def end_users(public_id: str, session_id: str):
    """End one of a user's sessions."""
    canonical = canonical_public_id(public_id)
    end_session(user_id_of(canonical), canonical, checked(session_id))
    return jsonify({"message": ENDED})
