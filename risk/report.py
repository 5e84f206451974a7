"""The risk-committee report of a run folder: one self-contained ``report.html``.

`write_report` reads a run folder (`portfolio.runfolder.load_run`) and writes
``report.html`` into it. The page stands alone: plots are PNG data URIs drawn on
matplotlib's Agg canvas, the CSS is inline, there is no script, and a
Content-Security-Policy forbids loading anything else, so it opens offline and can be
mailed as one file. Every string from the run (tickers, strategy names, config
values, failure reasons) goes through jinja2 with autoescaping; the template is
``risk/templates/report.html``.

Units: returns are daily simple returns. ``predicted_vol`` (rebalances.csv) and
``risk_contribution`` (weights.csv) are volatilities over the forecast horizon of
``forecaster.horizon`` trading days; the report annualises them by
``sqrt(252 / horizon)``. The main strategy is the model's (``lstm_mvo``, or
``{kind}_mvo`` with another forecaster) when the run has it, else the first strategy;
1/N is ``equal_weight``; ``index`` is the untraded benchmark.

The output is a deterministic function of the run folder (no timestamps, PNGs without
software metadata, strategies in the run's order, assets sorted), so two reports of
the same run are byte-identical.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from risk.attribution import (
    effective_number_of_assets,
    realised_vs_predicted_volatility,
)
from risk.drawdown import underwater, worst_drawdowns
from risk.rolling import (
    calendar_year_returns,
    monthly_returns_table,
    rolling_sharpe,
    rolling_volatility,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from portfolio.runfolder import RunFolder

__all__ = [
    "REPORT_NAME",
    "METRICS_CSV_NAME",
    "write_report",
    "render_report",
    "write_metrics_csv",
    "metrics_frame",
    "main_strategy",
    "limitations",
]

REPORT_NAME = "report.html"
METRICS_CSV_NAME = "metrics.csv"
PERIODS_PER_YEAR = 252
ROLLING_WINDOW = 252  # twelve months of trading days
MAIN_STRATEGY = "lstm_mvo"
ONE_OVER_N = "equal_weight"
BENCHMARK = "index"  # benchmark column of returns.csv, never traded
SIGNIFICANCE_LEVEL = 0.05
DPI = 90  # keeps ten full-width plots well under a megabyte or two
WIDTH_INCHES = 11.0
DUST = 5e-5  # weights and risk shares below this are not listed as holdings
MAX_LISTED_REBALANCES = 200  # rows of the held/failed table before it is cut
WEIGHT_PLOT_ASSETS = 12  # layers of the weights plot; smaller holdings are "other"
_DASH = "\u2013"
Styles = dict[str, dict[str, Any]]  # matplotlib keyword arguments per strategy

# (summary key, row label, format) of the metrics table, in display order.
METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("annual_return", "Annual return (CAGR)", "pct"),
    ("annual_volatility", "Annual volatility", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("calmar", "Calmar ratio", "ratio"),
    ("max_drawdown", "Maximum drawdown", "pct"),
    ("max_drawdown_duration_days", "Longest drawdown (calendar days)", "int"),
    ("var_95", "Daily VaR 95%", "pct2"),
    ("cvar_95", "Daily CVaR 95%", "pct2"),
    ("skew", "Skewness (daily)", "ratio"),
    ("kurtosis", "Excess kurtosis (daily)", "ratio"),
    ("hit_rate", "Share of up days", "pct"),
    ("turnover", "Turnover per year (one-way)", "pct0"),
    ("cost_drag", "Costs per year", "pct2"),
    ("beta", "Beta to the index", "ratio"),
    ("alpha", "Alpha per year", "pct"),
    ("tracking_error", "Tracking error", "pct"),
    ("information_ratio", "Information ratio", "ratio"),
    ("psr", "PSR: P(true Sharpe > 0)", "ratio"),
    ("dsr", "Deflated Sharpe ratio", "ratio"),
)
_SIGNED = {"annual_return", "alpha", "sharpe_diff_vs_equal_weight"}

# (key of metrics["forecast"]["model" | "baseline"], label, format), display order.
FORECAST_ROWS: tuple[tuple[str, str, str], ...] = (
    ("n_forecasts", "Forecast dates scored", "int"),
    ("rmse", "RMSE of horizon returns", "pct2"),
    ("mae", "MAE of horizon returns", "pct2"),
    ("directional_accuracy", "Directional accuracy", "pct"),
    ("ic_mean", "Mean IC", "ratio"),
    ("ic_tstat", "IC t-statistic", "ratio"),
    ("rank_ic_mean", "Mean rank IC", "ratio"),
    ("rank_ic_tstat", "Rank IC t-statistic", "ratio"),
    ("r2_oos", "Out-of-sample R\u00b2 vs historical mean", "pct2"),
    ("qlike_mean", "Mean QLIKE (lower is better)", "ratio"),
    ("minvar_predicted_vol", "Min-variance portfolio: predicted vol", "pct2"),
    ("minvar_realised_vol", "Min-variance portfolio: realised vol", "pct2"),
    ("minvar_vol_ratio", "Min-variance: realised / predicted", "ratio"),
    ("dm_statistic", "Diebold-Mariano statistic", "ratio"),
    ("dm_pvalue", "Diebold-Mariano p-value", "pvalue"),
)

_TEST_NAMES = {
    "jobson_korkie_memmel": "Jobson-Korkie with Memmel's correction",
    "ledoit_wolf_hac": "Ledoit-Wolf (HAC)",
}
_FREQUENCY = {"W": "weekly", "M": "monthly", "Q": "quarterly"}
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_RISK_FREE_END = re.compile(r"last month \((\d{4}-\d{2})\)")


# ------------------------------------------------------------------ page model


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and CSS classes (``num``, ``pos``, ``neg``...)."""

    text: str
    css: str = ""


@dataclass(frozen=True)
class Table:
    """A table for the template; ``row_headers`` makes column 0 a ``<th>``."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    caption: str = ""
    css: str = ""
    row_headers: bool = True


@dataclass(frozen=True)
class Plot:
    """An embedded PNG (a ``data:`` URI) with its pixel size and caption."""

    uri: str
    alt: str
    width: int
    height: int
    caption: str = ""


@dataclass(frozen=True)
class Block:
    """One piece of a section: heading, text, note, list, table, grid, plot, code."""

    kind: str
    item: Any


@dataclass
class Section:
    """A report section: anchor, title, summary cards, verdicts, then blocks."""

    anchor: str
    title: str
    cards: list[tuple[str, str]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def add(self, kind: str, item: Any) -> None:
        """Append a block; ``None`` (e.g. a plot without data) is skipped."""
        if item is not None:
            self.blocks.append(Block(kind, item))


# ------------------------------------------------------------------ formatting


def _finite(value: Any) -> float | None:
    """The value as a float; None when missing, NaN, infinite or not a number."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _unsigned_zero(text: str) -> str:
    """``-0.0%`` reads as a loss: a value that rounds to zero loses its sign."""
    if text.startswith("-") and not any(c in "123456789" for c in text):
        return text[1:]
    return text


