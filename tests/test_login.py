"""Logging in, using, refreshing and revoking tokens (contract §2)."""

import base64
import json
import uuid
import warnings
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from conftest import assert_problem

from meme_api import security
from meme_api.auth import decode_user_token
from meme_api.extensions import db

BASIC_CHALLENGE = 'Basic realm="Login Required"'
BEARER_CHALLENGE = 'Bearer realm="meme_api"'
OTHER_SECRET = "another-secret-key-that-is-also-long-enough"
UTF8_PASSWORD = "pässwörd-✓-🔑-密码"


# --- helpers ---------------------------------------------------------------------------------

def raw_basic(auth, credentials: str) -> dict:
    """Headers with an app token and a Basic header whose payload is `credentials` verbatim."""
    return auth.headers(Authorization="Basic " + credentials)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def bearer(auth, token: str) -> dict:
    return auth.headers(Authorization=f"Bearer {token}")


def access(auth, token: str) -> dict:
    return auth.headers(**{"x-access-token": token})


def me_status(client, auth, token: str) -> int:
    return client.get("/user/me", headers=access(auth, token)).status_code


def refresh(client, auth, refresh_token: str, as_form: bool = False):
    body = {"data" if as_form else "json": {"refresh_token": refresh_token}}
    return client.post("/token/refresh", headers=auth.headers(), **body)


def claims_of(app, token: str, token_type: str) -> dict:
    return decode_user_token(token, token_type)


def assert_login_answer(app, response, public_id: str) -> dict:
    """A 200 login answer: both tokens for this user, bearer type, lifetime, never cached."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == app.config["ACCESS_TOKEN_TTL"]
    access_claims = claims_of(app, body["token"], "access")
    refresh_claims = claims_of(app, body["refresh_token"], "refresh")
    assert access_claims["sub"] == refresh_claims["sub"] == public_id
    assert access_claims["sid"] == refresh_claims["sid"]
    return body


def assert_login_refused(response) -> str:
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == BASIC_CHALLENGE
    return body["message"]


def assert_token_refused(response, message: str | None = None) -> dict:
    body = assert_problem(response, 401, message)
    assert response.headers["WWW-Authenticate"] == BEARER_CHALLENGE
    return body


def forge(app, account, *, token_type: str = "access", secret: str | None = None,
          now: datetime | None = None, session_id: str | None = None) -> str:
    """A token for `account`'s login session, signed as asked (by default a valid one)."""
    sid = claims_of(app, account.tokens["token"], "access")["sid"]
    return security.issue_token(secret or app.config["SECRET_KEY"], subject=account.public_id,
                                session_id=session_id or sid, token_type=token_type,
                                ttl=app.config["ACCESS_TOKEN_TTL"], now=now).token


