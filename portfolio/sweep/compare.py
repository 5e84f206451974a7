"""One comparison of forecasters: every point of a sweep scored on the same dates.

A sweep whose points differ in the forecaster (``experiments/forecasters.yaml``
varies ``forecaster.kind`` and adds an LSTM ensemble) leaves one run folder per
point. `compare_forecasters` reads them back and scores each point's model
forecasts (``forecasts.csv`` and ``forecast_factors.csv``, forecaster ``model``)
against the returns that followed, with `forecasting.evaluation` (one definition of
each score), on the forecast dates every point has, from ``start`` on. With no
``start`` it is the points' ``backtest.held_out_from`` when they set one, so the
table is the held-out verdict; otherwise the whole run.

One row per point: the forecaster, Gaussian NLL, Patton's QLIKE of the
minimum-variance portfolio's variance, that portfolio's realised volatility and
realised / predicted ratio (horizon units), IC and rank IC with t-statistics,
out-of-sample R^2, the net Sharpe ratio and turnover per year of the point's
mean-variance strategy over the same period, and Diebold-Mariano p-values of the
per-date squared error, NLL and QLIKE against the reference: the classical
forecaster (historical, EWMA, Ledoit-Wolf or GARCH) with the lowest NLL. The DM lag
counts overlapping horizons as `forecasting.evaluation` does.

`write_comparison` saves it as ``forecasters.csv`` (full precision) and
``forecasters.md`` (a Markdown table to paste into a README). The ``portfolio
compare SWEEP_DIR`` subcommand does both; ``portfolio sweep`` does it for a sweep
whose grid varies a ``forecaster.*`` key.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foliocast.data.csv_safety import write_csv
from foliocast.data.validation import parse_iso_date
from foliocast.forecasting.evaluation import (
    PER_DATE_LOSSES,
    evaluate_forecasts,
    paired_diebold_mariano,
)
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.backtest.forecast_tables import forecast_from_tables
from foliocast.portfolio.backtest.run import load_run_data
from foliocast.portfolio.backtest.runfolder import RunFolder, load_run
from foliocast.portfolio.backtest.scoring import held_out_part, strategy_summaries
from foliocast.portfolio.config import ConfigError, RunConfig, config_from_dict
from foliocast.portfolio.errors import RunFolderError
from foliocast.portfolio.names import LSTM_MVO
from foliocast.portfolio.sweep.leaderboard import point_strategy

__all__ = [
    "CLASSICAL",
    "COMPARISON_CSV",
    "COMPARISON_MD",
    "COLUMNS",
    "compare_forecasters",
    "comparison_markdown",
    "forecaster_label",
    "write_comparison",
    "compare_command",
]

CLASSICAL = ("historical", "ewma", "ledoit_wolf", "garch")
COMPARISON_CSV = "forecasters.csv"
COMPARISON_MD = "forecasters.md"
MODEL = "model"  # the forecaster behind the mean-variance strategy of a run

# (column, Markdown header, format) in table order; the key of evaluate_forecasts'
# summary or of the strategy summary each comes from is in _SOURCES.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("point", "point", "text"),
    ("forecaster", "forecaster", "text"),
    ("n_dates", "dates", "int"),
    ("gaussian_nll", "Gaussian NLL", "num2"),
    ("minvar_qlike", "min-var QLIKE", "num3"),
    ("minvar_realised_vol", "min-var realised vol", "pct"),
    ("minvar_vol_ratio", "realised / predicted", "num2"),
    ("ic_mean", "IC", "num3"),
    ("ic_tstat", "IC t", "num2"),
    ("rank_ic_mean", "rank IC", "num3"),
    ("rank_ic_tstat", "rank IC t", "num2"),
    ("r2_oos", "OOS R2", "pct"),
    ("sharpe", "MVO Sharpe (net)", "num2"),
    ("turnover", "turnover / year", "num2"),
    ("dm_pvalue_mse", "DM p (squared error)", "pvalue"),
    ("dm_pvalue_nll", "DM p (NLL)", "pvalue"),
    ("dm_pvalue_qlike", "DM p (QLIKE)", "pvalue"),
    ("reference", "reference", "text"),
)
_SOURCES = {
    "gaussian_nll": "gaussian_nll_mean",
    "minvar_qlike": "minvar_qlike_mean",
    "minvar_realised_vol": "minvar_realised_vol",
    "minvar_vol_ratio": "minvar_vol_ratio",
    "ic_mean": "ic_mean",
    "ic_tstat": "ic_tstat",
    "rank_ic_mean": "rank_ic_mean",
    "rank_ic_tstat": "rank_ic_tstat",
    "r2_oos": "r2_oos",
}
_DM_COLUMN = {
    "mse": "dm_pvalue_mse",
    "gaussian_nll": "dm_pvalue_nll",
    "minvar_qlike": "dm_pvalue_qlike",
}


@dataclass
class _Point:
    """One finished point: its run, config and model forecasts by date."""

    name: str
    run: RunFolder
    config: RunConfig
    forecasts: dict[pd.Timestamp, Forecast]


def forecaster_label(config: RunConfig) -> str:
    """The forecaster of a run in a few words (``lstm``, ``lstm ensemble of 5``)."""
    kind = config.forecaster.kind
    members = getattr(config.forecaster.model, "ensemble", 1) or 1
    if kind == "lstm" and members > 1:
        return f"lstm ensemble of {members}"
    return kind


def _finished_points(sweep_dir: Path) -> list[tuple[str, Path]]:
    points_dir = sweep_dir / "points"
    if not points_dir.is_dir():
        raise FileNotFoundError(
            f"{sweep_dir}: not a sweep folder (no points/ folder); give a folder "
            "written by portfolio sweep"
        )
    finished = []
    for folder in sorted(points_dir.iterdir()):
        record = folder / "point.json"
        if record.is_file() and json.loads(record.read_text()).get("status") == "ok":
            finished.append((folder.name, folder))
    return finished


def _model_forecasts(
    run: RunFolder, horizon: int, start: pd.Timestamp | None
) -> dict[pd.Timestamp, Forecast]:
    """The run's saved model forecasts on or after ``start``, by date."""
    table, factors = run.result.forecasts, run.result.forecast_factors
    own = table[table["forecaster"] == MODEL]
    own_factors = factors[factors["forecaster"] == MODEL]
    if start is not None:
        own = own[pd.to_datetime(own["date"]) >= start]
    factors_by_date = {
        pd.Timestamp(date): group for date, group in own_factors.groupby("date")
    }
    empty = own_factors.iloc[:0]
    return {
        pd.Timestamp(date): forecast_from_tables(
            group,
            factors_by_date.get(pd.Timestamp(date), empty),
            date,
            MODEL,
            horizon=horizon,
        )
        for date, group in own.groupby("date")
    }


