"""Parameter sweeps: a grid of run configs, run in parallel and ranked on a leaderboard.

The sweep file and its points are `portfolio.grid`'s (`load_grid`, `grid_points`);
the ranking is `portfolio.leaderboard`'s. This module runs the points, writes the
sweep folder and registers the ``portfolio sweep`` subcommand; the names callers
imported from here before the split are still importable from here.

Each point is one ``portfolio.run.run(config)`` in its own process: local processes by
default, or tasks on an existing Ray cluster (connected by `portfolio.ray_cluster`,
which fails fast with one line when none answers). A worker returns the bytes of its run
folder, so Ray nodes need no filesystem shared with the driver (only the installed
package and, for ``data.path`` configs, the price file at the same absolute path).
The sweep folder, written whole or not at all (`portfolio.runfolder.staging`)::

    leaderboard.csv   one row per point: swept values, ranked strategy's metrics,
                      deflated Sharpe ratio over the points tried, status, seconds
    leaderboard.html  the same table as a self-contained page
    forecasters.csv   when the grid varies a forecaster.* key: every point's
    forecasters.md    forecasts scored on the same dates (`portfolio.compare`)
    sweep.yaml        the sweep as run: base config inlined, so it reruns as is
    points/<name>/    each point's run folder (`portfolio report` renders one), plus
                      point.json (values, status, seconds, error); a failed point
                      holds point.json and error.txt (its traceback) only

A failed point is recorded (``status`` ``failed`` and the error) instead of stopping
the sweep; a sweep whose every point failed raises `SweepError` and leaves no folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from foliocast.portfolio.backtest.runfolder import staging
from foliocast.portfolio.config import RunConfig, config_from_dict, config_to_dict
from foliocast.portfolio.sweep.compare import compare_forecasters, write_comparison
from foliocast.portfolio.sweep.grid import (
    METRICS,
    SweepSpec,
    grid_points,
    load_grid,
    point_values,
    spec_from_dict,
)
from foliocast.portfolio.sweep.grid import _labels as _labels  # re-export
from foliocast.portfolio.sweep.leaderboard import (
    FAILED,
    LEADERBOARD_METRICS,
    OK,
    cell_text,
    leaderboard,
    write_leaderboard,
)
from foliocast.portfolio.sweep.leaderboard import _rank as _rank  # re-export
from foliocast.portfolio.sweep.leaderboard import (
    leaderboard_html as leaderboard_html,  # re-export
)
from foliocast.portfolio.sweep.ray_cluster import ray_session

__all__ = [
    "METRICS",
    "LEADERBOARD_METRICS",
    "SweepError",
    "SweepSpec",
    "PointOutcome",
    "load_grid",
    "spec_from_dict",
    "grid_points",
    "run_sweep",
    "leaderboard",
    "sweep_command",
]


class SweepError(RuntimeError):
    """The sweep as a whole failed (every point failed); no folder was written."""


@dataclass
class PointOutcome:
    """What one point's worker sends back: status, timing and run folder files."""

    name: str
    status: str
    seconds: float
    files: dict[str, bytes] = field(default_factory=dict)
    error: str = ""


# ---------------------------------------------------------------------- execution


def _run_point(
    name: str, config_values: dict[str, Any], cores: int = 1
) -> PointOutcome:
    """Run one point and return its run folder's files (runs in a worker).

    ``cores`` is the point's share of the machine: the LSTM takes one JAX device per
    core it may use (:mod:`forecasting.devices`), and points run side by side must
    not each take them all. A count the user set in the environment wins.
    """
    os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(cores))
    # Imported in the worker, after the device count is set: JAX reads it when the
    # run first loads it, and the parent process never needs the backtest's modules.
    from foliocast.portfolio.backtest.run import run
    from foliocast.portfolio.backtest.runfolder import save_run

    start = time.perf_counter()  # after the imports: seconds is the run's cost
    try:
        config = config_from_dict(config_values)
        output = run(config)
        with tempfile.TemporaryDirectory(prefix="sweep-point-") as scratch:
            folder = Path(scratch)
            save_run(
                folder,
                config=config,
                result=output.result,
                metrics=output.metrics,
                forecast_skill=output.forecast_skill,
                risk_free=output.risk_free,
                assets=output.assets,
            )
            files = {path.name: path.read_bytes() for path in sorted(folder.iterdir())}
    except Exception as err:  # a failed point is recorded, not fatal to the sweep
        return PointOutcome(
            name,
            FAILED,
            time.perf_counter() - start,
            {"error.txt": traceback.format_exc().encode()},
            _one_line(err),
        )
    return PointOutcome(name, OK, time.perf_counter() - start, files)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".strip()


