"""The image's recipe without a Docker engine: boot.sh, gunicorn.conf.py, wait-db, Dockerfile."""

# The `postgres` test runs boot.sh as the container would, with the environment that the
# Dockerfile and docker-compose.yml set, against a fresh PostgreSQL database and Redis.

from __future__ import annotations

import contextlib
import os
import re
import runpy
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from conftest import make_config
from gunicorn.config import Config as GunicornConfig
from servers import (
    INHERITED_ENV,
    POSTGRES_URL,
    REPO_ROOT,
    free_port,
    maintenance_engine,
    new_database_name,
    require_redis,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from meme_api import __version__, create_app

BOOT_WITHIN = 60.0
STOP_WITHIN = 30.0
READY = {"status": "ok", "database": "ok", "migrations": "ok", "rate_limits": "ok",
         "version": __version__}


# --- reading the recipe -------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(words[0].upper(), words[1].strip() if len(words) > 1 else "")
            for words in (entry.strip().split(None, 1) for entry in logical)]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def image_env() -> dict[str, str]:
    """The ENV of the final stage (PATH aside: the test puts its own interpreter first)."""
    env = {}
    for name, arguments in final_stage():
        if name == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    env.pop("PATH", None)
    return env


def healthcheck_command() -> str:
    (arguments,) = [arguments for name, arguments in final_stage() if name == "HEALTHCHECK"]
    return arguments.split(" CMD ", 1)[1].strip()


def dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> str:
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i:end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex


