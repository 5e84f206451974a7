"""Parameter sweeps: a grid of run configs, run in parallel and ranked on a leaderboard.

A sweep file (YAML, read with the safe loader) names a base config and the values to
try for some of its keys::

    name: lstm_mvo_sp500_sweep        # default run folder runs/<name>
    base: default.yaml                # config file (relative to the sweep file) or an
                                      # inline config mapping; default: built-in
    set:                              # optional, applied to every point
      backtest.start: '2005-01-01'
    grid:                             # cartesian product, last key varying fastest
      optimizer.risk_aversion: [2, 5, 10]
      forecaster.model.hidden: [16, 32]
    metric: sharpe                    # leaderboard ranking (see METRICS)
    strategy: lstm_mvo                # whose metrics are ranked

Keys are dotted paths into the run config (``optimizer.constraints.max_weight``).
Every point's config is built and validated when the sweep is loaded, so a typo fails
before anything runs, with a `ConfigError` naming the key.

Each point is one ``portfolio.run.run(config)`` in its own process: local processes by
default, or tasks on an existing Ray cluster. A worker returns the bytes of its run
folder, so Ray nodes need no filesystem shared with the driver (only the installed
package and, for ``data.path`` configs, the price file at the same absolute path).
The sweep folder, written whole or not at all (`portfolio.runfolder.staging`)::

    leaderboard.csv   one row per point: swept values, ranked strategy's metrics,
                      deflated Sharpe ratio over the points tried, status, seconds
    leaderboard.html  the same table as a self-contained page
    sweep.yaml        the sweep as run: base config inlined, so it reruns as is
    points/<name>/    each point's run folder (`portfolio report` renders one), plus
                      point.json (values, status, seconds, error); a failed point
                      holds point.json and error.txt (its traceback) only

A failed point is recorded (``status`` ``failed`` and the error) instead of stopping
the sweep; a sweep whose every point failed raises `SweepError` and leaves no folder.

The deflated Sharpe ratio (Bailey & Lopez de Prado 2014) asks whether the best
point's Sharpe ratio beats what the best of ``N`` unskilled trials would show:
``N`` is the number of points in the grid (failed ones were tried too) and the
variance is that of the finished points' annualised Sharpe ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import datetime
import html
import itertools
import json
import math
import multiprocessing
import os
import re
import socket
import sys
import tempfile
import time
import traceback
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from portfolio.config import (
    ConfigError,
    RunConfig,
    config_from_dict,
    config_to_dict,
    load_config,
)

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
    "add_parser",
    "sweep_command",
]

# Ranking metrics and whether a higher value is better.
METRICS: dict[str, bool] = {
    "sharpe": True,
    "sortino": True,
    "calmar": True,
    "annual_return": True,
    "psr": True,
    "dsr": True,
    "max_drawdown": True,  # a negative fraction: closer to 0 is better
    "hit_rate": True,
    "annual_volatility": False,
    "turnover": False,
    "cost_drag": False,
}
# Metrics of the ranked strategy shown on every leaderboard row.
LEADERBOARD_METRICS = (
    "sharpe",
    "annual_return",
    "annual_volatility",
    "max_drawdown",
    "turnover",
    "psr",
    "dsr",
)
SPEC_KEYS = ("name", "base", "set", "grid", "metric", "strategy")
PERIODS_PER_YEAR = 252
OK, FAILED, MISSING = "ok", "failed", "missing"


class SweepError(RuntimeError):
    """The sweep as a whole failed (every point failed); no folder was written."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base config, swept keys and values, ranking.

    Attributes
    ----------
    name : str
        Sweep name; the default output folder is ``runs/<name>``.
    base : dict
        The base run config as plain data, fully resolved, with ``set`` applied.
    grid : tuple of (str, tuple)
        Dotted config key and the values tried for it, in file order.
    metric : str
        Leaderboard ranking metric, a key of `METRICS`.
    strategy : str
        Strategy whose metrics are ranked.
    source : str
        Where the sweep came from (file path or ``<mapping>``), for messages.
    """

    name: str
    base: dict[str, Any]
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    metric: str = "sharpe"
    strategy: str = "lstm_mvo"
    source: str = field(default="<mapping>", compare=False)

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept dotted keys, in grid order."""
        return tuple(key for key, _ in self.grid)

    @property
    def size(self) -> int:
        """Number of points in the grid."""
        return math.prod(len(values) for _, values in self.grid)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that `spec_from_dict` turns back into this spec."""
        return {
            "name": self.name,
            "base": copy.deepcopy(self.base),
            "grid": {key: list(values) for key, values in self.grid},
            "metric": self.metric,
            "strategy": self.strategy,
        }


@dataclass
class PointOutcome:
    """What one point's worker sends back: status, timing and run folder files."""

    name: str
    status: str
    seconds: float
    files: dict[str, bytes] = field(default_factory=dict)
    error: str = ""


