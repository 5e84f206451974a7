"""The run's benchmark portfolio: what active objectives and tracking error measure.

``optimizer.benchmark`` is ``equal_weight`` (1/N of the assets investable at each
rebalance, the default) or ``{path: FILE}``, a CSV file of fixed weights::

    asset,weight
    AAPL,0.30
    MSFT,0.25
    ...

one row per asset, a header of exactly ``asset,weight``, weights of at least 0 that
add up to 1 (within `SUM_TOLERANCE`; they are then rescaled to add up to 1 exactly);
every asset must be a ticker of the run's prices. Assets of the universe the file
leaves out have weight 0.

At each rebalance the benchmark is the file's weights restricted to the assets
investable at that date and rescaled to add up to 1 (`benchmark_at`): an asset with
too little history, or no price that day, is left out of the benchmark as it is out
of every strategy. When none of its assets is investable the benchmark is undefined
that day: an active objective fails (and holds, with ``backtest.on_failure: hold``)
and no ex-ante tracking error is recorded.

The benchmark's own returns (`benchmark_returns`) hold those weights from each
rebalance close to the next, drifting with prices in between, without costs: a
paper portfolio. With ``equal_weight`` they are the gross returns of the
``equal_weight`` strategy.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from foliocast.data.calendar import availability_mask
from foliocast.portfolio.backtest.simulation import drift
from foliocast.portfolio.config import BenchmarkFile, RunConfig
from foliocast.portfolio.errors import ConfigError

__all__ = [
    "SUM_TOLERANCE",
    "MAX_BENCHMARK_BYTES",
    "read_benchmark_file",
    "load_benchmark_weights",
    "benchmark_at",
    "benchmark_returns",
]

SUM_TOLERANCE = 1e-4
"""How far from 1 the file's weights may add up (rounded percentages do not)."""

MAX_BENCHMARK_BYTES = 1_000_000
"""Largest benchmark file read: 10,000 assets take about 200 kB."""

_KEY = "optimizer.benchmark.path"


