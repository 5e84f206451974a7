"""Run folders: written whole or not at all, never overwritten by accident.

A run is first written into a hidden sibling folder and renamed into place when
complete, so a failed or interrupted run leaves no half-written run folder. An
existing run folder is only replaced with ``force=True``, only if this tool wrote it,
and then only after the new one is complete (`portfolio.output_folder`).

Files of a run folder::

    config.yaml        resolved configuration
    metrics.json       {"strategies": {...}, "forecast": {...}, "run": {...}}
    returns.csv        date + daily net return per strategy
    gross_returns.csv  date + daily return before costs per strategy
    weights.csv        date, strategy, asset, weight, drifted
    trades.csv         date, strategy, asset, trade
    rebalances.csv     date, strategy, turnover, cost, status, reason, predicted_vol,
                       retrained, predicted_te (to the benchmark; older runs: none)
    forecasts.csv      date, forecaster, asset, mu, vol, idio, mu_std (NaN: none)
    forecast_factors.csv
                       date, forecaster, asset, factor, loading: with idio, each
                       forecast covariance B B^T + diag(d) (portfolio.forecast_tables)
    forecast_skill.csv per-date skill of the model's forecasts
    risk_free.csv      date, rf (daily)
    assets.csv         asset, asset_class, sector
    timings.json       seconds per stage (not in metrics.json: it is not deterministic)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foliocast.data.csv_safety import unescape_frame, write_csv
from foliocast.portfolio.backtest.engine import BacktestResult
from foliocast.portfolio.backtest.forecast_tables import FACTOR_COLUMNS
from foliocast.portfolio.config import ConfigError, dump_config, read_yaml
from foliocast.portfolio.errors import RunFolderError
from foliocast.portfolio.output_folder import RunExistsError, partial_folder, staging

__all__ = [
    "RunExistsError",
    "partial_folder",
    "RunFolder",
    "RunFolderError",
    "staging",
    "save_run",
    "save_output",
    "load_run",
    "read_metrics",
    "MODEL_DIR",
]

MODEL_DIR = "model"
"""Sub-folder of a run folder holding the run's last fitted model (LSTM runs)."""


def _write_csv(frame: pd.DataFrame, path: Path, *, index: bool = False) -> None:
    # Tickers and reasons come from the user: safe to open in a spreadsheet.
    write_csv(frame, path, index=index, float_format="%.12g", date_format="%Y-%m-%d")


def save_output(folder: Path, output: Any) -> None:
    """Write a finished run (a `backtest.run.RunOutput`) into ``folder``, model too."""
    save_run(
        folder,
        config=output.config,
        result=output.result,
        metrics=output.metrics,
        forecast_skill=output.forecast_skill,
        risk_free=output.risk_free,
        assets=output.assets,
        model=output.model,
    )


def save_run(
    folder: Path,
    *,
    config: Any,
    result: BacktestResult,
    metrics: dict[str, Any],
    forecast_skill: pd.DataFrame,
    risk_free: pd.Series,
    assets: pd.DataFrame,
    model: Any | None = None,
) -> None:
    """Write every file of a run into ``folder`` (normally a `staging` folder).

    ``model``, the run's last fitted model forecaster (`RunOutput.model`), is saved
    in ``folder/model`` (its own safe checkpoint format), so that ``portfolio
    rebalance --model`` can use the model whose backtest was approved.
    """
    folder = Path(folder)
    if model is not None:
        model.save(folder / MODEL_DIR)
    (folder / "config.yaml").write_text(dump_config(config))
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _write_csv(result.returns.rename_axis("date"), folder / "returns.csv", index=True)
    _write_csv(
        result.gross_returns.rename_axis("date"),
        folder / "gross_returns.csv",
        index=True,
    )
    _write_csv(result.weights, folder / "weights.csv")
    _write_csv(result.trades, folder / "trades.csv")
    _write_csv(result.rebalances, folder / "rebalances.csv")
    _write_csv(result.forecasts, folder / "forecasts.csv")
    _write_csv(result.forecast_factors, folder / "forecast_factors.csv")
    _write_csv(
        forecast_skill.rename_axis("as_of"), folder / "forecast_skill.csv", index=True
    )
    _write_csv(
        risk_free.rename("rf").rename_axis("date").to_frame(),
        folder / "risk_free.csv",
        index=True,
    )
    _write_csv(assets, folder / "assets.csv")
    (folder / "timings.json").write_text(json.dumps(result.timings, indent=2) + "\n")