# ----------------------------------------------------------------------- the spec


def load_grid(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file.

    Parameters
    ----------
    path : str or Path
        YAML sweep file; a ``base`` path in it is relative to its folder.

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        If the file is missing or invalid, or any point's config is; the message
        names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: sweep file not found")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    try:
        return spec_from_dict(values, root=path.parent, source=str(path))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def spec_from_dict(
    values: Mapping[str, Any] | None,
    *,
    root: str | Path = ".",
    source: str = "<mapping>",
) -> SweepSpec:
    """Validate a sweep given as plain data (e.g. parsed YAML).

    Parameters
    ----------
    values : mapping
        Keys ``name``, ``base``, ``set``, ``grid``, ``metric``, ``strategy``.
    root : str or Path
        Folder that a ``base`` file path is relative to.
    source : str
        Where the values came from, kept for messages.

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        Naming the key of any unknown or bad setting, here or in a point's config.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"sweep: expected a mapping, got {values!r}")
    for key in values:
        if key not in SPEC_KEYS:
            raise ConfigError(
                f"{key}: unknown sweep key; allowed: {', '.join(SPEC_KEYS)}"
            )
    if "grid" not in values:
        raise ConfigError(
            "grid: required, e.g. grid: {optimizer.risk_aversion: [2, 5]}"
        )
    base = _base_config(values.get("base"), Path(root))
    fixed = _dotted_mapping("set", values.get("set") or {})
    for key, value in fixed.items():
        _assign(base, key, value)
    try:
        base = config_to_dict(config_from_dict(base))
    except ConfigError as err:
        raise ConfigError(f"set: {err}") from None
    grid = _parse_grid(values["grid"], fixed)
    name = _text("name", values.get("name", f"{base['name']}_sweep"))
    if "/" in name or not name.strip():
        raise ConfigError(f"name: {name!r} must be a non-empty name without '/'")
    metric = _text("metric", values.get("metric", "sharpe"))
    if metric not in METRICS:
        raise ConfigError(
            f"metric: {metric!r} is not one of {', '.join(sorted(METRICS))}"
        )
    spec = SweepSpec(
        name=name,
        base=base,
        grid=grid,
        metric=metric,
        strategy=_text("strategy", values.get("strategy", "")),
        source=source,
    )
    configs = grid_points(spec)  # validates every point's config
    strategy = spec.strategy or _default_strategy(configs)
    for point, config in configs:
        if strategy not in config.strategies or strategy == "index":
            raise ConfigError(
                f"strategy: {strategy!r} is not a traded strategy of point {point} "
                f"({', '.join(config.strategies)})"
            )
    return SweepSpec(name, base, grid, metric, strategy, source)


def _base_config(base: Any, root: Path) -> dict[str, Any]:
    """The base config as a resolved plain mapping."""
    if base is None:
        return config_to_dict(load_config(None))
    if isinstance(base, str):
        path = Path(base) if Path(base).is_absolute() else root / base
        try:
            return config_to_dict(load_config(path))
        except ConfigError as err:
            raise ConfigError(f"base: {err}") from None
    if isinstance(base, Mapping):
        try:
            return config_to_dict(config_from_dict(dict(base)))
        except ConfigError as err:
            raise ConfigError(f"base.{err}") from None
    raise ConfigError(f"base: expected a config file path or mapping, got {base!r}")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected text, got {value!r}")
    return value


def _plain(value: Any) -> Any:
    """YAML dates as ISO text and tuples as lists, as the config expects."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _dotted_mapping(where: str, values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping of dotted keys, got {values!r}")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not all(key.split(".")):
            raise ConfigError(f"{where}: {key!r} is not a dotted config key")
        if key == "name":
            raise ConfigError(f"{where}.name: the sweep names each point itself")
        _check_key(f"{where}.{key}", key)
        out[key] = _plain(value)
    return out