def _load_points(
    sweep_dir: Path, start: pd.Timestamp | None
) -> tuple[list[_Point], pd.Timestamp | None]:
    """The finished points with model forecasts, and the start actually used."""
    points = []
    for name, folder in _finished_points(sweep_dir):
        run = load_run(folder)
        try:
            config = config_from_dict(run.config)
        except ConfigError as err:
            raise RunFolderError(f"{folder / 'config.yaml'}: {err}") from None
        points.append(_Point(name, run, config, {}))
    if not points:
        raise RunFolderError(f"{sweep_dir}: no finished point to compare")
    if start is None:
        held = {point.config.backtest.held_out_from for point in points}
        if len(held) > 1:
            raise ConfigError(
                f"{sweep_dir}: the points hold out different periods "
                f"({', '.join(sorted(map(str, held)))}); give the first date with "
                "--from"
            )
        (first,) = held
        start = None if first is None else pd.Timestamp(first)
    for point in points:
        point.forecasts = _model_forecasts(
            point.run, point.config.forecaster.horizon, start
        )
    with_forecasts = [point for point in points if point.forecasts]
    if not with_forecasts:
        raise RunFolderError(
            f"{sweep_dir}: no point has forecasts of its model forecaster on or "
            "after the first date; list lstm_mvo among the strategies"
        )
    return with_forecasts, start


def _prices(points: Sequence[_Point]) -> pd.DataFrame:
    """The prices every point ran on (checked against each run's fingerprint)."""
    prices, _, provenance = load_run_data(points[0].config)
    for point in points:
        saved = ((point.run.metrics.get("run") or {}).get("data") or {}).get(
            "fingerprint"
        )
        if saved != provenance["fingerprint"]:
            raise RunFolderError(
                f"{point.run.path}: ran on other prices than {points[0].run.path} "
                "(or the prices changed since); compare points of one dataset"
            )
    return prices


def _performance(point: _Point, start: pd.Timestamp | None) -> dict[str, Any]:
    """Summary of the point's mean-variance strategy over the compared period."""
    strategy = point_strategy(LSTM_MVO, point.config)
    if start is None:
        summaries = point.run.metrics["strategies"]
    else:
        part = held_out_part(point.run.result, start)
        summaries = strategy_summaries(part, point.run.risk_free)
    return summaries.get(strategy) or {}


def _reference(table: pd.DataFrame) -> str | None:
    """The classical point with the lowest Gaussian NLL, or None without one."""
    classical = table[table["forecaster"].isin(CLASSICAL)]
    nll = classical["gaussian_nll"].astype(float)
    if nll.notna().sum() == 0:
        return None
    return str(classical.loc[nll.idxmin(), "point"])


