"""Database outages (contract §8): 503 + Retry-After while it is away, recovery unaided."""

# The PostgreSQL server here is private to the test (initdb + pg_ctl on a free port), so it can be
# crashed and restarted; the machine's shared server is never touched. A TCP proxy in front of it
# simulates a database that accepts connections but never answers.

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Auth, assert_problem, make_config
from servers import free_port, migrate
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from meme_api import __version__, create_app
from meme_api.config import engine_options
from meme_api.extensions import db
from meme_api.models import Template

pytestmark = pytest.mark.postgres

CONNECT_TIMEOUT = 2
# A request during an outage may try to connect twice (a stale pooled connection, then a new
# one); anything slower than this counts as a hang.
ANSWER_WITHIN = 4 * CONNECT_TIMEOUT + 2
RECOVER_WITHIN = 30.0
WRITERS = 4


# --- a PostgreSQL server of the test's own ------------------------------------------------------

def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are: $MEME_TEST_PG_BINDIR, PATH, pg_config, or Debian's layout."""
    candidates = [os.environ.get("MEME_TEST_PG_BINDIR")]
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    if pg_config := shutil.which("pg_config"):
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,  # noqa: S603
                              check=False)
        candidates.append(done.stdout.strip())

    def major(path: Path) -> int:
        return int(re.sub(r"\D", "", path.parent.name) or 0)

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    for candidate in [*filter(None, candidates), *map(str, debian)]:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    pytest.fail("initdb and pg_ctl not found: install postgresql or set MEME_TEST_PG_BINDIR",
                pytrace=False)


class PrivatePostgres:
    """A throwaway cluster on a free port; initdb refuses root, so root runs it as `postgres`."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.as_user: list[str] = []
        # pytest's tmp_path is private to root; the cluster's owner must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="meme-pg-"))
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                pytest.fail("initdb refuses root and there is no `postgres` user to run it as",
                            pytrace=False)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(  # noqa: S603 - PostgreSQL's own tools, our arguments
            [*self.as_user, str(self.bindir / program), *args], capture_output=True, text=True,
            timeout=60, check=False, cwd=self.root)
        assert done.returncode == 0, f"{program} failed: {done.stdout}{done.stderr}"

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.data}")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def crash(self) -> None:
        """Stop without a checkpoint, like a crash: committed work must survive via the WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError):
                self.crash()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        name = f"meme_{uuid.uuid4().hex[:12]}"
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


# --- a TCP proxy that can turn mute -------------------------------------------------------------

class MuteableProxy:
    """Forwards 127.0.0.1:port to a target; `mute()` drops every connection and holds new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.muted = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.sockets.add(client)
            if self.muted.is_set():
                continue  # accepted, never answered: the client's connect timeout must act
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                self._close(client)
                continue
            with self.lock:
                self.sockets.add(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source)
            self._close(sink)

    def _close(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _drop_all(self) -> None:
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            self._close(sock)

    def mute(self) -> None:
        self.muted.set()
        self._drop_all()

    def unmute(self) -> None:
        self.muted.clear()
        self._drop_all()  # the held ones; the client gave up on them long ago

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        self._drop_all()
        self.thread.join(timeout=5)


# --- the service under test ---------------------------------------------------------------------

@dataclass
class Service:
    """The app in this process, with a short connect timeout, and credentials to call it."""

    app: object
    headers: dict[str, str]
    login_headers: dict[str, str]
    acknowledged: dict[int, str] = field(default_factory=dict)

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs):
        started = time.monotonic()
        response = self.app.test_client().open(path, method=method,
                                               headers=headers or self.headers, **kwargs)
        return response, time.monotonic() - started

    def post_template(self, title: str):
        response, elapsed = self.call("POST", "/template",
                                      json={"title": title, "url": "https://e.org/x.jpg"})
        if response.status_code == 201:
            self.acknowledged[response.get_json()["template"]["id"]] = title
        return response, elapsed


def service_on(url: str, tmp_path) -> Service:
    """Migrate the database at `url`, build the app against it, make a user and an app token."""
    migrate(url)
    options = engine_options(url)  # the real pool settings (pre-ping, recycle) ...
    options["connect_args"] = {**options["connect_args"], "connect_timeout": CONNECT_TIMEOUT}
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url,
                                 SQLALCHEMY_ENGINE_OPTIONS=options))
    with app.app_context():
        auth = Auth(app)
        account = auth.make_user("writer", "writer-password")
        headers, login_headers = auth.headers(account), auth.basic("writer", "writer-password")
        db.session.remove()
    return Service(app, headers, login_headers)


@pytest.fixture
def stopped_apps():
    """Dispose every app's pool at the end, so no connection outlives the test."""
    apps = []
    yield apps
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def assert_unavailable(response, elapsed: float) -> None:
    assert elapsed < ANSWER_WITHIN, f"answered after {elapsed:.1f}s"
    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0


def assert_down_answers(service: Service) -> list[float]:
    """While the database is away: 503 + Retry-After everywhere it is needed, within bounds."""
    timings = []
    for method, path, kwargs in (("GET", "/template", {}), ("GET", "/user/me", {}),
                                 ("GET", f"/template/{min(service.acknowledged)}", {}),
                                 ("POST", "/template", {"json": {"title": "lost",
                                                                 "url": "https://e.org/l"}}),
                                 ("GET", "/login", {"headers": service.login_headers})):
        response, elapsed = service.call(method, path, **kwargs)
        assert_unavailable(response, elapsed)
        timings.append(elapsed)
    ready, elapsed = service.call("GET", "/readyz")
    assert elapsed < ANSWER_WITHIN
    assert ready.status_code == 503
    assert ready.headers["Retry-After"]
    assert ready.get_json() == {"status": "unavailable", "database": "error",
                                "migrations": "unknown", "rate_limits": "ok",
                                "version": __version__}
    health, _ = service.call("GET", "/healthz")
    assert health.status_code == 200  # liveness does not depend on the database
    return timings


