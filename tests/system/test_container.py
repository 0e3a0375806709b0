"""The built image, for real (contract §9): Docker builds the repository's Dockerfile and runs it.

Against this machine's PostgreSQL and Redis, the containers use the host's network
(`--network host`): those servers listen on 127.0.0.1 only, which a container on Docker's bridge
could not reach without reconfiguring them. The SQLite and Compose tests need no host service.
Run by `.ci/run`; deselected by default (marker `container`), since it needs a Docker engine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import yaml
from containers import (
    IMAGE,
    LOCKED_VERSIONS,
    Client,
    Containers,
    assert_clean_boot,
    assert_one_json_line_per_request,
    build,
    build_args,
    compose_command,
    docker,
    inspect,
    logs,
    no_root_processes,
    register_app,
    require_docker,
    wait_answering,
    wait_healthy,
)
from servers import (
    POSTGRES_URL,
    REPO_ROOT,
    HeldRequest,
    free_port,
    fresh_postgres_database,
    require_redis,
)
from sqlalchemy.engine import make_url

from meme_api.bootstrap import NOTHING_TO_DO

pytestmark = pytest.mark.container

MAX_IMAGE_BYTES = 250_000_000
STOP_WITHIN = 10.0
PASSWORD = "container-admin-password"
PNG = "https://example.com/meme.png"


@pytest.fixture(scope="module")
def image():
    require_docker()
    return build(REPO_ROOT, IMAGE, build_args())


@pytest.fixture
def containers(image, tmp_path):
    made = Containers()
    yield made
    made.remove_all()


@pytest.fixture
def secret_files(tmp_path):
    """Files the container reads through the _FILE variables, readable by its user."""

    def write(name: str, value: str) -> str:
        path = tmp_path / name
        path.write_text(value + "\n")
        path.chmod(0o644)
        return str(path)

    return write


# --- the image ----------------------------------------------------------------------------------

def test_the_image_is_small_unprivileged_and_has_no_build_ca(image):
    assert image["Size"] < MAX_IMAGE_BYTES, image["Size"]
    assert image["Config"]["User"] == "meme"
    assert docker("run", "--rm", "--entrypoint", "id", IMAGE, "-u").stdout.strip() == "10001"
    # The CA bundle the build may use never reaches the image (looked for as root, everywhere).
    found = docker("run", "--rm", "--user", "0", "--entrypoint", "find", IMAGE, "/", "-xdev",
                   "-name", "build-ca.pem")
    assert found.stdout.strip() == ""


def test_the_image_has_exactly_the_locked_versions(image):
    # The image is a fresh machine: what `pip install --require-hashes` put there is the lock.
    done = docker("run", "--rm", "-v", f"{REPO_ROOT / 'requirements.lock'}:/lock.txt:ro",
                  "--entrypoint", "python", IMAGE, "-c", LOCKED_VERSIONS, "/lock.txt")
    locked, installed = json.loads(done.stdout)
    assert len(locked) > 20 and "gunicorn" in locked
    for name, version in locked.items():
        assert installed.get(name) == version, name
    unlocked = set(installed) - set(locked) - {"meme-api", "pip"}
    assert not unlocked


def test_a_code_change_rebuilds_only_the_last_layer(image, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "requirements.lock",
                 "README.md", "boot.sh", "gunicorn.conf.py"):
        shutil.copy2(REPO_ROOT / name, context / name)
    for folder in ("meme_api", "migrations"):
        shutil.copytree(REPO_ROOT / folder, context / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(context / "meme_api" / "__init__.py", "a") as module:
        module.write("\n# a code change\n")
    changed = build(context, f"{IMAGE}-changed", build_args())
    try:
        before, after = image["RootFS"]["Layers"], changed["RootFS"]["Layers"]
        assert len(before) == len(after)
        assert before[:-1] == after[:-1] and before[-1] != after[-1]
    finally:
        docker("rmi", f"{IMAGE}-changed", check=False)


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "DB_PASS",
                                  "BOOTSTRAP_ADMIN_PASSWORD"])
def test_a_variable_and_its_file_together_stop_the_container_with_one_line(image, name,
                                                                          secret_files):
    path = secret_files("value", "some-value")
    done = docker("run", "--rm", "-e", f"SECRET_KEY={secrets.token_urlsafe(48)}",
                  "-e", f"{name}=some-value", "-e", f"{name}_FILE=/run/secrets/value",
                  "-v", f"{path}:/run/secrets/value:ro", IMAGE, check=False, timeout=60)
    assert done.returncode != 0
    output = (done.stdout + done.stderr).strip().splitlines()
    assert output == [f"Error: {name} and {name}_FILE are both set; set only one of them"]


# --- on PostgreSQL and Redis --------------------------------------------------------------------

@pytest.fixture
def postgres_url():
    with fresh_postgres_database() as url:
        yield url


def test_on_postgres_and_redis_boot_bootstrap_serve_restart_and_stop(containers, postgres_url,
                                                                      secret_files):
    import redis

    redis_url = urlsplit(require_redis())._replace(path="/13").geturl()
    counters = redis.Redis.from_url(redis_url)
    counters.flushdb()
    port = free_port()
    server = make_url(POSTGRES_URL)
    container = containers.run(
        "--network", "host", "--read-only", "--tmpfs", "/tmp",  # noqa: S108 - its own /tmp
        "-v", f"{secret_files('secret_key', secrets.token_urlsafe(48))}:/run/secrets/key:ro",
        "-v", f"{secret_files('admin_password', PASSWORD)}:/run/secrets/admin:ro",
        env={"PORT": str(port), "SECRET_KEY_FILE": "/run/secrets/key",
             "DB_HOST": server.host, "DB_PORT": str(server.port or 5432),
             "DB_USERNAME": server.username, "DB_NAME": make_url(postgres_url).database,
             "RATELIMIT_STORAGE_URI": redis_url, "BOOTSTRAP_ADMIN": "root",
             "BOOTSTRAP_ADMIN_PASSWORD_FILE": "/run/secrets/admin"})
    wait_healthy(container)
    assert_clean_boot(container)
    assert "Created admin root" in logs(container)[1]
    no_root_processes(container)

    client = Client(port)
    client.app_token = register_app(container)
    client.login("root", PASSWORD)
    posted = client.call("POST", "/template", json={"title": "kept", "url": PNG})
    assert posted.status_code == 201, posted.text
    assert client.titles() == ["kept"]
    assert "X-RateLimit-Limit" in posted.headers and counters.dbsize() > 0
    assert_one_json_line_per_request(container, client)

    docker("restart", container, timeout=60)
    wait_healthy(container)
    assert client.titles() == ["kept"]
    assert NOTHING_TO_DO in logs(container)[1]  # the second boot left the admin alone
    assert_clean_boot(container)

    # docker stop while a request is in flight: the request is answered, the exit is clean.
    held = HeldRequest(port, "GET", "/template", {"x-application-token": client.app_token,
                                                   "x-access-token": client.token})
    time.sleep(0.5)  # a worker has read all but the last byte and waits for it
    started = time.monotonic()
    stopping = threading.Thread(target=docker, args=("stop", container), daemon=True)
    stopping.start()
    time.sleep(1.0)  # SIGTERM has reached gunicorn, which no longer accepts connections
    answer = held.finish()
    stopping.join(STOP_WITHIN + 5)
    assert answer.status == 200
    assert time.monotonic() - started < STOP_WITHIN
    assert inspect(container)["State"]["ExitCode"] == 0
    assert_clean_boot(container)
    counters.flushdb()
    counters.close()


# --- SQLite in the volume -----------------------------------------------------------------------

def test_with_only_a_secret_key_it_serves_sqlite_in_its_volume_read_only(containers):
    volume = containers.volume()
    key = secrets.token_urlsafe(48)

    def start() -> tuple[str, Client]:
        port = free_port()
        container = containers.run("--read-only", "--tmpfs", "/tmp",  # noqa: S108 - its own /tmp
                                   "-p", f"{port}:8000", "-v", f"{volume}:/data",
                                   env={"SECRET_KEY": key})
        wait_healthy(container)
        assert_clean_boot(container)
        return container, Client(port)

    first, client = start()
    made = docker("exec", "-e", f"BOOTSTRAP_ADMIN_PASSWORD={PASSWORD}", first, "flask",
                  "--app", "meme_api", "bootstrap", "root", "--app", "ci")
    client.app_token = made.stdout.strip().splitlines()[-1]
    client.login("root", PASSWORD)
    assert client.call("POST", "/template", json={"title": "in /data", "url": PNG}).ok
    # /metrics with a read-only root: the workers' metric files live in the /tmp tmpfs.
    metrics = client.call("GET", "/metrics")
    assert metrics.status_code == 200, metrics.text
    assert 'route="/template",status="201"} 1.0' in metrics.text
    assert "meme_api.sqlite" in docker("exec", first, "ls", "/data").stdout
    no_root_processes(first)
    assert_one_json_line_per_request(first, client)

    docker("stop", first, timeout=30)
    docker("rm", first)
    second, replacement = start()
    replacement.app_token, replacement.token = client.app_token, ""
    replacement.login("root", PASSWORD)
    assert replacement.titles() == ["in /data"]
    refused = docker("exec", "-e", f"BOOTSTRAP_ADMIN_PASSWORD={PASSWORD}", second, "flask",
                     "--app", "meme_api", "bootstrap", "other", check=False)
    assert refused.returncode != 0 and "admin exists" in refused.stderr


# --- Compose ------------------------------------------------------------------------------------

def compose_images(services: dict) -> dict[str, str]:
    """The service images to use: the official ones when they can be pulled, else stand-ins."""
    from containers import pullable

    chosen = {"api": IMAGE}
    for name in ("db", "redis"):
        official = services[name]["image"]
        chosen[name] = official if pullable(official) else official.split("@")[0]
    return chosen


def test_compose_validates_the_file_and_brings_the_stack_up(image, tmp_path):
    command = compose_command()
    env = {"PATH": os.environ["PATH"], "SECRET_KEY": secrets.token_urlsafe(48),
           "POSTGRES_PASSWORD": "p@ss word/%", "API_PORT": str(free_port())}
    config = subprocess.run([*command, "-f", str(REPO_ROOT / "docker-compose.yml"), "config"],  # noqa: S603
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert config.returncode == 0, config.stderr
    services = yaml.safe_load(config.stdout)["services"]
    assert set(services) == {"api", "db", "redis"}
    missing = subprocess.run([*command, "-f", str(REPO_ROOT / "docker-compose.yml"), "config"],  # noqa: S603
                             env={"PATH": env["PATH"]}, capture_output=True, text=True,
                             timeout=60, check=False)
    assert missing.returncode != 0 and "SECRET_KEY" in missing.stderr

    override = tmp_path / "stand-ins.yml"
    images = compose_images(services)
    override.write_text(yaml.safe_dump({"services": {
        name: {"image": reference, **({"environment": {
            "BOOTSTRAP_ADMIN": "root", "BOOTSTRAP_ADMIN_PASSWORD": PASSWORD}}
            if name == "api" else {})}
        for name, reference in images.items()}}))
    project = f"memetest{uuid.uuid4().hex[:8]}"
    compose = [*command, "-p", project, "-f", str(REPO_ROOT / "docker-compose.yml"),
               "-f", str(override)]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*compose, *args], env=env, capture_output=True, text=True,  # noqa: S603
                              timeout=300, check=False, cwd=tmp_path)
        assert done.returncode == 0 or not check, done.stdout + done.stderr
        return done

    try:
        run("up", "-d", "--no-build")
        client = Client(int(env["API_PORT"]))
        if not wait_answering(client.base + "/readyz"):
            stack_logs = run("logs", "--no-color").stdout
            pytest.fail(f"the stack never became ready:\n{stack_logs[-4000:]}")
        register = run("exec", "-T", "api", "flask", "--app", "meme_api", "apps", "register", "ci")
        client.app_token = register.stdout.strip().splitlines()[-1]
        client.login("root", PASSWORD)
        posted = client.call("POST", "/template", json={"title": "composed", "url": PNG})
        assert posted.status_code == 201, posted.text
        assert "X-RateLimit-Limit" in posted.headers
        assert client.titles() == ["composed"]
        api_logs = run("logs", "--no-color", "api").stdout
        assert "ERROR" not in api_logs and "Traceback" not in api_logs, api_logs
    finally:
        run("down", "-v", "--timeout", "10", check=False)
