"""The refused tokens of test_token_claims.py, against a real gunicorn server."""

from __future__ import annotations

import time
from types import SimpleNamespace

import jwt
import requests
from servers import SECRET_KEY, Server, migrate, running, seed, server_env
from test_token_claims import BEARER_CHALLENGE, INVALID_REQUEST, TEN_YEARS, signed


def test_a_real_server_refuses_these_tokens(tmp_path):
    """Under gunicorn, as deployed: a 401 for each, never a 5xx."""
    url = f"sqlite:///{tmp_path / 'meme.sqlite'}"
    migrate(url)
    seeded = seed(url, users=("alice",))
    with running(Server(server_env(url, RATELIMIT_ENABLED="true"), tmp_path, workers=1)) as (
            server,):
        tokens = {}
        for name in ("root", "alice"):
            login = requests.post(server.url + "/login", timeout=10, json={
                "username": name, "password": seeded.passwords[name]},
                headers={"x-application-token": seeded.app_token})
            tokens[name] = login.json()
        now = int(time.time())
        key = SimpleNamespace(config={"SECRET_KEY": SECRET_KEY})
        access = jwt.decode(tokens["alice"]["token"], options={"verify_signature": False})
        refresh = jwt.decode(tokens["alice"]["refresh_token"], options={"verify_signature": False})
        app_header = {"x-application-token": seeded.app_token}
        answers = [
            requests.get(server.url + "/user/me", timeout=10, headers={
                **app_header, "x-access-token": signed(key, {**access, **changes})})
            for changes in ({"exp": str(now + 600)}, {"iat": now, "exp": now + TEN_YEARS},
                            {"iat": now + 3600, "exp": now + 3660})]
        answers += [
            requests.post(server.url + "/token/refresh", timeout=10, headers=app_header, json={
                "refresh_token": signed(key, {**refresh, **changes})})
            for changes in ({"exp": str(now + 600)}, {"iat": now, "exp": 1e300})]
        both_tokens = requests.get(server.url + "/user/me", timeout=10, headers={
            **app_header, "x-access-token": tokens["alice"]["token"],
            "Authorization": f"Bearer {tokens['root']['token']}"})
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.headers["WWW-Authenticate"] == BEARER_CHALLENGE
    assert both_tokens.status_code == 401
    assert both_tokens.headers["WWW-Authenticate"] == INVALID_REQUEST