def _formatter(spec: str) -> Callable[[Any], str]:
    def format_value(value: Any) -> str:
        number = _finite(value)
        return _DASH if number is None else _unsigned_zero(format(number, spec))

    return format_value


def _pvalue(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return _DASH
    return "< 0.001" if number < 0.001 else f"{number:.3f}"


FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": _formatter(".1%"),
    "pct0": _formatter(".0%"),
    "pct2": _formatter(".2%"),
    "ratio": _formatter(".2f"),
    "int": _formatter(",.0f"),
    "pvalue": _pvalue,
}


def _date(value: Any) -> str:
    if value is None or pd.isna(value):
        return _DASH
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def _num(value: Any, kind: str, *, signed: bool = False, css: str = "") -> Cell:
    """A right-aligned number; ``signed`` colours it by sign (gains green)."""
    classes = ["num", css] if css else ["num"]
    number = _finite(value)
    text = FORMATS[kind](value)
    if signed and number is not None and text.lstrip("-") != FORMATS[kind](0.0):
        classes.append("pos" if number > 0 else "neg")
    return Cell(text, " ".join(classes))


def _txt(value: Any, css: str = "") -> Cell:
    return Cell(_DASH if value is None or value == "" else str(value), css)


def _label(text: Any) -> str:
    """A matplotlib-safe label: ``$`` would start mathtext, ``_`` hide the entry."""
    text = str(text).replace("$", r"\$")
    return f" {text}" if text.startswith("_") else text


def _plain(value: Any) -> str:
    """A config value on one line: mappings as ``key: value`` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_plain(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value)
    return _DASH if value is None else str(value)


# ------------------------------------------------------------------- run facts


def main_strategy(strategies: Sequence[str], forecaster: str | None = None) -> str:
    """Return the strategy the report looks at closely: the model's, if run.

    Parameters
    ----------
    strategies : sequence of str
        Strategy names in run order.
    forecaster : str, optional
        ``forecaster.kind`` of the run. The model strategy is ``lstm_mvo`` with the
        LSTM and ``{kind}_mvo`` with another forecaster (as
        `portfolio.run.model_strategy_name` names it).

    Returns
    -------
    str
        The model strategy if present, else the first strategy that is not the
        benchmark ``index`` (the index only when it is all there is).
    """
    traded = [name for name in strategies if name != BENCHMARK]
    for model in (MAIN_STRATEGY, f"{forecaster}_mvo" if forecaster else None):
        if model in traded:
            return model
    if traded or strategies:
        return (traded or list(strategies))[0]
    raise ValueError("the run has no strategy returns; is returns.csv empty?")


def _cfg(config: dict[str, Any], *keys: str, default: Any = None) -> Any:
    """``config[k1][k2]...``, or ``default`` when a level is missing."""
    node: Any = config
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _horizon(run: RunFolder) -> int:
    return int(_cfg(run.config, "forecaster", "horizon", default=None) or 21)


def _annualiser(run: RunFolder) -> float:
    """Factor from horizon volatility to annual volatility, ``sqrt(252 / h)``."""
    return math.sqrt(PERIODS_PER_YEAR / _horizon(run))


def _traded(run: RunFolder) -> list[str]:
    return [name for name in run.result.returns.columns if name != BENCHMARK]


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    """``names`` in the run's strategy order; unknown ones after, sorted."""
    names = list(names)
    known = [name for name in order if name in names]
    return known + sorted(name for name in names if name not in known)


def metrics_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """Return the per-strategy summaries of ``metrics.json`` as a table.

    Parameters
    ----------
    metrics : dict
        The ``metrics.json`` document, ``{"strategies": {name: summary}, ...}``.

    Returns
    -------
    pd.DataFrame of shape (n_strategies, n_keys)
        Index ``strategy`` in the document's order; columns the summary keys in
        order of first appearance; numbers as floats (NaN where undefined), the
        test method as text.
    """
    summaries = metrics.get("strategies") or {}
    keys: list[str] = []
    for summary in summaries.values():
        keys.extend(key for key in summary if key not in keys)
    frame = pd.DataFrame.from_dict(summaries, orient="index").reindex(columns=keys)
    for key in keys:
        values = frame[key]
        if all(v is None or _finite(v) is not None for v in values):
            frame[key] = values.astype(float)
    return frame.rename_axis("strategy")


# ----------------------------------------------------------------------- plots


def _figure(height: float, *, rows: int = 1, cols: int = 1) -> tuple[Figure, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A Figure on its own Agg canvas: no pyplot, no global backend state.
    fig = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=cols == 1)
    for ax in axes.flat:
        ax.grid(True, color="#e4e7eb", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def _embed(fig: Figure, alt: str, caption: str = "") -> Plot:
    buffer = io.BytesIO()
    # No Software metadata: the bytes depend on the data, not on the version.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    width, height = (fig.get_size_inches() * DPI).round().astype(int)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return Plot(uri, alt, int(width), int(height), caption)


def _styles(names: Sequence[str], main: str) -> Styles:
    """Line style per strategy, the same in every plot; ``main`` drawn thicker."""
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    traded = [name for name in names if name != BENCHMARK]
    styles = {
        name: {
            "color": colours[position % len(colours)],
            "linewidth": 2.0 if name == main else 1.1,
            "label": _label(name),
        }
        for position, name in enumerate(traded)
    }
    styles[BENCHMARK] = {
        "color": "#7b8794",
        "linewidth": 1.1,
        "linestyle": "--",
        "label": _label(BENCHMARK),
    }
    return styles


def _run_styles(run: RunFolder, main: str) -> Styles:
    return _styles(list(run.result.returns.columns), main)


def _x(index: pd.Index) -> np.ndarray:
    return pd.DatetimeIndex(index).to_numpy()


def _lines(
    ax: Axes, frame: pd.DataFrame, styles: Styles, *, step: bool = False
) -> None:
    for name in frame.columns:
        draw = ax.step if step else ax.plot
        extra = {"where": "post"} if step else {}
        draw(_x(frame.index), frame[name].to_numpy(), **extra, **styles[name])


def _legend_outside(ax: Axes, *, reverse: bool = False, fontsize: int = 9) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if reverse:  # stacked layers: list them top to bottom as they appear
        handles, labels = handles[::-1], labels[::-1]
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=fontsize,
        )


def _percent(ax: Axes, digits: int = 0, *, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PercentFormatter(1.0, decimals=digits))


def _log_ticks(low: float, high: float) -> list[float]:
    """Readable wealth ticks between ``low`` and ``high``; denser for short ranges."""
    decades = math.log10(high / low) if low > 0 else 3.0
    if decades < 0.7:
        mantissas: tuple[float, ...] = (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8)
    elif decades < 2.0:
        mantissas = (1, 2, 5)
    else:
        mantissas = (1,)
    powers = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
    ticks = [m * 10.0**p for p in powers for m in mantissas]
    return [t for t in ticks if low / 1.05 <= t <= high * 1.05]


