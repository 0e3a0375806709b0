"""`GET /audit` in cursor mode: its first page against a page 1,000,000 events deep (issue 15).

    python bench/audit_depth.py                     # 1,000,000 events, 7 rounds of 100 pairs
    python bench/audit_depth.py --events 100000 --rounds 3 --pairs 50   # a quick look

It creates a scratch PostgreSQL database (dropped at the end), migrates it with `flask db
upgrade`, loads the events with one `INSERT ... SELECT generate_series`, runs `VACUUM (ANALYZE)`,
makes an admin and an app with the command line, and serves the service through boot.sh under
gunicorn (`bench/service.py`, production settings, two workers). The deep cursor is made by the
service's own cursor code for the row with id 22, so the deep page holds ids 21..2 and, like the
first page, fetches 21 rows and hands out a next cursor. Before measuring, it checks that a cursor
made this way resumes exactly where the first page's own `next_cursor` does, and that the deep
page holds the expected ids. The two requests then alternate (A B, then B A, ...) from one client
with a keep-alive `requests.Session`; it prints the median latency of each, per round and overall,
their ratio, and `EXPLAIN (ANALYZE, BUFFERS)` of the exact statement each request ran.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from service import Database, login, reset_postgresql, service_env, start_service

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/meme_bench_audit"
PATH = "/audit?limit=20&cursor="
DEEP_AFTER_ID = 22  # the deep page: ids 21..2, plus the 21st row that says more follow

# Realistic, varied events: the actions the service records, with the target each one names.
LOAD_EVENTS = """
INSERT INTO audit_events (id, time, action, actor, actor_username, app, target_type, target_id,
                          ip, request_id, details)
SELECT g,
       timestamp '2026-01-01' + g * interval '25 seconds' + (g % 7) * interval '1 second',
       a.action,
       CASE WHEN g % 50 = 0 THEN NULL ELSE md5('actor' || (g * 31) % 5000)::uuid::text END,
       CASE WHEN g % 50 = 0 THEN NULL ELSE 'user' || ((g * 31) % 5000) END,
       CASE WHEN g % 50 = 0 THEN NULL
            ELSE (ARRAY['web', 'ios', 'android', 'partner-sync'])[1 + g % 4] END,
       a.target_type,
       CASE a.target_type WHEN 'template' THEN ((g * 7) % 200000 + 1)::text
                          WHEN 'user' THEN md5('actor' || (g * 13) % 5000)::uuid::text
                          WHEN 'session' THEN md5('session' || g)
                          ELSE 'app-' || (g % 40) END,
       '10.' || (g % 250) || '.' || ((g / 250) % 250) || '.' || (g % 97),
       md5('request' || g),
       CASE WHEN a.action = 'user.updated' THEN '{"fields": ["role"], "role": "moderator"}'::json
            WHEN a.action = 'user.login_failed'
                 THEN json_build_object('username', 'user' || g % 5000)
            ELSE NULL END
FROM generate_series(1, :events) AS g
JOIN (VALUES (0, 'template.approved', 'template'), (1, 'template.deleted', 'template'),
             (2, 'user.login_failed', 'user'), (3, 'user.logout', 'session'),
             (4, 'user.updated', 'user'), (5, 'session.revoked', 'session'),
             (6, 'user.created', 'user'), (7, 'user.password_changed', 'user'),
             (8, 'app.registered', 'app'), (9, 'template.approved', 'template'),
             (10, 'user.login_failed', 'user'), (11, 'user.logout_all', 'user'),
             (12, 'template.deleted', 'template'), (13, 'app.rotated', 'app'))
     AS a (k, action, target_type) ON a.k = (g::bigint * 7919) % 14
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=100, help="A/B pairs per round")
    parser.add_argument("--postgresql-url", default=DEFAULT_URL,
                        help="the scratch database to create and drop; default %(default)s")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    return parser.parse_args()


def load(url: str, events: int) -> float:
    """Bulk-load the events and settle the table; the seconds it took."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text(LOAD_EVENTS), {"events": events})
            connection.execute(text(
                "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), :n)"), {"n": events})
            connection.execute(text("VACUUM (ANALYZE) audit_events"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def deep_cursor(secret_key: str, after_id: int) -> str:
    """The cursor `GET /audit` hands out after the event with this id (default ordering `-id`),
    made by the service's own cursor code: walking 50,000 pages would take far longer."""
    from meme_api.audit import EVENTS
    from meme_api.query.cursors import make_cursor
    from meme_api.query.parameters import signature
    from meme_api.query.statements import order_keys

    ordering = EVENTS.default_ordering
    return make_cursor(ordering, signature("/audit", []), order_keys(EVENTS, ordering),
                       (after_id,), secret_key)