def _refuse(path: Path, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{_KEY}: {path}: {problem}; {fix}")


def _text(path: Path) -> str:
    """The file's text, bounded and decoded as UTF-8."""
    if path.is_dir():
        raise _refuse(path, "is a folder", "give the CSV file of benchmark weights")
    if not path.is_file():
        raise _refuse(
            path,
            "file not found",
            "give the path of a CSV of asset,weight rows (relative paths are from the "
            "current folder), or write benchmark: equal_weight",
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BENCHMARK_BYTES + 1)
    except OSError as err:
        raise _refuse(path, f"cannot be read ({err.strerror})", "check it") from None
    if len(raw) > MAX_BENCHMARK_BYTES:
        raise _refuse(
            path,
            f"larger than {MAX_BENCHMARK_BYTES // 1_000_000} MB",
            "is it the right file? a benchmark file has one asset,weight row per asset",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _refuse(
            path, f"not UTF-8 text (byte {err.start})", "save it as UTF-8 CSV"
        ) from None


def _weight(path: Path, line: int, asset: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _refuse(
            path,
            f"line {line}: the weight of {asset!r} is {cell!r}, not a number",
            "give each weight as a fraction such as 0.05",
        )
    if value < 0:
        raise _refuse(
            path,
            f"line {line}: the weight of {asset!r} is negative ({value:g})",
            "a benchmark holds assets long: give weights of at least 0",
        )
    return value


def read_benchmark_file(path: str | Path) -> pd.Series:
    """Read and check a benchmark weights file (format in the module docstring).

    Parameters
    ----------
    path : str or Path
        The CSV file.

    Returns
    -------
    pandas.Series
        Weights indexed by asset, in file order, adding up to 1.

    Raises
    ------
    ConfigError
        Naming ``optimizer.benchmark.path``, the file, the line and what to do.
    """
    path = Path(path)
    rows = list(csv.reader(io.StringIO(_text(path))))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if header != ["asset", "weight"]:
        found = f"the header is {','.join(rows[0])!r}" if rows else "the file is empty"
        raise _refuse(path, found, "start the file with the line asset,weight")
    weights: dict[str, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != 2 or not row[0].strip():
            raise _refuse(
                path, f"line {line} is not 'asset,weight'", "give one asset a line"
            )
        asset = row[0].strip()
        if asset in weights:
            raise _refuse(path, f"line {line}: {asset!r} is listed twice", "keep one")
        weights[asset] = _weight(path, line, asset, row[1].strip())
    total = sum(weights.values())
    if not weights or abs(total - 1.0) > SUM_TOLERANCE:
        raise _refuse(
            path,
            f"the weights add up to {total:.6g}, not 1",
            "give fractions of the benchmark that add up to 1",
        )
    return pd.Series(weights, dtype=float) / total


def load_benchmark_weights(
    config: RunConfig, tickers: pd.Index | list[str]
) -> pd.Series | None:
    """The config's benchmark weights, checked against the run's tickers.

    Parameters
    ----------
    config : RunConfig
        The run's config (``optimizer.benchmark``).
    tickers : pandas.Index or list of str
        Every ticker of the run's prices.

    Returns
    -------
    pandas.Series or None
        The file's weights by asset; None for ``equal_weight`` (1/N at each date).

    Raises
    ------
    ConfigError
        If the file cannot be used (`read_benchmark_file`) or names an asset that
        is not in the prices.
    """
    source = config.optimizer.benchmark
    if not isinstance(source, BenchmarkFile):
        return None
    weights = read_benchmark_file(source.path)
    unknown = [asset for asset in weights.index if asset not in set(tickers)]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise _refuse(
            Path(source.path),
            f"{len(unknown)} asset(s) not in the run's prices: {shown}",
            "benchmark weights must be on assets the run can hold; remove them or "
            "add their prices",
        )
    return weights


def benchmark_at(weights: pd.Series | None, universe: list[str]) -> pd.Series | None:
    """The benchmark over the assets investable at a date.

    Parameters
    ----------
    weights : pandas.Series or None
        Benchmark weights by asset (`load_benchmark_weights`); None for 1/N.
    universe : list of str
        The assets investable at the date.

    Returns
    -------
    pandas.Series or None
        Weights indexed by ``universe`` adding up to 1: 1/N, or ``weights``
        restricted to the universe and rescaled. None when none of the benchmark's
        assets is investable.
    """
    if weights is None:
        return pd.Series(1.0 / len(universe), index=universe)
    held = weights.reindex(universe, fill_value=0.0)
    total = float(held.sum())
    return held / total if total > 0.0 else None


def benchmark_returns(
    prices: pd.DataFrame,
    schedule: pd.DatetimeIndex,
    weights: pd.Series | None,
    min_history: int,
) -> pd.Series:
    """Daily returns of the benchmark held from each rebalance to the next.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        The run's daily prices.
    schedule : DatetimeIndex
        Its rebalance dates (dates of ``prices``).
    weights : pandas.Series or None
        Benchmark weights by asset; None for 1/N.
    min_history : int
        Prices an asset needs to be investable (`data.calendar.availability_mask`,
        the rule of the backtest's universe).

    Returns
    -------
    pandas.Series
        From the first rebalance date (return 0 that day, as the strategies'),
        without costs; 0 over a period where the benchmark is undefined.
    """
    positions = prices.index.get_indexer(schedule)
    first = int(positions[0])
    available = availability_mask(prices, min_history).to_numpy()
    asset_returns = prices.pct_change(fill_method=None).to_numpy()
    stops = [int(p) for p in positions[1:]] + [len(prices) - 1]
    daily = np.zeros(len(prices) - first)
    tickers = list(prices.columns)
    for position, stop in zip(positions, stops, strict=True):
        universe = [t for t, ok in zip(tickers, available[position], strict=True) if ok]
        held = np.zeros(len(tickers))
        target = benchmark_at(weights, universe) if universe else None
        if target is not None:
            held = target.reindex(tickers, fill_value=0.0).to_numpy()
        block = slice(position + 1, stop + 1)
        path = drift(held, asset_returns[block], np.zeros(stop - position))
        daily[position + 1 - first : stop + 1 - first] = path.returns
    return pd.Series(daily, index=prices.index[first:], name="benchmark")
