"""What the HTTP server answers itself is a problem document too (contract §1), and each request
gets one log line (contract §8): over HTTP, under gunicorn and under `python run.py`.

The URL and header limits are enforced by the app; what the servers still refuse on their own
(a request line over gunicorn's 8,190 bytes or http.server's 64 KiB, a header line over 32 KiB,
a malformed request)
goes through meme_api/server_errors.py.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid

import pytest
from servers import DevServer, Server, migrate, parse_raw_answer, running, server_env

from meme_api.server_errors import MAX_URL_BYTES

KINDS = ("gunicorn", "development")


@pytest.fixture(scope="module", params=KINDS)
def server(request, tmp_path_factory):
    """A real server of each kind on a fresh, migrated SQLite database."""
    workdir = tmp_path_factory.mktemp(request.param)
    database_url = f"sqlite:///{workdir / 'meme.sqlite'}"
    migrate(database_url)
    env = server_env(database_url)
    made = Server(env, workdir) if request.param == "gunicorn" else DevServer(env, workdir)
    with running(made):
        yield made


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes); status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        # the server may answer and close before it has read everything
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return parse_raw_answer(b"".join(chunks))


def request_bytes(target: str, headers: dict[str, str] | None = None,
                  method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def assert_problem_answer(answer, status: int) -> dict:
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers.get("x-request-id")
    document = json.loads(body)
    assert document["status"] == status
    assert document["type"] == "about:blank" and document["title"]
    assert document["detail"] == document["message"]
    return document


def url_of_length(length: int) -> str:
    """A /healthz URL (it ignores its query) exactly `length` bytes long."""
    prefix = "/healthz?pad="
    return prefix + "a" * (length - len(prefix))


def longest_url(server) -> int:
    """The longest URL served: 8,190 bytes; gunicorn counts its request line (`GET … HTTP/1.1`)."""
    if isinstance(server, DevServer):
        return MAX_URL_BYTES
    return MAX_URL_BYTES - len("GET  HTTP/1.1")


def test_a_url_at_the_limit_is_served_and_one_byte_more_is_414(server):
    longest = longest_url(server)
    assert exchange(server.port, request_bytes(url_of_length(longest)))[0] == 200
    assert_problem_answer(exchange(server.port, request_bytes(url_of_length(longest + 1))), 414)


def test_the_app_refuses_a_url_over_8190_bytes(client):
    # the app's own limit, whatever the server in front lets through
    assert client.get(url_of_length(MAX_URL_BYTES)).status_code == 200
    response = client.get(url_of_length(MAX_URL_BYTES + 1))
    assert response.status_code == 414
    assert response.mimetype == "application/problem+json"
    assert "8,190" in response.get_json()["detail"]


@pytest.mark.parametrize("length", [70_000, 8 * 1024 * 1024])
def test_a_url_past_what_the_server_reads_is_414_from_the_server_itself(server, length):
    assert_problem_answer(exchange(server.port, request_bytes(url_of_length(length))), 414)


@pytest.mark.parametrize("headers", [
    {"X-Big": "a" * 9000},  # one line over 8,190 bytes: the app refuses it
    {"X-Big": "a" * 40_000},  # over gunicorn's buffer for a field: gunicorn refuses it
    {f"X-Field-{n}": "a" for n in range(150)},  # more than 100 fields
    {f"X-Field-{n}": "a" * 8000 for n in range(5)},  # 40 KB in all
])
def test_headers_over_the_limits_are_431(server, headers):
    assert_problem_answer(exchange(server.port, request_bytes("/healthz", headers)), 431)


def test_headers_within_the_limits_are_served(server):
    headers = {f"X-Field-{n}": "a" * 300 for n in range(90)}
    assert exchange(server.port, request_bytes("/healthz", headers))[0] == 200


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
])
def test_a_malformed_request_is_a_400_problem(server, raw):
    assert_problem_answer(exchange(server.port, raw), 400)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_fixed_user_me_refuses_other_methods_with_405_and_allow(server, method):
    answer = exchange(server.port, request_bytes("/user/me", method=method))
    assert_problem_answer(answer, 405)
    assert answer[1]["allow"] == "GET, HEAD, OPTIONS"


def log_lines(server: Server, request_id: str) -> list[dict]:
    """The JSON log lines on the server's stdout that carry this request id."""
    deadline = time.monotonic() + 5
    lines: list[dict] = []
    while time.monotonic() < deadline:
        text = server.output.read_text(errors="replace")
        lines = [json.loads(line) for line in text.splitlines()
                 if line.startswith("{") and request_id in line]
        if lines:
            time.sleep(0.2)  # a duplicate would be written right after
            text = server.output.read_text(errors="replace")
            return [json.loads(line) for line in text.splitlines()
                    if line.startswith("{") and request_id in line]
        time.sleep(0.05)
    return lines


def test_each_request_is_logged_once_as_a_json_line(server):
    request_id = f"once-{uuid.uuid4().hex}"
    target = f"/healthz?marker={request_id}"
    status, headers, _ = exchange(server.port, request_bytes(target, {"X-Request-ID": request_id}))
    assert status == 200
    lines = log_lines(server, request_id)
    assert len(lines) == 1, lines
    assert lines[0]["path"] == "/healthz" and lines[0]["status"] == 200
    everything = server.output.read_text(errors="replace")
    everything += server.errors.read_text(errors="replace") if hasattr(server, "errors") else ""
    # Werkzeug's own request line ('"GET /healthz?marker=… HTTP/1.1" 200 -') is gone.
    assert f'"GET {target} HTTP/1.1"' not in everything


def test_an_answer_the_server_makes_itself_is_logged_once(server):
    status, headers, _ = exchange(server.port, request_bytes(url_of_length(8 * 1024 * 1024)))
    assert status == 414
    lines = log_lines(server, headers["x-request-id"])
    assert len(lines) == 1, lines
    assert lines[0]["status"] == 414 and lines[0]["path"] is None