def _plot_equity(returns: pd.DataFrame, styles: Styles) -> Plot:
    """Growth of 1 per strategy on a log scale."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    wealth = (1.0 + returns.fillna(0.0)).cumprod()
    fig, axes = _figure(4.2)
    ax = axes[0, 0]
    _lines(ax, wealth, styles)
    ax.set_yscale("log")
    values = wealth.to_numpy().clip(min=1e-6)  # a total loss has no logarithm
    ax.yaxis.set_major_locator(
        FixedLocator(_log_ticks(float(values.min()), float(values.max())))
    )
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.axhline(1.0, color="#9aa5b1", linewidth=0.8)
    ax.set_ylabel("wealth (log scale)")
    _legend_outside(ax)
    return _embed(
        fig,
        "Equity curves on a log scale of " + ", ".join(returns.columns),
        "Growth of 1 invested at the first rebalance, net of trading costs.",
    )


def _plot_underwater(returns: pd.DataFrame, main: str, styles: Styles) -> Plot:
    """Drawdown from the running peak per strategy; the main one shaded."""
    drawdown = underwater(returns)
    fig, axes = _figure(3.4)
    ax = axes[0, 0]
    ax.fill_between(
        _x(drawdown.index),
        drawdown[main].fillna(0.0).to_numpy(),
        0.0,
        color=styles[main]["color"],
        alpha=0.15,
        linewidth=0,
    )
    _lines(ax, drawdown, styles)
    _percent(ax)
    ax.set_ylabel("below running peak")
    _legend_outside(ax)
    return _embed(
        fig,
        "Underwater (drawdown) curves of " + ", ".join(returns.columns),
        f"Fall of wealth from its running peak; {main} shaded.",
    )


def _plot_rolling(returns: pd.DataFrame, rf: pd.Series, styles: Styles) -> Plot | None:
    """Trailing twelve-month Sharpe ratio and volatility; None if too short."""
    if len(returns) < ROLLING_WINDOW:
        return None
    sharpe = rolling_sharpe(returns, window=ROLLING_WINDOW, rf=rf)
    vol = rolling_volatility(returns, window=ROLLING_WINDOW)
    fig, axes = _figure(5.6, rows=2)
    top, bottom = axes[0, 0], axes[1, 0]
    _lines(top, sharpe.dropna(how="all"), styles)
    top.axhline(0.0, color="#9aa5b1", linewidth=0.8)
    top.set_ylabel("Sharpe ratio")
    _lines(bottom, vol.dropna(how="all"), styles)
    _percent(bottom)
    bottom.set_ylabel("volatility")
    _legend_outside(top)
    return _embed(
        fig,
        "Rolling twelve-month Sharpe ratio and volatility of "
        + ", ".join(returns.columns),
        f"Trailing windows of {ROLLING_WINDOW} trading days, annualised; the Sharpe "
        "ratio is in excess of the risk-free rate.",
    )


def _weight_matrix(weights: pd.DataFrame, strategy: str) -> pd.DataFrame:
    """Target weights of one strategy: rebalance dates x assets, 0 when absent."""
    rows = weights[weights["strategy"] == strategy]
    matrix = rows.pivot_table(
        index="date", columns="asset", values="weight", aggfunc="sum", fill_value=0.0
    )
    return matrix.sort_index().sort_index(axis=1)


def _top_assets(matrix: pd.DataFrame, keep: int) -> pd.DataFrame:
    """The ``keep - 1`` largest average holdings and the rest summed as ``other``."""
    size = matrix.abs().mean()
    # By size, then by name, so ties do not depend on the input order.
    order = sorted(size.index, key=lambda asset: (-size[asset], str(asset)))
    if len(order) <= keep:
        return matrix[order]
    top = matrix[order[: keep - 1]].copy()
    top["other"] = matrix[order[keep - 1 :]].sum(axis=1)
    return top


def _plot_weights(
    weights: pd.DataFrame, strategy: str, end: pd.Timestamp
) -> Plot | None:
    """Stacked target weights of one strategy, each held until the next rebalance."""
    from matplotlib import colormaps

    matrix = _weight_matrix(weights, strategy)
    if matrix.empty:
        return None
    shown = _top_assets(matrix, WEIGHT_PLOT_ASSETS)
    if shown.index[-1] < end:  # draw the last weights up to the end of the run
        shown.loc[pd.Timestamp(end)] = shown.iloc[-1]
    colours = colormaps["tab20"].colors
    fig, axes = _figure(4.2)
    ax = axes[0, 0]
    x, labels = _x(shown.index), [_label(asset) for asset in shown.columns]
    if (shown.to_numpy() < 0).any():
        # A stack of signed weights is unreadable; a long-short book gets lines.
        for position, asset in enumerate(shown.columns):
            colour = colours[position % len(colours)]
            ax.step(x, shown[asset], where="post", label=labels[position], c=colour)
    else:
        ax.stackplot(
            x,
            shown.to_numpy().T,
            labels=labels,
            colors=[colours[i % len(colours)] for i in range(shown.shape[1])],
            step="post",
            linewidth=0,
        )
        ax.set_ylim(0.0, max(1.0, float(shown.sum(axis=1).max())))
    _percent(ax)
    ax.set_ylabel("target weight")
    _legend_outside(ax, reverse=True, fontsize=8)
    return _embed(
        fig,
        f"Stacked target weights of {strategy} over time",
        f"{strategy}: target weights set at each rebalance and drawn until the next "
        "(the drift between rebalances is not shown); smaller holdings summed as "
        "'other'.",
    )


def _plot_turnover(
    rebalances: pd.DataFrame, names: Sequence[str], styles: Styles
) -> Plot | None:
    """Turnover per rebalance and cumulative costs per strategy."""
    present = [name for name in names if name in set(rebalances["strategy"])]
    if not present:
        return None
    turnover = rebalances.pivot(index="date", columns="strategy", values="turnover")
    costs = rebalances.pivot(index="date", columns="strategy", values="cost")
    fig, axes = _figure(5.4, rows=2)
    top, bottom = axes[0, 0], axes[1, 0]
    for name in present:
        top.plot(
            _x(turnover.index),
            turnover[name].to_numpy(),
            marker="o" if len(turnover) <= 120 else None,  # dots blur when dense
            markersize=2.5,
            **styles[name],
        )
    _percent(top)
    top.set_ylabel("one-way turnover")
    _lines(bottom, costs[present].fillna(0.0).cumsum(), styles)
    _percent(bottom, 2)
    bottom.set_ylabel("cumulative costs")
    _legend_outside(top)
    return _embed(
        fig,
        "Turnover per rebalance and cumulative trading costs of " + ", ".join(present),
        "Top: one-way turnover at each rebalance (the first one builds the portfolio "
        "from cash). Bottom: costs summed over rebalances, as a fraction of value.",
    )


def _plot_risk_split(table: pd.DataFrame, strategy: str, day: str) -> Plot:
    """Weight against share of predicted risk per asset, at one rebalance."""
    fig, axes = _figure(max(2.6, 0.3 * len(table) + 1.0))
    ax = axes[0, 0]
    y = np.arange(len(table))[::-1]
    ax.barh(y + 0.2, table["weight"], height=0.4, color="#9fb3c8", label="weight")
    ax.barh(y - 0.2, table["share"], height=0.4, color="#1f5fa8", label="risk share")
    ax.set_yticks(y, [_label(asset) for asset in table.index])
    ax.axvline(0.0, color="#52606d", linewidth=0.8)
    ax.grid(False, axis="y")
    _percent(ax, axis="x")
    _legend_outside(ax)
    return _embed(
        fig,
        f"Weights and shares of predicted risk of {strategy} on {day}",
        "Share of predicted risk: the Euler contribution w_i (Sigma w)_i / sigma "
        "divided by the predicted portfolio volatility sigma; shares sum to 100%.",
    )


def _plot_effective_assets(effective: pd.DataFrame, styles: Styles) -> Plot | None:
    """Effective number of assets (inverse Herfindahl) per strategy over time."""
    if effective.empty:
        return None
    fig, axes = _figure(3.2)
    ax = axes[0, 0]
    _lines(ax, effective, styles, step=True)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("effective number of assets")
    _legend_outside(ax)
    return _embed(
        fig,
        "Effective number of assets over time of " + ", ".join(effective.columns),
        "1 / sum of squared target weights: how many equal positions would be as "
        "concentrated.",
    )


def _plot_information_coefficient(skill: pd.DataFrame) -> Plot | None:
    """Per-date IC of the model's return forecasts with rolling means."""
    if skill.empty or "ic" not in skill:
        return None
    ic = skill["ic"].astype(float)
    x = _x(ic.index)
    spacing = np.diff(x).astype("timedelta64[D]").astype(float)
    width = 0.7 * float(np.median(spacing)) if len(spacing) else 20.0
    window = min(12, len(ic))
    fig, axes = _figure(3.4)
    ax = axes[0, 0]
    ax.bar(x, ic.fillna(0.0), width=max(width, 1.0), color="#9fb3c8", label="IC")
    means = {"IC": ic}
    if "rank_ic" in skill:
        means["rank IC"] = skill["rank_ic"].astype(float)
    for (name, values), colour in zip(
        means.items(), ("#102a43", "#f0b429"), strict=False
    ):
        ax.plot(
            x,
            values.rolling(window, min_periods=1).mean().to_numpy(),
            color=colour,
            linewidth=1.6,
            label=f"{name}, mean of last {window}",
        )
    ax.axhline(0.0, color="#52606d", linewidth=0.8)
    ax.set_ylabel("information coefficient")
    _legend_outside(ax)
    return _embed(
        fig,
        "Information coefficient of the model's forecasts over time",
        "Cross-sectional correlation between forecast and realised horizon returns "
        "at each forecast date.",
    )


