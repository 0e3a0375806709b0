"""Compare two source trees with the harness itself: whole runs of bench/run.py, alternated.

    python bench/ab.py --before ../before-tree --rounds 3 -- --backends sqlite \\
        --sqlite-templates 20000 --duration 4 --memory-requests 0 --hash-seconds 1

Each tree runs its own bench/run.py with its own virtual environment (`<tree>/.venv`, made with
`pip install -e '.[bench]'`), so each side serves its own code; the runs alternate (before,
after, before, after, ...) so that a machine whose load drifts treats both alike. Every run
compares each scenario with the bare-Flask ceiling measured around it; this script reports, per
scenario, the median over the rounds of each side's ratio to the ceiling and of its requests per
second, and the change. The ratio is the figure to read on a machine shared with other work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AFTER = HERE.parent


def run(tree: Path, output: Path, harness_args: list[str]) -> dict:
    """One whole harness run of `tree`; its results."""
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"Error: {python} is missing: make it with "
                         f"python3 -m venv .venv && .venv/bin/pip install -e '.[bench]'")
    subprocess.run([str(python), "bench/run.py", *harness_args, "--output", str(output)],  # noqa: S603
                   cwd=tree, check=True)
    return json.loads((output / "results.json").read_text())


def by_scenario(results: list[dict], backend: str) -> dict[str, dict[str, list[float]]]:
    """scenario -> {"ratio": [...], "rps": [...], "p50_ms": [...]} over the runs."""
    table: dict[str, dict[str, list[float]]] = {}
    for result in results:
        for row in result["backends"][backend]["scenarios"]:
            entry = table.setdefault(row["key"], {"ratio": [], "rps": [], "p50_ms": []})
            for name in entry:
                entry[name].append(row[name])
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other source tree")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "ab")
    parser.add_argument("harness_args", nargs="*", help="arguments for bench/run.py (after --)")
    args = parser.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": AFTER}
    results: dict[str, list[dict]] = {"before": [], "after": []}
    for round_number in range(1, args.rounds + 1):
        for side, tree in trees.items():
            print(f"\n=== round {round_number}/{args.rounds}: {side} ({tree.name})", flush=True)
            output = args.output.resolve() / f"{side}-{round_number}"
            results[side].append(run(tree, output, args.harness_args))
    summary = {"rounds": args.rounds, "harness_args": args.harness_args, "backends": {}}
    for backend in results["after"][0]["backends"]:
        before, after = by_scenario(results["before"], backend), by_scenario(results["after"],
                                                                             backend)
        rows = {}
        print(f"\n{backend}: median of {args.rounds} alternated runs per side")
        print(f"{'scenario':<16} {'ratio before':>12} {'ratio after':>12} {'change':>8} "
              f"{'req/s before':>13} {'req/s after':>12}")
        for key in after:
            ratio_b, ratio_a = (statistics.median(side[key]["ratio"]) for side in (before, after))
            rps_b, rps_a = (statistics.median(side[key]["rps"]) for side in (before, after))
            change = ratio_a / ratio_b - 1
            rows[key] = {"ratio_before": ratio_b, "ratio_after": ratio_a, "change": change,
                         "rps_before": rps_b, "rps_after": rps_a,
                         "ratios_before": before[key]["ratio"],
                         "ratios_after": after[key]["ratio"]}
            print(f"{key:<16} {ratio_b:>12.4f} {ratio_a:>12.4f} {change:>+8.1%} "
                  f"{rps_b:>13,.1f} {rps_a:>12,.1f}")
        summary["backends"][backend] = rows
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {args.output / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
