"""The cost of issue 16's operability features, in one run: metrics on vs off, keyed creates.

    python bench/ops_ab.py --rounds 5 --duration 5

One SQLite database (seeded with `--templates`) served twice at once, the way the container
serves it (boot.sh, gunicorn, 2 sync workers): once with METRICS_ENABLED=true and once with
false. wrk then alternates between the two, round after round, on the same request (so a
machine whose load drifts treats both alike):

- `GET /template?limit=20` with metrics on, then off (contract §8 allows metrics 5%);
- `POST /template` without `Idempotency-Key`, then with a fresh key per request (contract §12).

It prints each run and, per comparison, the median of the per-round ratios and their spread.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import uuid
from pathlib import Path

import loadgen
from scenarios import LIST_PATH, POST_BODY, Scenario
from service import SEED_USER, Database, login, prepare, service_env, start_service

KEYS = 50_000  # distinct Idempotency-Keys in the keyed file: more than a run sends


def scenarios(app_token: str, token: str) -> dict[str, Scenario]:
    headers = {"x-application-token": app_token, "x-access-token": token}
    posted = {**headers, "Content-Type": "application/json"}
    return {
        "list": Scenario("list", "GET /template", 200, headers, [("GET", LIST_PATH, "", {})]),
        "post": Scenario("post", "POST /template", 201, posted,
                         [("POST", "/template", POST_BODY, {})]),
        "post_keyed": Scenario("post_keyed", "POST /template with Idempotency-Key", 201, posted,
                               [("POST", "/template", POST_BODY,
                                 {"Idempotency-Key": uuid.uuid4().hex}) for _ in range(KEYS)]),
    }


def main() -> int:
    from meme_api.cli import SEED_PASSWORD

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--templates", type=int, default=10_000)
    args = parser.parse_args()
    load = loadgen.Load(threads=2, connections=8, duration=args.duration)
    work = Path(tempfile.mkdtemp(prefix="meme_api-ops-bench-"))
    database = Database("sqlite", f"sqlite:///{work / 'bench.sqlite'}", args.templates, 100)
    database.env = service_env(database.url, secrets.token_urlsafe(48))
    prepared = prepare(database, reuse=False)
    on = start_service({**database.env, "METRICS_ENABLED": "true"}, work, "metrics-on")
    off = start_service({**database.env, "METRICS_ENABLED": "false"}, work, "metrics-off")
    try:
        token = login(on, prepared["app_token"], SEED_USER, SEED_PASSWORD)
        chosen = scenarios(prepared["app_token"], token)
        files = {}
        for key, item in chosen.items():
            item.check(on.url)
            files[key] = item.write(work)
        pairs = {"metrics": [("on", on, "list"), ("off", off, "list")],
                 "idempotency": [("no key", on, "post"), ("key", on, "post_keyed")]}
        for side in (on, off):
            loadgen.run_wrk(side.url, files["list"], load, 1)  # warm up
        results: dict[str, dict[str, list[float]]] = {name: {} for name in pairs}
        for round_ in range(args.rounds):
            for name, sides in pairs.items():
                # Alternate which side goes first, too.
                for label, server, key in (sides if round_ % 2 == 0 else sides[::-1]):
                    row = loadgen.run_wrk(server.url, files[key], load)
                    if row["errors"]:
                        raise SystemExit(f"Error: {name} {label}: {row['errors']}")
                    results[name].setdefault(label, []).append(row["rps"])
                    print(f"round {round_ + 1} {name:<12} {label:<7} {row['rps']:>9,.1f} req/s "
                          f"p50 {row['p50_ms']:6.2f} ms")
    finally:
        on.stop()
        off.stop()
    summary = {}
    for name, sides in pairs.items():
        (first, *_), (second, *_) = sides
        ratios = [b / a for a, b in zip(results[name][first], results[name][second],
                                        strict=True)]
        summary[name] = {
            "runs": results[name],
            "median_rps": {label: statistics.median(v) for label, v in results[name].items()},
            "ratio_median": round(statistics.median(ratios), 4),
            "ratio_min": round(min(ratios), 4), "ratio_max": round(max(ratios), 4),
        }
        print(f"{name}: {second} / {first} = {summary[name]['ratio_median']:.3f} "
              f"(rounds {summary[name]['ratio_min']:.3f}-{summary[name]['ratio_max']:.3f})")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