def _plot_volatility_calibration(
    calibration: dict[str, pd.DataFrame], main: str, styles: Styles
) -> Plot:
    """Predicted against realised volatility per rebalance period.

    Left: the main strategy over time. Right: every strategy against the 45-degree
    line.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    fig, axes = _figure(3.8, cols=2)
    left, right = axes[0, 0], axes[0, 1]
    shown = main if main in calibration else next(iter(calibration))
    table = calibration[shown]
    for column, colour, label in (
        ("predicted", "#102a43", "predicted (ex ante)"),
        ("realised", "#e12d39", "realised until next rebalance"),
    ):
        left.step(_x(table.index), table[column], where="post", c=colour, label=label)
    left.set_title(_label(shown), fontsize=10)
    # A half-width date axis needs fewer, shorter tick labels than the default.
    locator = AutoDateLocator(maxticks=6)
    left.xaxis.set_major_locator(locator)
    left.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    left.set_ylabel("annualised volatility")
    left.legend(frameon=False, fontsize=8)
    _percent(left)
    top = 0.0
    for name, table in calibration.items():
        style = {k: v for k, v in styles[name].items() if k in ("color", "label")}
        right.scatter(table["predicted"], table["realised"], s=12, alpha=0.7, **style)
        top = max(top, float(np.nanmax(table[["predicted", "realised"]].to_numpy())))
    top = 1.05 * top if top > 0 else 1.0
    right.plot([0, top], [0, top], color="#9aa5b1", linewidth=0.9, linestyle=":")
    right.set(xlim=(0, top), ylim=(0, top), xlabel="predicted", ylabel="realised")
    _percent(right)
    _percent(right, axis="x")
    _legend_outside(right, fontsize=8)
    return _embed(
        fig,
        "Predicted against realised volatility per rebalance period",
        "Predicted: ex-ante volatility of the target weights at each rebalance, "
        "annualised from the forecast horizon. Realised: standard deviation of daily "
        "returns until the next rebalance, annualised. Points above the dotted line: "
        "risk was under-predicted.",
    )


# -------------------------------------------------------------------- sections


def _forecaster_text(config: dict[str, Any]) -> str:
    spec = _cfg(config, "forecaster", default={}) or {}
    text = (
        f"{spec.get('kind', _DASH)}; horizon {spec.get('horizon', _DASH)} trading "
        f"days; refit every {spec.get('retrain_months', _DASH)} months on an "
        f"{spec.get('window', _DASH)} window"
    )
    if spec.get("window") == "rolling":
        text += f" of {spec.get('lookback_days', _DASH)} days"
    if spec.get("kind") == "lstm":
        text += f"; model {_plain(spec.get('model'))}"
        text += f"; training {_plain(spec.get('train'))}"
    return text


def _run_facts(run: RunFolder) -> list[tuple[str, Any]]:
    info = run.metrics.get("run") or {}
    config = run.config
    data = info.get("data") or {}
    test = _cfg(config, "backtest", default={}) or {}
    source = {k: data[k] for k in ("source", "dataset", "path") if k in data}
    return [
        ("Run name", info.get("name", _cfg(config, "name"))),
        (
            "Backtest",
            f"{info.get('start')} to {info.get('end')} (configured start "
            f"{test.get('start')}, end {test.get('end') or 'end of data'})",
        ),
        (
            "Rebalancing",
            f"{_FREQUENCY.get(test.get('rebalance'), test.get('rebalance'))}; costs "
            f"{test.get('cost_bps')} bp of the value traded; at least "
            f"{test.get('min_history_days')} days of prices to be investable; on "
            f"optimizer failure: {test.get('on_failure')}",
        ),
        ("Strategies", ", ".join(str(name) for name in run.result.returns.columns)),
        ("Forecaster", _forecaster_text(config)),
        ("Optimizer", _plain(_cfg(config, "optimizer", default={}))),
        ("Data source", _plain(source)),
        ("Price history", f"{data.get('first_date')} to {data.get('last_date')}"),
        ("Data fingerprint (SHA-256)", data.get("fingerprint")),
        ("Risk-free rate", info.get("risk_free")),
        ("Retrain dates", ", ".join(str(d) for d in info.get("retrain_dates") or [])),
    ]


def _universe_table(assets: pd.DataFrame) -> Table:
    frame = assets.astype({"asset": str}).fillna(
        {"asset_class": "unknown", "sector": "unknown"}
    )
    rows = [
        [
            _txt(asset_class),
            _txt(sector),
            _num(len(group), "int"),
            _txt(", ".join(sorted(group["asset"])), "wrap"),
        ]
        for (asset_class, sector), group in frame.groupby(
            ["asset_class", "sector"], sort=True
        )
    ]
    return Table(["Asset class", "Sector", "Assets", "Tickers"], rows)


def _summary_section(run: RunFolder, main: str) -> Section:
    """Run facts: dates, configuration, data provenance, universe, retrains."""
    import yaml

    info = run.metrics.get("run") or {}
    returns = run.result.returns
    section = Section("summary", "Run summary")
    section.cards = [
        ("Period", f"{_date(returns.index[0])} to {_date(returns.index[-1])}"),
        ("Trading days", FORMATS["int"](len(returns))),
        ("Rebalances", FORMATS["int"](info.get("rebalances"))),
        ("Retrains", FORMATS["int"](info.get("retrains"))),
        ("Main strategy", main),
    ]
    rows = [
        [_txt(label), _txt(value, "mono" if "SHA" in label else "")]
        for label, value in _run_facts(run)
    ]
    section.add("table", Table(["Item", "Value"], rows, css="kv"))
    if not run.assets.empty:
        section.add("heading", f"Universe ({len(run.assets)} assets)")
        section.add("table", _universe_table(run.assets))
    config_text = yaml.safe_dump(run.config, sort_keys=False)
    section.add("code", ("Resolved configuration (config.yaml)", config_text))
    return section


def _metrics_section(run: RunFolder, main: str) -> Section:
    """All strategies side by side: returns, risk, costs, ratios."""
    frame = metrics_frame(run.metrics)
    names = _ordered(frame.index, list(run.result.returns.columns))
    section = Section("metrics", "Performance metrics")
    if main in frame.index:
        section.cards = [
            (f"{main} {label}", FORMATS[kind](frame.at[main, key]))
            for key, label, kind in (
                ("annual_return", "CAGR", "pct"),
                ("annual_volatility", "volatility", "pct"),
                ("sharpe", "Sharpe", "ratio"),
                ("max_drawdown", "max drawdown", "pct"),
            )
            if key in frame
        ]
    rows = [
        [_txt(label)]
        + [_num(frame.at[name, key], kind, signed=key in _SIGNED) for name in names]
        for key, label, kind in METRIC_ROWS
        if key in frame and frame[key].notna().any()
    ]
    if not rows:
        section.add("note", "metrics.json holds no strategy summaries.")
        return section
    section.add("table", Table(["Metric", *names], rows))
    section.add(
        "note",
        "Daily returns net of trading costs. Annual figures compound (CAGR) or scale "
        f"by sqrt({PERIODS_PER_YEAR}); Sharpe and Sortino ratios are in excess of the "
        "risk-free rate. VaR and CVaR: historical one-day returns in the 5% tail. "
        "Turnover is one-way (half the sum of absolute weight changes), per year. "
        f"'{BENCHMARK}', when present, is the benchmark index: not traded, no costs.",
    )
    return section


def _equity_section(run: RunFolder, main: str) -> Section:
    """Wealth curves of every strategy on a log scale."""
    section = Section("equity", "Equity curves")
    section.add("plot", _plot_equity(run.result.returns, _run_styles(run, main)))
    return section


def _drawdown_table(returns: pd.Series, name: str) -> Table:
    worst = worst_drawdowns(returns, top=5)
    rows = [
        [
            _txt(rank),
            _txt(_date(row.start)),
            _txt(_date(row.trough)),
            _txt("not yet" if pd.isna(row.recovery) else _date(row.recovery)),
            _num(row.depth, "pct", signed=True),
            _num(row.duration_days, "int"),
            _num(row.recovery_days, "int"),
        ]
        for rank, row in zip(worst.index, worst.itertuples(), strict=True)
    ]
    headers = ["#", "Peak", "Trough", "Recovered", "Depth", "Days", "To recover"]
    return Table(headers, rows, caption=name)


def _drawdown_section(run: RunFolder, main: str) -> Section:
    """Underwater curves and the five worst drawdowns of each strategy."""
    returns = run.result.returns
    section = Section("drawdowns", "Drawdowns")
    section.add("plot", _plot_underwater(returns, main, _run_styles(run, main)))
    section.add("heading", "Five worst drawdowns")
    names = [main] + [name for name in returns.columns if name != main]
    section.add("grid", [_drawdown_table(returns[name], name) for name in names])
    section.add(
        "note",
        "Peak: the last high before the fall. Days: calendar days from the peak to "
        "the recovery, or to the end of the run when not yet recovered.",
    )
    return section


def _rolling_section(run: RunFolder, main: str) -> Section:
    """Trailing twelve-month Sharpe ratio and volatility."""
    returns = run.result.returns
    rf = run.risk_free.reindex(returns.index).fillna(0.0).astype(float)
    section = Section("rolling", "Rolling 12-month risk")
    plot = _plot_rolling(returns, rf, _run_styles(run, main))
    if plot is None:
        section.add(
            "note",
            f"The run has {len(returns)} trading days, fewer than the "
            f"{ROLLING_WINDOW} of one window.",
        )
    section.add("plot", plot)
    return section


def _heat(value: Any) -> str:
    text = FORMATS["pct"](value)
    if text in (_DASH, FORMATS["pct"](0.0)):
        return ""
    return "hot-neg" if text.startswith("-") else "hot-pos"


def _calendar_section(run: RunFolder, main: str) -> Section:
    """Calendar-year returns of every strategy and the main strategy's months."""
    returns = run.result.returns
    yearly = calendar_year_returns(returns)
    total = (1.0 + returns.fillna(0.0)).prod() - 1.0
    section = Section("calendar", "Calendar returns")
    rows = [
        [_txt(label)] + [_num(value, "pct", signed=True) for value in values]
        for label, values in [*yearly.iterrows(), ("Whole run", total)]
    ]
    section.add("table", Table(["Year", *yearly.columns], rows))
    section.add(
        "note",
        "Compounded daily returns; the first and last years are partial when the run "
        "starts or ends inside them.",
    )
    months = monthly_returns_table(returns[main])
    year_total = calendar_year_returns(returns[main])
    month_rows = [
        [_txt(year)]
        + [
            _num(value, "pct", css=_heat(value))
            for value in [*months.loc[year], year_total.get(year)]
        ]
        for year in months.index
    ]
    section.add("heading", f"Monthly returns of {main}")
    section.add("table", Table(["Year", *_MONTHS, "Year"], month_rows))
    return section


