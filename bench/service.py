"""The system under test: a seeded database, the service under gunicorn, and the ceiling app.

Everything runs the way production does: the service through `boot.sh` (migrate, then `exec
gunicorn --config gunicorn.conf.py`), the ceiling with that same gunicorn configuration, both
with `WEB_CONCURRENCY=2`. Commands come from the virtual environment of the interpreter that runs
the harness, so nothing here names a path of one machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # flask and gunicorn live beside the interpreter
WORKERS = 2
READY_WITHIN = 60.0
ADMIN_NAME = "bench-admin"
SEED_USER = "demo000000"  # the first user `flask seed` makes in an empty database


def command(name: str) -> str:
    """An executable of this virtual environment, else from PATH."""
    beside = BIN / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"Error: {name!r} not found; install the project with "
                         "pip install -e '.[bench]' into the interpreter that runs the harness")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Database:
    """A benchmark database: its URL, backend name and intended size."""

    backend: str  # "sqlite" or "postgresql"
    url: str
    templates: int
    users: int
    env: dict[str, str] = field(default_factory=dict)

    def flask(self, *args: str, capture: bool = False) -> str:
        """Run `flask --app meme_api ARGS` against this database; its output when captured."""
        result = subprocess.run(  # noqa: S603 - our flask, our arguments
            [command("flask"), "--app", "meme_api", *args], cwd=REPO, env=self.env, check=False,
            stdout=subprocess.PIPE if capture else None, text=True)
        if result.returncode:
            raise SystemExit(f"Error: flask {' '.join(args[:2])} failed on {self.backend}")
        return result.stdout or ""


def service_env(database_url: str, secret_key: str) -> dict[str, str]:
    """Production settings with rate limiting off; every variable set, so `.env` cannot differ."""
    env = {name: value for name, value in os.environ.items()
           if name in ("HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")}
    env.update({
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "APP_ENV": "production", "SECRET_KEY": secret_key, "DATABASE_URL": database_url,
        "RATELIMIT_ENABLED": "false", "REQUIRE_APP_TOKEN": "true", "APP_TOKEN_GRACE": "0",
        "ACCESS_TOKEN_TTL": "3600", "REFRESH_TOKEN_TTL": "2592000", "CORS_ORIGINS": "",
        "TRUSTED_PROXY_COUNT": "0", "LOG_LEVEL": "INFO", "DEFAULT_PAGE_SIZE": "20",
        "MAX_PAGE_SIZE": "100", "WEB_CONCURRENCY": str(WORKERS), "DB_WAIT_TIMEOUT": "30",
        "PYTHONUNBUFFERED": "1",
        # Gunicorn 23+ opens a control socket at one fixed path per user; two masters (the
        # service and the ceiling) would contend for it. It plays no part in serving requests.
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    })
    return env


def reset_postgresql(url: str) -> None:
    """Drop and create the benchmark database on the server the URL names."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    name = target.database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"Error: the PostgreSQL URL must name a plain database, not {name!r}")
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT",
                           connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any failure means "no usable server"
        raise SystemExit(f"Error: cannot prepare PostgreSQL database {name!r}: "
                         f"{str(error).splitlines()[0]}") from None
    finally:
        engine.dispose()


def settle_postgresql(url: str) -> None:
    """VACUUM after the bulk load, as one does after loading: otherwise autovacuum's pass over
    a million new rows would run during the measurements and take CPU from them."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("VACUUM (ANALYZE) templates, users"))
    finally:
        engine.dispose()


def seeded_templates(url: str, wanted: int) -> bool:
    """Whether the database holds the `wanted` seeded templates; later ones (posted by an earlier
    run's POST scenario) are deleted, so that a reused database has its intended size again."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            seeded = connection.execute(
                text("SELECT count(*) FROM templates WHERE id <= :n"), {"n": wanted}).scalar_one()
            if seeded != wanted:
                return False
            connection.execute(text("DELETE FROM templates WHERE id > :n"), {"n": wanted})
            return True
    except Exception:  # noqa: BLE001 - a missing table or database: not seeded
        return False
    finally:
        engine.dispose()


