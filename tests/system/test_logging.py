"""The request log (contract §8): one JSON line per request with the contract's keys, no secrets."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from servers import (
    REPO_ROOT,
    LiveClient,
    Server,
    _gunicorn_has_control_socket,
    free_port,
    migrate,
    running,
    seed,
    serve_in_thread,
    server_env,
)
from sqlalchemy import create_engine, text

from meme_api.request_log import JsonLineFormatter

KEYS = {"time", "request_id", "method", "path", "status", "duration_ms", "user", "app"}
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
TIMEOUT = 10
CAROL_PASSWORD = "carol-first-secret"
CAROL_WRONG = "carol-wrong-guess"
CAROL_NEW = "carol-second-secret"


# --- a flow of requests, and what each one's log line must say ---------------------------------


@dataclass
class Sent:
    response: object  # requests.Response
    method: str
    path: str
    who: str | None  # the account whose public_id the line names, or None
    app: bool  # whether the line names the client application


@dataclass
class Flow:
    """Requests made over real HTTP, with every secret they carried or received."""

    url: str
    app_token: str
    sent: list[Sent] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    public_ids: dict[str, str] = field(default_factory=dict)
    app_name: str | None = None

    def __post_init__(self):
        self.secrets.add(self.app_token)

    def call(self, method: str, path: str, *, who: str | None, app: bool = True,
             token: str | None = None, bearer: str | None = None,
             basic: tuple[str, str] | None = None, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if app:
            headers["x-application-token"] = self.app_token
        if token:
            headers["x-access-token"] = token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if basic:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ":".join(basic).encode()).decode()
            self.secrets.add(basic[1])
        if "Authorization" in headers:
            self.secrets.update({headers["Authorization"], headers["Authorization"].split()[1]})
        response = LiveClient(self.url, timeout=TIMEOUT).call(method, path, headers=headers,
                                                              **kwargs)
        self.sent.append(Sent(response, method, path.partition("?")[0], who, app))
        if response.headers.get("Content-Type") == "application/json":
            body = response.json()
            self.secrets.update(body[key] for key in ("token", "refresh_token") if key in body)
        return response

    def expected(self, sent: Sent) -> dict:
        return {"request_id": sent.response.headers["X-Request-ID"], "method": sent.method,
                "path": sent.path, "status": sent.response.status_code,
                "user": self.public_ids.get(sent.who),
                "app": self.app_name if sent.app else None}


def run_flow(url: str, app_token: str, admin: str, admin_password: str) -> Flow:
    """Log in, refresh, use both header forms, create a user, fail, change a password, log out."""
    flow = Flow(url, app_token)
    first = flow.call("GET", "/login", who="admin", basic=(admin, admin_password)).json()
    pair = flow.call("POST", "/token/refresh", who="admin",
                     json={"refresh_token": first["refresh_token"]}).json()
    me = flow.call("GET", "/user/me", who="admin", token=pair["token"]).json()["user"]
    flow.public_ids["admin"] = me["public_id"]
    flow.call("GET", "/template?limit=5&ordering=-id", who="admin", bearer=pair["token"])
    flow.app_name = flow.call("GET", "/app", who="admin", bearer=pair["token"]).json()[
        "apps"][0]["name"]
    flow.secrets.add(CAROL_PASSWORD)
    carol = flow.call("POST", "/user", who="admin", token=pair["token"],
                      json={"username": "carol", "password": CAROL_PASSWORD}).json()["user"]
    flow.public_ids["carol"] = carol["public_id"]
    assert flow.call("GET", "/login", who=None, basic=("carol", CAROL_WRONG)).status_code == 401
    login = flow.call("POST", "/login", who="carol",
                      json={"username": "carol", "password": CAROL_PASSWORD}).json()
    flow.secrets.add(CAROL_NEW)
    changed = flow.call("POST", "/user/me/password", who="carol", bearer=login["token"],
                        json={"current_password": CAROL_PASSWORD, "new_password": CAROL_NEW})
    assert changed.status_code == 200
    fresh = changed.json()["token"]
    assert flow.call("POST", "/logout", who="carol", token=fresh).status_code == 200
    assert flow.call("GET", "/user/me", who=None, token=fresh).status_code == 401
    flow.call("GET", "/healthz", who=None, app=False, headers={"X-Request-ID": "flow.health_1"})
    flow.call("GET", "/no/such/route", who=None, app=False)
    assert [sent.response.status_code for sent in flow.sent] == [
        200, 200, 200, 200, 200, 201, 401, 200, 200, 200, 401, 200, 404]
    return flow


def password_hashes(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(text("SELECT password_hash FROM users")))
    finally:
        engine.dispose()


def assert_one_line_per_request(lines: list[str], flow: Flow) -> None:
    records = [json.loads(line) for line in lines]
    assert len(records) == len(flow.sent)
    by_id = {record["request_id"]: record for record in records}
    assert len(by_id) == len(records)
    for sent in flow.sent:
        record = by_id[sent.response.headers["X-Request-ID"]]
        assert set(record) == KEYS
        assert {key: record[key] for key in KEYS - {"time", "duration_ms"}} == flow.expected(sent)
        assert ISO_UTC.fullmatch(record["time"]) and datetime.fromisoformat(record["time"])
        duration = record["duration_ms"]
        assert isinstance(duration, int | float) and not isinstance(duration, bool)
        assert duration >= 0
    assert by_id["flow.health_1"]["path"] == "/healthz"


def assert_no_secrets(texts: list[str], secrets: set[str]) -> None:
    assert all(len(secret) >= 8 for secret in secrets)  # nothing trivially present by chance
    leaks = {secret[:12] for secret in secrets for each in texts if secret in each}
    assert leaks == set()


# --- in process: a real server in a thread, the log read through a handler of our own ----------


@pytest.fixture
def log_lines():
    """The request-log lines, formatted exactly as the service writes them to stdout."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("meme_api.requests")
    logger.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    logger.removeHandler(handler)