def compare_forecasters(
    sweep_dir: str | Path, *, start: str | pd.Timestamp | None = None
) -> pd.DataFrame:
    """Score every finished point of a sweep on the same forecast dates.

    Parameters
    ----------
    sweep_dir : str or Path
        A folder written by ``portfolio sweep``.
    start : str or pandas.Timestamp, optional
        First forecast date scored; default the points' ``backtest.held_out_from``,
        or the whole run when they set none.

    Returns
    -------
    pd.DataFrame
        One row per point with model forecasts, columns `COLUMNS` (see the module
        docstring). ``attrs``: ``start`` (ISO date or None), ``first`` and ``last``
        forecast dates scored, ``reference`` (point name or None).

    Raises
    ------
    FileNotFoundError
        If ``sweep_dir`` is not a sweep folder.
    RunFolderError
        If no point can be compared, or the points ran on different prices.
    """
    sweep_dir = Path(sweep_dir)
    first = None if start is None else pd.Timestamp(start)
    points, first = _load_points(sweep_dir, first)
    prices = _prices(points)
    dates = sorted(set.intersection(*(set(point.forecasts) for point in points)))
    if not dates:
        raise RunFolderError(
            f"{sweep_dir}: the points share no forecast date; compare points of one "
            "backtest schedule"
        )
    rows, per_date = [], {}
    for point in points:
        result = evaluate_forecasts([point.forecasts[d] for d in dates], prices)
        per_date[point.name] = result.per_date
        summary = result.summary
        performance = _performance(point, first)
        row: dict[str, Any] = {
            "point": point.name,
            "forecaster": forecaster_label(point.config),
            "n_dates": summary["n_forecasts"],
        }
        row.update({column: summary[key] for column, key in _SOURCES.items()})
        row["sharpe"] = performance.get("sharpe")
        row["turnover"] = performance.get("turnover")
        rows.append(row)
    table = pd.DataFrame(rows)
    reference = _reference(table)
    for loss in PER_DATE_LOSSES:
        table[_DM_COLUMN[loss]] = [
            math.nan
            if reference is None or name == reference
            else paired_diebold_mariano(
                per_date[name], per_date[reference], loss, prices.index
            ).pvalue
            for name in table["point"]
        ]
    table["reference"] = np.where(table["point"] == reference, "yes", "")
    table = table[[column for column, _, _ in COLUMNS]].astype(
        {column: float for column, _, kind in COLUMNS if kind not in ("text", "int")}
    )
    scored = per_date[points[0].name].index  # dates whose horizon had ended
    table.attrs.update(
        start=None if first is None else first.date().isoformat(),
        first=scored[0].date().isoformat() if len(scored) else None,
        last=scored[-1].date().isoformat() if len(scored) else None,
        reference=reference,
    )
    return table


def _cell(value: Any, kind: str) -> str:
    if kind == "text":
        return str(value).replace("|", "\\|")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if kind == "int":
        return f"{int(value)}"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "pvalue":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    return f"{value:.{int(kind[-1])}f}"


def comparison_markdown(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table with a few lines on how to read it."""
    head = "| " + " | ".join(header for _, header, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = [
        "| " + " | ".join(_cell(row[c], kind) for c, _, kind in COLUMNS) + " |"
        for _, row in table.iterrows()
    ]
    attrs = table.attrs
    period = (
        f"held out from {attrs['start']}" if attrs.get("start") else "the whole run"
    )
    reference = attrs.get("reference")
    against = (
        f"against the reference {reference}, the classical forecaster (historical, "
        "EWMA, Ledoit-Wolf, GARCH) with the lowest Gaussian NLL"
        if reference
        else "not computed: no classical forecaster (historical, EWMA, Ledoit-Wolf, "
        "GARCH) among the points"
    )
    notes = [
        f"Forecasts dated {attrs.get('first')} to {attrs.get('last')} ({period}), the "
        "same dates for every forecaster; returns over the forecast horizon.",
        "Gaussian NLL of the return vector and QLIKE of the minimum-variance "
        "portfolio's variance: lower is better. Realised vol of that portfolio over "
        "the horizon, and its ratio to the predicted vol (1 when calibrated).",
        "IC and rank IC: mean cross-sectional correlation of forecast and realised "
        "returns, with t-statistics that ignore overlapping horizons. OOS R2 "
        "against the historical mean.",
        "MVO Sharpe and turnover: the point's mean-variance strategy over the same "
        "period, net of costs.",
        f"Diebold-Mariano p-values (two-sided, per-date losses, HAC lag for "
        f"overlapping horizons) {against}.",
    ]
    return "\n".join([head, rule, *body, "", "\n\n".join(notes), ""])


def write_comparison(folder: str | Path, table: pd.DataFrame) -> tuple[Path, Path]:
    """Write ``forecasters.csv`` and ``forecasters.md`` into ``folder``.

    Returns
    -------
    tuple of Path
        The two files written.
    """
    folder = Path(folder)
    csv_path, md_path = folder / COMPARISON_CSV, folder / COMPARISON_MD
    write_csv(table, csv_path, index=False)
    md_path.write_text(comparison_markdown(table))
    return csv_path, md_path


def compare_command(args: argparse.Namespace) -> int:
    """Handle ``portfolio compare``; print the Markdown table, return 0."""
    start = args.start
    if start is not None:
        try:
            parse_iso_date(start)
        except (TypeError, ValueError) as err:
            raise ConfigError(
                f"--from: {start!r}: {err}; write the date as YYYY-MM-DD"
            ) from None
    table = compare_forecasters(args.sweep_dir, start=start)
    _, md_path = write_comparison(args.sweep_dir, table)
    if not args.quiet:
        print(md_path.read_text())
    print(md_path)
    return 0