def prepare(database: Database, reuse: bool) -> dict:
    """Migrate and seed (unless `reuse` finds it seeded already); make an admin and an app.

    Returns the seeding time (None when reused), the app token and the admin's credentials.
    """
    seconds = None
    if reuse and seeded_templates(database.url, database.templates):
        print(f"  reusing the {database.backend} database ({database.templates:,} templates)")
    else:
        if database.backend == "sqlite":
            Path(database.url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        else:
            reset_postgresql(database.url)
        database.flask("db", "upgrade", capture=True)
        started = time.perf_counter()
        database.flask("seed", "--users", str(database.users), "--posts", str(database.templates))
        seconds = round(time.perf_counter() - started, 1)
        if database.backend == "postgresql":
            settle_postgresql(database.url)
    admin = f"{ADMIN_NAME}-{os.urandom(3).hex()}"
    admin_password = os.urandom(12).hex()
    database.flask("create-admin", admin, "--password", admin_password, capture=True)
    app_token = database.flask("apps", "register", f"bench-{os.urandom(4).hex()}",
                               capture=True).strip().splitlines()[-1]
    return {"seed_seconds": seconds, "app_token": app_token, "admin": (admin, admin_password)}


class Server:
    """A gunicorn master and its workers, started in its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int,
                 ready_path: str, log_dir: Path):
        self.name, self.port, self.ready_path = name, port, ready_path
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("w")
        # The request log (one JSON line per request on stdout) is produced as in production
        # and thrown away; gunicorn's own messages on stderr are kept.
        self.process = subprocess.Popen(  # noqa: S603 - our servers
            argv, cwd=REPO, env={**env, "PORT": str(port)}, stdout=subprocess.DEVNULL,
            stderr=self.log, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"Error: {self.name} exited; see {self.log_path}")
            try:
                ready = self.url + self.ready_path  # http://127.0.0.1:port/...
                with urllib.request.urlopen(ready, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200 and len(self.worker_pids()) == WORKERS:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise SystemExit(f"Error: {self.name} was not ready within {READY_WITHIN:g} s; "
                         f"see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return sorted(int(pid) for pid in children.read_text().split())
        except OSError:
            return []

    def worker_rss(self) -> dict[int, int]:
        """Resident memory of each worker, in KiB."""
        sizes = {}
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1])
        return sizes

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def start_service(env: dict[str, str], log_dir: Path, name: str) -> Server:
    """The service as the container starts it: boot.sh (wait for the database, migrate,
    gunicorn)."""
    server = Server(name, ["sh", str(REPO / "boot.sh")], env, free_port(), "/readyz", log_dir)
    server.wait_ready()
    return server


def start_ceiling(env: dict[str, str], log_dir: Path) -> Server:
    """The bare Flask app under the same gunicorn configuration."""
    argv = [command("gunicorn"), "--config", str(REPO / "gunicorn.conf.py"), "bench.ceiling:app"]
    server = Server("ceiling", argv, env, free_port(), "/", log_dir)
    server.wait_ready()
    return server


def http(method: str, url: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request with the standard library: status, headers and body (errors included)."""
    # Only ever http://127.0.0.1:port/..., the servers this harness started.
    request = urllib.request.Request(url, data=body, method=method,  # noqa: S310
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def login(server: Server, app_token: str, username: str, password: str) -> str:
    """An access token for a user, by HTTP Basic on `GET /login`."""
    import base64

    basic = base64.b64encode(f"{username}:{password}".encode()).decode()
    status, _, body = http("GET", server.url + "/login",
                           {"x-application-token": app_token, "Authorization": f"Basic {basic}"})
    if status != 200:
        raise SystemExit(f"Error: logging in as {username} answered {status}: {body[:200]!r}")
    return json.loads(body)["token"]