@dataclass
class RunFolder:
    """A run read back from disk."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    result: BacktestResult
    forecast_skill: pd.DataFrame
    risk_free: pd.Series
    assets: pd.DataFrame


# Files `load_run` needs; the others are optional (runs written before they existed).
_REQUIRED = (
    "config.yaml",
    "metrics.json",
    "returns.csv",
    "gross_returns.csv",
    "weights.csv",
    "trades.csv",
    "rebalances.csv",
    "forecasts.csv",
    "risk_free.csv",
)
# Columns each table must have, and which of them hold numbers.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "weights.csv": ("date", "strategy", "asset", "weight"),
    "trades.csv": ("date", "strategy", "asset", "trade"),
    "rebalances.csv": ("date", "strategy", "turnover", "cost", "status"),
    "forecasts.csv": ("date", "forecaster", "asset", "mu", "vol"),
    "forecast_factors.csv": FACTOR_COLUMNS,
}
_NUMBERS = (
    "weight",
    "drifted",
    "risk_contribution",
    "trade",
    "turnover",
    "cost",
    "predicted_vol",
    "predicted_te",
    "mu",
    "vol",
    "idio",
    "loading",
)
_DAMAGED = "rerun the backtest to write the run folder again"


def _csv(path: Path, **options: Any) -> pd.DataFrame:
    """``pd.read_csv`` whose failures are one `RunFolderError` naming the file."""
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise RunFolderError(f"{path}: the file is empty; {_DAMAGED}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        reason = " ".join(str(err).split())[:200]
        raise RunFolderError(f"{path}: not a readable CSV file ({reason})") from None


def _bad_cell(path: Path, column: str, raw: pd.Series, bad: pd.Series, what: str):
    """The error for the first bad cell of a column (lines count from 1, header)."""
    row = int(bad.to_numpy().nonzero()[0][0])
    cell = raw.iloc[row]
    shown = "an empty cell" if pd.isna(cell) or str(cell).strip() == "" else repr(cell)
    return RunFolderError(
        f"{path}: {shown} in column {column!r} on line {row + 2} is not {what}; "
        f"{_DAMAGED}"
    )


def _dates(path: Path, column: str, raw: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        raise _bad_cell(path, column, raw, parsed.isna(), "a date (YYYY-MM-DD)")
    return parsed


def _numbers(path: Path, column: str, raw: pd.Series, *, empty_ok: bool) -> pd.Series:
    parsed = pd.to_numeric(raw, errors="coerce")
    bad = parsed.isna() if not empty_ok else parsed.isna() & raw.notna()
    bad |= ~parsed.isna() & ~pd.Series(np.isfinite(parsed.to_numpy(float)))
    if bad.any():
        raise _bad_cell(path, column, raw, bad, "a finite number")
    return parsed.astype(float)


def _returns_table(path: Path) -> pd.DataFrame:
    """A date-indexed table of daily returns: every cell a finite number."""
    frame = _csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if "date" not in frame.columns or frame.shape[1] < 2:
        raise RunFolderError(
            f"{path}: needs a date column and one column per strategy; {_DAMAGED}"
        )
    index = pd.DatetimeIndex(_dates(path, "date", frame.pop("date")), name="date")
    values = {c: _numbers(path, c, frame[c], empty_ok=False) for c in frame.columns}
    return pd.DataFrame(values, index=frame.index).set_index(index)


def _long_table(
    path: Path, *, dtype: dict | None = None, numbers: tuple[str, ...] = _NUMBERS
) -> pd.DataFrame:
    """A long table (one row per date and name): dates parsed, numbers checked.

    ``numbers`` are the columns that must hold numbers (empty cells allowed).
    """
    frame = unescape_frame(_csv(path, dtype=dtype))
    missing = [c for c in _COLUMNS.get(path.name, ()) if c not in frame.columns]
    if missing:
        raise RunFolderError(
            f"{path}: no column {', '.join(map(repr, missing))}; {_DAMAGED}"
        )
    for column in frame.columns:
        if column in ("date", "as_of"):
            frame[column] = _dates(path, column, frame[column])
        elif column in numbers:
            frame[column] = _numbers(path, column, frame[column], empty_ok=True)
    return frame


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = (
            f" at line {err.lineno} column {err.colno}"
            if isinstance(err, json.JSONDecodeError)
            else ""
        )
        raise RunFolderError(f"{path}: not valid JSON{where}; {_DAMAGED}") from None
    except RecursionError:
        raise RunFolderError(f"{path}: nested too deeply; {_DAMAGED}") from None


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a run's ``metrics.json``, checking it is one.

    Raises
    ------
    RunFolderError
        If it is not valid JSON or lacks the per-strategy summaries.
    """
    metrics = _json(Path(path))
    strategies = metrics.get("strategies") if isinstance(metrics, dict) else None
    if not isinstance(strategies, dict) or not all(
        isinstance(summary, dict) for summary in strategies.values()
    ):
        raise RunFolderError(
            f"{path}: not the metrics of a run (an object with a 'strategies' object "
            f"of per-strategy summaries); {_DAMAGED}"
        )
    if not isinstance(metrics.get("run", {}), dict):
        raise RunFolderError(f"{path}: 'run' is not an object; {_DAMAGED}")
    return metrics