def hours_ago(hours: int) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def resign(app, account, *, drop: str = "", algorithm: str = "HS256") -> str:
    """Re-encode the claims of `account`'s access token (without `drop`, with `algorithm`)."""
    claims = claims_of(app, account.tokens["token"], "access")
    claims.pop(drop, None)
    if algorithm == "none":
        return jwt.encode(claims, None, algorithm="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns that our key is short for HS512
        return jwt.encode(claims, app.config["SECRET_KEY"], algorithm=algorithm)


def tampered(app, account, other) -> str:
    """A valid token whose payload is swapped for another user's, keeping the signature."""
    header, _, signature = account.tokens["token"].split(".")
    claims = claims_of(app, account.tokens["token"], "access")
    claims["sub"] = other.public_id
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return ".".join([header, payload.decode(), signature])


def deactivate(account) -> None:
    account.user.active = False
    db.session.commit()


# --- logging in -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["get", "post"])
def test_login_with_basic_returns_token_pair(client, auth, app, alice, method):
    response = getattr(client, method)("/login", headers=auth.basic("alice", "alicepass1"))
    body = assert_login_answer(app, response, alice.public_id)
    assert me_status(client, auth, body["token"]) == 200


@pytest.mark.parametrize("body_kind", ["json", "data"])
def test_post_login_with_json_or_form_body(client, auth, app, alice, body_kind):
    credentials = {"username": "alice", "password": "alicepass1"}
    response = client.post("/login", headers=auth.headers(), **{body_kind: credentials})
    body = assert_login_answer(app, response, alice.public_id)
    assert me_status(client, auth, body["token"]) == 200


def test_each_login_opens_a_new_session(client, auth, app, alice):
    first = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    second = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    assert first["token"] != second["token"]
    assert (claims_of(app, first["token"], "access")["sid"]
            != claims_of(app, second["token"], "access")["sid"])


def test_username_is_case_insensitive_at_login(client, auth, app, alice, subtests):
    for username in ("ALICE", "Alice", "aLiCe"):
        with subtests.test(username=username):
            basic = client.get("/login", headers=auth.basic(username, "alicepass1"))
            assert_login_answer(app, basic, alice.public_id)
            form = client.post("/login", headers=auth.headers(),
                               data={"username": username, "password": "alicepass1"})
            assert_login_answer(app, form, alice.public_id)


def test_password_is_case_sensitive(client, auth, alice):
    assert_login_refused(client.get("/login", headers=auth.basic("alice", "ALICEPASS1")))


def test_unusual_passwords_log_in_by_basic_and_body(client, auth, app, subtests):
    passwords = [UTF8_PASSWORD, "with:colons:inside", " spaced out "]
    for number, password in enumerate(passwords):
        with subtests.test(password=password):
            user = auth.make_user(f"user{number}", password)
            basic = client.get("/login", headers=auth.basic(user.username, password))
            assert_login_answer(app, basic, user.public_id)
            body = client.post("/login", headers=auth.headers(),
                               json={"username": user.username, "password": password})
            assert_login_answer(app, body, user.public_id)


def test_utf8_password_must_match_exactly(client, auth):
    auth.make_user("zoe", UTF8_PASSWORD)
    assert_login_refused(client.get("/login", headers=auth.basic("zoe", UTF8_PASSWORD[:-1])))


LOGIN_FAILURES = {
    "no credentials": lambda auth: {"headers": auth.headers()},
    "bad base64": lambda auth: {"headers": raw_basic(auth, "!!not*base64!!")},
    "no colon": lambda auth: {"headers": raw_basic(auth, b64(b"alicealicepass1"))},
    "empty basic": lambda auth: {"headers": raw_basic(auth, "")},
    "only a colon": lambda auth: {"headers": raw_basic(auth, b64(b":"))},
    "empty password": lambda auth: {"headers": raw_basic(auth, b64(b"alice:"))},
    "empty username": lambda auth: {"headers": raw_basic(auth, b64(b":alicepass1"))},
    "not utf-8": lambda auth: {"headers": raw_basic(auth, b64(b"alice:\xff\xfe"))},
    "other scheme": lambda auth: {"headers": auth.headers(Authorization="Digest abc")},
    "wrong password": lambda auth: {"headers": auth.basic("alice", "wrongpass1")},
    "unknown user": lambda auth: {"headers": auth.basic("nobody", "alicepass1")},
    "impossible username": lambda auth: {"headers": auth.basic("a b!", "alicepass1")},
    "deactivated user": lambda auth: {"headers": auth.basic("dave", "davepass12")},
    "body without password": lambda auth: {"headers": auth.headers(),
                                           "json": {"username": "alice"}},
    "body with wrong password": lambda auth: {"headers": auth.headers(),
                                              "data": {"username": "alice",
                                                       "password": "wrongpass1"}},
    "body for unknown user": lambda auth: {"headers": auth.headers(),
                                           "json": {"username": "nobody",
                                                    "password": "alicepass1"}},
}


def test_failed_login_is_401_basic_challenge_with_one_message(client, auth, alice, subtests):
    deactivate(auth.make_user("dave", "davepass12"))
    baseline = assert_login_refused(client.post("/login", headers=auth.headers()))
    for case, make_request in LOGIN_FAILURES.items():
        request = make_request(auth)
        # A body only makes sense on POST; Basic cases are tried with both methods.
        methods = ("get", "post") if set(request) == {"headers"} else ("post",)
        for method in methods:
            with subtests.test(case=case, method=method):
                response = getattr(client, method)("/login", **request)
                assert assert_login_refused(response) == baseline
    # None of that locked alice out.
    assert client.get("/login", headers=auth.basic("alice", "alicepass1")).status_code == 200


def test_deactivated_user_with_right_password_gets_same_answer_as_wrong_password(client, auth):
    dave = auth.make_user("dave", "davepass12")
    assert client.get("/login", headers=auth.basic("dave", "davepass12")).status_code == 200
    deactivate(dave)
    inactive = assert_login_refused(client.get("/login", headers=auth.basic("dave", "davepass12")))
    wrong = assert_login_refused(client.get("/login", headers=auth.basic("dave", "nopenope1")))
    assert inactive == wrong


# --- the application token comes first ----------------------------------------------------------

def without_app_token(headers: dict, app_token: str | None) -> dict:
    headers = {k: v for k, v in headers.items() if k != "x-application-token"}
    if app_token is not None:
        headers["x-application-token"] = app_token
    return headers


APP_TOKEN_CASES = [(None, "Application token is missing"),
                   ("", "Application token is missing"),
                   ("mapp_not-a-registered-token", "Application token is invalid")]


def test_app_token_is_checked_before_login_credentials(client, auth, alice, subtests):
    for app_token, message in APP_TOKEN_CASES:
        for method in ("get", "post"):
            with subtests.test(app_token=app_token, method=method):
                headers = without_app_token(auth.basic("alice", "alicepass1"), app_token)
                response = getattr(client, method)("/login", headers=headers)
                assert_problem(response, 401, message)
                assert "Basic" not in response.headers.get("WWW-Authenticate", "")
        with subtests.test(app_token=app_token, body=True):
            body_login = client.post("/login", headers=without_app_token({}, app_token),
                                     json={"username": "alice", "password": "alicepass1"})
            assert_problem(body_login, 401, message)


def test_app_token_is_checked_before_user_token(client, auth, alice, subtests):
    requests = [
        ("get", "/user/me", auth.headers(alice), {}),
        ("get", "/user/me", auth.headers(), {}),
        ("get", "/user/me", access(auth, "garbage"), {}),
        ("post", "/logout", auth.headers(alice), {}),
        ("post", "/logout/all", auth.headers(alice), {}),
        ("post", "/token/refresh", {}, {"json": {"refresh_token": alice.tokens["refresh_token"]}}),
    ]
    for app_token, message in APP_TOKEN_CASES:
        for method, path, headers, body in requests:
            with subtests.test(app_token=app_token, path=path, headers=sorted(headers)):
                response = getattr(client, method)(
                    path, headers=without_app_token(headers, app_token), **body)
                assert_problem(response, 401, message)
    # None of those requests used up or revoked anything.
    assert me_status(client, auth, alice.tokens["token"]) == 200
    assert refresh(client, auth, alice.tokens["refresh_token"]).status_code == 200


# --- using the access token ---------------------------------------------------------------------

def test_access_token_works_in_x_access_token_header(client, auth, alice):
    response = client.get("/user/me", headers=access(auth, alice.tokens["token"]))
    assert response.status_code == 200
    assert response.get_json()["user"]["public_id"] == alice.public_id


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_access_token_works_as_authorization_bearer(client, auth, alice, scheme):
    headers = auth.headers(Authorization=f"{scheme} {alice.tokens['token']}")
    response = client.get("/user/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["user"]["public_id"] == alice.public_id


MISSING_ACCESS_TOKENS = {
    "none": {},
    "empty bearer": {"Authorization": "Bearer "},
    "bare bearer": {"Authorization": "Bearer"},
    "empty header": {"x-access-token": ""},
    "basic instead": {"Authorization": "Basic " + b64(b"alice:alicepass1")},
}


def test_missing_access_token_is_401_with_bearer_challenge(client, auth, alice, subtests):
    for case, extra in MISSING_ACCESS_TOKENS.items():
        with subtests.test(case=case):
            assert_token_refused(client.get("/user/me", headers=auth.headers(**extra)),
                                 "Token is missing")


BAD_ACCESS_TOKENS = {
    "garbage": lambda app, alice, bob: "not-a-jwt",
    "three dots of garbage": lambda app, alice, bob: "abc.def.ghi",
    "expired": lambda app, alice, bob: forge(app, alice, now=hours_ago(2)),
    "signed with another key": lambda app, alice, bob: forge(app, alice, secret=OTHER_SECRET),
    "refresh token as access": lambda app, alice, bob: alice.tokens["refresh_token"],
    "forged refresh type": lambda app, alice, bob: forge(app, alice, token_type="refresh"),
    "payload tampered": lambda app, alice, bob: tampered(app, alice, bob),
    "unsigned alg none": lambda app, alice, bob: resign(app, alice, algorithm="none"),
    "HS512 with the right key": lambda app, alice, bob: resign(app, alice, algorithm="HS512"),
    "missing jti": lambda app, alice, bob: resign(app, alice, drop="jti"),
    "missing exp": lambda app, alice, bob: resign(app, alice, drop="exp"),
    "missing type": lambda app, alice, bob: resign(app, alice, drop="type"),
    "unknown session": lambda app, alice, bob: forge(app, alice, session_id=str(uuid.uuid4())),
    "session of another user": lambda app, alice, bob: tampered_session(app, alice, bob),
}


def tampered_session(app, alice, bob) -> str:
    """Correctly signed, naming alice but bob's session: a token that was never issued."""
    bob_sid = claims_of(app, bob.tokens["token"], "access")["sid"]
    return forge(app, alice, session_id=bob_sid)


def test_forged_but_valid_token_is_accepted(client, auth, app, alice):
    # The control for the cases below: `forge` and `resign` by default make a good token.
    assert me_status(client, auth, forge(app, alice)) == 200
    assert me_status(client, auth, resign(app, alice)) == 200


def test_bad_access_token_is_401_with_bearer_challenge(client, auth, app, alice, bob, subtests):
    for case, make_token in BAD_ACCESS_TOKENS.items():
        token = make_token(app, alice, bob)
        for headers in (access(auth, token), bearer(auth, token)):
            with subtests.test(case=case, headers=sorted(headers)):
                body = assert_token_refused(client.get("/user/me", headers=headers))
                assert token not in body["message"]
    # Nothing above disturbed the real tokens.
    assert me_status(client, auth, alice.tokens["token"]) == 200
    assert me_status(client, auth, bob.tokens["token"]) == 200


def test_expired_token_message_says_expired(client, auth, app, alice):
    body = assert_token_refused(client.get("/user/me",
                                           headers=access(auth, forge(app, alice,
                                                                      now=hours_ago(2)))))
    assert "expired" in body["message"].lower()


def test_token_of_deactivated_user_is_refused(client, auth, alice):
    deactivate(alice)
    assert_token_refused(client.get("/user/me", headers=auth.headers(alice)))


# --- refreshing -------------------------------------------------------------------------------

@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
def test_refresh_rotates_the_pair(client, auth, app, alice, as_form):
    response = refresh(client, auth, alice.tokens["refresh_token"], as_form)
    pair = assert_login_answer(app, response, alice.public_id)
    assert pair["refresh_token"] != alice.tokens["refresh_token"]
    assert pair["token"] != alice.tokens["token"]
    assert me_status(client, auth, pair["token"]) == 200
    # The same login session continues: the old access token lives until it expires.
    assert (claims_of(app, pair["token"], "access")["sid"]
            == claims_of(app, alice.tokens["token"], "access")["sid"])
    assert_token_refused(refresh(client, auth, alice.tokens["refresh_token"], as_form))


def test_new_refresh_token_can_be_rotated_again(client, auth, app, alice):
    first = refresh(client, auth, alice.tokens["refresh_token"]).get_json()
    second = refresh(client, auth, first["refresh_token"])
    pair = assert_login_answer(app, second, alice.public_id)
    assert me_status(client, auth, pair["token"]) == 200


def test_reused_refresh_token_revokes_the_whole_session(client, auth, alice):
    other_session = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    rotated = refresh(client, auth, alice.tokens["refresh_token"]).get_json()
    assert me_status(client, auth, rotated["token"]) == 200

    assert_token_refused(refresh(client, auth, alice.tokens["refresh_token"]))

    assert me_status(client, auth, rotated["token"]) == 401
    assert me_status(client, auth, alice.tokens["token"]) == 401
    assert_token_refused(refresh(client, auth, rotated["refresh_token"]))
    # Alice's other login, and her other refresh token, are another session: untouched.
    assert me_status(client, auth, other_session["token"]) == 200
    assert refresh(client, auth, other_session["refresh_token"]).status_code == 200


BAD_REFRESH_TOKENS = {
    "access token": lambda app, alice: alice.tokens["token"],
    "garbage": lambda app, alice: "not-a-jwt",
    "expired": lambda app, alice: forge(app, alice, token_type="refresh", now=hours_ago(24 * 40)),
    "signed with another key": lambda app, alice: forge(app, alice, token_type="refresh",
                                                        secret=OTHER_SECRET),
    "unknown session": lambda app, alice: forge(app, alice, token_type="refresh",
                                                session_id=str(uuid.uuid4())),
}


def test_bad_refresh_token_is_401(client, auth, app, alice, subtests):
    for case, make_token in BAD_REFRESH_TOKENS.items():
        for as_form in (False, True):
            with subtests.test(case=case, as_form=as_form):
                assert_token_refused(refresh(client, auth, make_token(app, alice), as_form))
    # Refused tokens neither burn the real one nor revoke its session.
    assert refresh(client, auth, alice.tokens["refresh_token"]).status_code == 200
    assert me_status(client, auth, alice.tokens["token"]) == 200


def test_refresh_body_must_carry_a_refresh_token_string(client, auth, subtests):
    bodies = [({}, "refresh_token"), ({"refresh_token": None}, "refresh_token"),
              ({"refresh_token": 5}, "refresh_token"),
              ({"refresh_token": "x", "extra": "y"}, "extra")]
    for body, field in bodies:
        with subtests.test(body=body):
            response = client.post("/token/refresh", headers=auth.headers(), json=body)
            assert field in assert_problem(response, 400)["errors"]


def test_refresh_needs_no_access_token(client, auth, app, alice):
    response = client.post("/token/refresh", headers=auth.headers(),
                           data={"refresh_token": alice.tokens["refresh_token"]})
    assert_login_answer(app, response, alice.public_id)


# --- logging out ------------------------------------------------------------------------------

def test_logout_revokes_only_that_session(client, auth, alice, bob):
    other = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    response = client.post("/logout", headers=auth.headers(alice))
    assert response.status_code == 200
    assert isinstance(response.get_json()["message"], str)

    assert_token_refused(client.get("/user/me", headers=auth.headers(alice)))
    assert_token_refused(refresh(client, auth, alice.tokens["refresh_token"]))
    assert_token_refused(client.post("/logout", headers=auth.headers(alice)))
    assert me_status(client, auth, other["token"]) == 200
    assert refresh(client, auth, other["refresh_token"]).status_code == 200
    assert me_status(client, auth, bob.tokens["token"]) == 200


def test_logout_with_bearer_header(client, auth, alice):
    assert client.post("/logout", headers=bearer(auth, alice.tokens["token"])).status_code == 200
    assert me_status(client, auth, alice.tokens["token"]) == 401


def test_logout_all_revokes_every_session_of_the_user(client, auth, alice, bob):
    other = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    response = client.post("/logout/all", headers=auth.headers(alice))
    assert response.status_code == 200
    assert isinstance(response.get_json()["message"], str)

    for token in (alice.tokens["token"], other["token"]):
        assert_token_refused(client.get("/user/me", headers=access(auth, token)))
    for token in (alice.tokens["refresh_token"], other["refresh_token"]):
        assert_token_refused(refresh(client, auth, token))
    assert me_status(client, auth, bob.tokens["token"]) == 200
    # Logging in again afterwards works.
    again = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    assert me_status(client, auth, again["token"]) == 200


def test_logout_needs_an_access_token(client, auth, alice):
    for path in ("/logout", "/logout/all"):
        assert_token_refused(client.post(path, headers=auth.headers()), "Token is missing")
        refresh_as_access = access(auth, alice.tokens["refresh_token"])
        assert_token_refused(client.post(path, headers=refresh_as_access))
    assert me_status(client, auth, alice.tokens["token"]) == 200
