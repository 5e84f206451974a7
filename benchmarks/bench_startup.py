"""Start-up time of the command line and of the library import.

Writes JSON (default ``benchmarks/results/startup.json``) with, for each case, the
wall time of a fresh process started in an empty temporary folder (median, min and
max of ``--repeat`` runs) and the imports that cost most, read from
``python -X importtime`` (top-level imports by cumulative time):

- ``help``: ``portfolio --help``;
- ``datasets``: ``portfolio datasets``;
- ``config_error``: ``portfolio backtest --config bad.yaml``, the YAML holding an
  unknown key;
- ``config_error_dates``: the same with the end before the start, a mistake found
  only after the dates are parsed;
- ``import``: ``python -c "import foliocast.portfolio"``.

The command line runs as ``python -m foliocast``, which is what the installed
``portfolio`` script calls. The target: under 1 s on a 2-core machine.

Usage: ``python benchmarks/bench_startup.py [--out FILE] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_IMPORTS = 10

# Files each case may read, written into the temporary folder.
FILES = {
    "bad.yaml": "optimizer:\n  risk_aversoin: 3\n",
    "bad_dates.yaml": "backtest: {start: 2020-01-01, end: 2019-01-01}\n",
}
CLI = ["-m", "foliocast"]
CASES: dict[str, tuple[list[str], int]] = {
    # name: (arguments to python, expected exit code)
    "help": ([*CLI, "--help"], 0),
    "datasets": ([*CLI, "datasets"], 0),
    "config_error": ([*CLI, "backtest", "--config", "bad.yaml", "--out", "r"], 2),
    "config_error_dates": (
        [*CLI, "backtest", "--config", "bad_dates.yaml", "--out", "r"],
        2,
    ),
    "import": (["-c", "import foliocast.portfolio"], 0),
}


def run_once(args: list[str], expected: int, folder: str) -> tuple[float, str]:
    """Wall seconds of one fresh process, and its stderr."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, *args], cwd=folder, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if child.returncode != expected:
        raise RuntimeError(
            f"{args}: exit {child.returncode}, expected {expected}\n{child.stderr}"
        )
    return wall, child.stderr


def top_imports(importtime: str) -> dict:
    """Top-level imports by cumulative seconds, and the total, from -X importtime."""
    rows = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # nested imports are inside their parent's
            rows.append((name.strip(), int(cumulative) / 1e6))
    rows.sort(key=lambda row: -row[1])
    return {
        "total_s": round(sum(seconds for _, seconds in rows), 3),
        "top": {name: round(seconds, 3) for name, seconds in rows[:TOP_IMPORTS]},
    }


def measure(args: list[str], expected: int, repeat: int, folder: str) -> dict:
    """Median, min and max wall time over ``repeat`` runs, then the import profile."""
    run_once(args, expected, folder)  # warm the file-system cache, not counted
    walls = [run_once(args, expected, folder)[0] for _ in range(repeat)]
    _, importtime = run_once(["-X", "importtime", *args], expected, folder)
    return {
        "command": " ".join(["python", *args]),
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "runs": repeat,
        "imports": top_imports(importtime),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/startup.json"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    report: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine slows every case: read the times with it.
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "target": "under 1 s on 2 CPU cores for help and config errors",
        "cases": {},
    }
    # Outside the repository, so that only the installed package can be imported.
    with tempfile.TemporaryDirectory() as folder:
        for name, text in FILES.items():
            Path(folder, name).write_text(text)
        for name, (case_args, expected) in CASES.items():
            report["cases"][name] = measure(case_args, expected, args.repeat, folder)
            print(f"{name}: {report['cases'][name]['median_s']:.2f} s", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
