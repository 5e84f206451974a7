"""Sections of the risk report on performance, and what every section builder shares.

A section builder turns a `ReportInput` into one `Section` of the page: summary
cards, verdicts and blocks (text, tables, plots) for the template of
`risk.report.render`. This module holds the page model (`Block`, `Section`), the run
facts every builder reads (the horizon annualiser, the metrics frame) and the
builders of the performance sections: run summary, metrics, equity curves,
drawdowns, rolling risk, calendar returns, weights, turnover and costs.
`risk.report.diagnostics` builds the other sections (risk contributions, forecast
skill, significance, held and failed rebalances, limitations).

Units as in `risk.report.record`: daily simple returns; ``predicted_vol`` and
``risk_contribution`` are over the forecast horizon of ``settings.horizon`` trading
days and annualised by ``sqrt(252 / horizon)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.risk.report.plots import (
    ROLLING_WINDOW,
    Styles,
    line_styles,
    plot_equity,
    plot_rolling,
    plot_turnover,
    plot_underwater,
    plot_weights,
)
from foliocast.risk.report.record import ReportInput, RunSettings
from foliocast.risk.report.tables import (
    DASH,
    FORMATS,
    Table,
    drawdown_table,
    finite,
    format_date,
    heat_css,
    number_cell,
    text_cell,
    universe_table,
)
from foliocast.risk.rolling import calendar_year_returns, monthly_returns_table

__all__ = [
    "PERIODS_PER_YEAR",
    "METRIC_ROWS",
    "Block",
    "Section",
    "metrics_frame",
    "held_out",
    "held_out_text",
]

PERIODS_PER_YEAR = TRADING_DAYS_PER_YEAR

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
    ("tracking_error", "Tracking error to the index", "pct"),
    ("active_tracking_error", "Tracking error to the benchmark portfolio", "pct"),
    ("ex_ante_tracking_error", "Ex-ante tracking error (mean)", "pct"),
    ("information_ratio", "Information ratio", "ratio"),
    ("psr", "PSR: P(true Sharpe > 0)", "ratio"),
    ("dsr", "Deflated Sharpe ratio", "ratio"),
)
_SIGNED = {"annual_return", "alpha", "sharpe_diff_vs_equal_weight"}

_FREQUENCY = {"W": "weekly", "M": "monthly", "Q": "quarterly"}
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


# ------------------------------------------------------------------ page model


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


# ------------------------------------------------------------------- run facts


def _plain(value: Any) -> str:
    """A config value on one line: mappings as ``key: value`` pairs."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {_plain(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value)
    return DASH if value is None else str(value)


def _annualiser(record: ReportInput) -> float:
    """Factor from horizon volatility to annual volatility, ``sqrt(252 / h)``."""
    return math.sqrt(PERIODS_PER_YEAR / record.settings.horizon)


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    """``names`` in the run's strategy order; unknown ones after, sorted."""
    names = list(names)
    known = [name for name in order if name in names]
    return known + sorted(name for name in names if name not in known)


def metrics_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Return the per-strategy summaries of ``metrics.json`` as a table.

    Parameters
    ----------
    metrics : mapping
        The metrics of a run, ``{"strategies": {name: summary}, ...}``
        (`ReportInput.metrics`).

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
        if all(v is None or finite(v) is not None for v in values):
            frame[key] = values.astype(float)
    return frame.rename_axis("strategy")


def held_out(record: ReportInput) -> dict[str, Any] | None:
    """The ``held_out`` part of the metrics, or None when nothing is held out.

    Present when the run holds out its later part: ``from`` (first day), ``start``,
    ``end``, and the ``strategies`` summaries and ``forecast`` skill of that part.
    """
    part = record.metrics.get("held_out")
    return part if isinstance(part, dict) and part.get("from") else None


def held_out_text(part: dict[str, Any]) -> str:
    """The sentence that says which part of the run is held out, and what that means."""
    return (
        f"Held out from {part['from']}: the part of the run from that day on "
        f"({part.get('start')} to {part.get('end')}) is held out; no design or "
        "setting was tuned on it. The forecast-skill and significance sections also "
        "show it alone."
    )


