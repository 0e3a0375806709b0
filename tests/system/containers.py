"""The Docker side of the container tests: build the image, run containers, read their state.

Everything goes through the `docker` command line, as a user's would. The image is built from
the repository's own Dockerfile; only when the official base image cannot be pulled (no image
registry reachable) does `.ci/stand-in-images.sh` provide Debian stand-ins under the same names.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from servers import REPO_ROOT

IMAGE = "meme_api:container-test"
HEALTHY_WITHIN = 90.0
# The host's CA bundle, for pip inside the build on machines behind a TLS-intercepting proxy.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA = REPO_ROOT / "build-ca.pem"


def docker(*args: str, timeout: float = 300, check: bool = True,
           **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True,  # noqa: S603, S607
                          timeout=timeout, check=False, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def require_docker() -> None:
    if shutil.which("docker") is None or docker("info", check=False, timeout=30).returncode:
        pytest.fail("no Docker engine answers: install and start one (.ci/run does), or "
                    "deselect these tests with -m 'not container'", pytrace=False)


def dockerfile_base_image() -> str:
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG PYTHON_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("the Dockerfile names no PYTHON_IMAGE")


def pullable(reference: str) -> bool:
    """Whether the official image is here or can be pulled (no registry: it cannot)."""
    if docker("image", "inspect", reference, check=False).returncode == 0:
        return True
    return docker("pull", "--quiet", reference, check=False, timeout=120).returncode == 0


def ensure_stand_ins() -> None:
    done = subprocess.run(["bash", str(REPO_ROOT / ".ci" / "stand-in-images.sh")],  # noqa: S603, S607
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def build_args() -> list[str]:
    """`--build-arg` for the stand-in base, only when the official one cannot be pulled."""
    official = dockerfile_base_image()
    if pullable(official):
        return []
    ensure_stand_ins()
    return ["--build-arg", f"PYTHON_IMAGE={official.split('@')[0]}"]


@contextlib.contextmanager
def host_ca_in_context(context: Path):
    """Put the host's CA bundle where the Dockerfile's build stages look for it, then remove it."""
    target = context / "build-ca.pem"
    placed = HOST_CA_BUNDLE.is_file() and not target.exists()
    if placed:
        shutil.copyfile(HOST_CA_BUNDLE, target)
    try:
        yield
    finally:
        if placed:
            target.unlink()


def build(context: Path, tag: str, args: list[str]) -> dict:
    with host_ca_in_context(context):
        docker("build", "--quiet", *args, "-t", tag, str(context), timeout=1200)
    return inspect_image(tag)


def inspect_image(tag: str) -> dict:
    return json.loads(docker("image", "inspect", tag).stdout)[0]


def inspect(container: str) -> dict:
    return json.loads(docker("inspect", container).stdout)[0]


def logs(container: str) -> tuple[str, str]:
    """(stdout, stderr) of the container, kept apart as Docker keeps them."""
    done = docker("logs", container)
    return done.stdout, done.stderr


class Containers:
    """Starts containers and volumes with unique names; removes all of them afterwards."""

    def __init__(self):
        self.prefix = f"meme-test-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []
        self.volumes: list[str] = []

    def volume(self) -> str:
        name = f"{self.prefix}-data-{len(self.volumes)}"
        docker("volume", "create", name)
        self.volumes.append(name)
        return name

    def run(self, *options: str, env: dict[str, str] | None = None, image: str = IMAGE) -> str:
        name = f"{self.prefix}-{len(self.names)}"
        self.names.append(name)
        environment = [item for key, value in (env or {}).items()
                       for item in ("-e", f"{key}={value}")]
        # A check every 2 s instead of the image's 15 s: the same command, found healthy sooner.
        docker("run", "-d", "--name", name, "--health-interval", "2s", *environment, *options,
               image)
        return name

    def remove_all(self) -> None:
        for name in self.names:
            docker("rm", "-f", "-v", name, check=False)
        for name in self.volumes:
            docker("volume", "rm", "-f", name, check=False)


def wait_healthy(container: str, within: float = HEALTHY_WITHIN) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = inspect(container)["State"]
        if state["Health"]["Status"] == "healthy":
            return
        if not state["Running"]:
            break
        time.sleep(0.5)
    stdout, stderr = logs(container)
    pytest.fail(f"{container} did not become healthy ({inspect(container)['State']}):\n"
                f"{stdout[-2000:]}\n{stderr[-3000:]}")


def wait_answering(url: str, within: float = HEALTHY_WITHIN) -> bool:
    """Whether the URL answers 200 within the time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return True
        time.sleep(0.5)
    return False


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) when installed, else v1 (`docker-compose`)."""
    if docker("compose", "version", check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` (v2) nor `docker-compose` (v1) is installed",
                pytrace=False)


# --- what the tests check in a running container ------------------------------------------

class Client:
    """HTTP against a container's published port, with the request IDs it sent."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.sent: list[str] = []
        self.app_token = ""
        self.token = ""

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        request_id = f"ct-{uuid.uuid4().hex}"
        self.sent.append(request_id)
        headers = {"X-Request-ID": request_id, "x-application-token": self.app_token,
                   **({"x-access-token": self.token} if self.token else {}),
                   **kwargs.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def login(self, username: str, password: str) -> None:
        answer = self.call("GET", "/login", auth=(username, password))
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["token"]

    def titles(self) -> list[str]:
        answer = self.call("GET", "/template")
        assert answer.status_code == 200, answer.text
        return [item["title"] for item in answer.json()["templates"]]


def register_app(container: str) -> str:
    done = docker("exec", container, "flask", "--app", "meme_api", "apps", "register",
                  f"ci-{uuid.uuid4().hex[:6]}")
    return done.stdout.strip().splitlines()[-1]


def assert_clean_boot(container: str) -> None:
    stdout, stderr = logs(container)
    for line in (stdout + stderr).splitlines():
        assert "ERROR" not in line and "Traceback" not in line, stdout + stderr


def assert_one_json_line_per_request(container: str, client: Client) -> None:
    stdout, _ = logs(container)
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(stdout.strip().splitlines()), stdout  # stdout holds only those
    ids = [line["request_id"] for line in lines]
    for request_id in client.sent:
        assert ids.count(request_id) == 1, request_id


def no_root_processes(container: str) -> None:
    table = docker("top", container, "-eo", "uid,pid,args").stdout.strip().splitlines()[1:]
    assert table, "no processes"
    assert all(row.split()[0] == "10001" for row in table), table


# Run in the image: the lock's pins that apply there, and every installed distribution.
LOCKED_VERSIONS = """
import importlib.metadata as metadata, json, re, sys
from packaging.markers import Marker
from packaging.utils import canonicalize_name
locked = {}
for line in open(sys.argv[1]):
    pin = re.match(r"([A-Za-z0-9._-]+)==([^ ;\\\\]+)(?: ; ([^\\\\]+))?", line)
    if pin and (not pin[3] or Marker(pin[3].strip()).evaluate()):
        locked[canonicalize_name(pin[1])] = pin[2]
installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
print(json.dumps([locked, installed]))
"""
