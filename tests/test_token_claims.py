"""Correctly signed tokens that must still be refused (contract §2), and two tokens at once.

Each token here is signed with the real key: only the claims are wrong. Every one is a 401 with
the Bearer challenge on the access path (`GET /user/me`) and the refresh path
(`POST /token/refresh`), never a 5xx; the rate limiter reads the same tokens and must not fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from conftest import assert_problem

from meme_api import security

BEARER_CHALLENGE = 'Bearer realm="meme_api"'
INVALID_REQUEST = 'Bearer realm="meme_api", error="invalid_request"'
TEN_YEARS = 10 * 365 * 86400
LEEWAY = 30  # written out: the documented leeway, not read from the code under test


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(app, claims: dict) -> str:
    """An HS256 JWT with the real key, its payload written by Python's `json` (which also writes
    `Infinity`), so that any claim value can be tried."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    mac = hmac.new(app.config["SECRET_KEY"].encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def reclaimed(app, account, token_type: str = "access", **changes) -> str:
    """The account's token of this type with `changes` to its claims, signed with the real key."""
    key = "token" if token_type == "access" else "refresh_token"
    claims = jwt.decode(account.tokens[key], options={"verify_signature": False})
    claims.update(changes)
    return signed(app, claims)


def use(client, auth, token: str, token_type: str):
    """Present the token where its type is taken."""
    if token_type == "access":
        return client.get("/user/me", headers=auth.headers(**{"x-access-token": token}))
    return client.post("/token/refresh", headers=auth.headers(), json={"refresh_token": token})


def assert_refused(response) -> None:
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == BEARER_CHALLENGE


# --- claims of the wrong type (defect: a numeric string `exp` answered 500) --------------------

WRONG_TYPES = {
    "exp a numeric string": {"exp": str(int(time.time()) + 600)},
    "exp a numeric string with a fraction": {"exp": f"{int(time.time()) + 600}.5"},
    "exp a boolean": {"exp": True},
    "exp infinite": {"exp": float("inf")},
    "exp not a number (NaN)": {"exp": float("nan")},
    "exp a list": {"exp": [int(time.time()) + 600]},
    "iat a numeric string": {"iat": str(int(time.time()))},
    "iat a boolean": {"iat": False},
    "iat negative infinity": {"iat": float("-inf")},
    "iat an object": {"iat": {"at": 0}},
}


@pytest.mark.parametrize("token_type", ["access", "refresh"])
@pytest.mark.parametrize("changes", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_a_time_claim_of_the_wrong_type_is_an_invalid_token(client, auth, app, alice,
                                                             token_type, changes):
    assert_refused(use(client, auth, reclaimed(app, alice, token_type, **changes), token_type))


@pytest.fixture
def limits_on(app_config) -> None:
    """Rate limits on: the limiter keys each request by its access token's `sub`."""
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION="1000 per minute")


def test_wrong_typed_claims_do_not_break_the_rate_limiter(limits_on, client, auth, app, alice):
    for changes in WRONG_TYPES.values():
        response = use(client, auth, reclaimed(app, alice, **changes), "access")
        assert_refused(response)
        assert "X-RateLimit-Limit" in response.headers


def test_the_same_claims_as_numbers_are_accepted(client, auth, app, alice):
    # The control for the table above: integer and fractional times pass.
    now = time.time()
    for token_type in ("access", "refresh"):
        token = reclaimed(app, alice, token_type, iat=now - 1.5, exp=now + 600.25)
        assert use(client, auth, token, token_type).status_code == 200


# --- absurd lifetimes and tokens from the future -------------------------------------------------

def lifetimes(config: dict) -> dict[str, int]:
    return {"access": config["ACCESS_TOKEN_TTL"], "refresh": config["REFRESH_TOKEN_TTL"]}


@pytest.mark.parametrize("token_type", ["access", "refresh"])
@pytest.mark.parametrize("exp", ["ten years", 1e30, 1e300, "just over"])
def test_a_token_made_to_live_longer_than_its_type_may_is_refused(client, auth, app, alice,
                                                                  token_type, exp):
    iat = int(time.time())
    exp = {"ten years": iat + TEN_YEARS,
           "just over": iat + lifetimes(app.config)[token_type] + LEEWAY + 1}.get(exp, exp)
    assert_refused(use(client, auth, reclaimed(app, alice, token_type, iat=iat, exp=exp),
                       token_type))