def _free_sections() -> dict[str, type]:
    """Config mappings typed ``dict`` whose keys a dataclass still defines."""
    from portfolio.constraints import Constraints

    return {"optimizer.constraints": Constraints}


def _check_key(where: str, key: str) -> None:
    """Raise if a dotted key leaves the config schema, naming the key.

    Values are checked later, when each point's config is built; this catches a
    misspelt key even where the config holds a free mapping (constraints).
    """
    kind: Any = RunConfig
    walked: list[str] = []
    free = _free_sections()
    for part in key.split("."):
        section = ".".join(walked)
        kind = free.get(section, kind)
        if not dataclasses.is_dataclass(kind):
            return  # a value (refused when assigned) or an open mapping (groups)
        names = [f.name for f in dataclasses.fields(kind) if f.init]
        if part not in names:
            place = f"in {section}" if section else "at the top level"
            raise ConfigError(
                f"{where}: unknown key {part!r} {place}; allowed: {', '.join(names)}"
            )
        kind = typing.get_type_hints(kind).get(part)
        walked.append(part)


def _parse_grid(values: Any, fixed: Mapping[str, Any]) -> tuple:
    grid = _dotted_mapping("grid", values)
    if not grid:
        raise ConfigError("grid: give at least one key with a list of values")
    keys = list(grid) + list(fixed)
    for key, other in itertools.permutations(keys, 2):
        if key == other or other.startswith(key + "."):
            where = "grid and set" if key in fixed or other in fixed else "grid"
            raise ConfigError(f"grid.{other}: overlaps {key!r} in {where}")
    parsed = []
    for key, options in grid.items():
        if not isinstance(options, list) or not options:
            raise ConfigError(f"grid.{key}: expected a non-empty list of values")
        seen = [json.dumps(option, sort_keys=True) for option in options]
        if len(set(seen)) != len(seen):
            # A repeated value is a repeated trial: it would inflate the DSR's N.
            raise ConfigError(f"grid.{key}: a value is listed twice")
        parsed.append((key, tuple(options)))
    return tuple(parsed)


def _assign(config: dict[str, Any], key: str, value: Any) -> None:
    """Set ``config[a][b][c] = value`` for ``key = "a.b.c"``, in place."""
    *sections, leaf = key.split(".")
    node = config
    walked = []
    for section in sections:
        walked.append(section)
        child = node.get(section)
        if child is None:  # an unknown section or an unset mapping such as groups
            child = node[section] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"{key}: {'.'.join(walked)} is a value ({child!r}), not a section"
            )
        node = child
    node[leaf] = copy.deepcopy(value)


def _default_strategy(configs: Sequence[tuple[str, RunConfig]]) -> str:
    if all("lstm_mvo" in config.strategies for _, config in configs):
        return "lstm_mvo"
    traded = [s for s in configs[0][1].strategies if s != "index"]
    return traded[0] if traded else "index"


# ---------------------------------------------------------------------- the points


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "+".join(_format_value(item) for item in value)
    if isinstance(value, dict):
        return "+".join(f"{k}-{_format_value(v)}" for k, v in value.items())
    return str(value)


