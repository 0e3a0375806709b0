"""/docs in a real headless Chromium against gunicorn, used as a person uses it (contract §8).

Run with `pytest -m browser`. The page is driven through its own controls (Authorize, "Try it
out", Execute; swagger_ui_driver.js beside this file): every operation an admin may call is tried,
with its defaults where it has them and with the ids and bodies a person would type where it
needs them, and answers its documented status. Trying /login authorizes the calls after it; the
tokens survive a reload; nothing is loaded from outside the service. A screenshot is written to
.ci/output/ (MEME_ARTIFACTS_DIR overrides), not committed.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from browser import (
    DevTools,
    chromium_executable,
    evaluate,
    open_page,
    rendered_operations,
    screenshot,
)
from servers import REPO_ROOT, Server, migrate, running, seed, server_env

pytestmark = pytest.mark.browser

DRIVER = (Path(__file__).parent / "swagger_ui_driver.js").read_text()
ARTIFACTS = Path(os.environ.get("MEME_ARTIFACTS_DIR") or REPO_ROOT / ".ci" / "output")
ADMIN = "root"


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium with a new, empty profile."""
    devtools = DevTools(chromium_executable(), str(tmp_path / "profile"))
    try:
        yield devtools
    finally:
        devtools.close()


@pytest.fixture
def live(tmp_path):
    """gunicorn on a fresh, migrated SQLite database with an admin and an application."""
    database_url = f"sqlite:///{tmp_path / 'docs.sqlite'}"
    migrate(database_url)
    accounts = seed(database_url, admins=(ADMIN,))
    server = Server(server_env(database_url), tmp_path)
    with running(server):
        yield server.url, accounts


