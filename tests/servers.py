"""Real meme_api servers under gunicorn, fresh databases, and the services they need."""

from __future__ import annotations

import base64
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from conftest import FAST_HASH
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from meme_api import create_app
from meme_api.accounts import create_user
from meme_api.client_apps import register_app
from meme_api.extensions import db

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "multiprocess-test-secret-key-long-enough-for-hs256"
# Where the tests marked `redis` and `postgres` find their services; override to use others.
REDIS_URL = os.environ.get("MEME_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("MEME_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MARIADB_URL = os.environ.get("MEME_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH",
                 "VIRTUAL_ENV", "SYSTEMROOT")
# Every setting the tests depend on, so that neither the caller's environment nor a `.env`
# file in the working directory can change them.
SERVER_DEFAULTS = {
    "SECRET_KEY": SECRET_KEY, "APP_ENV": "development", "REQUIRE_APP_TOKEN": "true",
    "APP_TOKEN_GRACE": "0", "ACCESS_TOKEN_TTL": "3600", "REFRESH_TOKEN_TTL": "2592000",
    "RATELIMIT_ENABLED": "false", "RATELIMIT_DEFAULT": "600 per minute",
    "RATELIMIT_LOGIN": "10 per minute", "RATELIMIT_STORAGE_URI": "memory://",
    "TRUSTED_PROXY_COUNT": "0", "CORS_ORIGINS": "", "LOG_LEVEL": "WARNING",
}
READY_WITHIN = 20.0
SOCKET_TIMEOUT = 10.0


# --- services ---------------------------------------------------------------------------------

def require_service(name: str, address: str, reachable: bool) -> None:
    """Go on when the service answers, else fail: a test selected by its marker never skips."""
    if not reachable:
        pytest.fail(f"{name} at {address} is unreachable: start it, point the MEME_TEST_* URL at "
                    "one, or deselect the tests that need it by their marker", pytrace=False)


def redis_answers(url: str = REDIS_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def require_redis() -> str:
    require_service("Redis", REDIS_URL, redis_answers())
    return REDIS_URL


@contextmanager
def maintenance_engine(name: str, url: str, **options) -> Iterator[Engine]:
    """An engine on a server's maintenance database; the test fails if the server is away."""
    engine = create_engine(url, connect_args={"connect_timeout": 3}, **options)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure to connect means "unreachable"
        engine.dispose()
        require_service(name, make_url(url).render_as_string(), False)
    try:
        yield engine
    finally:
        engine.dispose()


def new_database_name() -> str:
    return f"meme_test_{uuid.uuid4().hex[:12]}"


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a PostgreSQL database for one use and drop it afterwards; yield its URL."""
    with maintenance_engine("PostgreSQL", POSTGRES_URL, isolation_level="AUTOCOMMIT") as engine:
        name = new_database_name()
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_mariadb_database() -> Iterator[str]:
    """Create a MariaDB database for one use and drop it afterwards; yield its URL."""
    with maintenance_engine("MariaDB", MARIADB_URL) as engine:
        name = new_database_name()
        with engine.begin() as connection:
            connection.execute(text(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
        try:
            yield make_url(MARIADB_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.begin() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


@contextmanager
def logging_left_alone() -> Iterator[None]:
    """Alembic's env.py reconfigures logging (fileConfig); put it back for the tests after."""
    loggers = [logging.root, *(logger for logger in logging.root.manager.loggerDict.values()
                               if isinstance(logger, logging.Logger))]
    saved = [(logger, logger.level, list(logger.handlers), logger.disabled, logger.propagate)
             for logger in loggers]
    try:
        yield
    finally:
        for logger, level, handlers, disabled, propagate in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.disabled = disabled
            logger.propagate = propagate


# --- the schema and the first accounts ---------------------------------------------------------

def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a real server: the contract's variables, nothing from the caller."""
    env = {key: value for key, value in os.environ.items() if key in INHERITED_ENV}
    env.update(SERVER_DEFAULTS, DATABASE_URL=database_url)
    env.update(overrides)
    return env


def migrate(database_url: str) -> None:
    """Build the schema the way the container does: `flask --app meme_api db upgrade`."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "meme_api", "db", "upgrade"],
        env=server_env(database_url), cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


# The backends a live-server test runs on; those that need a server are marked for .ci/run.
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@contextmanager
def migrated_database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh database of `kind` (one of BACKENDS), migrated to head; dropped afterwards."""
    makers = {"sqlite": lambda: nullcontext(f"sqlite:///{workdir / 'meme.sqlite'}"),
              "postgresql": fresh_postgres_database, "mariadb": fresh_mariadb_database}
    with makers[kind]() as url:
        migrate(url)
        yield url


def parse_raw_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """An HTTP/1.1 answer read off a socket: status, headers (lower-case names), body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@dataclass
class Seed:
    app_token: str
    passwords: dict[str, str] = field(default_factory=dict)


def seed(database_url: str, admins: tuple[str, ...] = ("root",),
         users: tuple[str, ...] = ()) -> Seed:
    """Register an application and create accounts straight in the database."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY,
                      "PASSWORD_HASH_METHOD": FAST_HASH, "RATELIMIT_ENABLED": False})
    with app.app_context():
        result = Seed(register_app(f"app-{uuid.uuid4().hex[:8]}")[1])
        for name in admins + users:
            result.passwords[name] = f"{name}-password"
            create_user(name, result.passwords[name], "admin" if name in admins else "user")
        db.session.remove()
        db.engine.dispose()
    return result