def _crashed(name: str, err: BaseException) -> PointOutcome:
    """Outcome of a point whose worker died instead of returning."""
    return PointOutcome(name, FAILED, float("nan"), {}, _one_line(err))


def _portable(config: RunConfig) -> dict[str, Any]:
    """Config as plain data with ``data.path`` absolute, for workers elsewhere."""
    values = config_to_dict(config)
    if values["data"]["path"] is not None:
        values["data"]["path"] = str(Path(values["data"]["path"]).resolve())
    return values


def _local_outcomes(
    jobs: list[tuple[str, dict[str, Any]]], workers: int
) -> Iterator[PointOutcome]:
    """Run the jobs in local processes; yield outcomes as they finish."""
    # 'spawn', not 'fork': a forked JAX runtime can deadlock in the child.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    cores = max(1, (os.cpu_count() or 1) // workers)
    try:
        futures: dict[Future, str] = {
            pool.submit(_run_point, name, values, cores): name for name, values in jobs
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: futures[f]):
                try:
                    yield future.result()
                except Exception as err:  # the worker process died (memory, signal)
                    yield _crashed(futures[future], err)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray_outcomes(
    ray: Any, jobs: list[tuple[str, dict[str, Any]]], workers: int | None
) -> Iterator[PointOutcome]:
    """Run the jobs as Ray tasks, at most ``workers`` in flight; yield as they end."""
    task = ray.remote(num_cpus=1, max_retries=0)(_run_point)
    queue = list(jobs)
    limit = workers or len(queue)
    in_flight: dict[Any, str] = {}
    while queue or in_flight:
        while queue and len(in_flight) < limit:
            name, values = queue.pop(0)
            in_flight[task.remote(name, values, 1)] = name  # num_cpus=1
        (ref,), _ = ray.wait(list(in_flight), num_returns=1)
        name = in_flight.pop(ref)
        try:
            yield ray.get(ref)
        except Exception as err:  # the worker or its node died
            yield _crashed(name, err)


@contextlib.contextmanager
def _executor(
    jobs: list[tuple[str, dict[str, Any]]],
    ray_address: str | None,
    workers: int | None,
    quiet: bool,
) -> Iterator[Iterator[PointOutcome]]:
    """Outcomes of the jobs as they finish, from local processes or Ray."""
    if ray_address is None:
        yield _local_outcomes(jobs, workers or min(len(jobs), os.cpu_count() or 1))
        return
    with ray_session(ray_address, quiet) as ray:
        yield _ray_outcomes(ray, jobs, workers)


def _write_point(folder: Path, outcome: PointOutcome, values: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in outcome.files.items():
        (folder / Path(name).name).write_bytes(content)
    record = {
        "point": outcome.name,
        "values": values,
        "status": outcome.status,
        "seconds": None if math.isnan(outcome.seconds) else round(outcome.seconds, 3),
        "error": outcome.error,
    }
    (folder / "point.json").write_text(json.dumps(record, indent=2) + "\n")


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    *,
    ray_address: str | None = None,
    workers: int | None = None,
    force: bool = False,
    quiet: bool = False,
) -> pd.DataFrame:
    """Run every point of a sweep and write the sweep folder.

    Parameters
    ----------
    spec : SweepSpec
        The validated sweep (`load_grid`).
    out_dir : str or Path
        Sweep folder to create; written whole or not at all.
    ray_address : str, optional
        Run on an existing Ray cluster (``"auto"`` or ``"host:port"``); an already
        connected Ray session is used as is. Default: local processes.
    workers : int, optional
        Points run at once. Local default: ``min(points, os.cpu_count())``; Ray
        default: as many as the cluster schedules.
    force : bool
        Replace an existing ``out_dir`` once the new sweep is complete.
    quiet : bool
        No progress output.

    Returns
    -------
    pd.DataFrame
        The leaderboard, best point first.

    Notes
    -----
    Local points run in processes started with 'spawn', which re-imports the
    calling script: call this under ``if __name__ == "__main__":`` in a script.

    Raises
    ------
    RunExistsError
        If ``out_dir`` exists and ``force`` is False (checked before any point runs).
    ConnectionError
        If no Ray cluster answers at ``ray_address`` or it refuses the connection
        (`portfolio.ray_cluster.RayConnectError`, within seconds).
    ImportError
        If ``ray_address`` is given and Ray is not installed.
    SweepError
        If every point failed.
    """
    points = grid_points(spec)
    values = {name: point_values(spec, config) for name, config in points}
    jobs = [(name, _portable(config)) for name, config in points]
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with staging(Path(out_dir), force=force, kind="sweep") as folder:
        with (
            _executor(jobs, ray_address, workers, quiet) as outcomes,
            _Progress(len(jobs), quiet) as report,
        ):
            for outcome in outcomes:
                _write_point(
                    folder / "points" / outcome.name, outcome, values[outcome.name]
                )
                report(outcome)
        board = leaderboard(spec, folder / "points")
        if not (board["status"] == OK).any():
            first = board["error"].iloc[0]
            raise SweepError(
                f"every point of sweep {spec.name!r} failed; first error: {first}"
            )
        write_leaderboard(folder, spec, board)
        if any(key.startswith("forecaster.") for key in spec.keys):
            _write_comparison(folder)
        (folder / "sweep.yaml").write_text(
            yaml.safe_dump(spec.to_dict(), sort_keys=False)
        )
    return board


