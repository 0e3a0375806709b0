"""The README as a new user reads it: its curl walk-through runs, and its links stay inside.

The ```bash block of "Using it with curl" is taken from README.md as it is and run by bash
against a fresh gunicorn server, set up with the README's own commands (`create-admin`,
`apps register`). Each step of the block checks its documented status, so the block fails when
one changes; the test proves that too, by changing one status in a copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from servers import REPO_ROOT, Server, migrate, running, server_env

README = REPO_ROOT / "README.md"
SECTION = "## Using it with curl"
ADMIN, PASSWORD = "admin", "change-this-password"  # the quick start's
LINK = re.compile(r"\]\(([^)\s]+)\)")


def curl_block() -> str:
    """The ```bash block of the curl section."""
    text = README.read_text()
    section = text[text.index(SECTION):]
    found = re.search(r"^```bash\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert found, "the curl section has no ```bash block"
    return found.group(1)


def flask(database_url: str, *arguments: str) -> str:
    """`flask --app meme_api …` as the quick start runs it; its stdout."""
    done = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [sys.executable, "-m", "flask", "--app", "meme_api", *arguments],
        env=server_env(database_url), cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def fresh_server(tmp_path):
    """A migrated database with the quick start's admin and app, served by gunicorn."""
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed", pytrace=False)
    database_url = f"sqlite:///{tmp_path / 'meme.sqlite'}"
    migrate(database_url)
    flask(database_url, "create-admin", ADMIN, "--password", PASSWORD)
    app_token = flask(database_url, "apps", "register", "cli").strip().splitlines()[-1]
    server = Server(server_env(database_url), tmp_path)
    with running(server):
        yield server.url, app_token


def run_bash(script: str, base_url: str, app_token: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "B": base_url, "APP": app_token}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script],  # noqa: S603, S607
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_curl_walk_through_runs_as_written(fresh_server):
    done = run_bash(curl_block(), *fresh_server)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "expected HTTP" not in done.stderr
    assert done.stdout.rstrip().endswith('{"message":"Logged out of every session"}')
    assert "The user has been" not in done.stdout  # nothing deleted but the template


def test_the_walk_through_fails_when_a_documented_status_changes(fresh_server):
    block = curl_block()
    changed = block.replace('call 201 "${H[@]}" -X POST "$B/user"', 'call 200 "${H[@]}" -X POST '
                            '"$B/user"', 1)
    assert changed != block
    done = run_bash(changed, *fresh_server)
    assert done.returncode != 0
    assert "expected HTTP 200, got 201" in done.stderr


def test_the_block_says_it_needs_bash():
    text = README.read_text()
    section = text[text.index(SECTION):text.index("```bash", text.index(SECTION))]
    assert "**bash**" in section
    assert "${H[@]}" in curl_block()  # an array: bash, not sh


def test_the_readme_links_no_file_outside_the_repository():
    outside = []
    for target in LINK.findall(README.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor
        path = (REPO_ROOT / target.split("#")[0]).resolve()
        if not path.is_relative_to(REPO_ROOT) or not path.exists():
            outside.append(target)
    assert outside == []
    assert "docs/api.md" in LINK.findall(README.read_text())
