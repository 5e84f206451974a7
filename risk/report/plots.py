"""Plots of the risk report: matplotlib figures drawn off-screen, embedded as PNGs.

Each ``plot_*`` function turns frames of a run into one `Plot`: a PNG ``data:`` URI
with its pixel size, alt text and caption, ready for the template of `risk.report`.
Figures are drawn on their own Agg canvas (no pyplot, no global backend state) and
saved without software metadata, so the bytes depend on the data only. A function
returns None where its data is missing or too short to plot; `risk.report` then
leaves the plot out.

Every strategy keeps one line style in every plot (`line_styles`), the main strategy
drawn thicker and the untraded benchmark dashed grey. Returns are daily simple
returns; volatilities passed in are annualised.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from foliocast.data.units import TRADING_DAYS_PER_YEAR
from foliocast.risk.drawdown import underwater
from foliocast.risk.rolling import rolling_sharpe, rolling_volatility

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "WIDTH_INCHES",
    "ROLLING_WINDOW",
    "WEIGHT_PLOT_ASSETS",
    "Styles",
    "Plot",
    "line_styles",
    "plot_equity",
    "plot_underwater",
    "plot_rolling",
    "plot_weights",
    "plot_turnover",
    "plot_risk_split",
    "plot_effective_assets",
    "plot_information_coefficient",
    "plot_volatility_calibration",
]

DPI = 90  # keeps ten full-width plots well under a megabyte or two
WIDTH_INCHES = 11.0
ROLLING_WINDOW = TRADING_DAYS_PER_YEAR  # twelve months
WEIGHT_PLOT_ASSETS = 12  # layers of the weights plot; smaller holdings are "other"
Styles = dict[str, dict[str, Any]]  # matplotlib keyword arguments per strategy


@dataclass(frozen=True)
class Plot:
    """An embedded PNG (a ``data:`` URI) with its pixel size and caption."""

    uri: str
    alt: str
    width: int
    height: int
    caption: str = ""


def _label(text: Any) -> str:
    """A matplotlib-safe label: ``$`` would start mathtext, ``_`` hide the entry."""
    text = str(text).replace("$", r"\$")
    return f" {text}" if text.startswith("_") else text


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


def line_styles(names: Sequence[str], main: str, *, benchmark: str | None) -> Styles:
    """Line style per strategy, the same in every plot; ``main`` drawn thicker.

    Parameters
    ----------
    names : sequence of str
        Strategy names in run order, ``benchmark`` among them or not.
    main : str
        The strategy the report looks at closely.
    benchmark : str or None
        Name of the untraded benchmark, drawn dashed grey (None: the run has none).

    Returns
    -------
    dict
        Keyword arguments of ``Axes.plot`` (colour, width, label) per name.
    """
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    traded = [name for name in names if name != benchmark]
    styles = {
        name: {
            "color": colours[position % len(colours)],
            "linewidth": 2.0 if name == main else 1.1,
            "label": _label(name),
        }
        for position, name in enumerate(traded)
    }
    if benchmark is not None:
        styles[benchmark] = {
            "color": "#7b8794",
            "linewidth": 1.1,
            "linestyle": "--",
            "label": _label(benchmark),
        }
    return styles


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


def plot_equity(
    returns: pd.DataFrame,
    styles: Styles,
    held_out_from: pd.Timestamp | None = None,
) -> Plot:
    """Growth of 1 per strategy on a log scale; the held-out part shaded if given."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    wealth = (1.0 + returns.fillna(0.0)).cumprod()
    fig, axes = _figure(4.2)
    ax = axes[0, 0]
    caption = "Growth of 1 invested at the first rebalance, net of trading costs."
    if held_out_from is not None and len(wealth):
        start = pd.Timestamp(held_out_from)
        ax.axvspan(
            _x([start])[0], _x(wealth.index[-1:])[0], color="#f0b429", alpha=0.12
        )
        caption += f" Shaded: the held-out part, from {start.date()} on."
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
        fig, "Equity curves on a log scale of " + ", ".join(returns.columns), caption
    )


def plot_underwater(returns: pd.DataFrame, main: str, styles: Styles) -> Plot:
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


def plot_rolling(returns: pd.DataFrame, rf: pd.Series, styles: Styles) -> Plot | None:
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


def plot_weights(
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


def plot_turnover(
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


def plot_risk_split(table: pd.DataFrame, strategy: str, day: str) -> Plot:
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


def _step_lines(
    frame: pd.DataFrame,
    styles: Styles,
    ylabel: str,
    title: str,
    caption: str,
    percent: bool = False,
) -> Plot | None:
    """One strategy a line, held flat between rebalances, from zero up."""
    if frame.empty:
        return None
    fig, axes = _figure(3.2)
    ax = axes[0, 0]
    _lines(ax, frame, styles, step=True)
    ax.set_ylim(bottom=0.0)
    if percent:
        _percent(ax, 1)
    ax.set_ylabel(ylabel)
    _legend_outside(ax)
    return _embed(fig, f"{title} over time of " + ", ".join(frame.columns), caption)


def plot_effective_assets(effective: pd.DataFrame, styles: Styles) -> Plot | None:
    """Effective number of assets (inverse Herfindahl) per strategy over time."""
    return _step_lines(
        effective,
        styles,
        "effective number of assets",
        "Effective number of assets",
        "1 / sum of squared target weights: how many equal positions would be as "
        "concentrated.",
    )


def plot_tracking_error(tracking: pd.DataFrame, styles: Styles) -> Plot | None:
    """Annualised ex-ante tracking error to the benchmark per strategy over time."""
    return _step_lines(
        tracking,
        styles,
        "ex-ante tracking error (annual)",
        "Ex-ante tracking error to the benchmark portfolio",
        "sqrt((w - b)' Sigma (w - b)) at each rebalance, annualised: how far the "
        "target weights are from the benchmark's in forecast risk.",
        percent=True,
    )


def plot_information_coefficient(skill: pd.DataFrame) -> Plot | None:
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


def plot_volatility_calibration(
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
    # minticks=3 hands spans of three years or more to yearly ticks; maxticks=7
    # then leaves a monthly, daily or hourly interval for every shorter span (35
    # months need 6-month steps, 6 of them), so the locator never has to fall
    # back with a warning. maxticks=6 alone had no interval for 2.5-5 year runs
    # or for a run with a single rebalance.
    locator = AutoDateLocator(minticks=3, maxticks=7)
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