@pytest.mark.parametrize("token_type", ["access", "refresh"])
def test_a_lifetime_within_the_leeway_is_accepted(client, auth, app, alice, token_type):
    iat = int(time.time())
    exp = iat + lifetimes(app.config)[token_type] + LEEWAY
    token = reclaimed(app, alice, token_type, iat=iat, exp=exp)
    assert use(client, auth, token, token_type).status_code == 200


def test_a_shorter_configured_lifetime_refuses_tokens_made_for_a_longer_one(client, auth, app,
                                                                            alice):
    assert use(client, auth, alice.tokens["token"], "access").status_code == 200
    app.config["ACCESS_TOKEN_TTL"] = 600
    assert_refused(use(client, auth, alice.tokens["token"], "access"))


@pytest.mark.parametrize("token_type", ["access", "refresh"])
def test_a_token_issued_in_the_future_is_refused(client, auth, app, alice, token_type):
    iat = int(time.time()) + LEEWAY + 5
    token = reclaimed(app, alice, token_type, iat=iat, exp=iat + 60)
    assert_refused(use(client, auth, token, token_type))


@pytest.mark.parametrize("token_type", ["access", "refresh"])
def test_a_token_issued_within_the_leeway_ahead_is_accepted(client, auth, app, alice,
                                                            token_type):
    # Another instance whose clock runs a few seconds ahead issued it.
    iat = int(time.time()) + LEEWAY - 5
    token = reclaimed(app, alice, token_type, iat=iat, exp=iat + 60)
    assert use(client, auth, token, token_type).status_code == 200


def test_decode_token_checks_the_lifetime_it_is_given(app, alice):
    secret = app.config["SECRET_KEY"]
    claims = jwt.decode(alice.tokens["token"], options={"verify_signature": False})
    lifetime = claims["exp"] - claims["iat"]
    assert security.decode_token(alice.tokens["token"], secret, "access",
                                 max_lifetime=lifetime - LEEWAY)["sub"] == alice.public_id
    with pytest.raises(security.TokenError):
        security.decode_token(alice.tokens["token"], secret, "access",
                              max_lifetime=lifetime - LEEWAY - 1)


# --- two access tokens in one request ------------------------------------------------------------

def both(auth, header_token: str, bearer_token: str) -> dict:
    return auth.headers(**{"x-access-token": header_token,
                           "Authorization": f"Bearer {bearer_token}"})


@pytest.mark.parametrize("path", ["/user/me", "/template", "/user"])
def test_two_different_access_tokens_are_refused(client, auth, alice, admin, path):
    for first, second in [(alice, admin), (admin, alice)]:
        response = client.get(path, headers=both(auth, first.tokens["token"],
                                                 second.tokens["token"]))
        body = assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == INVALID_REQUEST
        assert "different tokens" in body["message"]


def test_a_bad_token_next_to_a_good_one_is_refused(client, auth, alice):
    response = client.get("/user/me", headers=both(auth, alice.tokens["token"], "garbage"))
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == INVALID_REQUEST


def test_two_tokens_are_refused_with_rate_limits_on(limits_on, client, auth, alice, admin):
    response = client.get("/user/me", headers=both(auth, alice.tokens["token"],
                                                   admin.tokens["token"]))
    assert_problem(response, 401)
    assert "X-RateLimit-Limit" in response.headers


@pytest.mark.parametrize("spacing", ["", "  "])
def test_the_same_token_in_both_places_is_accepted(client, auth, alice, spacing):
    token = alice.tokens["token"]
    response = client.get("/user/me", headers=both(auth, token + spacing, token))
    assert response.status_code == 200
    assert response.get_json()["user"]["public_id"] == alice.public_id


@pytest.mark.parametrize("where", ["x-access-token", "bearer"])
def test_either_place_alone_is_accepted(client, auth, alice, where):
    token = alice.tokens["token"]
    extra = ({"x-access-token": token} if where == "x-access-token"
             else {"Authorization": f"Bearer {token}"})
    response = client.get("/user/me", headers=auth.headers(**extra))
    assert response.get_json()["user"]["public_id"] == alice.public_id