def _run_styles(record: ReportInput) -> Styles:
    return line_styles(
        list(record.returns.columns), record.main, benchmark=record.benchmark
    )


# -------------------------------------------------------------------- sections


def _forecaster_text(settings: RunSettings) -> str:
    text = (
        f"{settings.forecaster}; horizon {settings.horizon} trading days; refit "
        f"every {_plain(settings.retrain_months)} months on an "
        f"{_plain(settings.window)} window"
    )
    if settings.window == "rolling":
        text += f" of {_plain(settings.lookback_days)} days"
    if settings.forecaster == "lstm":
        text += f"; model {_plain(settings.model)}"
        text += f"; training {_plain(settings.train)}"
    return text


def _strategies_text(record: ReportInput) -> str:
    """Each strategy of the run and what it is, in one line."""
    return "; ".join(
        f"{name}: {record.descriptions[name]}" if name in record.descriptions else name
        for name in map(str, record.returns.columns)
    )


def _run_facts(record: ReportInput) -> list[tuple[str, Any]]:
    info, settings = record.provenance, record.settings
    data = info.get("data") or {}
    source = {k: data[k] for k in ("source", "dataset", "path") if k in data}
    return [
        ("Run name", settings.name),
        (
            "Backtest",
            f"{info.get('start')} to {info.get('end')} (configured start "
            f"{settings.start}, end {settings.end or 'end of data'})",
        ),
        (
            "Rebalancing",
            f"{_FREQUENCY.get(settings.rebalance, _plain(settings.rebalance))}; "
            f"costs {settings.cost_bps} bp of the value traded; at least "
            f"{_plain(settings.min_history_days)} days of prices to be investable; "
            f"on optimizer failure: {_plain(settings.on_failure)}",
        ),
        ("Strategies", _strategies_text(record)),
        ("Forecaster", _forecaster_text(settings)),
        ("Optimizer", _plain(settings.optimizer)),
        ("Data source", _plain(source)),
        ("Price history", f"{data.get('first_date')} to {data.get('last_date')}"),
        ("Data fingerprint (SHA-256)", data.get("fingerprint")),
        ("Risk-free rate", info.get("risk_free")),
        ("Retrain dates", ", ".join(str(d) for d in info.get("retrain_dates") or [])),
    ]


def _summary_section(record: ReportInput) -> Section:
    """Run facts: dates, configuration, data provenance, universe, retrains."""
    main = record.main
    import yaml

    info = record.provenance
    returns = record.returns
    section = Section("summary", "Run summary")
    section.cards = [
        (
            "Period",
            f"{format_date(returns.index[0])} to {format_date(returns.index[-1])}",
        ),
        ("Trading days", FORMATS["int"](len(returns))),
        ("Rebalances", FORMATS["int"](info.get("rebalances"))),
        ("Retrains", FORMATS["int"](info.get("retrains"))),
        ("Main strategy", main),
    ]
    rows = [
        [text_cell(label), text_cell(value, "mono" if "SHA" in label else "")]
        for label, value in _run_facts(record)
    ]
    section.add("table", Table(["Item", "Value"], rows, css="kv"))
    part = held_out(record)
    if part is not None:
        section.verdicts = [held_out_text(part)]
    if not record.assets.empty:
        section.add("heading", f"Universe ({len(record.assets)} assets)")
        section.add("table", universe_table(record.assets))
    config_text = yaml.safe_dump(dict(record.config), sort_keys=False)
    section.add("code", ("Resolved configuration (config.yaml)", config_text))
    return section


def _metrics_section(record: ReportInput) -> Section:
    """All strategies side by side: returns, risk, costs, ratios."""
    main = record.main
    frame = metrics_frame(record.metrics)
    names = _ordered(frame.index, list(record.returns.columns))
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
        [text_cell(label)]
        + [
            number_cell(frame.at[name, key], kind, signed=key in _SIGNED)
            for name in names
        ]
        for key, label, kind in METRIC_ROWS
        if key in frame and frame[key].notna().any()
    ]
    if not rows:
        section.add("note", "The run's metrics hold no strategy summaries.")
        return section
    section.add("table", Table(["Metric", *names], rows))
    section.add(
        "note",
        "Daily returns net of trading costs. Annual figures compound (CAGR) or scale "
        f"by sqrt({PERIODS_PER_YEAR}); Sharpe and Sortino ratios are in excess of the "
        "risk-free rate. VaR and CVaR: historical one-day returns in the 5% tail. "
        "Turnover is one-way (half the sum of absolute weight changes), per year."
        + (
            f" '{record.benchmark}' is the benchmark index: not traded, no costs."
            if record.benchmark in record.returns.columns
            else ""
        ),
    )
    return section


