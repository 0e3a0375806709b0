"""The performance benchmark of meme_api (issue #7): seed, serve, load, compare with the ceiling.

    python bench/run.py                       # SQLite with 100,000 templates, then PostgreSQL
                                              # with 1,000,000 (about 8 minutes on 2 cores)
    python bench/run.py --backends sqlite --sqlite-templates 10000 --duration 3   # a quick look

For each backend it seeds a fresh database with `flask --app meme_api seed` (bulk inserts, with a
progress bar), starts the service through boot.sh (production settings, rate limiting off, two
gunicorn workers) and the ceiling app under the same gunicorn configuration, and runs every
scenario with wrk, each between two runs of the ceiling. Then it measures the raw password-hash
check rate and, on SQLite, the workers' memory across 100,000 requests. It prints the table and the
targets of issue #7 and writes results.json and chart.png into bench/results/.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import loadgen
import report
import scenarios as scenario_builder
from service import (
    SEED_USER,
    Database,
    login,
    prepare,
    service_env,
    start_ceiling,
    start_service,
)

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DEFAULT_POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/meme_bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated, in order: sqlite, postgresql (default both)")
    parser.add_argument("--sqlite-templates", type=int, default=100_000, metavar="N")
    parser.add_argument("--postgresql-templates", type=int, default=1_000_000, metavar="N")
    parser.add_argument("--users", type=int, default=1000, help="seeded users (default 1000)")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL_URL,
                        help="the database to (re)create and seed; default %(default)s")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a database that already holds the seeded templates")
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds per measured wrk run (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=8,
                        help="wrk connections (default 8)")
    parser.add_argument("--hash-seconds", type=float, default=8.0,
                        help="seconds of the raw password-hash check (default 8)")
    parser.add_argument("--memory-requests", type=int, default=100_000,
                        help="requests of the memory check on SQLite; 0 skips it")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where results.json and chart.png go (default bench/results)")
    args = parser.parse_args(argv)
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if min(args.sqlite_templates, args.postgresql_templates) < 1000:
        parser.error("seed at least 1,000 templates")
    return args


def database_for(backend: str, args: argparse.Namespace) -> Database:
    if backend == "sqlite":
        url = f"sqlite:///{RESULTS / 'bench.sqlite'}"
        return Database(backend, url, args.sqlite_templates, args.users)
    return Database(backend, args.postgresql_url, args.postgresql_templates, args.users)


def user_password_hash(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT password_hash FROM users WHERE username_key "
                                           "= :name"), {"name": SEED_USER}).scalar_one()
    finally:
        engine.dispose()


def postgresql_version(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            return connection.execute(text("SHOW server_version")).scalar_one()
    except Exception:  # noqa: BLE001 - reported as unknown
        return None
    finally:
        engine.dispose()


def measure_memory(service, mix_file: Path, load: loadgen.Load, wanted: int,
                   rate_hint: float) -> dict:
    """Worker RSS before and after at least `wanted` more requests (the workers are warm)."""
    before, pids = service.worker_rss(), service.worker_pids()
    done, runs = 0, []
    while done < wanted:
        seconds = min(300.0, max(3.0, (wanted - done) / max(rate_hint, 1.0) * 1.02 + 1))
        run = loadgen.run_wrk(service.url, mix_file, load, seconds)
        runs.append(run)
        done += run["requests"]
        rate_hint = run["rps"]
    after = service.worker_rss()
    if service.worker_pids() != pids:
        raise SystemExit("Error: a gunicorn worker was replaced during the memory check")
    drifts = {pid: (after[pid] - before[pid]) / before[pid] for pid in before}
    return {"wanted": wanted, "requests": done, "rps": round(done / sum(r["seconds"] for r in
                                                                          runs), 1),
            "errors": {k: sum(r["errors"].get(k, 0) for r in runs)
                       for k in {k for r in runs for k in r["errors"]}},
            "rss_kib_before": before, "rss_kib_after": after,
            "max_drift": max(drifts.values(), key=abs)}


def run_backend(database: Database, args: argparse.Namespace, load: loadgen.Load) -> dict:
    """Seed, serve and measure one backend; the servers are stopped whatever happens."""
    from meme_api.cli import SEED_PASSWORD

    print(f"\n== {database.backend}: {database.templates:,} templates, {database.users:,} users")
    secret_key = secrets.token_urlsafe(48)
    database.env = service_env(database.url, secret_key)
    prepared = prepare(database, args.reuse)
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    service = start_service(database.env, logs, f"service-{database.backend}")
    ceiling_server = start_ceiling(database.env, logs)
    try:
        app_token = prepared["app_token"]
        admin_token = login(service, app_token, *prepared["admin"])
        user_token = login(service, app_token, SEED_USER, SEED_PASSWORD)
        chosen = scenario_builder.build(service, app_token, user_token, admin_token,
                                        SEED_PASSWORD, database.templates, secret_key)
        ceiling = scenario_builder.ceiling()
        requests_dir = RESULTS / "requests" / database.backend
        requests_dir.mkdir(parents=True, exist_ok=True)
        for item in (*chosen, ceiling):
            item.check(ceiling_server.url if item is ceiling else service.url)
        files = {item.key: item.write(requests_dir) for item in (*chosen, ceiling)}
        print("  warming up")
        for item in chosen:
            loadgen.run_wrk(service.url, files[item.key], load, 1)
        loadgen.run_wrk(ceiling_server.url, files["ceiling"], load, 1)

        def ceiling_run() -> dict:
            return loadgen.run_wrk(ceiling_server.url, files["ceiling"], load)

        rows, ceilings = [], [ceiling_run()]
        hash_rate, hash_rates = None, []
        password_hash = user_password_hash(database.url)

        def check_hash_rate() -> None:
            print(f"  raw password-hash check, {args.hash_seconds:g} s in 2 processes")
            hash_rates.append(loadgen.raw_hash_rate(password_hash, SEED_PASSWORD, 2,
                                                    args.hash_seconds))

        for item in chosen:
            if item.key == "login":
                check_hash_rate()
            row = loadgen.run_wrk(service.url, files[item.key], load)
            if item.key == "login":  # the raw rate on both sides of the login run, as the ceiling
                check_hash_rate()
                rate = sum(r["rps"] for r in hash_rates) / len(hash_rates)
                hash_rate = {**hash_rates[0], "checks": sum(r["checks"] for r in hash_rates),
                             "rps": round(rate, 2), "ms_per_check": round(2000 / rate, 2),
                             "runs": [r["rps"] for r in hash_rates]}
            ceilings.append(ceiling_run())
            around = (ceilings[-2]["rps"] + ceilings[-1]["rps"]) / 2
            row.update(key=item.key, label=item.label, ceiling_rps=round(around, 1),
                       ratio=round(row["rps"] / around, 4))
            rows.append(row)
            print(f"  {item.label:<52} {row['rps']:>9,.1f} req/s  p50 {row['p50_ms']:7.2f} ms  "
                  f"p99 {row['p99_ms']:7.2f} ms  {row['ratio']:.3f} × ceiling"
                  + (f"  errors {row['errors']}" if row["errors"] else ""))
        memory = None
        if database.backend == "sqlite" and args.memory_requests:
            print(f"  memory: {args.memory_requests:,} mixed read requests")
            # The mix's expected rate: its scenarios take equal shares of the requests.
            rates = [row["rps"] for row in rows if row["key"] in scenario_builder.MEMORY_MIX]
            rate = len(rates) / sum(1 / r for r in rates)
            mix = scenario_builder.mixed_reads(chosen).write(requests_dir)
            memory = measure_memory(service, mix, load, args.memory_requests, rate)
            print(f"  worker RSS (KiB) before {memory['rss_kib_before']} after "
                  f"{memory['rss_kib_after']}: worst {memory['max_drift']:+.1%}")
    finally:
        service.stop()
        ceiling_server.stop()
    return {"templates": database.templates, "users": database.users,
            "seed_seconds": prepared["seed_seconds"], "scenarios": rows, "ceiling": ceilings,
            "ceiling_rps": round(report.median([c["rps"] for c in ceilings]), 1),
            "hash_rate": hash_rate, "memory": memory}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    load = loadgen.Load(args.threads, args.connections, args.duration)
    wrk = loadgen.wrk_version()
    backends = {}
    for backend in args.backends:
        backends[backend] = run_backend(database_for(backend, args), args, load)
    pg = postgresql_version(args.postgresql_url) if "postgresql" in args.backends else None
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "machine": report.machine(pg, wrk),
        "settings": {"workers": 2, "threads": load.threads, "connections": load.connections,
                     "duration": load.duration, "users": args.users,
                     "command": " ".join(["python", "bench/run.py", *(argv or sys.argv[1:])])},
        "backends": backends,
    }
    results["targets"] = report.evaluate(backends)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    report.write_json(results, args.output / "results.json")
    report.chart(results, args.output / "chart.png")
    print("\n" + report.table(results) + "\n\n" + report.targets_table(results["targets"]))
    print(f"\nwrote {args.output / 'results.json'} and {args.output / 'chart.png'} "
          f"in {results['total_seconds'] / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
