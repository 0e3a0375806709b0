"""Every module of the package imports on its own, and no module-level import cycle exists.

Evidence anyone can rerun: `pytest tests/test_imports.py`. A cycle that works only in some
import order (the first module imported decides) fails the first test; a cycle of any kind
between module-level imports fails the second, even where Python happens to cope with it.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import meme_api

PACKAGE_DIR = Path(meme_api.__file__).resolve().parent
MODULES = ["meme_api", *(module.name for module in
                         pkgutil.walk_packages(meme_api.__path__, "meme_api."))]
# Each module is imported first in a process that has never imported meme_api: a child forked
# from one interpreter that holds only the third-party libraries (importing those ~40 times
# over would cost ~20 s and tell nothing about this package).
FIRST_IMPORTS = """
import os, sys, traceback
import alembic, click, dotenv, flask, flask_cors, flask_limiter, flask_migrate
import cryptography.fernet, flask_sqlalchemy, itsdangerous, jwt, orjson, sqlalchemy, werkzeug
assert not [name for name in sys.modules if name.split(".")[0] == "meme_api"]
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            __import__(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        failed.append(name)
print("failed:", " ".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first_in_a_fresh_interpreter():
    assert len(MODULES) > 30 and "meme_api.query.cursors" in MODULES
    done = subprocess.run([sys.executable, "-c", FIRST_IMPORTS, *MODULES],  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]


def module_path(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package = PACKAGE_DIR / relative / "__init__.py"
    return package if package.exists() else PACKAGE_DIR / relative.with_suffix(".py")


def top_level_imports(name: str) -> set[str]:
    """The package's modules that `name` imports when it is imported (not inside functions,
    classes or `if TYPE_CHECKING:`); its own parent packages are left out, since importing a
    submodule always imports them first."""
    path = module_path(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    parents = {".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)}
    return {module for module in found if module in MODULES} - parents - {name}


def test_no_module_level_import_cycle():
    graph = {name: top_level_imports(name) for name in MODULES}
    assert "meme_api.models" in graph["meme_api.counts"]  # the walk does see imports
    cycles = []
    state: dict[str, str] = {}

    def walk(name: str, path: list[str]) -> None:
        state[name] = "open"
        for imported in sorted(graph[name]):
            if state.get(imported) == "open":
                cycles.append(path[path.index(imported):] + [imported])
            elif imported not in state:
                walk(imported, [*path, imported])
        state[name] = "done"

    for name in MODULES:
        if name not in state:
            walk(name, [name])
    assert cycles == []