def _equity_section(record: ReportInput) -> Section:
    """Wealth curves of every strategy on a log scale."""
    section = Section("equity", "Equity curves")
    part = held_out(record)
    start = None if part is None else pd.Timestamp(part["from"])
    section.add("plot", plot_equity(record.returns, _run_styles(record), start))
    if part is not None:
        section.add("note", held_out_text(part))
    return section


def _drawdown_section(record: ReportInput) -> Section:
    """Underwater curves and the five worst drawdowns of each strategy."""
    main = record.main
    returns = record.returns
    section = Section("drawdowns", "Drawdowns")
    section.add("plot", plot_underwater(returns, main, _run_styles(record)))
    section.add("heading", "Five worst drawdowns")
    names = [main] + [name for name in returns.columns if name != main]
    section.add("grid", [drawdown_table(returns[name], name) for name in names])
    section.add(
        "note",
        "Peak: the last high before the fall. Days: calendar days from the peak to "
        "the recovery, or to the end of the run when not yet recovered.",
    )
    return section


def _rolling_section(record: ReportInput) -> Section:
    """Trailing twelve-month Sharpe ratio and volatility."""
    returns = record.returns
    rf = record.risk_free.reindex(returns.index).fillna(0.0).astype(float)
    section = Section("rolling", "Rolling 12-month risk")
    plot = plot_rolling(returns, rf, _run_styles(record))
    if plot is None:
        section.add(
            "note",
            f"The run has {len(returns)} trading days, fewer than the "
            f"{ROLLING_WINDOW} of one window.",
        )
    section.add("plot", plot)
    return section


def _calendar_section(record: ReportInput) -> Section:
    """Calendar-year returns of every strategy and the main strategy's months."""
    main = record.main
    returns = record.returns
    yearly = calendar_year_returns(returns)
    total = (1.0 + returns.fillna(0.0)).prod() - 1.0
    section = Section("calendar", "Calendar returns")
    rows = [
        [text_cell(label)]
        + [number_cell(value, "pct", signed=True) for value in values]
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
        [text_cell(year)]
        + [
            number_cell(value, "pct", css=heat_css(value))
            for value in [*months.loc[year], year_total.get(year)]
        ]
        for year in months.index
    ]
    section.add("heading", f"Monthly returns of {main}")
    section.add("table", Table(["Year", *_MONTHS, "Year"], month_rows))
    return section


def _weights_section(record: ReportInput) -> Section:
    """Stacked target weights of the main strategy."""
    main = record.main
    section = Section("weights", "Weights over time")
    end = record.returns.index[-1]
    plot = plot_weights(record.weights, main, end)
    if plot is None:
        section.add("note", f"No weights of {main} are recorded.")
    section.add("plot", plot)
    return section


def _turnover_section(record: ReportInput) -> Section:
    """Turnover and trading costs per rebalance and per year."""
    rebalances = record.rebalances
    summaries = record.summaries
    section = Section("turnover", "Turnover and costs")
    section.add("plot", plot_turnover(rebalances, record.traded, _run_styles(record)))
    rows = []
    for name in record.traded:
        own = rebalances[rebalances["strategy"] == name]
        summary = summaries.get(name) or {}
        rows.append(
            [
                text_cell(name),
                number_cell(len(own), "int"),
                number_cell(own["turnover"].mean(), "pct"),
                number_cell(own["turnover"].max(), "pct"),
                number_cell(summary.get("turnover"), "pct0"),
                number_cell(own["cost"].sum(), "pct2"),
                number_cell(summary.get("cost_drag"), "pct2"),
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
        f"Costs are {record.settings.cost_bps} bp of the value "
        "traded, charged at each rebalance; turnover is one-way, as a fraction of "
        "portfolio value.",
    )
    return section
