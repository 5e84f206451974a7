"""The leaderboard of a finished sweep: points ranked by one strategy's metric.

`leaderboard` reads each point's folder under ``points/`` (its ``point.json`` and,
for a finished point, ``metrics.json``, ``returns.csv`` and ``risk_free.csv``) and
ranks the points; `write_leaderboard` saves the table as ``leaderboard.csv`` (full
precision) and ``leaderboard.html`` (a self-contained page, every value escaped).

The deflated Sharpe ratio (Bailey & Lopez de Prado 2014) asks whether the best
point's Sharpe ratio beats what the best of ``N`` unskilled trials would show:
``N`` is the number of points in the grid (failed ones were tried too) and the
variance is that of the finished points' annualised Sharpe ratios.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.data.csv_safety import write_csv
from foliocast.portfolio.names import MODEL_STRATEGIES, model_strategy_name
from foliocast.portfolio.sweep.grid import (
    METRICS,
    SweepSpec,
    format_value,
    grid_points,
    point_values,
)
from foliocast.risk.significance import deflated_sharpe_ratio, trial_sharpe_variance

__all__ = [
    "LEADERBOARD_METRICS",
    "OK",
    "FAILED",
    "MISSING",
    "leaderboard",
    "point_strategy",
    "write_leaderboard",
    "leaderboard_html",
    "cell_text",
]

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
# Status of a point in its point.json and on the leaderboard.
OK, FAILED, MISSING = "ok", "failed", "missing"


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


def point_strategy(strategy: str, config: Any) -> str:
    """The result name of ``strategy`` in a point's run.

    ``lstm_mvo`` is reported under its forecaster's name when the point runs
    another forecaster (``ewma_mvo``; `names.model_strategy_name`), so a sweep
    over ``forecaster.kind`` ranks the model strategy of every point.
    """
    if strategy in MODEL_STRATEGIES:
        return model_strategy_name(config, strategy)
    return strategy


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
    points_dir = Path(points_dir)
    shown = list(LEADERBOARD_METRICS)
    if spec.metric not in shown:
        shown.append(spec.metric)
    rows, series = [], {}
    for name, config in grid_points(spec):
        folder = points_dir / name
        record = _read_point(folder)
        row: dict[str, Any] = {"point": name, "status": record["status"]}
        row.update(point_values(spec, config))
        row["strategy"] = strategy = point_strategy(spec.strategy, config)
        row.update(dict.fromkeys(shown, np.nan))
        if record["status"] == OK:
            summary = json.loads((folder / "metrics.json").read_text())["strategies"]
            for metric in shown:
                value = summary[strategy].get(metric)
                row[metric] = np.nan if value is None else float(value)
            series[name] = _strategy_returns(folder, strategy)
        row["seconds"] = record.get("seconds")
        row["error"] = record.get("error", "")
        rows.append(row)
    board = pd.DataFrame(rows)
    finished = board["status"] == OK
    variance = trial_sharpe_variance(board.loc[finished, "sharpe"])
    # Every point tried counts as a trial, failed ones included.
    for position in board.index[finished]:
        returns, rf = series[board.at[position, "point"]]
        board.at[position, "dsr"] = deflated_sharpe_ratio(
            returns,
            n_trials=len(board),
            sharpe_variance=variance,
            rf=rf,
            periods_per_year=TRADING_DAYS_PER_YEAR,
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


def write_leaderboard(folder: Path, spec: SweepSpec, board: pd.DataFrame) -> None:
    """Write ``leaderboard.csv`` and ``leaderboard.html`` into a sweep folder."""
    table = board.copy()
    for key in spec.keys:  # lists and mappings as JSON, so the CSV cell reads back
        table[key] = table[key].map(
            lambda v: json.dumps(v) if isinstance(v, list | dict) else v
        )
    # Full precision: the CSV reads back to the very numbers of metrics.json.
    write_csv(table, folder / "leaderboard.csv", index=False)
    (folder / "leaderboard.html").write_text(leaderboard_html(spec, board))


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


def cell_text(column: str, value: Any) -> str:
    """A leaderboard value as text: percentages, seconds, ratios; blank if missing."""
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
            text = esc(cell_text(column, row[column]))
            if column == "point":
                href = esc(f"points/{row['point']}/", quote=True)
                text = f'<a href="{href}">{text}</a>'
            numeric = column in METRICS or column in ("rank", "seconds")
            opening = "<td>" if numeric else '<td class="text">'
            cells.append(f"{opening}{text}</td>")
        status = esc(str(row["status"]), quote=True)
        body.append(f'<tr class="{status}">{"".join(cells)}</tr>')
    grid = "; ".join(
        f"{key} in [{', '.join(format_value(v) for v in values)}]"
        for key, values in spec.grid
    ) or ", ".join(spec.keys)
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
