"""Load: wrk runs of one scenario, and the raw rate of the password-hash check alone."""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "wrk" / "scenario.lua"


@dataclass(frozen=True)
class Load:
    """How wrk drives a server: the same for every scenario and for the ceiling."""

    threads: int
    connections: int
    duration: float  # seconds per measured run


def wrk_command() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("Error: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    return found


def wrk_version() -> str:
    answer = subprocess.run([wrk_command(), "-v"],  # noqa: S603 - wrk, our arguments
                            capture_output=True, text=True, check=False)
    return (answer.stdout or answer.stderr).splitlines()[0].split(" [")[0]


def run_wrk(base_url: str, requests_file: Path, load: Load, seconds: float | None = None) -> dict:
    """One wrk run; requests/s, latency percentiles (ms) and error counts."""
    seconds = math.ceil(seconds or load.duration)  # wrk takes whole seconds
    argv = [wrk_command(), f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds:g}s",
            "--timeout", "30s", "-s", str(LUA), base_url, "--", str(requests_file)]
    answer = subprocess.run(argv, capture_output=True, text=True,  # noqa: S603 - our arguments
                            check=False, timeout=seconds + 60)
    lines = [line for line in answer.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if answer.returncode or not lines:
        raise SystemExit(f"Error: wrk failed ({answer.returncode}):\n"
                         f"{(answer.stderr or answer.stdout)[-2000:]}")
    raw = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    latency = raw["latency_us"]
    errors = {name: count for name, count in raw["errors"].items() if count}
    return {
        "requests": raw["requests"],
        "seconds": round(raw["duration_us"] / 1e6, 3),
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": latency["p50"] / 1000, "p90_ms": latency["p90"] / 1000,
        "p99_ms": latency["p99"] / 1000, "mean_ms": round(latency["mean"] / 1000, 3),
        "max_ms": latency["max"] / 1000,
        "errors": errors,
    }


def _check_for(arguments: tuple[str, str, float]) -> tuple[int, float]:
    """Check the password for `seconds` in this process: how many checks, in how long."""
    from werkzeug.security import check_password_hash

    password_hash, password, seconds = arguments
    check_password_hash(password_hash, password)  # warm-up, not counted
    checks, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        if not check_password_hash(password_hash, password):
            raise ValueError("the benchmark password does not match its hash")
        checks += 1
    return checks, time.perf_counter() - started


def raw_hash_rate(password_hash: str, password: str, processes: int, seconds: float) -> dict:
    """Checks per second of `check_password_hash` alone, in as many processes as workers."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.map(_check_for, [(password_hash, password, seconds)] * processes)
    rate = sum(checks / elapsed for checks, elapsed in results)
    return {"method": password_hash.split("$", 1)[0], "processes": processes,
            "checks": sum(checks for checks, _ in results), "seconds": seconds,
            "rps": round(rate, 2), "ms_per_check": round(1000 * processes / rate, 2)}