def get_page(session, url: str, headers: dict) -> dict:
    answer = session.get(url, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise SystemExit(f"Error: GET {url[:80]} answered {answer.status_code}: "
                         f"{answer.text[:200]}")
    return answer.json()


def check(session, base: str, headers: dict, secret: str, deep: str, events: int) -> list[int]:
    """The built cursors resume where the service's own do; the deep page's ids are right."""
    first = get_page(session, base + PATH, headers)
    ids = [event["id"] for event in first["events"]]
    followed = get_page(session, base + PATH + first["meta"]["next_cursor"], headers)
    built = get_page(session, base + PATH + deep_cursor(secret, ids[-1]), headers)
    if [e["id"] for e in followed["events"]] != [e["id"] for e in built["events"]]:
        raise SystemExit("Error: a built cursor does not resume where the service's own does")
    page = get_page(session, base + PATH + deep, headers)
    deep_ids = [event["id"] for event in page["events"]]
    expected = list(range(DEEP_AFTER_ID - 1, DEEP_AFTER_ID - 21, -1))
    if deep_ids != expected or not page["meta"]["next_cursor"] or ids[0] < events:
        raise SystemExit(f"Error: the deep page holds {deep_ids}, not {expected}")
    print(f"  first page ids {ids[0]}..{ids[-1]}; deep page ids {deep_ids[0]}..{deep_ids[-1]} "
          f"(as expected), after {ids[0] - DEEP_AFTER_ID + 1:,} newer events")
    return deep_ids


def measure(session, urls: dict[str, str], headers: dict, rounds: int, pairs: int) -> dict:
    """Per round, `pairs` alternations of the two requests; each request's seconds."""
    timings = {name: [[] for _ in range(rounds)] for name in urls}
    names = list(urls)
    for _ in range(20):  # warm both workers' statement caches and connections
        for name in names:
            session.get(urls[name], headers=headers, timeout=30)
    for round_number in range(rounds):
        for pair in range(pairs):
            for name in names if pair % 2 == 0 else reversed(names):
                started = time.perf_counter()
                answer = session.get(urls[name], headers=headers, timeout=30)
                elapsed = time.perf_counter() - started
                if answer.status_code != 200:
                    raise SystemExit(f"Error: {name} answered {answer.status_code}")
                timings[name][round_number].append(elapsed)
    return timings


def explain(env: dict[str, str], headers: dict, urls: dict[str, str]) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement each request runs, captured in-process."""
    from sqlalchemy import event

    os.environ.update(env)
    from meme_api import create_app
    from meme_api.extensions import db

    app = create_app()
    plans = {}
    with app.app_context():
        captured: list[tuple[str, object]] = []

        def keep(_conn, _cursor, statement, parameters, _context, _many):
            if "FROM audit_events" in statement:
                captured.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", keep)
        client = app.test_client()
        for name, url in urls.items():
            captured.clear()
            path = url[url.index("/audit"):]
            if client.get(path, headers=headers).status_code != 200:
                raise SystemExit(f"Error: in-process {name} failed")
            statement, parameters = captured[-1]
            with db.engine.connect() as connection:
                rows = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
            plans[name] = "\n".join(row[0] for row in rows)
        event.remove(db.engine, "before_cursor_execute", keep)
    return plans


def main() -> None:
    import requests

    args = parse_args()
    secret = secrets.token_hex(32)
    env = service_env(args.postgresql_url, secret)
    database = Database("postgresql", args.postgresql_url, 0, 0, env)
    print(f"load average before: {os.getloadavg()}")
    reset_postgresql(args.postgresql_url)
    server = None
    try:
        database.flask("db", "upgrade", capture=True)
        print(f"  loaded {args.events:,} events in {load(args.postgresql_url, args.events):.1f} s")
        admin, password = f"bench-admin-{os.urandom(3).hex()}", os.urandom(12).hex()
        database.flask("create-admin", admin, "--password", password, capture=True)
        app_token = database.flask("apps", "register", f"bench-{os.urandom(4).hex()}",
                                   capture=True).strip().splitlines()[-1]
        server = start_service(env, Path(tempfile.mkdtemp(prefix="audit-bench-")), "service")
        headers = {"x-application-token": app_token,
                   "x-access-token": login(server, app_token, admin, password)}
        deep = deep_cursor(secret, DEEP_AFTER_ID)
        urls = {"first page": server.url + PATH, "deep page": server.url + PATH + deep}
        with requests.Session() as session:
            check(session, server.url, headers, secret, deep, args.events)
            timings = measure(session, urls, headers, args.rounds, args.pairs)
        report(timings)
        for name, plan in explain(env, headers, urls).items():
            print(f"\nEXPLAIN (ANALYZE, BUFFERS), {name}:\n{plan}")
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            engine = create_engine(make_url(args.postgresql_url).set(database="postgres"),
                                   isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                name = make_url(args.postgresql_url).database
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()
    print(f"load average after: {os.getloadavg()}")


def report(timings: dict[str, list[list[float]]]) -> None:
    first, deep = timings["first page"], timings["deep page"]
    print("\nround  first page p50 ms  deep page p50 ms  ratio")
    for number, (a, b) in enumerate(zip(first, deep, strict=True), 1):
        ratio = statistics.median(b) / statistics.median(a)
        print(f"{number:>5}  {statistics.median(a) * 1000:>16.2f}  "
              f"{statistics.median(b) * 1000:>16.2f}  {ratio:.3f}")
    all_a = [t for r in first for t in r]
    all_b = [t for r in deep for t in r]

    def p90(values: list[float]) -> float:
        return statistics.quantiles(values, n=10)[-1]

    ratio = statistics.median(all_b) / statistics.median(all_a)
    a_ms, b_ms = statistics.median(all_a) * 1000, statistics.median(all_b) * 1000
    print(f"  all  {a_ms:>16.2f}  {b_ms:>16.2f}"
          f"  {ratio:.3f}   (n={len(all_a)} each; p90 {p90(all_a) * 1000:.2f} / "
          f"{p90(all_b) * 1000:.2f} ms)")
    print(f"target: deep ≤ 1.2 × first -> {'met' if ratio <= 1.2 else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