def _weights_section(run: RunFolder, main: str) -> Section:
    """Stacked target weights of the main strategy."""
    section = Section("weights", "Weights over time")
    end = run.result.returns.index[-1]
    plot = _plot_weights(run.result.weights, main, end)
    if plot is None:
        section.add("note", f"weights.csv holds no weights of {main}.")
    section.add("plot", plot)
    return section


def _turnover_section(run: RunFolder, main: str) -> Section:
    """Turnover and trading costs per rebalance and per year."""
    rebalances = run.result.rebalances
    summaries = run.metrics.get("strategies") or {}
    section = Section("turnover", "Turnover and costs")
    section.add(
        "plot", _plot_turnover(rebalances, _traded(run), _run_styles(run, main))
    )
    rows = []
    for name in _traded(run):
        own = rebalances[rebalances["strategy"] == name]
        summary = summaries.get(name) or {}
        rows.append(
            [
                _txt(name),
                _num(len(own), "int"),
                _num(own["turnover"].mean(), "pct"),
                _num(own["turnover"].max(), "pct"),
                _num(summary.get("turnover"), "pct0"),
                _num(own["cost"].sum(), "pct2"),
                _num(summary.get("cost_drag"), "pct2"),
            ]
        )
    headers = [
        "Strategy",
        "Rebalances",
        "Mean turnover",
        "Largest turnover",
        "Turnover per year",
        "Total costs",
        "Costs per year",
    ]
    section.add("table", Table(headers, rows))
    section.add(
        "note",
        f"Costs are {_cfg(run.config, 'backtest', 'cost_bps')} bp of the value "
        "traded, charged at each rebalance; turnover is one-way, as a fraction of "
        "portfolio value.",
    )
    return section