def _labels(keys: Sequence[str]) -> list[str]:
    """Short label per key: its last part, or the whole key where that is ambiguous."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return [
        short if last.count(short) == 1 else key
        for key, short in zip(keys, last, strict=True)
    ]


def _point_name(index: int, size: int, labels: Sequence[str], values: Sequence) -> str:
    """Folder-safe name such as ``p000_risk_aversion=2_hidden=16``."""
    width = max(3, len(str(size - 1)))
    parts = [
        f"{label}={_format_value(v)}" for label, v in zip(labels, values, strict=True)
    ]
    name = "_".join([f"p{index:0{width}d}", *parts])
    return re.sub(r"[^A-Za-z0-9._+=-]", "-", name)


def grid_points(spec: SweepSpec) -> list[tuple[str, RunConfig]]:
    """Every point of the grid with its validated config, in a fixed order.

    The order is the cartesian product of the grid values in file order, the last
    key varying fastest; point ``i`` is named ``p{i:03d}_<label>=<value>_...``.

    Raises
    ------
    ConfigError
        If a point's config is invalid; names the point and the key.
    """
    keys = spec.keys
    labels = _labels(keys)
    points = []
    combos = itertools.product(*(values for _, values in spec.grid))
    for index, values in enumerate(combos):
        name = _point_name(index, spec.size, labels, values)
        config = copy.deepcopy(spec.base)
        config["name"] = f"{spec.base['name']}_{name}"
        try:
            for key, value in zip(keys, values, strict=True):
                _assign(config, key, value)
            built = config_from_dict(config)
            _check_constraints(built)
        except ConfigError as err:
            raise ConfigError(f"grid point {name}: {err}") from None
        points.append((name, built))
    return points


def _check_constraints(config: RunConfig) -> None:
    """Reject constraint settings the optimizer would refuse, before any run."""
    from portfolio.constraints import Constraints

    try:
        Constraints.from_dict(config.optimizer.constraints)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"optimizer.constraints: {err}") from None


# ---------------------------------------------------------------------- execution


def _run_point(name: str, config_values: dict[str, Any]) -> PointOutcome:
    """Run one point and return its run folder's files (runs in a worker)."""
    from portfolio.run import run
    from portfolio.runfolder import save_run

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
    try:
        futures: dict[Future, str] = {
            pool.submit(_run_point, name, values): name for name, values in jobs
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


@contextlib.contextmanager
def _ray_session(address: str, quiet: bool) -> Iterator[Any]:
    """Connect to an existing Ray cluster (or reuse this process's connection)."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            "--ray needs Ray: pip install 'forecast-portfolio[distributed]'"
        ) from None
    if ray.is_initialized():
        yield ray
        return
    _check_reachable(address)
    # An existing cluster only: a sweep never starts one behind the user's back.
    ray.init(address=address, logging_level="ERROR", log_to_driver=not quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


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
            in_flight[task.remote(name, values)] = name
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
    with _ray_session(ray_address, quiet) as ray:
        yield _ray_outcomes(ray, jobs, workers)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return  # Ray resolves these itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(
            f"--ray {address}: no Ray cluster answers there ({err}); start one with "
            "'ray start --head' or pass the address it prints"
        ) from None


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
        If no Ray cluster answers at ``ray_address``.
    ImportError
        If ``ray_address`` is given and Ray is not installed.
    SweepError
        If every point failed.
    """
    from portfolio.runfolder import staging

    points = grid_points(spec)
    values = {name: _point_values(spec, config) for name, config in points}
    jobs = [(name, _portable(config)) for name, config in points]
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with staging(Path(out_dir), force=force) as folder:
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
        _write_leaderboard(folder, spec, board)
    return board


def _point_values(spec: SweepSpec, config: RunConfig) -> dict[str, Any]:
    values = config_to_dict(config)
    out = {}
    for key in spec.keys:
        node: Any = values
        for part in key.split("."):
            node = node[part]
        out[key] = node
    return out


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


# ---------------------------------------------------------------------- leaderboard


def _read_point(folder: Path) -> dict[str, Any]:
    record_path = folder / "point.json"
    if not record_path.is_file():
        return {"status": MISSING, "seconds": None, "error": "no result"}
    return json.loads(record_path.read_text())


def _strategy_returns(folder: Path, strategy: str) -> tuple[pd.Series, pd.Series]:
    """Daily net returns of one strategy and the run's daily risk-free rate."""
    returns = pd.read_csv(
        folder / "returns.csv", index_col="date", parse_dates=["date"]
    )
    rf = pd.read_csv(folder / "risk_free.csv", index_col="date", parse_dates=["date"])
    series = returns[strategy].dropna()
    return series, rf["rf"].reindex(series.index).fillna(0.0)


def leaderboard(spec: SweepSpec, points_dir: str | Path) -> pd.DataFrame:
    """Rank the points of a finished sweep from their folders.

    Parameters
    ----------
    spec : SweepSpec
        The sweep that was run.
    points_dir : str or Path
        Folder holding one ``<point>`` folder per point.

    Returns
    -------
    pd.DataFrame
        One row per point: ``rank, point, status``, the swept keys, ``strategy``,
        the strategy's `LEADERBOARD_METRICS` (``dsr`` deflated over all points),
        the ranking metric if not among them, ``seconds`` and ``error``. Finished
        points come first, best first by ``spec.metric``; ties keep grid order.
    """
    from risk.significance import deflated_sharpe_ratio

    points_dir = Path(points_dir)
    shown = list(LEADERBOARD_METRICS)
    if spec.metric not in shown:
        shown.append(spec.metric)
    rows, series = [], {}
    for name, config in grid_points(spec):
        folder = points_dir / name
        record = _read_point(folder)
        row: dict[str, Any] = {"point": name, "status": record["status"]}
        row.update(_point_values(spec, config))
        row["strategy"] = spec.strategy
        row.update(dict.fromkeys(shown, np.nan))
        if record["status"] == OK:
            summary = json.loads((folder / "metrics.json").read_text())["strategies"]
            for metric in shown:
                value = summary[spec.strategy].get(metric)
                row[metric] = np.nan if value is None else float(value)
            series[name] = _strategy_returns(folder, spec.strategy)
        row["seconds"] = record.get("seconds")
        row["error"] = record.get("error", "")
        rows.append(row)
    board = pd.DataFrame(rows)
    finished = board["status"] == OK
    sharpes = board.loc[finished, "sharpe"].dropna()
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    # Every point tried counts as a trial, failed ones included.
    for position in board.index[finished]:
        returns, rf = series[board.at[position, "point"]]
        board.at[position, "dsr"] = deflated_sharpe_ratio(
            returns,
            n_trials=len(board),
            sharpe_variance=variance,
            rf=rf,
            periods_per_year=PERIODS_PER_YEAR,
        )
    board.attrs.update(n_trials=len(board), sharpe_variance=variance)
    return _rank(board, spec.metric)


def _rank(board: pd.DataFrame, metric: str) -> pd.DataFrame:
    higher_better = METRICS[metric]
    key = board[metric].where(board["status"] == OK)
    order = np.lexsort(  # the last key sorts first: failed points go last
        (
            np.arange(len(board)),  # ties and missing values keep grid order
            -key.fillna(-np.inf) if higher_better else key.fillna(np.inf),
            (board["status"] != OK).to_numpy(),
        )
    )
    ranked = board.iloc[order].reset_index(drop=True)
    ranks = pd.Series(pd.NA, index=ranked.index, dtype="Int64")
    finished = ranked["status"] == OK
    ranks[finished] = np.arange(1, int(finished.sum()) + 1)
    ranked.insert(0, "rank", ranks)
    ranked.attrs = dict(board.attrs)
    return ranked


def _write_leaderboard(folder: Path, spec: SweepSpec, board: pd.DataFrame) -> None:
    table = board.copy()
    for key in spec.keys:  # lists and mappings as JSON, so the CSV cell reads back
        table[key] = table[key].map(
            lambda v: json.dumps(v) if isinstance(v, list | dict) else v
        )
    # Full precision: the CSV reads back to the very numbers of metrics.json.
    table.to_csv(folder / "leaderboard.csv", index=False)
    (folder / "leaderboard.html").write_text(leaderboard_html(spec, board))
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))