def _write_comparison(folder: Path) -> None:
    """Write the forecaster comparison, or say why not without losing the sweep.

    The points are finished and paid for: a comparison that cannot be made (no
    point ran lstm_mvo, say) is a warning, and ``portfolio compare`` can redo it.
    """
    try:
        write_comparison(folder, compare_forecasters(folder))
    except Exception as err:  # whatever went wrong, the sweep itself is kept
        print(
            f"warning: no forecaster comparison ({_one_line(err)}); run "
            "portfolio compare on the sweep folder to retry",
            file=sys.stderr,
        )


class _Progress:
    """A progress bar over points (or nothing) with one line per finished point."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet, self.done = total, quiet, 0
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Callable[[PointOutcome], None]:
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("sweep"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} points"),
                TimeElapsedColumn(),
                console=_console(),
            )
            self.bar.start()
            self.task = self.bar.add_task("sweep", total=self.total)
        return self.report

    def report(self, outcome: PointOutcome) -> None:
        self.done += 1
        if self.bar is None:
            return
        detail = f"{outcome.seconds:.1f} s" if outcome.status == OK else outcome.error
        self.bar.console.print(
            f"[{self.done}/{self.total}] {outcome.name}: {outcome.status} ({detail})",
            markup=False,
            highlight=False,
        )
        self.bar.update(self.task, completed=self.done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True, width=max(Console().width, 100))


# ---------------------------------------------------------------------- CLI


def sweep_command(args: argparse.Namespace) -> int:
    """Handle ``portfolio sweep``; return the exit code.

    Config, data and existing-folder errors propagate to the CLI (exit 2); a
    missing Ray or an unreachable cluster is exit 2 here, a sweep whose every
    point failed exit 1.
    """
    spec = load_grid(args.grid)
    out = Path(args.out) if args.out else Path("runs") / spec.name
    try:
        board = run_sweep(
            spec,
            out,
            ray_address=args.ray_address,
            workers=args.workers,
            force=args.force,
            quiet=args.quiet,
        )
    except (ImportError, ConnectionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    failed = int((board["status"] != OK).sum())
    if failed:
        print(
            f"warning: {failed} of {len(board)} points failed; see the status and "
            f"error columns of {out / 'leaderboard.csv'}",
            file=sys.stderr,
        )
    if args.quiet:
        print(out / "leaderboard.html")
    else:
        _print_top(board, spec, out)
    return 0


def _print_top(board: pd.DataFrame, spec: SweepSpec, out: Path, rows: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{spec.name}: {spec.metric} of {spec.strategy}")
    columns = ["rank", "point", *LEADERBOARD_METRICS]
    for column in columns:
        table.add_column(column, justify="left" if column == "point" else "right")
    for _, row in board.head(rows).iterrows():
        table.add_row(*(cell_text(column, row[column]) for column in columns))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    console.print(f"leaderboard: {out / 'leaderboard.html'}")
