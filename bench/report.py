"""Results: the machine, the table, the targets of issue #7, the JSON file and the chart."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("meme_api", "flask", "werkzeug", "sqlalchemy", "gunicorn", "psycopg", "pyjwt")

# Issue #7's targets, each measured within one run.
LIST_RATIO = 0.30  # authenticated GET /template?limit=20 on SQLite, as a share of the ceiling
CURSOR_DEPTH = 1.2  # deep cursor page p50 over first cursor page p50, on PostgreSQL
CURSOR_DEPTH_SIZE = 1_000_000
LOGIN_SHARE = 0.9  # GET /login rate over the raw password-hash check rate
MEMORY_DRIFT = 0.10  # worker RSS change across the memory run


def machine(postgresql_version: str | None, wrk: str) -> dict:
    """What the numbers were measured on (no host names, no paths)."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kib = next(int(line.split()[1]) for line in
                      Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    packages = {}
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            packages[name] = version(name)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"],  # noqa: S603, S607
                            cwd=REPO,
                            capture_output=True, text=True, check=False).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kib / 2**20, 1),
            "os": platform.platform(terse=True), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "postgresql": postgresql_version, "wrk": wrk,
            "packages": packages, "commit": commit or None}


def scenario(backend: dict, key: str) -> dict | None:
    return next((row for row in backend["scenarios"] if row["key"] == key), None)


def evaluate(backends: dict[str, dict]) -> list[dict]:
    """Each target: what was measured, against what, and whether it is met."""
    targets = []
    sqlite_run, pg_run = backends.get("sqlite"), backends.get("postgresql")

    def add(name: str, wanted: str, measured: str | None, met: bool | None, note: str = ""):
        targets.append({"target": name, "wanted": wanted, "measured": measured or "not measured",
                        "met": met, "note": note})

    row = scenario(sqlite_run, "list_page") if sqlite_run else None
    add("GET /template?limit=20 vs the ceiling (SQLite)", f">= {LIST_RATIO:.2f}",
        f"{row['ratio']:.3f} ({row['rps']:.0f} / {row['ceiling_rps']:.0f} req/s)" if row else None,
        row["ratio"] >= LIST_RATIO if row else None,
        f"{sqlite_run['templates']:,} templates" if sqlite_run else "")

    first = scenario(pg_run, "cursor_first") if pg_run else None
    deep = scenario(pg_run, "cursor_deep") if pg_run else None
    if first and deep:
        share = deep["p50_ms"] / first["p50_ms"]
        size_note = f"{pg_run['templates']:,} templates"
        if pg_run["templates"] < CURSOR_DEPTH_SIZE:
            size_note += f" (the target asks for {CURSOR_DEPTH_SIZE:,})"
        add("cursor page at depth vs page 1, p50 latency (PostgreSQL)", f"<= {CURSOR_DEPTH:.1f}x",
            f"{share:.2f}x ({deep['p50_ms']:.2f} / {first['p50_ms']:.2f} ms)",
            share <= CURSOR_DEPTH and pg_run["templates"] >= CURSOR_DEPTH_SIZE, size_note)
    else:
        add("cursor page at depth vs page 1, p50 latency (PostgreSQL)", f"<= {CURSOR_DEPTH:.1f}x",
            None, None)

    login = scenario(sqlite_run, "login") if sqlite_run else None
    hashing = sqlite_run.get("hash_rate") if sqlite_run else None
    if login and hashing:
        share = login["rps"] / hashing["rps"]
        add("GET /login vs the raw password-hash check rate (SQLite)", f">= {LOGIN_SHARE:.1f}",
            f"{share:.3f} ({login['rps']:.1f} / {hashing['rps']:.1f} per s)",
            share >= LOGIN_SHARE, f"{hashing['method']}, {hashing['processes']} processes")
    else:
        add("GET /login vs the raw password-hash check rate (SQLite)", f">= {LOGIN_SHARE:.1f}",
            None, None)

    memory = sqlite_run.get("memory") if sqlite_run else None
    if memory:
        drift = memory["max_drift"]
        add("worker RSS across the memory run (SQLite)", f"within ±{MEMORY_DRIFT:.0%}",
            f"{drift:+.1%} (worst worker; {memory['requests']:,} requests)",
            abs(drift) <= MEMORY_DRIFT and memory["requests"] >= memory["wanted"])
    else:
        add("worker RSS across the memory run (SQLite)", f"within ±{MEMORY_DRIFT:.0%}", None, None)
    return targets


