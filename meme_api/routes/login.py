"""Logging in, refreshing and logging out (contract §2)."""

from flask import current_app, jsonify, request

from ..accounts import USERNAME
from ..audit import record
from ..auth import app_token, current_user, token_required
from ..bodies import accepts, read_body
from ..credentials import basic_authorization
from ..errors import ApiError
from ..extensions import db, limiter
from ..models import AuthSession, User
from ..openapi.metadata import MESSAGE, NO_STORE, ApiBlueprint, other_responses, response
from ..ratelimits import login_key, login_limit
from ..security import verify_password
from ..sessions import (
    LOGIN,
    LOGIN_ANSWER,
    REFRESH,
    refresh_session,
    revoke_sessions,
    revoke_user_sessions,
    start_session,
)
from . import no_store

bp = ApiBlueprint("login", __name__, "Logging in, refreshing and revoking tokens")

LOGIN_FAILED = "Could not verify"
BASIC_CHALLENGE = 'Basic realm="Login Required"'


def login_failed(username: str | None = None, user: User | None = None) -> ApiError:
    """The one answer to every failed login, after its audit event is committed.

    The event is one short INSERT for a request that has already passed the login rate limit,
    so recording it cannot add load beyond what that limit allows. The attempted name is kept
    only when it is one a user could have (else null): a Basic header without its colon, or a
    password typed into the name field, must not put a password into the trail.
    """
    record("user.login_failed", "user", user.public_id if user is not None else None,
           {"username": username if username and valid_username(username) else None})
    db.session.commit()
    return ApiError(401, LOGIN_FAILED, headers={"WWW-Authenticate": BASIC_CHALLENGE})


def presented_credentials() -> tuple[str, str] | None:
    """Username and password from HTTP Basic, else (on POST) from the body."""
    # A POST body is validated even beside Basic credentials: unknown fields are never ignored.
    body = read_body() if request.method == "POST" else {}
    auth = basic_authorization()
    if auth is not None:
        return auth.username or "", auth.password or ""
    if request.headers.get("Authorization"):
        return None  # some other, or malformed, scheme
    if "username" in body or "password" in body:
        return body.get("username") or "", body.get("password") or ""
    return None


def valid_username(username: str) -> bool:
    try:
        USERNAME.parse(username, from_form=False)
    except ValueError:
        return False
    return True


def find_user(username: str) -> User | None:
    """The user with this name (any case); None, without a query, for an impossible name."""
    if not valid_username(username):
        return None
    return db.session.scalar(db.select(User).where(User.username_key == username.lower()))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, key_func=login_key)
@app_token
@accepts(LOGIN)
@response({"GET": "login", "POST": "login_with_body"}, LOGIN_ANSWER, "Logged in.",
          headers=NO_STORE, basic_auth=True)
@other_responses({401: "the credentials are missing or wrong, or the user is deactivated (one "
                       "answer for all)"})
def login():
    """Exchange a username and password for an access and a refresh token."""
    credentials = presented_credentials()
    if credentials is None or not credentials[0] or not credentials[1]:
        raise login_failed()
    username, password = credentials
    user = find_user(username)
    # Unknown users are checked against a dummy hash: same answer, same work.
    method = current_app.config["PASSWORD_HASH_METHOD"]
    valid = verify_password(user.password_hash if user else None, password, method)
    if not valid or user is None or not user.active:
        raise login_failed(username, user)
    return no_store(jsonify(start_session(user, "user.login")))


@bp.post("/token/refresh")
@app_token
@accepts(REFRESH)
@response("refresh_token", LOGIN_ANSWER, "A new pair; the presented refresh token is retired.",
          headers=NO_STORE)
@other_responses({401: "the refresh token is not valid, or was used before (its session is "
                       "revoked)"})
def refresh():
    """Rotate a refresh token into a new access and refresh token."""
    body = read_body()
    return no_store(jsonify(refresh_session(body["refresh_token"])))


@bp.post("/logout")
@app_token
@token_required
@response("logout", MESSAGE, "This login session is revoked.")
def logout():
    """Revoke this login session: the presented token and its refresh tokens."""
    revoke_sessions(AuthSession.id == current_user().session_id)
    record("user.logout", "user", current_user().public_id)
    db.session.commit()
    return jsonify({"message": "Logged out"})


@bp.post("/logout/all")
@app_token
@token_required
@response("logout_all", MESSAGE, "Every session of the caller is revoked.")
def logout_all():
    """Revoke every token of the caller, on every device."""
    revoke_user_sessions(current_user())
    record("user.logout_all", "user", current_user().public_id)
    db.session.commit()
    return jsonify({"message": "Logged out of every session"})
