"""What the harness measures: each scenario's requests, written for bench/wrk/scenario.lua.

Every scenario is checked once with the standard library before it is loaded (the expected
status, and for the deep cursor that the page really starts past the depth), so that a table of
fast 401s or 404s can never pass for a benchmark.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from service import SEED_USER, Server, http

LIST_PATH = "/template?limit=20"
# The read paths the memory check cycles through, in equal shares. The admin's page-mode list
# runs the same code as the user's, without the user's 5 ms count, which would otherwise make
# the 100,000 requests take three minutes.
MEMORY_MIX = ("list_page_admin", "cursor_first", "cursor_deep", "get_one", "get_one_304")
POST_BODY = json.dumps({"title": "Benchmark template",
                        "url": "https://example.com/benchmark.jpg",
                        "description": "posted by the benchmark harness"})


@dataclass
class Scenario:
    key: str
    label: str
    expected: int  # the status every request must get
    headers: dict[str, str]
    requests: list[tuple[str, str, str, dict[str, str]]]  # method, path, body, extra headers

    def write(self, directory: Path) -> Path:
        """The requests file that bench/wrk/scenario.lua reads."""
        lines = [f"header\t{name}\t{value}" for name, value in self.headers.items()]
        for method, path, body, extra in self.requests:
            fields = ["request", method, path, body]
            for name, value in extra.items():
                fields += [name, value]
            lines.append("\t".join(fields))
        path = directory / f"{self.key}.requests"
        path.write_text("\n".join(lines) + "\n")
        return path

    def check(self, base_url: str) -> None:
        """Send each distinct request once; stop the run if one answers unexpectedly."""
        for method, path, body, extra in self.requests[:50]:
            status, _, answer = http(method, base_url + path, {**self.headers, **extra},
                                     body.encode() or None)
            if status != self.expected:
                raise SystemExit(f"Error: scenario {self.key}: {method} {path} answered "
                                 f"{status}, not {self.expected}: {answer[:200]!r}")


def deep_cursor(secret_key: str, after_id: int) -> str:
    """The cursor `GET /template` would hand out after the row with this id, made by the
    service's own cursor code (walking a million rows 20 at a time would take minutes)."""
    from meme_api.query.cursors import make_cursor
    from meme_api.query.parameters import signature
    from meme_api.query.statements import order_keys
    from meme_api.templates import TEMPLATES

    ordering = TEMPLATES.default_ordering
    keys = order_keys(TEMPLATES, ordering)
    return make_cursor(ordering, signature("/template", []), keys, (after_id,), secret_key)


def page_ids(server: Server, headers: dict[str, str], path: str) -> list[int]:
    status, _, body = http("GET", server.url + path, headers)
    if status != 200:
        raise SystemExit(f"Error: GET {path} answered {status}: {body[:200]!r}")
    return [item["id"] for item in json.loads(body)["templates"]]


def build(server: Server, app_token: str, user_token: str, admin_token: str,
          user_password: str, templates: int, secret_key: str) -> list[Scenario]:
    """The scenarios of issue #7, as the seeded regular user unless named otherwise."""
    as_user = {"x-application-token": app_token, "x-access-token": user_token}
    as_admin = {"x-application-token": app_token, "x-access-token": admin_token}
    depth = templates - templates // 10  # 90% deep: past 900,000 rows in a million
    cursor_path = f"{LIST_PATH}&cursor={deep_cursor(secret_key, depth)}"
    deep_ids = page_ids(server, as_user, cursor_path)
    if not deep_ids or min(deep_ids) <= depth:
        raise SystemExit(f"Error: the deep cursor did not resume after row {depth}")
    # Single templates from both ends of the table, each with the ETag it answers with.
    ids = page_ids(server, as_user, LIST_PATH) + deep_ids
    etags = {}
    for template_id in ids:
        status, headers, _ = http("GET", f"{server.url}/template/{template_id}", as_user)
        etags[template_id] = headers.get("ETag", "")
    basic = base64.b64encode(f"{SEED_USER}:{user_password}".encode()).decode()

    def gets(*paths: str) -> list[tuple[str, str, str, dict[str, str]]]:
        return [("GET", path, "", {}) for path in paths]

    return [
        Scenario("list_page", "GET /template?limit=20 (page mode)", 200, as_user,
                 gets(LIST_PATH)),
        Scenario("list_page_admin", "GET /template?limit=20 (page mode, admin)", 200, as_admin,
                 gets(LIST_PATH)),
        Scenario("cursor_first", "GET /template?limit=20&cursor= (page 1)", 200, as_user,
                 gets(f"{LIST_PATH}&cursor=")),
        Scenario("cursor_deep", f"GET /template?limit=20&cursor=… (after row {depth:,})", 200,
                 as_user, gets(cursor_path)),
        Scenario("get_one", "GET /template/<id>", 200, as_user,
                 gets(*(f"/template/{i}" for i in ids))),
        Scenario("get_one_304", "GET /template/<id> with If-None-Match (304)", 304, as_user,
                 [("GET", f"/template/{i}", "", {"If-None-Match": etags[i]}) for i in ids]),
        Scenario("post", "POST /template", 201,
                 {**as_user, "Content-Type": "application/json"},
                 [("POST", "/template", POST_BODY, {})]),
        Scenario("login", "GET /login (HTTP Basic, scrypt)", 200,
                 {"x-application-token": app_token, "Authorization": f"Basic {basic}"},
                 gets("/login")),
    ]


def ceiling() -> Scenario:
    return Scenario("ceiling", "bare Flask app, GET /", 200, {}, [("GET", "/", "", {})])


def mixed_reads(scenarios: list[Scenario]) -> Scenario:
    """The read scenarios' requests in one round-robin, each scenario an equal share, for the
    memory check."""
    chosen = [s for s in scenarios if s.key in MEMORY_MIX]
    share = max(len(s.requests) for s in chosen)
    requests = [(method, path, body, {**s.headers, **extra})
                for s in chosen
                for method, path, body, extra in (s.requests * share)[:share]]
    return Scenario("memory_mix", "list, cursor and single reads, mixed", 0, {}, requests)