def table(results: dict) -> str:
    """The results as a Markdown table, one row per backend and scenario."""
    lines = ["| backend | templates | scenario | req/s | p50 ms | p99 ms | × ceiling | errors |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for backend, run in results["backends"].items():
        for row in run["scenarios"]:
            errors = ", ".join(f"{k} {v}" for k, v in row["errors"].items()) or "-"
            lines.append(f"| {backend} | {run['templates']:,} | {row['label']} | "
                         f"{row['rps']:,.1f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                         f"{row['ratio']:.3f} | {errors} |")
        ceiling = run["ceiling_rps"]
        lines.append(f"| {backend} | | ceiling: bare Flask, same gunicorn config (median of "
                     f"{len(run['ceiling'])} runs) | {ceiling:,.1f} | "
                     f"{median([c['p50_ms'] for c in run['ceiling']]):.2f} | "
                     f"{median([c['p99_ms'] for c in run['ceiling']]):.2f} | 1.000 | - |")
    return "\n".join(lines)


def targets_table(targets: list[dict]) -> str:
    lines = ["| target | wanted | measured | met |", "|---|---|---|---|"]
    for item in targets:
        met = {True: "yes", False: "**no**", None: "-"}[item["met"]]
        note = f" ({item['note']})" if item["note"] else ""
        lines.append(f"| {item['target']}{note} | {item['wanted']} | {item['measured']} | {met} |")
    return "\n".join(lines)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def write_json(results: dict, path: Path) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n")


def chart(results: dict, path: Path) -> None:
    """Two panels: each scenario's rate as a share of the ceiling, and its p50/p99 latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(results["backends"].items())
    # The deep cursor's row number differs by backend; the chart names the depth generically.
    labels = [row["label"].split(" (after row")[0] + (" (90% deep)" if "after row" in
                                                      row["label"] else "")
              for row in backends[0][1]["scenarios"]]
    keys = [row["key"] for row in backends[0][1]["scenarios"]]
    height = 0.8 / len(backends)
    colors = ["#4c72b0", "#dd8452", "#55a868"]
    figure, (share_axis, latency_axis) = plt.subplots(
        1, 2, figsize=(15, 1.0 + 0.62 * len(keys)), sharey=True)
    for index, (backend, run) in enumerate(backends):
        rows = {row["key"]: row for row in run["scenarios"]}
        positions = [k + index * height - 0.4 + height / 2 for k in range(len(keys))]
        shares = [rows[key]["ratio"] if key in rows else 0 for key in keys]
        bars = share_axis.barh(positions, shares, height, color=colors[index % 3],
                               label=f"{backend}, {run['templates']:,} templates "
                                     f"(ceiling {run['ceiling_rps']:,.0f} req/s)")
        for bar, key in zip(bars, keys, strict=True):
            if key in rows:
                share_axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                                f" {rows[key]['rps']:,.0f}/s", va="center", fontsize=7)
        p50 = [rows[key]["p50_ms"] if key in rows else 0 for key in keys]
        p99 = [rows[key]["p99_ms"] if key in rows else 0 for key in keys]
        latency_axis.barh(positions, p99, height, color=colors[index % 3], alpha=0.35)
        latency_axis.barh(positions, p50, height, color=colors[index % 3],
                          label=f"{backend}: p50 (solid), p99 (light)")
    share_axis.axvline(LIST_RATIO, color="crimson", linestyle="--", linewidth=1,
                       label=f"list target: {LIST_RATIO:.2f} × ceiling")
    share_axis.set_yticks(range(len(keys)), labels, fontsize=8)
    share_axis.invert_yaxis()
    share_axis.set_xscale("log")
    share_axis.set_xlabel("requests/s as a share of the ceiling (log scale)")
    share_axis.legend(fontsize=7, loc="lower right")
    latency_axis.set_xscale("log")
    latency_axis.set_xlabel("latency under load, ms (log scale)")
    latency_axis.legend(fontsize=7, loc="lower right")
    settings = results["settings"]
    figure.suptitle(f"meme_api under gunicorn ({settings['workers']} workers), wrk "
                    f"-t{settings['threads']} -c{settings['connections']} "
                    f"{settings['duration']:g} s per run, {results['machine']['cores']} cores "
                    f"({results['machine']['cpu']})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
