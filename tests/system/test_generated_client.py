"""Clients generated from the served /openapi.json: Python runs the README's main flow, and a
TypeScript example type-checks against the generated types (contract §8).

Run with `pytest -m clients` after `pip install -e '.[clients]'` and `npm ci` in
clients/typescript (.ci/run does both). openapi-python-client (pinned in the `clients`
extra) generates the client from the document a fresh gunicorn server serves; the flow then
goes through it alone: log in, create a user, post, list in page and cursor mode, moderate,
a typed problem on a 404 and a 409, log out. The client is generated here on every run, not
shipped: see README.
"""

from __future__ import annotations

import base64
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from servers import Server, migrate, running, seed, server_env

pytestmark = pytest.mark.clients

ADMIN = "root"
PACKAGE = "meme_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A fresh server, and the client generated from the document it serves."""
    workdir = tmp_path_factory.mktemp("client")
    database_url = f"sqlite:///{workdir / 'meme.sqlite'}"
    migrate(database_url)
    accounts = seed(database_url, admins=(ADMIN,))
    server = Server(server_env(database_url), workdir)
    with running(server):
        document = workdir / "openapi.json"
        document.write_bytes(requests.get(server.url + "/openapi.json", timeout=10).content)
        generator = shutil.which("openapi-python-client",
                                 path=os.pathsep.join([str(Path(sys.executable).parent),
                                                       os.environ.get("PATH", "")]))
        assert generator, "openapi-python-client is not installed (pip install -e '.[clients]')"
        done = subprocess.run(  # noqa: S603 - the pinned generator, our arguments
            [generator, "generate", "--path", str(document), "--meta", "none",
             "--output-path", str(workdir / PACKAGE)],
            env={**os.environ, "PATH": f"{Path(generator).parent}{os.pathsep}"
                                       f"{os.environ.get('PATH', '')}"},
            capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        # The generator warns when it has to drop part of the document (as it did for every
        # error response before); nothing may be dropped.
        assert "Unable to parse" not in done.stdout + done.stderr, done.stdout + done.stderr
        sys.path.insert(0, str(workdir))
        try:
            yield importlib.import_module(PACKAGE), server.url, accounts, document
        finally:
            sys.path.remove(str(workdir))
            for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
                del sys.modules[name]


def module(package, name: str):
    return importlib.import_module(f"{package.__name__}.{name}")


def test_the_readme_flow_through_the_generated_client(generated):
    package, base_url, accounts, _ = generated
    client_module = module(package, "client")
    models = module(package, "models")
    app_header = {"x-application-token": accounts.app_token}
    basic = base64.b64encode(f"{ADMIN}:{accounts.passwords[ADMIN]}".encode()).decode()

    # Log in with HTTP Basic: the answer is a typed Login.
    anonymous = client_module.AuthenticatedClient(base_url, token=basic, prefix="Basic",
                                                  headers=app_header)
    login = module(package, "api.login.login").sync(client=anonymous)
    assert isinstance(login, models.Login)
    client = client_module.AuthenticatedClient(base_url, token=login.token, headers=app_header)

    # Create a user; the same name again is a typed 409 problem.
    create_user = module(package, "api.user.create_user")
    made = create_user.sync(client=client, body=models.CreateUserJsonBody(
        username="alice", password="alice-password"))
    assert isinstance(made, models.UserMessage) and made.user.username == "alice"
    again = create_user.sync_detailed(client=client, body=models.CreateUserJsonBody(
        username="alice", password="alice-password"))
    assert again.status_code == 409
    assert isinstance(again.parsed, models.Problem) and again.parsed.status == 409

    # Post three templates.
    create_template = module(package, "api.template.create_template")
    ids = []
    for number in range(3):
        posted = create_template.sync(client=client, body=models.CreateTemplateJsonBody(
            title=f"Meme {number}", url=f"https://example.com/{number}.png"))
        assert isinstance(posted, models.TemplateMessage)
        ids.append(posted.template.id)

    # List in page mode (every default sent) and in cursor mode: typed pages.
    list_templates = module(package, "api.template.list_templates")
    page = list_templates.sync(client=client)
    assert isinstance(page, models.TemplateList) and isinstance(page.meta, models.PageMeta)
    assert page.meta.total == 3 and [item.id for item in page.templates] == ids
    first = list_templates.sync(client=client, cursor="", limit=2)
    assert isinstance(first.meta, models.CursorMeta)
    second = list_templates.sync(client=client, cursor=first.meta.next_cursor, limit=2)
    assert [item.id for item in first.templates + second.templates] == ids
    assert second.meta.next_cursor is None

    # Moderate: un-approve one.
    update = module(package, "api.template.update_template")
    moderated = update.sync(ids[0], client=client,
                            body=models.UpdateTemplateJsonBody(approved=False))
    assert isinstance(moderated, models.TemplateMessage) and moderated.template.approved is False

    # A missing template is a typed 404 problem.
    get_template = module(package, "api.template.get_template")
    missing = get_template.sync_detailed(999_999, client=client)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem) and missing.parsed.detail

    # Log out: the token is refused from then on (a typed 401).
    logout = module(package, "api.login.logout")
    assert isinstance(logout.sync(client=client), models.Message)
    get_me = module(package, "api.user.get_me")
    refused = get_me.sync_detailed(client=client)
    assert refused.status_code == 401 and isinstance(refused.parsed, models.Problem)


TYPESCRIPT = Path(__file__).resolve().parents[2] / "clients" / "typescript"


def npm(*arguments: str, document: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - npm with the project's own scripts
        [shutil.which("npm") or "npm", "run", "-s", *arguments], cwd=TYPESCRIPT,
        capture_output=True, text=True, env={**os.environ, "OPENAPI_DOCUMENT": str(document)},
        timeout=300, check=False)


def test_typescript_types_generate_and_the_example_client_type_checks(generated):
    *_, document = generated
    assert shutil.which("npm"), "npm is not installed"
    assert (TYPESCRIPT / "node_modules" / ".bin" / "tsc").exists(), \
        "run `npm ci` in clients/typescript first"
    made = npm("generate", document=document)
    assert made.returncode == 0, made.stdout + made.stderr
    schema = (TYPESCRIPT / "src" / "schema.d.ts").read_text()
    assert "list_templates" in schema and "Problem" in schema
    checked = npm("check", document=document)
    assert checked.returncode == 0, checked.stdout + checked.stderr