def _timings(path: Path) -> dict[str, Any]:
    timings = _json(path)
    if not isinstance(timings, dict):
        raise RunFolderError(f"{path}: not an object of seconds; {_DAMAGED}")
    return timings


def _skill_numbers(path: Path) -> tuple[str, ...]:
    """Every column of forecast_skill.csv but its date holds numbers."""
    header = _csv(path, nrows=0).columns
    return tuple(column for column in header if column != "as_of")


def _config(path: Path) -> dict[str, Any]:
    try:
        # The bounded safe loader: a !!python tag is an error, never executed.
        values = read_yaml(path, "run config")
    except ConfigError as err:
        raise RunFolderError(f"{err}; {_DAMAGED}") from None
    if not isinstance(values, dict):
        raise RunFolderError(
            f"{path}: not a run config (a mapping of settings); {_DAMAGED}"
        )
    return values


def load_run(path: str | Path, *, factors: bool = True) -> RunFolder:
    """Read a run folder written by `save_run`, checking every file it reads.

    ``factors=False`` leaves ``forecast_factors.csv`` unread (an empty table): the
    report does not use it, and a plain covariance of n assets is n^2 rows a date
    there (1.8 GB of text for 500 assets over six years, 8 GB in memory).

    Raises
    ------
    FileNotFoundError
        If the folder or one of its files is missing (the message names it).
    RunFolderError
        If a file cannot be read back: not valid JSON, YAML or CSV, a column
        missing, a date or number cell that is not one (the message names the
        file, the column and the line).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run folder")
    for name in _REQUIRED:
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path}: not a run folder ({name} is missing)")
    skill_path = path / "forecast_skill.csv"
    skill = (
        _long_table(skill_path, numbers=_skill_numbers(skill_path)).set_index("as_of")
        if skill_path.is_file() and skill_path.stat().st_size > 1
        else pd.DataFrame()
    )
    risk_free = _returns_table(path / "risk_free.csv")
    if "rf" not in risk_free.columns:
        raise RunFolderError(f"{path / 'risk_free.csv'}: no column 'rf'; {_DAMAGED}")
    timings_path = path / "timings.json"
    factors_path = path / "forecast_factors.csv"
    assets_path = path / "assets.csv"
    result = BacktestResult(
        returns=_returns_table(path / "returns.csv"),
        gross_returns=_returns_table(path / "gross_returns.csv"),
        weights=_long_table(path / "weights.csv"),
        trades=_long_table(path / "trades.csv"),
        rebalances=_long_table(
            path / "rebalances.csv", dtype={"reason": "string"}
        ).fillna({"reason": ""}),
        forecasts=_long_table(path / "forecasts.csv"),
        timings=_timings(timings_path) if timings_path.is_file() else {},
        forecast_factors=_long_table(factors_path, dtype={"factor": str})
        # Runs written before it existed lack it.
        if factors and factors_path.is_file()
        else pd.DataFrame(columns=FACTOR_COLUMNS),
    )
    return RunFolder(
        path=path,
        config=_config(path / "config.yaml"),
        metrics=read_metrics(path / "metrics.json"),
        result=result,
        forecast_skill=skill,
        risk_free=risk_free["rf"],
        assets=unescape_frame(_csv(assets_path))
        if assets_path.is_file()
        else pd.DataFrame(columns=["asset", "asset_class", "sector"]),
    )