# --- servers ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _gunicorn_has_control_socket() -> bool:
    from gunicorn.config import Config

    return "control_socket_disable" in Config().settings


class Server:
    """`gunicorn -w N "meme_api:create_app()"` on a free port; always stopped by `stop()`."""

    ACCESS_FORMAT = "%(p)s %({x-request-id}o)s %(s)s"

    def __init__(self, env: dict[str, str], workdir: Path, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = workdir / f"access-{self.port}.log"
        self.output = workdir / f"server-{self.port}.log"
        command = [sys.executable, "-m", "gunicorn", "-w", str(workers),
                   "-b", f"127.0.0.1:{self.port}", "--access-logfile", str(self.access_log),
                   "--access-logformat", self.ACCESS_FORMAT]
        if _gunicorn_has_control_socket():
            command.append("--no-control-socket")  # several servers at once must not share one
        command.append("meme_api:create_app()")
        with open(self.output, "wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                command, env=env, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT)

    def wait_ready(self) -> Server:
        """Poll /healthz for a bounded time; fail with the server's output if it never answers."""
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"server did not become ready:\n{self.output.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def worker_of(self, request_id: str) -> str:
        """The pid of the worker that answered the request with this `X-Request-ID`."""
        pattern = re.compile(rf"^<(\d+)> {re.escape(request_id)} \d+$", re.MULTILINE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            log = self.access_log.read_text() if self.access_log.exists() else ""
            if found := pattern.search(log):
                return found.group(1)
            time.sleep(0.02)
        raise AssertionError(f"no access-log line for request {request_id}")


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """The app on a free local port, one thread per request; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(SOCKET_TIMEOUT)
        server.server_close()


@contextmanager
def running(*servers: Server):
    """Wait until every server is ready; stop them all however the block ends."""
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


# --- HTTP to a live server -------------------------------------------------------------------

def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class LiveClient:
    """`requests` against a live server with the API's credentials: the application token,
    and an access token when given. Each call has a session of its own (calls may race from
    threads), which ignores proxies configured around the test run."""

    def __init__(self, url: str, app_token: str | None = None, timeout: float = SOCKET_TIMEOUT):
        self.url = url
        self.app_token = app_token
        self.timeout = timeout

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"x-application-token": self.app_token} if self.app_token else {}
        if token:
            headers["x-access-token"] = token
        headers.update(extra)
        return headers

    def call(self, method: str, path: str, token: str | None = None, *,
             headers: dict[str, str] | None = None, **kwargs) -> requests.Response:
        with requests.Session() as session:
            session.trust_env = False
            return session.request(method, self.url + path, timeout=self.timeout,
                                   headers={**self.headers(token), **(headers or {})}, **kwargs)

    def login(self, username: str, password: str) -> dict:
        """The token pair of a Basic login; fails the test unless it is a 200."""
        response = self.call("GET", "/login",
                             headers={"Authorization": basic_header(username, password)})
        assert response.status_code == 200, response.text
        return response.json()


# --- raw HTTP, to pin a request on one worker ---------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    request_id: str


class HeldRequest:
    """A request sent but for its last byte: the sync worker that took it waits for the rest."""

    def __init__(self, port: int, method: str, path: str, headers: dict[str, str],
                 body: bytes = b""):
        self.request_id = f"held-{uuid.uuid4().hex}"
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                 f"X-Request-ID: {self.request_id}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        self.sock.sendall(raw[:-1])
        self.last = raw[-1:]

    def release(self) -> HeldRequest:
        """Send the last byte: the worker goes on."""
        self.sock.sendall(self.last)
        self.last = b""
        return self

    def finish(self) -> Answer:
        """Send the last byte (unless released already) and read the whole answer."""
        try:
            if self.last:
                self.release()
            chunks = []
            while chunk := self.sock.recv(65536):
                chunks.append(chunk)
        finally:
            self.sock.close()
        return Answer(*parse_raw_answer(b"".join(chunks)), self.request_id)


def on_two_workers(server: Server, method: str, path: str, headers: dict[str, str],
                   body: bytes = b"") -> list[Answer]:
    """The same request answered by two different worker processes (checked, not assumed).

    The first is held on one sync worker while the second is sent in full, so another worker
    must answer the second; then the first is completed.
    """
    held = HeldRequest(server.port, method, path, headers, body)
    other = HeldRequest(server.port, method, path, headers, body)
    answers = [other.finish(), held.finish()]
    workers = {server.worker_of(answer.request_id) for answer in answers}
    assert len(workers) == 2, f"both requests were answered by worker {workers}"
    return answers


# --- the development server -------------------------------------------------------------------

class DevServer(Server):
    """`python run.py` (Werkzeug's development server) on a free port; stdout and stderr apart."""

    def __init__(self, env: dict[str, str], workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = workdir / f"dev-{self.port}.out"
        self.errors = workdir / f"dev-{self.port}.err"
        env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        with open(self.output, "wb") as output, open(self.errors, "wb") as errors:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                [sys.executable, "run.py"], env=env, cwd=REPO_ROOT, stdout=output,
                stderr=errors)
