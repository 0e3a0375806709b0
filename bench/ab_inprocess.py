"""Time a few requests in-process, for an A/B between two source trees on a busy machine.

    python bench/ab_inprocess.py --database-url sqlite:///$PWD/bench/results/ab.sqlite
    PYTHONPATH=../other-tree python bench/ab_inprocess.py --database-url ...   # the other side

The app runs as bench/profile_list.py runs it (production settings, rate limiting off unless
`--rate-limits`), behind Flask's test client: no gunicorn, no network, so the numbers move with
the application's own work. Each scenario is timed in batches, in microseconds per request:
`cpu` is this process's CPU time (SQLite runs inside it; a server's own work is not counted)
and `wall` the elapsed time, each the fastest batch's mean: on a machine shared with other work,
the fastest batch is the one least disturbed. Run the two trees alternately, several times each
(bench/ab_inprocess.sh does), and compare: wrk numbers on a busy machine are too noisy for
differences of a few percent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from profile_list import build_app, credentials, prepare


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--templates", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--batch", type=int, default=200, help="requests per batch")
    parser.add_argument("--rate-limits", action="store_true",
                        help="rate limiting on (memory storage), as in production")
    args = parser.parse_args(argv)

    app = build_app(args.database_url, {"RATELIMIT_ENABLED": "true",
                                         "RATELIMIT_DEFAULT": "100000000 per minute"}
                    if args.rate_limits else {})
    prepare(app, args.templates, fresh=False)
    headers = credentials(app, as_admin=False)
    client = app.test_client()
    mine = client.post("/template", headers=headers,
                       json={"title": "ab", "url": "https://example.com/ab.png"})
    assert mine.status_code == 201, mine.get_data(as_text=True)
    template_id = mine.get_json()["template"]["id"]
    flip = [0]

    def write():
        flip[0] ^= 1
        return client.patch(f"/template/{template_id}", headers=headers,
                            json={"title": f"ab {flip[0]}"})

    scenarios = {
        "list_page": lambda: client.get("/template?limit=20", headers=headers),
        "get_one": lambda: client.get(f"/template/{template_id}", headers=headers),
        "patch": write,
        "me": lambda: client.get("/user/me", headers=headers),
    }
    results = {}
    for name, request in scenarios.items():
        for _ in range(100):
            response = request()
            if response.status_code != 200:
                raise SystemExit(f"{name}: {response.status_code} "
                                 f"{response.get_data(as_text=True)[:300]}")
        cpu, wall = [], []
        for _ in range(args.batches):
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.batch):
                request()
            cpu.append((time.process_time() - started_cpu) * 1e6 / args.batch)
            wall.append((time.perf_counter() - started) * 1e6 / args.batch)
        results[name] = {"cpu": round(min(cpu), 1), "wall": round(min(wall), 1)}
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
