"""Headless Chromium (Debian's) driven over the DevTools protocol on a pipe, for the docs page.

`--remote-debugging-pipe` needs no port and no download; every request the page makes, and its
console, are recorded as events.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe",
)
READY_WITHIN = 60.0
EXEC_WITH_PIPES = (
    "import os, sys\n"
    "os.dup2(int(sys.argv[1]), 3)\n"
    "os.dup2(int(sys.argv[2]), 4)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)
# Swagger UI lists each operation as an `.opblock` with its method and path.
RENDERED_OPERATIONS = """
Array.from(document.querySelectorAll('.opblock')).map(block =>
  block.querySelector('.opblock-summary-method').textContent.trim() + ' ' +
  block.querySelector('.opblock-summary-path').getAttribute('data-path'))
"""


def chromium_executable() -> str:
    """Debian's Chromium; fail under CI, skip elsewhere, when it is not installed."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable:
        return executable
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is not installed (apt-get install chromium)", pytrace=False)
    pytest.skip("chromium is not installed")


def _above(fd: int, lowest: int) -> int:
    """The same pipe end as a descriptor numbered at least `lowest` (the original is closed)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)
    os.close(fd)
    return moved


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (messages end with a NUL byte)."""

    def __init__(self, executable: str, profile_dir: str):
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # Above 4, so that making them fds 3 and 4 of the browser cannot overwrite either.
        to_browser_read, from_browser_write = (_above(fd, 10) for fd in (to_browser_read,
                                                                          from_browser_write))
        # The browser reads commands on fd 3 and writes answers and events on fd 4; a small
        # Python shim puts the pipe ends there and becomes the browser.
        command = [sys.executable, "-c", EXEC_WITH_PIPES, str(to_browser_read),
                   str(from_browser_write), executable, *CHROMIUM_FLAGS,
                   f"--user-data-dir={profile_dir}", "about:blank"]
        self.process = subprocess.Popen(  # noqa: S603 - our arguments
            command, pass_fds=(to_browser_read, from_browser_write),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._next_id = 0
        self._answers: dict[int, queue.Queue] = {}
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                with self._lock:
                    if "id" in message and message["id"] in self._answers:
                        self._answers[message["id"]].put(message)
                    elif "method" in message:
                        self.events.append(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        """Send one command and wait (bounded) for its answer."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            self._answers[ident] = queue.Queue()
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        answer = self._answers[ident].get(timeout=timeout)
        assert "error" not in answer, answer
        return answer["result"]

    def session_events(self, session: str, *methods: str) -> list[dict]:
        """The parameters of the events of these kinds that one page sent."""
        with self._lock:
            return [event["params"] for event in self.events
                    if event.get("sessionId") == session and event["method"] in methods]

    def close(self) -> None:
        """Ask the browser to quit; kill it if it does not."""
        try:
            os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode()
                     + b"\0")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            os.close(self._to_browser)
            self._reader.join(timeout=10)  # the browser is gone: its pipe is at its end
            os.close(self._from_browser)


def open_page(browser: DevTools, url: str) -> str:
    """A new tab recording its network traffic and console, navigated to `url`."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Network", "Log", "Runtime", "Page"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Page.navigate", {"url": url}, session=session)
    return session


def rendered_operations(browser: DevTools, session: str) -> set[str]:
    """Poll (bounded) until Swagger UI has rendered the operations; return them."""
    deadline = time.monotonic() + READY_WITHIN
    operations: list[str] = []
    while time.monotonic() < deadline:
        result = browser.send("Runtime.evaluate", {"expression": RENDERED_OPERATIONS,
                                                   "returnByValue": True}, session=session)
        operations = result["result"].get("value") or []
        if operations:
            return set(operations)
        time.sleep(0.2)
    return set()


def evaluate(browser: DevTools, session: str, expression: str, timeout: float = 60.0):
    """Evaluate JavaScript in the page (awaiting a promise); its value, or fail with its error."""
    result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True}, session=session,
                          timeout=timeout)
    if "exceptionDetails" in result:
        details = result["exceptionDetails"]
        raise AssertionError(details.get("exception", {}).get("description") or details)
    return result["result"].get("value")


def screenshot(browser: DevTools, session: str, path: Path) -> None:
    """Save a PNG of what the page shows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = browser.send("Page.captureScreenshot", {"format": "png"},
                        session=session)["data"]
    path.write_bytes(base64.b64decode(data))
