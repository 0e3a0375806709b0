"""The headers of every answer (test_response_headers.py) as a real server sends them."""

from __future__ import annotations

import requests
from servers import Server, migrate, running, seed, server_env
from test_response_headers import API_POLICY, SECURITY_HEADERS


def test_a_real_server_sends_the_same_headers(tmp_path):
    """Under gunicorn, with rate limits and CORS on, as deployed."""
    url = f"sqlite:///{tmp_path / 'meme.sqlite'}"
    migrate(url)
    seeded = seed(url)
    env = server_env(url, RATELIMIT_ENABLED="true", CORS_ORIGINS="https://app.example.com")
    with running(Server(env, tmp_path, workers=1)) as (server,):
        logged_in = requests.post(server.url + "/login", timeout=10,
                               headers={"x-application-token": seeded.app_token},
                               json={"username": "root", "password": seeded.passwords["root"]})
        refused = requests.get(server.url + "/user/me", timeout=10, headers={
            "x-application-token": seeded.app_token, "Origin": "https://app.example.com"})
    assert logged_in.status_code == 200 and refused.status_code == 401
    for response in (logged_in, refused):
        for header, value in {**SECURITY_HEADERS, "Content-Security-Policy": API_POLICY}.items():
            assert response.headers[header] == value
        assert "Retry-After" not in response.headers
        assert "X-RateLimit-Limit" in response.headers
        assert "origin" in response.headers["Vary"].lower()
    assert "Access-Control-Allow-Origin" not in logged_in.headers  # no Origin, no CORS headers
    assert refused.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