class Page:
    """The docs page in one tab, with the driver loaded."""

    def __init__(self, browser: DevTools, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.session = open_page(browser, base_url + "/docs")
        self.ready()
        self.tried: dict[str, int] = {}

    def ready(self) -> set[str]:
        operations = rendered_operations(self.browser, self.session)
        assert operations, "Swagger UI rendered no operation"
        evaluate(self.browser, self.session, DRIVER)
        return operations

    def reload(self) -> None:
        self.browser.send("Page.reload", session=self.session)
        # the old document's operations may still be listed for a moment: wait for the new one
        evaluate(self.browser, self.session,
                 "new Promise(r => { const w = () => document.readyState === 'complete' && "
                 "!window.__swaggerDriver ? r() : setTimeout(w, 50); w(); })")
        self.ready()

    def authorize(self, **values: list[str]) -> None:
        evaluate(self.browser, self.session, f"__swaggerDriver.authorize({json.dumps(values)})")

    def try_out(self, tag: str, operation_id: str, expected: int, parameters=None,
                body=None) -> dict | str:
        """Try an operation on the page; check its status; return the body shown."""
        answer = evaluate(self.browser, self.session, "__swaggerDriver.tryOut("
                          f"{json.dumps(f'operations-{tag}-{operation_id}')}, "
                          f"{json.dumps(parameters or {})}, "
                          f"{json.dumps(None if body is None else json.dumps(body))})")
        assert answer["status"] == expected, (operation_id, answer)
        self.tried[operation_id] = answer["status"]
        try:
            return json.loads(answer["body"])
        except ValueError:
            return answer["body"]


def first_cursor(base_url: str, app_token: str, token: str) -> str:
    """A cursor the service issued (the page cannot send the empty first one)."""
    response = requests.get(base_url + "/template", params={"cursor": "", "limit": 1},
                            headers={"x-application-token": app_token,
                                     "x-access-token": token}, timeout=10)
    assert response.status_code == 200
    return response.json()["meta"]["next_cursor"]


def test_every_operation_works_from_the_page(live, browser):
    base_url, accounts = live
    password = accounts.passwords[ADMIN]
    document = requests.get(base_url + "/openapi.json", timeout=10).json()
    page = Page(browser, base_url)

    page.authorize(appToken=[accounts.app_token], basicAuth=[ADMIN, password])
    login = page.try_out("login", "login", 200)
    # No token pasted: trying /login authorized the page.
    me = page.try_out("user", "get_me", 200)
    assert me["user"]["username"] == ADMIN
    screenshot(browser, page.session, ARTIFACTS / "docs-page.png")

    page.reload()
    stored = evaluate(browser, page.session, "__swaggerDriver.storedAuthorization()")
    assert {"appToken", "basicAuth", "accessToken"} <= set(stored)
    page.try_out("user", "get_me", 200)

    page.try_out("login", "login_with_body", 200, body={"username": ADMIN, "password": password})
    page.try_out("login", "refresh_token", 200, body={"refresh_token": login["refresh_token"]})
    for tag, operation_id in (("template", "list_templates"), ("template", "get_feed"),
                              ("user", "list_users"), ("apps", "list_apps"), ("ops", "healthz"),
                              ("ops", "readyz"), ("docs", "get_openapi"),
                              ("docs", "get_docs_page"), ("audit", "list_audit_events"),
                              ("metrics", "get_metrics")):
        page.try_out(tag, operation_id, 200)  # every default as the page sends it
    page.try_out("docs", "get_docs_asset", 200, {"asset": "swagger-ui.css"})

    user = page.try_out("user", "create_user", 201,
                        body={"username": "carol", "password": "carol-password"})["user"]
    public_id = {"public_id": user["public_id"]}
    page.try_out("user", "get_user", 200, public_id)
    page.try_out("user", "promote_user", 200, public_id)
    page.try_out("user", "update_user", 200, public_id, body={"active": True})

    # Sessions: the caller's own (end one that is not the page's), and another user's.
    mine = page.try_out("sessions", "list_my_sessions", 200)["sessions"]
    other = next(session for session in mine if not session["current"])
    page.try_out("sessions", "end_my_session", 200, {"session_id": other["id"]})
    carol_login = requests.get(base_url + "/login", auth=("carol", "carol-password"),
                               headers={"x-application-token": accounts.app_token}, timeout=10)
    assert carol_login.status_code == 200
    carols = page.try_out("sessions", "list_user_sessions", 200, public_id)["sessions"]
    page.try_out("sessions", "end_user_session", 200,
                 {**public_id, "session_id": carols[0]["id"]})
    events = page.try_out("audit", "list_audit_events", 200)["events"]
    page.try_out("audit", "get_audit_event", 200, {"event_id": str(events[0]["id"])})

    post = {"title": "From the docs page", "url": "https://example.com/meme.png"}
    template = page.try_out("template", "create_template", 201, body=post)["template"]
    template_id = {"template_id": str(template["id"])}
    page.try_out("template", "create_template", 201, body={**post, "title": "Second"})
    page.try_out("template", "get_template", 200, template_id)
    page.try_out("template", "replace_template", 200, template_id, body=post)
    page.try_out("template", "update_template", 200, template_id, body={"approved": False})
    cursor = first_cursor(base_url, accounts.app_token, me_token(browser, page))
    listed = page.try_out("template", "list_templates", 200, {"cursor": cursor, "limit": "1"})
    assert "next_cursor" in listed["meta"]

    name = f"docs-{uuid.uuid4().hex[:8]}"
    page.try_out("apps", "register_app", 201, body={"name": name})
    page.try_out("apps", "rotate_app_token", 200, {"name": name})
    page.try_out("apps", "revoke_app", 200, {"name": name})

    page.try_out("template", "delete_template", 200, template_id)
    page.try_out("user", "delete_user", 200, public_id)

    # Logging out on the page takes the token back: the next call is refused, as documented.
    page.try_out("login", "logout", 200)
    page.try_out("user", "get_me", 401)
    page.try_out("login", "login", 200)
    page.try_out("user", "change_password", 200,
                 body={"current_password": password, "new_password": password + "-new"})
    page.try_out("login", "logout_all", 200)

    every = {operation["operationId"] for item in document["paths"].values()
             for operation in item.values()}
    assert set(page.tried) == every
    assert_stayed_on_the_service(browser, page.session, base_url)


def me_token(browser: DevTools, page: Page) -> str:
    """The access token the page holds now (set by the login tried on it)."""
    stored = evaluate(browser, page.session, "__swaggerDriver.storedAuthorization()")
    return stored["accessToken"]["value"]


def assert_stayed_on_the_service(browser: DevTools, session: str, base_url: str) -> None:
    """Every request went to the service; no load failed; no script error."""
    requested = [event["request"]["url"]
                 for event in browser.session_events(session, "Network.requestWillBeSent")]
    origin = urlsplit(base_url).netloc
    assert [url for url in requested if urlsplit(url).netloc != origin
            and not url.startswith("data:")] == []
    paths = {urlsplit(url).path for url in requested}
    assert {"/docs", "/openapi.json", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css",
            "/docs/swagger-initializer.js"} <= paths
    assert browser.session_events(session, "Network.loadingFailed") == []
    # The 401 tried on purpose is logged by the browser as a network error; nothing else may be.
    errors = [entry["entry"] for entry in browser.session_events(session, "Log.entryAdded")
              if entry["entry"]["level"] == "error" and entry["entry"].get("source") != "network"]
    errors += browser.session_events(session, "Runtime.exceptionThrown")
    assert errors == []


def test_docs_page_lists_every_operation_and_stays_on_the_service(live, browser):
    base_url, _ = live
    document = requests.get(base_url + "/openapi.json", timeout=10).json()
    expected = {f"{method.upper()} {path}"
                for path, item in document["paths"].items() for method in item}
    page = Page(browser, base_url)
    assert rendered_operations(browser, page.session) == expected
    assert_stayed_on_the_service(browser, page.session, base_url)
