"""The original clients' way of talking to the service: `requests` over real HTTP, form bodies."""

from __future__ import annotations

import pytest
import requests
from servers import LiveClient, serve_in_thread

TIMEOUT = 10


@pytest.fixture
def base_url(app, monkeypatch):
    """The app served on a free local port in a background thread, shut down afterwards."""
    for name in ("NO_PROXY", "no_proxy"):  # a proxy configured around us must not intercept
        monkeypatch.setenv(name, "127.0.0.1")
    with serve_in_thread(app) as url:
        yield url


class OriginalClient(LiveClient):
    """What the original scripts did: Basic login for a token, then form posts with headers.

    Its `login` answers with the whole response, and `call` sends form data as the token's user.
    """

    def __init__(self, url: str, app_token: str):
        super().__init__(url, app_token, TIMEOUT)
        self.token: str | None = None

    def login(self, username: str, password: str) -> requests.Response:
        response = super().call("GET", "/login", auth=(username, password))
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def call(self, method: str, path: str, data: dict | None = None) -> requests.Response:
        return super().call(method, path, self.token, data=data)


@pytest.fixture
def admin_client(base_url, auth, admin) -> OriginalClient:
    client = OriginalClient(base_url, auth.app_token)
    assert client.login("admin", "adminpass1").status_code == 200
    return client


def test_login_answers_like_the_original(base_url, auth, admin):
    client = OriginalClient(base_url, auth.app_token)
    response = client.login("admin", "adminpass1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"]
    body = response.json()
    assert body["token_type"] == "bearer" and body["refresh_token"] and body["expires_in"] > 0


def test_wrong_password_is_refused_with_a_basic_challenge(base_url, auth, admin):
    response = OriginalClient(base_url, auth.app_token).login("admin", "not-the-password")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["message"]


def test_missing_application_token_is_refused(base_url, admin):
    response = requests.get(base_url + "/login", auth=("admin", "adminpass1"), timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json()["message"] == "Application token is missing"


def test_full_flow_with_form_bodies(base_url, auth, admin_client):
    made = admin_client.call("POST", "/user", {"username": "carol", "password": "carolpass1"})
    assert made.status_code == 201
    assert made.json()["message"] == "User created successfully"
    carol_id = made.json()["user"]["public_id"]
    assert made.headers["Location"].endswith(f"/user/{carol_id}")

    carol = OriginalClient(base_url, auth.app_token)
    assert carol.login("carol", "carolpass1").status_code == 200
    posted = carol.call("POST", "/template", {"title": "Test thing",
                                              "url": "https://i.imgur.com/yYGxFJX.jpeg"})
    assert posted.status_code == 201
    assert posted.json()["message"] == "Post created"
    template = posted.json()["template"]
    assert (template["approved"], template["username"]) == (False, "carol")

    pending = admin_client.call("GET", "/template").json()["templates"]
    assert [t["id"] for t in pending] == [template["id"]]
    approved = admin_client.call("PATCH", f"/template/{template['id']}", {"approved": "true"})
    assert approved.json()["template"]["approved"] is True

    feed = carol.call("GET", "/").json()
    assert [t["title"] for t in feed["templates"]] == ["Test thing"]
    assert feed["meta"]["total"] == 1

    deleted = carol.call("DELETE", f"/template/{template['id']}")
    assert deleted.json() == {"message": "The post has been deleted"}
    gone = carol.call("GET", f"/template/{template['id']}")
    assert (gone.status_code, gone.json()["message"]) == (404, "No post found")

    removed = admin_client.call("DELETE", f"/user/{carol_id}")
    assert removed.json()["message"] == "The user has been deleted!"
    assert carol.call("GET", "/user/me").status_code == 401


def test_non_admin_cannot_create_users(base_url, auth, alice):
    client = OriginalClient(base_url, auth.app_token)
    client.login("alice", "alicepass1")
    response = client.call("POST", "/user", {"username": "mallory", "password": "mallorypass"})
    assert response.status_code == 403
    assert response.json()["message"] == "Cannot perform that function!"