def _latest_risk(run: RunFolder, main: str) -> tuple[str, pd.DataFrame] | None:
    """Weight, annualised risk contribution and risk share per asset of ``main``.

    At its last rebalance; None when no risk contribution was recorded.
    """
    weights = run.result.weights
    own = weights[weights["strategy"] == main]
    if own.empty or "risk_contribution" not in own:
        return None
    date = own["date"].max()
    latest = own[own["date"] == date].set_index("asset").sort_index()
    contribution = latest["risk_contribution"].astype(float)
    total = contribution.sum(min_count=1)
    if not np.isfinite(total) or total <= 0.0:
        return None
    # Solver dust (weights of 1e-9) would list every asset of the universe.
    held = (latest["weight"].abs() > DUST) | ((contribution / total).abs() > DUST)
    groups = run.assets.astype({"asset": str}).set_index("asset")
    table = pd.DataFrame(
        {
            "weight": latest["weight"].astype(float),
            "contribution": contribution * _annualiser(run),
            "share": contribution / total,
        }
    )[held]
    for column in ("asset_class", "sector"):
        mapping = groups[column] if column in groups else pd.Series(dtype=object)
        table[column] = mapping.reindex(table.index).fillna("unknown").to_numpy()
    # Largest share first; the sorted index breaks ties by name.
    table = table.iloc[np.argsort(-table["share"].to_numpy(), kind="stable")]
    return _date(date), table


def _group_table(table: pd.DataFrame, by: str, title: str) -> Table:
    grouped = table.groupby(by, sort=True)[["weight", "contribution", "share"]].sum()
    rows = [
        [
            _txt(group),
            _num(row.weight, "pct"),
            _num(row.contribution, "pct2"),
            _num(row.share, "pct"),
        ]
        for group, row in zip(grouped.index, grouped.itertuples(), strict=True)
    ]
    return Table([title, "Weight", "Risk contribution", "Share of risk"], rows)


def _effective_assets(run: RunFolder) -> pd.DataFrame:
    weights = run.result.weights
    columns = {
        name: weights[weights["strategy"] == name]
        .groupby("date", sort=True)["weight"]
        .apply(effective_number_of_assets)
        for name in _traded(run)
        if (weights["strategy"] == name).any()
    }
    return pd.DataFrame(columns)


def _risk_section(run: RunFolder, main: str) -> Section:
    """Risk contributions of the main strategy and concentration of all."""
    section = Section("risk", "Risk contributions")
    latest = _latest_risk(run, main)
    if latest is None:
        section.add("note", f"No predicted risk is recorded for {main}'s weights.")
    else:
        day, table = latest
        section.cards = [
            ("Rebalance", day),
            ("Predicted volatility", FORMATS["pct"](table["contribution"].sum())),
            ("Holdings", FORMATS["int"]((table["weight"].abs() > DUST).sum())),
            (
                "Effective assets",
                FORMATS["ratio"](effective_number_of_assets(table["weight"])),
            ),
            ("Largest weight", FORMATS["pct"](table["weight"].max())),
        ]
        section.add(
            "text",
            f"{main} at its last rebalance ({day}): each asset's contribution to the "
            "predicted annualised volatility of the target weights. Contributions "
            "(Euler split) sum to the portfolio's predicted volatility; a negative "
            "one is a hedge.",
        )
        section.add("plot", _plot_risk_split(table, main, day))
        rows = [
            [
                _txt(asset),
                _txt(row.asset_class),
                _txt(row.sector),
                _num(row.weight, "pct"),
                _num(row.contribution, "pct2"),
                _num(row.share, "pct"),
            ]
            for asset, row in zip(table.index, table.itertuples(), strict=True)
        ]
        headers = ["Asset", "Asset class", "Sector", "Weight", "Risk contribution"]
        section.add("table", Table([*headers, "Share of risk"], rows))
        section.add(
            "grid",
            [
                _group_table(table, "asset_class", "Asset class"),
                _group_table(table, "sector", "Sector"),
            ],
        )
    section.add("heading", "Concentration over time")
    section.add(
        "plot", _plot_effective_assets(_effective_assets(run), _run_styles(run, main))
    )
    return section


def _calibration(run: RunFolder) -> dict[str, pd.DataFrame]:
    """Predicted (ex ante, annualised) against realised volatility per strategy."""
    rebalances = run.result.rebalances
    tables = {}
    for name in _traded(run):
        own = rebalances[rebalances["strategy"] == name].sort_values("date")
        predicted = own.set_index("date")["predicted_vol"].astype(float)
        predicted = predicted[np.isfinite(predicted.to_numpy())] * _annualiser(run)
        if predicted.empty:
            continue
        table = realised_vs_predicted_volatility(
            run.result.returns[name], predicted, periods_per_year=PERIODS_PER_YEAR
        )
        if table["realised"].notna().any():
            tables[name] = table
    return tables