def wait_until_ready(service: Service) -> float:
    """Poll /readyz until 200; the seconds it took (bounded)."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVER_WITHIN:
        response, _ = service.call("GET", "/readyz")
        if response.status_code == 200:
            return time.monotonic() - started
        assert response.status_code == 503
        time.sleep(0.1)
    pytest.fail(f"not ready {RECOVER_WITHIN}s after the database came back")


def assert_acknowledged_writes_are_there(service: Service, url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            stored = dict(connection.execute(select(Template.id, Template.title)).all())
    finally:
        engine.dispose()
    missing = {k: v for k, v in service.acknowledged.items() if stored.get(k) != v}
    assert not missing, f"acknowledged writes lost: {missing}"
    for template_id, title in list(service.acknowledged.items())[:5]:
        response, _ = service.call("GET", f"/template/{template_id}")
        assert response.status_code == 200
        assert response.get_json()["template"]["title"] == title


# --- tests --------------------------------------------------------------------------------------

def test_a_crashed_database_gives_503s_then_recovery_without_losing_writes(
        private_postgres, stopped_apps, tmp_path):
    url = private_postgres.create_database()
    service = service_on(url, tmp_path)
    stopped_apps.append(service.app)
    statuses: list[int] = []
    failures: list[BaseException] = []
    slowest = [0.0]
    first_503: list[float] = []
    stop = threading.Event()

    def write(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                response, elapsed = service.post_template(f"w{worker}-{n}")
            except Exception as error:  # noqa: BLE001 - anything escaping the app is a failure
                failures.append(error)
                return
            statuses.append(response.status_code)
            slowest[0] = max(slowest[0], elapsed)
            if response.status_code == 503 and not first_503:
                first_503.append(time.monotonic())

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for writer in writers:
        writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(service.acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(service.acknowledged) >= 40, statuses[-5:]

        crashed_at = time.monotonic()
        private_postgres.crash()  # while the writers are writing
        deadline = crashed_at + ANSWER_WITHIN + 5
        while statuses.count(503) < 2 * WRITERS and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=30)
    assert not failures, failures
    assert set(statuses) <= {201, 503}, sorted(set(statuses))
    assert statuses.count(503) >= 2 * WRITERS
    assert slowest[0] < ANSWER_WITHIN
    time_to_503 = first_503[0] - crashed_at

    down_timings = assert_down_answers(service)

    restarting_at = time.monotonic()
    private_postgres.start()
    time_to_recover = wait_until_ready(service)
    time_to_restart = time.monotonic() - restarting_at
    # Every pooled connection was broken by the crash; none of them may surface as an error.
    for _ in range(10):
        response, _ = service.call("GET", "/template")
        assert response.status_code == 200
    response, _ = service.post_template("after the outage")
    assert response.status_code == 201
    assert_acknowledged_writes_are_there(service, url)
    print(f"\ncrash: first 503 after {time_to_503:.2f}s; answers while down took "
          f"{max(down_timings):.2f}s at most; ready {time_to_recover:.2f}s after the server was "
          f"up ({time_to_restart:.2f}s after `pg_ctl start`); "
          f"{len(service.acknowledged)} acknowledged writes all kept")


def test_a_database_lost_after_the_response_is_made_does_not_fail_it(
        private_postgres, stopped_apps, tmp_path):
    url = private_postgres.create_database()
    service = service_on(url, tmp_path)
    stopped_apps.append(service.app)

    @service.app.get("/read-then-lose-the-database")
    def read_then_lose_the_database():
        """Read (the session now holds a connection), then the server dies before teardown."""
        count = db.session.scalar(select(db.func.count()).select_from(Template))
        private_postgres.crash()
        return {"count": count}

    try:
        response, _ = service.call("GET", "/read-then-lose-the-database")
        assert (response.status_code, response.get_json()) == (200, {"count": 0})
    finally:
        private_postgres.start()
    assert service.call("GET", "/template")[0].status_code == 200


@pytest.fixture
def proxy(private_postgres) -> Iterator[MuteableProxy]:
    forwarder = MuteableProxy(private_postgres.port)
    yield forwarder
    forwarder.close()


def test_a_database_that_accepts_but_never_answers_gives_503s_within_the_timeout(
        private_postgres, proxy, stopped_apps, tmp_path):
    direct_url = private_postgres.create_database()
    url = make_url(direct_url).set(port=proxy.port).render_as_string(hide_password=False)
    service = service_on(url, tmp_path)
    stopped_apps.append(service.app)
    for n in range(5):
        assert service.post_template(f"before {n}")[0].status_code == 201

    proxy.mute()
    down_timings = assert_down_answers(service)

    proxy.unmute()
    time_to_recover = wait_until_ready(service)
    assert service.call("GET", "/template")[0].status_code == 200
    assert service.post_template("after")[0].status_code == 201
    assert_acknowledged_writes_are_there(service, direct_url)
    print(f"\nmute database: answers while down took {min(down_timings):.2f}-"
          f"{max(down_timings):.2f}s (connect_timeout {CONNECT_TIMEOUT}s); ready "
          f"{time_to_recover:.2f}s after it answered again")