_PERCENT = {"annual_return", "annual_volatility", "max_drawdown", "cost_drag"}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f3f3f3; }
td.text { text-align: left; }
tr.failed td { color: #a33; }
p.note { max-width: 60em; color: #555; }
"""


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value is pd.NA:
        return ""
    if column in _PERCENT:
        return f"{value:.2%}"
    if column == "seconds":
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.3f}" if column in METRICS else f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def leaderboard_html(spec: SweepSpec, board: pd.DataFrame) -> str:
    """The leaderboard as one self-contained HTML page (every value escaped)."""
    esc = html.escape
    columns = list(board.columns)
    head = "".join(f"<th>{esc(str(column))}</th>" for column in columns)
    body = []
    for _, row in board.iterrows():
        cells = []
        for column in columns:
            text = esc(_cell(column, row[column]))
            if column == "point":
                href = esc(f"points/{row['point']}/", quote=True)
                text = f'<a href="{href}">{text}</a>'
            numeric = column in METRICS or column in ("rank", "seconds")
            opening = "<td>" if numeric else '<td class="text">'
            cells.append(f"{opening}{text}</td>")
        status = esc(str(row["status"]), quote=True)
        body.append(f'<tr class="{status}">{"".join(cells)}</tr>')
    grid = "; ".join(
        f"{key} in [{', '.join(_format_value(v) for v in values)}]"
        for key, values in spec.grid
    )
    direction = "higher" if METRICS[spec.metric] else "lower"
    n_trials = board.attrs.get("n_trials", len(board))
    variance = board.attrs.get("sharpe_variance", float("nan"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Sweep {esc(spec.name)}</title><style>{_STYLE}</style></head>
<body>
<h1>Sweep {esc(spec.name)}</h1>
<p>{spec.size} points over {esc(grid)}. Ranked by <b>{esc(spec.metric)}</b>
({direction} is better) of strategy <b>{esc(spec.strategy)}</b>.</p>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<p class="note">dsr: deflated Sharpe ratio (Bailey &amp; Lopez de Prado 2014), the
probability that the point's true Sharpe ratio beats the best of {n_trials} unskilled
trials, with the variance of the finished points' annualised Sharpe ratios
({variance:.4g}). Picking the best of many points inflates its Sharpe ratio; a dsr
well below 0.95 says the winner may owe its rank to luck.</p>
</body></html>
"""


# ---------------------------------------------------------------------- CLI


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``portfolio sweep`` on the CLI's subparsers.

    Parameters
    ----------
    commands : argparse subparsers action
        What ``parser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``sweep`` subcommand parser; its handler is `sweep_command`.
    """
    parser = commands.add_parser(
        "sweep",
        help="run a grid of configs in parallel and rank them on a leaderboard",
        description="Run every point of a sweep file (base config + grid of dotted "
        "keys) and write a leaderboard with deflated Sharpe ratios.",
    )
    parser.add_argument("grid", metavar="GRID", help="sweep YAML file")
    parser.add_argument("--out", help="sweep folder to create (default: runs/NAME)")
    parser.add_argument(
        "--ray",
        dest="ray_address",
        metavar="ADDRESS",
        help="run on an existing Ray cluster: 'auto' or HOST:PORT "
        "(default: local processes)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        help="points run at once (default: CPU count locally, cluster size on Ray)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing sweep folder"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(handler=sweep_command)
    return parser


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
        table.add_row(*(_cell(column, row[column]) for column in columns))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    console.print(f"leaderboard: {out / 'leaderboard.html'}")