def _calibration_table(calibration: dict[str, pd.DataFrame]) -> Table:
    rows = []
    for name, table in calibration.items():
        both = table.dropna(subset=["predicted", "realised"])
        under = (both["realised"] > both["predicted"]).mean()
        corr = both["predicted"].corr(both["realised"]) if len(both) > 2 else None
        rows.append(
            [
                _txt(name),
                _num(len(both), "int"),
                _num(both["predicted"].mean(), "pct"),
                _num(both["realised"].mean(), "pct"),
                _num(both["ratio"].median(), "ratio"),
                _num(under, "pct0"),
                _num(corr, "ratio"),
            ]
        )
    headers = [
        "Strategy",
        "Periods",
        "Mean predicted",
        "Mean realised",
        "Median realised / predicted",
        "Under-predicted",
        "Correlation",
    ]
    return Table(headers, rows)


def _forecast_section(run: RunFolder, main: str) -> Section:
    """Skill of the model's return forecasts and calibration of predicted risk."""
    section = Section("forecast", "Forecast skill")
    skill = run.metrics.get("forecast") or {}
    model, baseline = skill.get("model") or {}, skill.get("baseline") or {}
    if model:
        section.cards = [
            (label, FORMATS[kind](model.get(key)))
            for key, label, kind in (
                ("ic_mean", "Mean IC", "ratio"),
                ("ic_tstat", "IC t-statistic", "ratio"),
                ("directional_accuracy", "Directional accuracy", "pct"),
                ("r2_oos", "Out-of-sample R\u00b2", "pct2"),
            )
        ]
        rows = [
            [_txt(label), _num(model.get(key), kind), _num(baseline.get(key), kind)]
            for key, label, kind in FORECAST_ROWS
            if key in model or key in baseline
        ]
        kind = _cfg(run.config, "forecaster", "kind", default="model")
        section.add("table", Table(["Measure", f"model ({kind})", "baseline"], rows))
        section.add(
            "note",
            f"Returns over the {_horizon(run)}-day horizon, scored at each forecast "
            "date against what followed. Baseline: historical mean with a "
            "Ledoit-Wolf covariance. IC t-statistics ignore the overlap of horizons "
            "and overstate significance. Diebold-Mariano test of squared errors: "
            "model against the baseline, baseline against the historical mean.",
        )
        section.add("plot", _plot_information_coefficient(run.forecast_skill))
    else:
        section.add(
            "note",
            "The run has no model forecaster (lstm_mvo was not configured): return "
            "forecasts are not scored.",
        )
    section.add("heading", "Predicted against realised volatility")
    calibration = _calibration(run)
    if calibration:
        section.add(
            "plot",
            _plot_volatility_calibration(calibration, main, _run_styles(run, main)),
        )
        section.add("table", _calibration_table(calibration))
    else:
        section.add("note", "No strategy has a predicted volatility to compare.")
    return section


def _verdict(name: str, summary: dict[str, Any], one_over_n: dict[str, Any]) -> str:
    """One honest sentence on the Sharpe-ratio difference of ``name`` and 1/N."""
    sharpe = FORMATS["ratio"](summary.get("sharpe"))
    reference = FORMATS["ratio"](one_over_n.get("sharpe"))
    p_value = _finite(summary.get("sharpe_diff_pvalue"))
    method = summary.get("sharpe_diff_method")
    test = _TEST_NAMES.get(method, method)
    level = f"{SIGNIFICANCE_LEVEL:.0%}"
    if p_value is None:
        return (
            f"The Sharpe ratios of {name} ({sharpe}) and 1/N ({reference}) could not "
            "be compared (identical or constant returns)."
        )
    shown = _pvalue(p_value)
    if p_value >= SIGNIFICANCE_LEVEL:
        outcome = f"is not distinguishable from 1/N's ({reference})"
    else:
        higher = (_finite(summary.get("sharpe_diff_vs_equal_weight")) or 0.0) > 0
        outcome = f"is {'higher' if higher else 'lower'} than 1/N's ({reference})"
    return (
        f"At the {level} level, {name}'s Sharpe ratio ({sharpe}) {outcome}: "
        f"p {shown if shown.startswith('<') else '= ' + shown}, {test}."
    )


def _significance_verdicts(
    summaries: dict[str, dict[str, Any]], names: list[str], main: str
) -> list[str]:
    one_over_n = summaries.get(ONE_OVER_N)
    if one_over_n is None:
        verdicts = [
            f"The run has no {ONE_OVER_N} strategy: no Sharpe ratio is tested "
            "against 1/N."
        ]
    else:
        others = [main] + [name for name in names if name != main]
        verdicts = [
            _verdict(name, summaries[name], one_over_n)
            for name in others
            if name in summaries and name != ONE_OVER_N
        ]
    dsr = _finite((summaries.get(main) or {}).get("dsr"))
    if dsr is not None:
        trials = len([name for name in names if name != BENCHMARK])
        passed = dsr >= 1.0 - SIGNIFICANCE_LEVEL
        verdicts.append(
            f"Deflated for the {trials} strategies of this run, {main}'s Sharpe ratio "
            f"has a DSR of {dsr:.2f}: {'' if passed else 'not '}significant at the "
            f"{SIGNIFICANCE_LEVEL:.0%} level (that needs "
            f"{1.0 - SIGNIFICANCE_LEVEL:.2f} or more)."
        )
    return verdicts


def _significance_section(run: RunFolder, main: str) -> Section:
    """PSR, DSR and the Sharpe-difference test against 1/N, in plain words."""
    summaries = run.metrics.get("strategies") or {}
    names = _ordered(summaries, list(run.result.returns.columns))
    section = Section("significance", "Significance")
    section.verdicts = _significance_verdicts(summaries, names, main)
    rows = []
    for name in names:
        summary = summaries[name]
        method = summary.get("sharpe_diff_method")
        rows.append(
            [
                _txt(name),
                _num(summary.get("sharpe"), "ratio"),
                _num(summary.get("psr"), "ratio"),
                _num(summary.get("dsr"), "ratio"),
                _num(summary.get("sharpe_diff_vs_equal_weight"), "ratio", signed=True),
                _num(summary.get("sharpe_diff_statistic"), "ratio"),
                _num(summary.get("sharpe_diff_pvalue"), "pvalue"),
                _txt(_TEST_NAMES.get(method, method)),
            ]
        )
    headers = ["Strategy", "Sharpe", "PSR", "DSR", "Sharpe minus 1/N", "z", "p-value"]
    section.add("table", Table([*headers, "Test"], rows))
    section.add(
        "note",
        "PSR: probability that the true Sharpe ratio is above 0, given the track "
        "record's length, skewness and kurtosis (Bailey and Lopez de Prado, 2012). "
        "DSR: the same probability against the Sharpe ratio that the best of the "
        "run's strategies would show by luck alone (2014); it deflates only for the "
        "strategies of this run, not for every configuration tried before it. "
        f"Sharpe minus 1/N: two-sided test of equal Sharpe ratios against "
        f"{ONE_OVER_N} on the same days.",
    )
    return section