@pytest.fixture
def base_url(app):
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def app_config(app_config) -> dict:
    app_config["LOG_LEVEL"] = "DEBUG"  # whatever the service logs about itself is checked too
    return app_config


def test_every_request_logs_one_line_with_the_contract_keys(app, auth, admin, base_url,
                                                            log_lines):
    flow = run_flow(base_url, auth.app_token, "admin", "adminpass1")
    assert_one_line_per_request(log_lines(), flow)


def test_no_secret_reaches_any_log_or_output(app, auth, admin, base_url, log_lines, capsys,
                                             caplog):
    caplog.set_level(logging.DEBUG, logger="meme_api")
    flow = run_flow(base_url, auth.app_token, "admin", "adminpass1")
    flow.secrets |= password_hashes(app.config["SQLALCHEMY_DATABASE_URI"])
    flow.secrets.add(app.config["SECRET_KEY"])
    printed = capsys.readouterr()
    records = [record.getMessage() + json.dumps(getattr(record, "fields", None))
               for record in caplog.records]
    assert_no_secrets([*log_lines(), printed.out, printed.err, caplog.text, *records],
                      flow.secrets)


@pytest.fixture
def tight_limits(app_config) -> None:
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION="2 per minute",
                      RATELIMIT_LOGIN="1 per minute")


def test_rate_limited_requests_log_the_request_id_they_answer_with(tight_limits, app, auth,
                                                                   alice, base_url, log_lines):
    flow = Flow(base_url, auth.app_token)
    for attempt in range(2):
        flow.call("GET", "/login", who=None, basic=("alice", "alicepass1"),
                  headers={"X-Request-ID": f"login-{attempt}"})
    for attempt in range(3):
        flow.call("GET", "/template", who=None, token=alice.tokens["token"],
                  headers={"X-Request-ID": f"default-{attempt}"})
    assert [sent.response.status_code for sent in flow.sent] == [200, 429, 200, 200, 429]
    records = [json.loads(line) for line in log_lines()]
    assert [(record["request_id"], record["status"]) for record in records] == [
        (sent.response.headers["X-Request-ID"], sent.response.status_code)
        for sent in flow.sent]
    assert [record["request_id"] for record in records] == [
        "login-0", "login-1", "default-0", "default-1", "default-2"]


# --- a real process: what gunicorn's worker prints on its own stdout and stderr ----------------


class SplitOutputServer(Server):
    """`gunicorn -w 1` whose stdout and stderr go to separate files."""

    def __init__(self, env: dict[str, str], workdir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout = workdir / "stdout.log"
        self.output = workdir / "stderr.log"
        command = [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{self.port}"]
        if _gunicorn_has_control_socket():
            command.append("--no-control-socket")
        command.append("meme_api:create_app()")
        with open(self.stdout, "wb") as out, open(self.output, "wb") as err:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                command, env=env, cwd=REPO_ROOT, stdout=out, stderr=err)


def test_a_real_worker_prints_one_json_line_per_request_on_stdout_and_no_secret(tmp_path):
    url = f"sqlite:///{tmp_path / 'meme.sqlite'}"
    migrate(url)
    seeded = seed(url)
    server = SplitOutputServer(server_env(url, LOG_LEVEL="DEBUG"), tmp_path)
    with running(server):
        flow = run_flow(server.url, seeded.app_token, "root", seeded.passwords["root"])
    records = [json.loads(line) for line in server.stdout.read_text().splitlines()]
    flow_ids = {sent.response.headers["X-Request-ID"] for sent in flow.sent}
    # Besides the flow, stdout holds only the lines of the readiness polls made before it.
    polls = [record for record in records if record["request_id"] not in flow_ids]
    assert polls and all((record["method"], record["path"], record["user"]) == (
        "GET", "/healthz", None) for record in polls)
    assert_one_line_per_request([json.dumps(record) for record in records
                                 if record["request_id"] in flow_ids], flow)
    flow.secrets |= password_hashes(url) | set(seeded.passwords.values())
    assert_no_secrets([server.stdout.read_text(), server.output.read_text()], flow.secrets)
