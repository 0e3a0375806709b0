"""schemathesis against the running app's own /openapi.json finds nothing (contract §8).

Run with `pytest -m schemathesis`. The app runs under gunicorn, the production server, on
127.0.0.1 with a fresh, migrated SQLite database and rate limiting off; an admin and an
application are made with the project's own functions, and `schemathesis_hooks.py` keeps their
credentials alive through every case (the run also logs out, changes passwords, revokes
applications). Every operation goes through all four phases (examples, coverage, fuzzing with
MAX_EXAMPLES examples, stateful) under every check (`--checks all`) but the ones CI excludes
by name in MEME_SCHEMATHESIS_EXCLUDE_CHECKS. `MEME_SCHEMATHESIS_SEED`
picks another seed than the fixed one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from conftest import FAST_HASH
from flask_migrate import upgrade
from gunicorn.config import Config as GunicornConfig

from meme_api import create_app
from meme_api.accounts import create_user
from meme_api.client_apps import register_app
from meme_api.extensions import db
from meme_api.sessions import start_session

pytestmark = pytest.mark.schemathesis

TESTS_DIR = Path(__file__).resolve().parent  # schemathesis_hooks.py is here too
REPO_ROOT = TESTS_DIR.parent.parent
# Every check schemathesis has; CI may exclude one by name (MEME_SCHEMATHESIS_EXCLUDE_CHECKS,
# comma-separated), where no document can satisfy it: .ci/run says why for each.
EXCLUDE_CHECKS_ENV = "MEME_SCHEMATHESIS_EXCLUDE_CHECKS"
MAX_EXAMPLES = 100
DEFAULT_SEED = "20261121"
SECRET_KEY = "schemathesis-secret-key-long-enough-for-hs256"
READY_WITHIN = 30.0
RUN_WITHIN = 900  # seconds; the run takes a few minutes on two cores
# Rejections besides schemathesis's defaults: a failed If-Match precondition is evaluated before
# the body (RFC 9110 §13.2.2), an oversized body is refused before it is read, and an oversized
# URL or header section before anything else (contract §1).
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "414", "415", "422",
              "428", "429", "431"]
SCHEMATHESIS_CONFIG = f"""
[checks.negative_data_rejection]
expected-statuses = {json.dumps(REJECTIONS)}
"""
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def provision(database_url: str, state_file: Path) -> None:
    """Migrate a fresh database, make an admin and an application; record their credentials."""
    config = {"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY,
              "PASSWORD_HASH_METHOD": FAST_HASH, "RATELIMIT_ENABLED": False}
    app = create_app(config)
    with app.app_context():
        upgrade()
        password = "schemathesis-admin-password"
        admin = create_user("st-admin", password, "admin")
        app_token = register_app("st-app")[1]
        state = {"config": config, "admin_id": admin.public_id, "password": password,
                 "password_hash": admin.password_hash, "session_id": None,
                 "access_token": start_session(admin)["token"], "app_name": "st-app",
                 "app_token": app_token}
        db.session.remove()
        db.engine.dispose()
    state_file.write_text(json.dumps(state))


def server_env(database_url: str) -> dict[str, str]:
    """The contract's variables for the server, nothing inherited that could change them."""
    inherited = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    env = {name: os.environ[name] for name in inherited if name in os.environ}
    env.update(DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY, APP_ENV="development",
               REQUIRE_APP_TOKEN="true", RATELIMIT_ENABLED="false", CORS_ORIGINS="",
               TRUSTED_PROXY_COUNT="0", LOG_LEVEL="WARNING")
    return env


@contextmanager
def gunicorn(database_url: str, workdir: Path) -> Iterator[str]:
    """`gunicorn "meme_api:create_app()"` on a port of its choosing; yield its base URL.

    gunicorn reads gunicorn.conf.py from the repository, as in production: its request limits
    and its problem-document answers (contract §1) are part of what is tested.
    """
    log = workdir / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:0"]
    if "control_socket_disable" in GunicornConfig().settings:
        command.append("--no-control-socket")  # one per server, not one shared in $HOME
    command.append("meme_api:create_app()")
    with open(log, "wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            command, env=server_env(database_url), cwd=REPO_ROOT, stdout=output,
            stderr=subprocess.STDOUT)
    try:
        yield wait_until_serving(process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_serving(process: subprocess.Popen, log: Path) -> str:
    """Poll (bounded) for the port gunicorn chose and for /healthz to answer."""
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline and process.poll() is None:
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            url = f"http://127.0.0.1:{found.group(1)}"
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    return url
            except requests.RequestException:
                pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")


def excluded_checks() -> list[str]:
    """`--exclude-checks …` for the checks named in the environment, if any."""
    names = [name.strip() for name in os.environ.get(EXCLUDE_CHECKS_ENV, "").split(",")
             if name.strip()]
    return ["--exclude-checks", ",".join(names)] if names else []


def schemathesis_command(schema_url: str, config_file: Path, report: Path) -> list[str]:
    """`schemathesis run` with the checks, the budget and the seed of this test."""
    seed = os.environ.get("MEME_SCHEMATHESIS_SEED", DEFAULT_SEED)
    return [
        sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config_file),
        "run", schema_url, "--checks", "all", *excluded_checks(),
        "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(MAX_EXAMPLES),
        "--seed", seed, "--workers", "1", "--generation-database", "none",
        "--generation-with-security-parameters", "false",
        "--report", "junit", "--report-junit-path", str(report),
    ]


def failure_summary(output: str) -> str:
    """Each failing operation and the checks it failed, one line each, before the details."""
    lines = [line.strip() for line in output.splitlines()
             if re.match(r"^\s*(_{3,} .+ _{3,}|- [A-Z]+[0-9]+ .+|\[[0-9]{3}\] )", line)]
    return "\n".join(dict.fromkeys(lines)) + "\n\n"


def passed_operations(report: Path) -> set[str]:
    """The operations ("POST /user") that the JUnit report lists with no failure, error or skip."""
    # Our own report file, written by schemathesis in this test.
    cases = ElementTree.parse(report).getroot().iter("testcase")  # noqa: S314
    return {case.get("name") for case in cases if len(case) == 0}


def test_schemathesis_finds_no_failure(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'schemathesis.sqlite'}"
    state_file = tmp_path / "credentials.json"
    provision(database_url, state_file)
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(SCHEMATHESIS_CONFIG)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "MEME_SCHEMATHESIS_STATE": str(state_file),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR),
                                                       os.environ.get("PYTHONPATH")]))}
    report = tmp_path / "junit.xml"
    with gunicorn(database_url, tmp_path) as base_url:
        document = requests.get(base_url + "/openapi.json", timeout=10).json()
        run = subprocess.run(  # noqa: S603 - our interpreter, our arguments
            schemathesis_command(base_url + "/openapi.json", config_file, report), env=env,
            cwd=tmp_path, capture_output=True, text=True, timeout=RUN_WITHIN, check=False)
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.out").write_text(output)
    assert run.returncode == 0, failure_summary(output) + output[-6000:]
    # schemathesis does not call the operation that serves the schema: it loaded it to start.
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item} - {"GET /openapi.json"}
    assert passed_operations(report) == {*operations, "Stateful tests"}
