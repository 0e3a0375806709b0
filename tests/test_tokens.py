"""Attacks on the user tokens and on Basic credentials: each one is refused, never a 5xx (§2)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import uuid
import warnings
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from conftest import FAST_HASH, assert_problem
from sqlalchemy import update

from meme_api import security, sessions
from meme_api.auth import decode_user_token
from meme_api.extensions import db
from meme_api.models import User

BEARER_CHALLENGE = 'Bearer realm="meme_api"'
BASIC_CHALLENGE = 'Basic realm="Login Required"'
LOGIN_FAILED = "Could not verify"
OTHER_SECRET = "a-different-secret-that-is-long-enough-for-hs256"
# Written out, not read from the code under test, so that dropping one there fails here.
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "type", "sid"]
LIFETIME = 3600  # the configured lifetime of access tokens, in the tests' config


# --- building tokens by hand ------------------------------------------------------------------

def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hand_made(header: dict, claims: dict, key: str | None, digest=hashlib.sha256) -> str:
    """A JWT assembled byte by byte: HMAC-signed with `key`, or with no signature at all."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(mac)}"


def claims_of(app, token: str, token_type: str = "access") -> dict:
    return decode_user_token(token, token_type)


def signed(app, claims: dict, *, key: str | None = None, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about HMAC key lengths for HS384/HS512
        return jwt.encode(claims, key or app.config["SECRET_KEY"], algorithm=algorithm)


def reclaimed(app, account, **changes) -> str:
    """The account's access claims with `changes` (None drops a claim), correctly signed."""
    claims = claims_of(app, account.tokens["token"])
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return signed(app, claims)


def tampered(token: str, **changes) -> str:
    """The token with its payload edited and its original header and signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return ".".join([header, segment(claims), signature])


def seconds_from_now(seconds: int) -> int:
    return int((datetime.now(UTC) + timedelta(seconds=seconds)).timestamp())


def me(client, auth, token: str, style: str = "x-access-token"):
    extra = ({"x-access-token": token} if style == "x-access-token"
             else {"Authorization": f"Bearer {token}"})
    return client.get("/user/me", headers=auth.headers(**extra))


def refresh(client, auth, refresh_token: str):
    return client.post("/token/refresh", headers=auth.headers(),
                       json={"refresh_token": refresh_token})


def assert_token_refused(response) -> dict:
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == BEARER_CHALLENGE
    return body


# --- forged, re-signed and tampered access tokens ---------------------------------------------

def _claims(app, alice) -> dict:
    return claims_of(app, alice.tokens["token"])


FORGERIES = {
    "alg none, no signature": lambda app, alice, admin: hand_made(
        {"alg": "none", "typ": "JWT"}, _claims(app, alice), None),
    "alg None, no signature": lambda app, alice, admin: hand_made(
        {"alg": "None", "typ": "JWT"}, _claims(app, alice), None),
    "alg NONE, no signature": lambda app, alice, admin: hand_made(
        {"alg": "NONE", "typ": "JWT"}, _claims(app, alice), None),
    "alg none, original signature kept": lambda app, alice, admin: ".".join(
        [segment({"alg": "none", "typ": "JWT"}), *alice.tokens["token"].split(".")[1:]]),
    "no alg in the header": lambda app, alice, admin: hand_made(
        {"typ": "JWT"}, _claims(app, alice), app.config["SECRET_KEY"]),
    "HS512 with the real secret": lambda app, alice, admin: signed(
        app, _claims(app, alice), algorithm="HS512"),
    "HS384 with the real secret": lambda app, alice, admin: signed(
        app, _claims(app, alice), algorithm="HS384"),
    "RS256 header, HMAC of the real secret": lambda app, alice, admin: hand_made(
        {"alg": "RS256", "typ": "JWT"}, _claims(app, alice), app.config["SECRET_KEY"]),
    "RS256 header, original signature kept": lambda app, alice, admin: ".".join(
        [segment({"alg": "RS256", "typ": "JWT"}), *alice.tokens["token"].split(".")[1:]]),
    "signed with another key": lambda app, alice, admin: signed(
        app, _claims(app, alice), key=OTHER_SECRET),
    "sub swapped for the admin, old signature": lambda app, alice, admin: tampered(
        alice.tokens["token"], sub=admin.public_id),
    "exp pushed a year on, old signature": lambda app, alice, admin: tampered(
        alice.tokens["token"], exp=seconds_from_now(365 * 86400)),
    "refresh retyped as access, old signature": lambda app, alice, admin: tampered(
        alice.tokens["refresh_token"], type="access"),
    "expired": lambda app, alice, admin: reclaimed(
        app, alice, iat=seconds_from_now(-7200), exp=seconds_from_now(-3600)),
    "issued in the future": lambda app, alice, admin: reclaimed(
        app, alice, iat=seconds_from_now(3600), exp=seconds_from_now(7200)),
    "not valid before an hour from now": lambda app, alice, admin: reclaimed(
        app, alice, nbf=seconds_from_now(3600)),
    "iat not a number": lambda app, alice, admin: reclaimed(app, alice, iat="yesterday"),
    "exp not a number": lambda app, alice, admin: reclaimed(app, alice, exp="never"),
    "a fourth segment": lambda app, alice, admin: alice.tokens["token"] + ".e30",
    "signature cut off": lambda app, alice, admin: alice.tokens["token"].rsplit(".", 1)[0],
    "unknown user, valid signature": lambda app, alice, admin: reclaimed(
        app, alice, sub=str(uuid.uuid4())),
}


@pytest.mark.parametrize("style", ["x-access-token", "bearer"])
def test_the_forging_helpers_make_good_tokens_when_nothing_is_changed(client, auth, app, alice,
                                                                      style):
    # The control for the table below: each construction, unaltered, is accepted.
    controls = [
        hand_made({"alg": "HS256", "typ": "JWT"}, _claims(app, alice), app.config["SECRET_KEY"]),
        signed(app, _claims(app, alice)),
        reclaimed(app, alice),
        tampered(alice.tokens["token"]),
    ]
    for token in controls:
        assert me(client, auth, token, style).status_code == 200


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_access_token_is_401_with_bearer_challenge(client, auth, app, alice, admin,
                                                           forge):
    token = forge(app, alice, admin)
    for style in ("x-access-token", "bearer"):
        body = assert_token_refused(me(client, auth, token, style))
        assert token not in json.dumps(body)


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_token_opens_no_admin_route(client, auth, app, alice, admin, forge):
    headers = auth.headers(**{"x-access-token": forge(app, alice, admin)})
    for method, path in [("get", "/user"), ("get", "/app"), ("post", "/app/tests/rotate")]:
        assert_token_refused(getattr(client, method)(path, headers=headers))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
@pytest.mark.parametrize("how", ["missing", "null"])
def test_token_without_a_required_claim_is_401(client, auth, app, alice, claim, how):
    claims = claims_of(app, alice.tokens["token"])
    if how == "missing":
        del claims[claim]
    else:
        claims[claim] = None
    assert_token_refused(me(client, auth, signed(app, claims)))


@pytest.mark.parametrize(("claim", "value"), [
    ("sub", 12345), ("sub", ["x"]), ("sub", {"public_id": "x"}), ("sub", True),
    ("sid", 12345), ("sid", ["x"]), ("sid", {"id": "x"}), ("sid", 1.5),
    ("jti", 7), ("type", ["access"]), ("type", "ACCESS"), ("type", "admin"),
])
def test_token_with_a_claim_of_the_wrong_type_is_401(client, auth, app, alice, claim, value):
    assert_token_refused(me(client, auth, reclaimed(app, alice, **{claim: value})))


def test_sub_and_sid_as_strings_of_the_same_value_are_accepted(client, auth, app, alice):
    # Control for the test above: the same claims as plain strings pass.
    claims = claims_of(app, alice.tokens["token"])
    token = reclaimed(app, alice, sub=str(claims["sub"]), sid=str(claims["sid"]))
    assert me(client, auth, token).status_code == 200


# --- wrong token type ---------------------------------------------------------------------------

def test_refresh_token_is_refused_where_an_access_token_is_expected(client, auth, alice):
    for style in ("x-access-token", "bearer"):
        assert_token_refused(me(client, auth, alice.tokens["refresh_token"], style))


def test_access_token_is_refused_by_token_refresh_and_burns_nothing(client, auth, alice):
    assert_token_refused(refresh(client, auth, alice.tokens["token"]))
    # It did not count as reuse of a refresh token: the session and its refresh token live.
    assert me(client, auth, alice.tokens["token"]).status_code == 200
    assert refresh(client, auth, alice.tokens["refresh_token"]).status_code == 200


# --- the user behind the token --------------------------------------------------------------------

def _delete(client, auth, admin, alice):
    response = client.delete(f"/user/{alice.public_id}", headers=auth.headers(admin))
    assert response.status_code == 200


def _deactivate(client, auth, admin, alice):
    response = client.patch(f"/user/{alice.public_id}", json={"active": False},
                            headers=auth.headers(admin))
    assert response.status_code == 200


@pytest.mark.parametrize("remove", [_delete, _deactivate], ids=["deleted", "deactivated"])
def test_tokens_of_a_removed_user_are_refused(client, auth, admin, alice, remove):
    remove(client, auth, admin, alice)
    assert_token_refused(me(client, auth, alice.tokens["token"]))
    assert_token_refused(refresh(client, auth, alice.tokens["refresh_token"]))


def test_deleted_users_token_does_not_pass_to_a_new_user_of_the_same_name(client, auth, admin,
                                                                          alice):
    _delete(client, auth, admin, alice)
    db.session.expunge(alice.user)  # the test's own copy of the deleted row
    auth.make_user("alice", "alicepass1")
    assert_token_refused(me(client, auth, alice.tokens["token"]))
    assert_token_refused(refresh(client, auth, alice.tokens["refresh_token"]))


def test_reactivation_does_not_revive_the_tokens_of_a_deactivation(client, auth, admin, alice):
    _deactivate(client, auth, admin, alice)
    back = client.patch(f"/user/{alice.public_id}", json={"active": True},
                        headers=auth.headers(admin))
    assert back.status_code == 200
    assert_token_refused(me(client, auth, alice.tokens["token"]))
    assert_token_refused(refresh(client, auth, alice.tokens["refresh_token"]))


ADMIN_ROUTES = [
    ("get", "/user", {}),
    ("post", "/user", {"json": {"username": "mallory", "password": "mallorypass1"}}),
    ("put", "/user/{alice}", {}),
    ("patch", "/user/{alice}", {"json": {"admin": True}}),
    ("delete", "/user/{alice}", {}),
    ("get", "/app", {}),
    ("post", "/app", {"json": {"name": "rogue"}}),
    ("delete", "/app/tests", {}),
    ("post", "/app/tests/rotate", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in ADMIN_ROUTES])
def test_demoted_admins_token_gets_403_on_admin_routes_at_once(client, auth, admin, alice,
                                                               method, path, body):
    boss = auth.make_user("boss", "bosspass12", admin=True)
    assert client.get("/user", headers=auth.headers(boss)).status_code == 200
    # Demoted in the database (another instance, the CLI): the token itself is unchanged.
    db.session.execute(update(User).where(User.id == boss.user.id).values(role="user"))
    db.session.commit()

    response = getattr(client, method)(path.format(alice=alice.public_id),
                                       headers=auth.headers(boss), **body)
    assert_problem(response, 403)
    assert client.get("/user/me", headers=auth.headers(boss)).status_code == 200
    # Nothing was changed by the refused request.
    assert client.get("/user/me", headers=auth.headers(alice)).get_json()["user"]["admin"] is False
    assert client.get("/user/me", headers=auth.headers(admin)).status_code == 200


# --- refresh reuse ----------------------------------------------------------------------------

@pytest.mark.parametrize("reused", [0, 1, 2])
def test_any_retired_refresh_token_revokes_the_whole_session(client, auth, alice, bob, reused):
    generations = [alice.tokens]
    for _ in range(3):
        response = refresh(client, auth, generations[-1]["refresh_token"])
        assert response.status_code == 200
        generations.append(response.get_json())
    latest = generations[-1]

    assert_token_refused(refresh(client, auth, generations[reused]["refresh_token"]))

    # Every token of the session is dead, the rotated-in pair included ...
    for pair in generations:
        assert_token_refused(me(client, auth, pair["token"]))
    assert_token_refused(refresh(client, auth, latest["refresh_token"]))
    # ... and nobody else's.
    assert me(client, auth, bob.tokens["token"]).status_code == 200


def test_concurrent_exchanges_of_one_refresh_token_have_exactly_one_winner(client, auth, app,
                                                                           alice, monkeypatch):
    # Both requests authenticate (read the session) before either writes: the race a plain
    # read-check-write would lose. A lock-based design may not let both in; then it times out.
    barrier = threading.Barrier(2, timeout=3)
    real_authenticate = sessions.authenticate

    def authenticate_then_wait(*args, **kwargs):
        found = real_authenticate(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return found

    monkeypatch.setattr(sessions, "authenticate", authenticate_then_wait)
    answers: list = [None, None]

    def exchange(slot: int) -> None:
        answers[slot] = app.test_client().post(
            "/token/refresh", headers=auth.headers(),
            json={"refresh_token": alice.tokens["refresh_token"]})

    threads = [threading.Thread(target=exchange, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    monkeypatch.undo()

    assert sorted(answer.status_code for answer in answers) == [200, 401]
    # The losing exchange presented a retired token: the session is gone, the winner's too.
    winner = next(answer.get_json() for answer in answers if answer.status_code == 200)
    assert_token_refused(me(client, auth, winner["token"]))
    assert_token_refused(refresh(client, auth, winner["refresh_token"]))


# --- Basic credentials on /login --------------------------------------------------------------

def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


BASIC_HEADERS = {
    "bad base64": "Basic !!!not*base64!!!",
    "base64 without a colon": basic(b"alicealicepass1"),
    "empty credentials": "Basic ",
    "scheme alone": "Basic",
    "only a colon": basic(b":"),
    "password without username": basic(b":alicepass1"),
    "username without password": basic(b"alice:"),
    "utf-8 username": basic("ålice:alicepass1".encode()),
    "emoji username": basic("😀:alicepass1".encode()),
    "utf-8 wrong password": basic("alice:pässwörd1".encode()),
    "latin-1 password bytes": basic("alice:pässwörd1".encode("latin-1")),
    "latin-1 username bytes": basic("ålice:alicepass1".encode("latin-1")),
    "non-ascii where base64 belongs": "Basic é",
    "non-ascii after good base64": basic(b"alice:alicepass1") + "é",
    "nul bytes": basic(b"alice\x00:alicepass1\x00"),
    "lower-case scheme, wrong password": "basic " + base64.b64encode(b"alice:nope").decode(),
    # Long, but within the header line limit (8,190 bytes; beyond it is 431, below).
    "very long password": basic(b"alice:" + b"p" * 5_000),
    "very long username": basic(b"a" * 5_000 + b":alicepass1"),
    "very long garbage": "Basic " + "A" * 7_001,
}
OVERSIZED_BASIC_HEADERS = {
    "huge password": basic(b"alice:" + b"p" * 200_000),
    "huge garbage": "Basic " + "A" * 200_001,
}


@pytest.fixture(params=[False, True], ids=["unlimited", "rate-limited"])
def limits_on_or_off(request, app_config):
    """Both ways: with limits on, the login limit reads the credentials before the view does."""
    app_config.update(RATELIMIT_ENABLED=request.param)


@pytest.mark.parametrize("header", BASIC_HEADERS.values(), ids=BASIC_HEADERS.keys())
def test_malformed_or_wrong_basic_credentials_are_401_never_5xx(limits_on_or_off, client, auth,
                                                                 alice, header):
    for method in ("get", "post"):
        response = getattr(client, method)("/login", headers=auth.headers(Authorization=header))
        assert_problem(response, 401, LOGIN_FAILED)
        assert response.headers["WWW-Authenticate"] == BASIC_CHALLENGE


@pytest.mark.parametrize("header", OVERSIZED_BASIC_HEADERS.values(),
                         ids=OVERSIZED_BASIC_HEADERS.keys())
def test_oversized_basic_credentials_are_431_never_5xx(limits_on_or_off, client, auth, alice,
                                                        header):
    for method in ("get", "post"):
        response = getattr(client, method)("/login", headers=auth.headers(Authorization=header))
        assert_problem(response, 431)


def test_lower_case_basic_scheme_with_the_right_password_logs_in(client, auth, alice):
    # Control for the case above: the scheme is case-insensitive, so only the password failed.
    header = "basic " + base64.b64encode(b"alice:alicepass1").decode()
    assert client.get("/login", headers=auth.headers(Authorization=header)).status_code == 200


# --- the same work for an unknown user and a wrong password --------------------------------------

@pytest.fixture(params=[FAST_HASH, None], ids=["fast-hash", "scrypt-default"])
def hash_method(request, app_config):
    app_config["PASSWORD_HASH_METHOD"] = request.param
    return request.param


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """The method of every hash a password is checked against, in order."""
    checked: list[str] = []
    real_check = security.check_password_hash

    def counting_check(password_hash: str, password: str) -> bool:
        checked.append(password_hash.split("$", 1)[0])
        return real_check(password_hash, password)

    monkeypatch.setattr(security, "check_password_hash", counting_check)
    return checked


LOGIN_ATTEMPTS = {
    "right password": lambda auth: {"headers": auth.basic("alice", "alicepass1")},
    "wrong password": lambda auth: {"headers": auth.basic("alice", "wrongpass1")},
    "unknown user": lambda auth: {"headers": auth.basic("nobody", "alicepass1")},
    "impossible username": lambda auth: {"headers": auth.basic("ålice nope", "alicepass1")},
    "deactivated user": lambda auth: {"headers": auth.basic("dave", "davepass12")},
    "unknown user in a body": lambda auth: {"headers": auth.headers(),
                                            "json": {"username": "nobody",
                                                     "password": "alicepass1"}},
    "wrong password in a form": lambda auth: {"headers": auth.headers(),
                                              "data": {"username": "alice",
                                                       "password": "wrongpass1"}},
}


@pytest.mark.parametrize("attempt", LOGIN_ATTEMPTS.values(), ids=LOGIN_ATTEMPTS.keys())
def test_every_login_checks_exactly_one_hash_of_the_users_method(hash_method, client, auth,
                                                                 alice, password_checks,
                                                                 attempt):
    dave = auth.make_user("dave", "davepass12")
    dave.user.active = False
    db.session.commit()
    users_method = alice.user.password_hash.split("$", 1)[0]
    if hash_method is None:
        assert users_method.startswith("scrypt:")  # the real default, not the test shortcut

    response = client.post("/login", **attempt(auth))

    assert response.status_code in (200, 401)
    assert password_checks == [users_method]


# --- verified tokens are kept, their lifetime is not ------------------------------------------


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Every signature check PyJWT makes, by token."""
    seen: list[str] = []
    real = security.jwt.decode

    def counting(token, *args, **kwargs):
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(security.jwt, "decode", counting)
    return seen


@pytest.fixture(params=[False, True], ids=["unlimited", "rate-limited"])
def limits(request, app_config) -> bool:
    """With rate limits on, the limiter's key function reads the access token too."""
    app_config["RATELIMIT_ENABLED"] = request.param
    return request.param


def test_a_token_is_verified_once_for_the_limiter_and_the_decorators(
        limits, client, auth, alice, decodes):
    """What the kept verification buys: one PyJWT check of a token, however often it is used."""
    token = alice.tokens["token"]
    for _ in range(2):
        response = client.get("/user/me", headers=auth.headers(alice))
        assert response.status_code == 200
        assert ("X-RateLimit-Limit" in response.headers) == limits
    assert decodes == [token]


def verified(token: str, secret: str, token_type: str = "access") -> dict:
    return security.decode_token(token, secret, token_type, max_lifetime=LIFETIME)


def test_a_kept_verification_still_expires(app, alice, monkeypatch):
    token = alice.tokens["token"]
    secret = app.config["SECRET_KEY"]
    claims = verified(token, secret)  # verified, and now kept
    monkeypatch.setattr(security.time, "time", lambda: claims["exp"])
    with pytest.raises(security.TokenExpired):
        verified(token, secret)
    monkeypatch.setattr(security.time, "time", lambda: claims["exp"] - 1)
    assert verified(token, secret)["sub"] == alice.public_id


def test_a_kept_verification_holds_for_its_secret_and_type_only(app, alice):
    token = alice.tokens["token"]
    secret = app.config["SECRET_KEY"]
    assert verified(token, secret)["sub"] == alice.public_id
    with pytest.raises(security.TokenError):
        verified(token, secret + "-rotated")
    with pytest.raises(security.TokenError):
        verified(token, secret, "refresh")


def test_claims_handed_out_are_copies(app, alice):
    token, secret = alice.tokens["token"], app.config["SECRET_KEY"]
    verified(token, secret)["sub"] = "someone else"
    assert verified(token, secret)["sub"] == alice.public_id


def test_an_expired_token_seen_before_is_401(client, auth, alice, monkeypatch):
    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200
    claims = jwt.decode(alice.tokens["token"], options={"verify_signature": False})
    monkeypatch.setattr(security.time, "time", lambda: claims["exp"] + 1)
    response = client.get("/user/me", headers=auth.headers(alice))
    assert_problem(response, 401)
    assert response.get_json()["message"] == "Token has expired"
