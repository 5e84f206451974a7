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
                       retrained
    forecasts.csv      date, forecaster, asset, mu, vol, idio
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

import pandas as pd

from data.csv_safety import unescape_frame, write_csv
from portfolio.backtest import BacktestResult
from portfolio.config import dump_config
from portfolio.forecast_tables import FACTOR_COLUMNS
from portfolio.output_folder import RunExistsError, partial_folder, staging

__all__ = [
    "RunExistsError",
    "partial_folder",
    "RunFolder",
    "staging",
    "save_run",
    "load_run",
]


def _write_csv(frame: pd.DataFrame, path: Path, *, index: bool = False) -> None:
    # Tickers and reasons come from the user: safe to open in a spreadsheet.
    write_csv(frame, path, index=index, float_format="%.12g", date_format="%Y-%m-%d")


def save_run(
    folder: Path,
    *,
    config: Any,
    result: BacktestResult,
    metrics: dict[str, Any],
    forecast_skill: pd.DataFrame,
    risk_free: pd.Series,
    assets: pd.DataFrame,
) -> None:
    """Write every file of a run into ``folder`` (normally a `staging` folder)."""
    folder = Path(folder)
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


def _read_dates(
    path: Path, columns: tuple[str, ...] = ("date",), dtype: dict | None = None
) -> pd.DataFrame:
    frame = unescape_frame(pd.read_csv(path, dtype=dtype))
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def load_run(path: str | Path) -> RunFolder:
    """Read a run folder written by `save_run`.

    Raises
    ------
    FileNotFoundError
        If the folder or one of its files is missing (the message names it).
    """
    import yaml

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run folder")
    required = ["config.yaml", "metrics.json", "returns.csv", "rebalances.csv"]
    for name in required:
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path}: not a run folder ({name} is missing)")
    returns = pd.read_csv(path / "returns.csv", index_col="date", parse_dates=["date"])
    gross = pd.read_csv(
        path / "gross_returns.csv", index_col="date", parse_dates=["date"]
    )
    skill_path = path / "forecast_skill.csv"
    skill = (
        pd.read_csv(skill_path, index_col="as_of", parse_dates=["as_of"])
        if skill_path.is_file() and skill_path.stat().st_size > 1
        else pd.DataFrame()
    )
    rf = pd.read_csv(path / "risk_free.csv", index_col="date", parse_dates=["date"])[
        "rf"
    ]
    timings_path = path / "timings.json"
    factors_path = path / "forecast_factors.csv"
    result = BacktestResult(
        returns=returns,
        gross_returns=gross,
        weights=_read_dates(path / "weights.csv"),
        trades=_read_dates(path / "trades.csv"),
        rebalances=_read_dates(
            path / "rebalances.csv", dtype={"reason": "string"}
        ).fillna({"reason": ""}),
        forecasts=_read_dates(path / "forecasts.csv"),
        timings=json.loads(timings_path.read_text()) if timings_path.is_file() else {},
        forecast_factors=_read_dates(factors_path, dtype={"factor": str})
        if factors_path.is_file()  # runs written before it existed lack it
        else pd.DataFrame(columns=FACTOR_COLUMNS),
    )
    return RunFolder(
        path=path,
        config=yaml.safe_load((path / "config.yaml").read_text()),
        metrics=json.loads((path / "metrics.json").read_text()),
        result=result,
        forecast_skill=skill,
        risk_free=rf,
        assets=unescape_frame(pd.read_csv(path / "assets.csv"))
        if (path / "assets.csv").is_file()
        else pd.DataFrame(columns=["asset", "asset_class", "sector"]),
    )