def _rebalance_section(run: RunFolder) -> Section:
    """Rebalances that did not trade: counts per strategy and the reasons."""
    rebalances = run.result.rebalances
    section = Section("rebalances", "Held and failed rebalances")
    counts = rebalances.groupby(["strategy", "status"]).size()
    statuses = ("traded", "held", "failed")
    rows = [
        [_txt(name)] + [_num(counts.get((name, s), 0), "int") for s in statuses]
        for name in _traded(run)
    ]
    section.add("table", Table(["Strategy", "Traded", "Held", "Failed"], rows))
    # An all-empty reason column reads back as float NaN; make it text first.
    reason = rebalances["reason"].astype("string").fillna("")
    status = rebalances["status"]
    wanted = (status == "failed") | ((status != "traded") & (reason != ""))
    listed = rebalances.assign(reason=reason).loc[wanted.astype(bool)]
    listed = listed.sort_values(["date", "strategy"], kind="stable")
    if listed.empty:
        section.add("note", "No rebalance failed or was held for a reason.")
    else:
        detail = [
            [
                _txt(_date(row.date)),
                _txt(row.strategy),
                _txt(row.status),
                _txt(row.reason, "wrap"),
            ]
            for row in listed.head(MAX_LISTED_REBALANCES).itertuples()
        ]
        section.add("table", Table(["Date", "Strategy", "Status", "Reason"], detail))
        if len(listed) > MAX_LISTED_REBALANCES:
            section.add(
                "note",
                f"The first {MAX_LISTED_REBALANCES} of {len(listed)}; "
                "rebalances.csv lists all.",
            )
    section.add(
        "note",
        "Held: the strategy kept its drifted weights (buy_and_hold holds by design "
        "after its first trade). Failed: the optimizer returned no weights and the "
        "drifted weights were kept (backtest.on_failure: hold).",
    )
    return section


def limitations(run: RunFolder) -> list[str]:
    """Return the caveats a reader must keep in mind, specific to the run.

    Parameters
    ----------
    run : RunFolder
        The run the report is about.

    Returns
    -------
    list of str
        One sentence each, in a fixed order.
    """
    config, info = run.config, run.metrics.get("run") or {}
    if _cfg(config, "data", "dataset") in ("sp500", "multi_asset"):
        universe = (
            "Survivorship bias: the stocks are skfolio's sample of 20 large S&P 500 "
            "companies picked with hindsight, all still listed at the end of the "
            "data; a universe chosen at each date would have done worse."
        )
    else:
        universe = (
            "The universe is fixed for the whole run; if it was chosen knowing which "
            "assets survived, returns are biased upwards (survivorship bias)."
        )
    items = [
        universe,
        "Execution at the close of the rebalance day, at the same close the "
        "forecast saw (close-to-close): no delay, no partial fills, no slippage.",
        f"Costs are proportional only ({_cfg(config, 'backtest', 'cost_bps')} bp of "
        "the value traded): no market impact, no spread that widens in stress, no "
        "borrow fees, taxes or financing costs.",
    ]
    if _cfg(config, "data", "risk_free") == "fama_french":
        found = _RISK_FREE_END.search(str(info.get("risk_free", "")))
        if found and str(info.get("end", ""))[:7] > found.group(1):
            items.append(
                "The risk-free rate (Fama-French one-month T-bill) ends in "
                f"{found.group(1)}; later days carry its last rate forward."
            )
    if not _cfg(config, "backtest", "cash", default=False):
        items.append("Weight left uninvested earns nothing (backtest.cash is off).")
    items += [
        "One historical path: the tests assume stationary returns, and a few years "
        "of data separate Sharpe ratios only when they differ by a lot.",
        "The forecaster and its settings were chosen with the same history in view; "
        "the deflated Sharpe ratio counts only the strategies of this run.",
    ]
    return items


def _limitations_section(run: RunFolder) -> Section:
    """A short list of what the backtest does not capture."""
    section = Section("limitations", "Limitations")
    section.add("list", limitations(run))
    return section


# ---------------------------------------------------------------------- render


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("risk", "templates"),
        autoescape=True,  # every string of the run is data, never markup
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_report(run: RunFolder) -> str:
    """Return the report of a loaded run as one HTML document.

    Parameters
    ----------
    run : RunFolder
        A run read back by `portfolio.runfolder.load_run`.

    Returns
    -------
    str
        A self-contained HTML page: plots as ``data:`` URIs, no script, no URL.

    Raises
    ------
    ValueError
        If the run has no returns.
    """
    returns = run.result.returns
    if returns.empty or returns.shape[1] == 0:
        raise ValueError(f"{run.path}: returns.csv has no returns to report")
    kind = _cfg(run.config, "forecaster", "kind")
    main = main_strategy(list(returns.columns), kind)
    sections = [
        _summary_section(run, main),
        _metrics_section(run, main),
        _equity_section(run, main),
        _drawdown_section(run, main),
        _rolling_section(run, main),
        _calendar_section(run, main),
        _weights_section(run, main),
        _turnover_section(run, main),
        _risk_section(run, main),
        _forecast_section(run, main),
        _significance_section(run, main),
        _rebalance_section(run),
        _limitations_section(run),
    ]
    name = (run.metrics.get("run") or {}).get("name") or _cfg(run.config, "name")
    subtitle = " \u00b7 ".join(
        [
            f"{_date(returns.index[0])} to {_date(returns.index[-1])}",
            f"{len(returns):,} trading days",
            f"{kind} forecaster",
            f"main strategy {main}",
        ]
    )
    return (
        _environment()
        .get_template("report.html")
        .render(
            title=str(name or run.path.name),
            subtitle=subtitle,
            sections=sections,
            footer="Written by risk.report from the run folder; self-contained: it "
            "opens without a network.",
        )
    )


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary sibling and rename, so no reader sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into a run folder and return its path.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by `portfolio.runfolder.save_run`.

    Returns
    -------
    Path
        ``run_dir / "report.html"``, replaced atomically if it existed.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` is not a run folder (the message names what is missing).
    """
    from portfolio.runfolder import load_run

    run = load_run(run_dir)
    path = Path(run_dir) / REPORT_NAME
    _write_atomic(path, render_report(run))
    return path


def write_metrics_csv(run_dir: str | Path) -> Path:
    """Write the per-strategy summaries of ``metrics.json`` as ``metrics.csv``.

    Parameters
    ----------
    run_dir : str or Path
        A run folder with a ``metrics.json``.

    Returns
    -------
    Path
        ``run_dir / "metrics.csv"``: one row per strategy, one column per key.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` has no ``metrics.json``.
    """
    folder = Path(run_dir)
    source = folder / "metrics.json"
    if not source.is_file():
        raise FileNotFoundError(f"{folder}: not a run folder (metrics.json is missing)")
    frame = metrics_frame(json.loads(source.read_text()))
    path = folder / METRICS_CSV_NAME
    _write_atomic(path, frame.to_csv(float_format="%.12g"))
    return path