def excluded_from_context(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def compose_file() -> dict:
    import yaml  # only the tests need it

    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`."""

    def substitute(match: re.Match) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        if variables.get(name):
            return variables[name]
        if operator == ":?":
            raise AssertionError(f"compose would refuse to start: {argument}")
        return argument if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", substitute, str(value))


def gunicorn_settings(monkeypatch, tmp_path, **env: str) -> GunicornConfig:
    """gunicorn.conf.py loaded as gunicorn loads it, under this environment."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ("PORT", "WEB_CONCURRENCY", "TRUSTED_PROXY_COUNT"):
        monkeypatch.delenv(name, raising=False)
    # The file sets it for the workers; here it must not outlive the test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = GunicornConfig()
    for name, value in runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py")).items():
        if name in config.settings:
            config.set(name, value)
    return config


# --- the recipe, read ---------------------------------------------------------------------------

def base_image() -> str:
    """The default of the Dockerfile's PYTHON_IMAGE argument, which every stage starts from."""
    (image,) = [arguments.split("=", 1)[1] for name, arguments in dockerfile_instructions()
                if name == "ARG" and arguments.startswith("PYTHON_IMAGE=")]
    return image


def test_the_image_is_multi_stage_and_boots_as_an_unprivileged_user():
    instructions = dockerfile_instructions()
    assert sum(name == "FROM" for name, _ in instructions) >= 2
    stage = dict(final_stage())
    assert stage["FROM"] == "${PYTHON_IMAGE}"
    assert stage["USER"] not in ("root", "0")
    assert stage["WORKDIR"] == "/app"
    assert stage["ENTRYPOINT"] == '["./boot.sh"]'
    assert os.access(REPO_ROOT / "boot.sh", os.X_OK)
    assert image_env()["APP_ENV"] == "production"


def test_base_images_are_pinned_by_full_tag_and_digest():
    digest = r"@sha256:[0-9a-f]{64}"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm" + digest, base_image())
    services = compose_file()["services"]
    assert re.fullmatch(r"postgres:15\.\d+-bookworm" + digest, services["db"]["image"])
    assert re.fullmatch(r"redis:7\.\d+\.\d+-bookworm" + digest, services["redis"]["image"])


def test_the_build_context_holds_what_the_image_copies_and_no_secrets():
    patterns = dockerignore_patterns()
    sources = [word for name, arguments in dockerfile_instructions() if name == "COPY"
               and not arguments.startswith("--from") for word in arguments.split()[:-1]]
    assert {"meme_api", "migrations", "boot.sh", "gunicorn.conf.py", "requirements.lock"} <= set(
        sources)
    for source in sources:
        if "[" in source:
            continue  # an optional file (build-ca.pem): a pattern that may match nothing
        root = REPO_ROOT / source
        assert root.exists(), source
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            relative = path.relative_to(REPO_ROOT).as_posix()
            if "__pycache__" not in relative:
                assert not excluded_from_context(relative, patterns), relative
    for private in (".env", "instance/meme_api.sqlite", "tests/conftest.py", ".git/config",
                    "meme_api/__pycache__/cli.cpython-311.pyc", ".venv/bin/python"):
        assert excluded_from_context(private, patterns), private


def test_gunicorn_settings_follow_the_environment(monkeypatch, tmp_path):
    defaults = gunicorn_settings(monkeypatch, tmp_path)
    assert defaults.bind == ["0.0.0.0:8000"]
    assert defaults.workers == 2
    assert defaults.timeout == 30
    assert defaults.graceful_timeout < 10  # inside `docker stop`'s grace period

    tuned = gunicorn_settings(monkeypatch, tmp_path, PORT="9000", WEB_CONCURRENCY="5")
    assert (tuned.bind, tuned.workers) == (["0.0.0.0:9000"], 5)


def test_gunicorn_trusts_forwarded_headers_exactly_when_the_app_does(monkeypatch, tmp_path):
    direct = gunicorn_settings(monkeypatch, tmp_path, TRUSTED_PROXY_COUNT="0")
    assert direct.forwarded_allow_ips == []  # not even gunicorn's default of 127.0.0.1
    behind_two = gunicorn_settings(monkeypatch, tmp_path, TRUSTED_PROXY_COUNT="2")
    assert behind_two.forwarded_allow_ips == ["*"]
    # Gunicorn reads no forwarded header itself: ProxyFix, counting hops, is the one authority.
    for config in (direct, behind_two):
        assert config.secure_scheme_headers == {}
        assert config.forwarder_headers == []
    app = create_app(make_config(tmp_path, TRUSTED_PROXY_COUNT=2))
    assert (app.wsgi_app.x_for, app.wsgi_app.x_proto) == (2, 2)


def test_gunicorn_opens_no_control_socket(monkeypatch, tmp_path):
    # Its default place, ~/.gunicorn, does not exist for the image's user: every boot logged
    # "Control server error" until it was turned off.
    assert gunicorn_settings(monkeypatch, tmp_path).control_socket_disable is True


def test_gunicorn_refuses_a_worker_count_that_is_not_a_number(monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY must be a whole number"):
        gunicorn_settings(monkeypatch, tmp_path, WEB_CONCURRENCY="many")


# --- wait-db ------------------------------------------------------------------------------------

def test_wait_db_returns_at_once_when_the_database_answers(tmp_path):
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/a.db"))

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["wait-db", "--timeout", "5"])

    assert result.exit_code == 0, result.output
    assert "The database is reachable." in result.output


def test_wait_db_gives_up_after_its_timeout_with_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'a.db'}"
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    started = time.monotonic()

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["wait-db", "--timeout", "1.5"])

    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert "waiting for the database: unable to open database file" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the database did not answer within 1.5 seconds: unable to open database file")
    assert "Traceback" not in result.output


# --- boot.sh, for real --------------------------------------------------------------------------

def boot_env(database: str, redis_url: str, port: int) -> dict[str, str]:
    """What the container gets: the image's ENV, then compose's environment, on this machine."""
    compose = compose_file()
    services = compose["services"]
    variables = {"SECRET_KEY": secrets.token_urlsafe(48), "POSTGRES_PASSWORD": "unused"}
    composed = {name: interpolate(value, variables)
                for name, value in services["api"]["environment"].items()}
    # Compose's service names become this machine's servers; everything else is kept as is.
    assert composed["DB_HOST"] in services and composed["RATELIMIT_STORAGE_URI"].startswith(
        "redis://redis:") and "redis" in services
    server = make_url(POSTGRES_URL)
    composed.update(DB_HOST=server.host or "127.0.0.1", DB_PORT=str(server.port or 5432),
                    DB_USERNAME=server.username or "", DB_PASS=server.password or "",
                    DB_NAME=database, RATELIMIT_STORAGE_URI=redis_url)
    env = {key: value for key, value in os.environ.items() if key in INHERITED_ENV}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    env.update(image_env())
    env.update(composed)
    env["PORT"] = str(port)
    return env


def stop_process_group(process: subprocess.Popen) -> None:
    """Kill whatever is left of the process and its children (gunicorn workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_WITHIN)


def poll(condition, within: float, process: subprocess.Popen, log: Path, what: str):
    """Call `condition` until it returns something truthy; fail with the log otherwise."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if result := condition():
            return result
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen (exit status {process.poll()}):\n{log.read_text()[-4000:]}")


def get(url: str):
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None


@pytest.fixture
def late_database():
    """The name of a PostgreSQL database that does not exist yet, and a way to create it."""
    with maintenance_engine("PostgreSQL", POSTGRES_URL, isolation_level="AUTOCOMMIT") as engine:
        name = new_database_name()

        def create() -> None:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))

        yield name, create
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def boot_redis():
    """The Redis database the booted service counts in (its own number), emptied first."""
    import redis

    url = urlsplit(require_redis())._replace(path="/13").geturl()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


@pytest.fixture
def start_boot_sh(tmp_path):
    """Start boot.sh in its own process group; whatever is left of it is killed afterwards."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as output:
            # Started from another directory: boot.sh finds its own.
            started.append(subprocess.Popen(  # noqa: S603 - our script
                [str(REPO_ROOT / "boot.sh")], cwd=tmp_path, env=env, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True))
        return started[-1]

    yield start
    for process in started:
        stop_process_group(process)


@pytest.mark.postgres
def test_boot_sh_waits_for_the_database_migrates_and_serves(late_database, boot_redis,
                                                            start_boot_sh, tmp_path):
    database, create_database = late_database
    redis_url, redis_client = boot_redis
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = boot_env(database, redis_url, port)
    log = tmp_path / "boot.log"
    process = start_boot_sh(env, log)

    # The database does not exist yet: boot.sh waits, and serves nothing meanwhile.
    poll(lambda: "waiting for the database" in log.read_text(), BOOT_WITHIN, process, log,
         "waiting for the database")
    assert get(base + "/healthz") is None

    create_database()
    ready = poll(lambda: (r := get(base + "/readyz")) is not None and r.status_code == 200
                 and r, BOOT_WITHIN, process, log, "readiness")
    assert ready.json() == READY
    assert get(base + "/healthz").json() == {"status": "ok"}
    assert "Running upgrade" in log.read_text()

    # boot.sh exec'd gunicorn: the process we started *is* the gunicorn master.
    cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
    assert any(b"gunicorn" in part for part in cmdline), cmdline

    # Rate-limit counters live in the Redis that compose wires in.
    answer = requests.get(base + "/template", timeout=5)
    assert answer.status_code == 401
    assert "X-RateLimit-Limit" in answer.headers
    assert redis_client.dbsize() > 0

    # The image's HEALTHCHECK command passes against it, and fails against a closed port.
    check = [shutil.which("sh"), "-c", healthcheck_command()]
    assert subprocess.run(check, env=env, timeout=30, check=False).returncode == 0  # noqa: S603
    closed = {**env, "PORT": str(free_port())}
    assert subprocess.run(check, env=closed, timeout=30, check=False,  # noqa: S603
                          capture_output=True).returncode != 0

    # SIGTERM (docker stop) reaches gunicorn, which stops its workers and exits cleanly.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_WITHIN) == 0
    assert get(base + "/healthz") is None
