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

This module reads the run and assembles the sections; `risk.report_plots` draws the
figures and `risk.report_tables` formats the cells and builds the frame-only tables.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from risk.attribution import (
    effective_number_of_assets,
    realised_vs_predicted_volatility,
)
from risk.report_plots import (
    ROLLING_WINDOW,
    Styles,
    line_styles,
    plot_effective_assets,
    plot_equity,
    plot_information_coefficient,
    plot_risk_split,
    plot_rolling,
    plot_turnover,
    plot_underwater,
    plot_volatility_calibration,
    plot_weights,
)
from risk.report_plots import _embed as _embed  # re-export
from risk.report_plots import _figure as _figure  # re-export
from risk.report_plots import _label as _label  # re-export
from risk.report_tables import (
    DASH,
    FORMATS,
    Table,
    calibration_table,
    drawdown_table,
    finite,
    format_date,
    format_pvalue,
    group_table,
    heat_css,
    number_cell,
    text_cell,
    universe_table,
)
from risk.rolling import calendar_year_returns, monthly_returns_table

if TYPE_CHECKING:
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
MAIN_STRATEGY = "lstm_mvo"
ONE_OVER_N = "equal_weight"
BENCHMARK = "index"  # benchmark column of returns.csv, never traded
SIGNIFICANCE_LEVEL = 0.05
DUST = 5e-5  # weights and risk shares below this are not listed as holdings
MAX_LISTED_REBALANCES = 200  # rows of the held/failed table before it is cut

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
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_plain(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value)
    return DASH if value is None else str(value)


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
        if all(v is None or finite(v) is not None for v in values):
            frame[key] = values.astype(float)
    return frame.rename_axis("strategy")


def _run_styles(run: RunFolder, main: str) -> Styles:
    return line_styles(list(run.result.returns.columns), main, benchmark=BENCHMARK)


# -------------------------------------------------------------------- sections


def _forecaster_text(config: dict[str, Any]) -> str:
    spec = _cfg(config, "forecaster", default={}) or {}
    text = (
        f"{spec.get('kind', DASH)}; horizon {spec.get('horizon', DASH)} trading "
        f"days; refit every {spec.get('retrain_months', DASH)} months on an "
        f"{spec.get('window', DASH)} window"
    )
    if spec.get("window") == "rolling":
        text += f" of {spec.get('lookback_days', DASH)} days"
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


def _summary_section(run: RunFolder, main: str) -> Section:
    """Run facts: dates, configuration, data provenance, universe, retrains."""
    import yaml

    info = run.metrics.get("run") or {}
    returns = run.result.returns
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
        for label, value in _run_facts(run)
    ]
    section.add("table", Table(["Item", "Value"], rows, css="kv"))
    if not run.assets.empty:
        section.add("heading", f"Universe ({len(run.assets)} assets)")
        section.add("table", universe_table(run.assets))
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
        [text_cell(label)]
        + [
            number_cell(frame.at[name, key], kind, signed=key in _SIGNED)
            for name in names
        ]
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
    section.add("plot", plot_equity(run.result.returns, _run_styles(run, main)))
    return section


def _drawdown_section(run: RunFolder, main: str) -> Section:
    """Underwater curves and the five worst drawdowns of each strategy."""
    returns = run.result.returns
    section = Section("drawdowns", "Drawdowns")
    section.add("plot", plot_underwater(returns, main, _run_styles(run, main)))
    section.add("heading", "Five worst drawdowns")
    names = [main] + [name for name in returns.columns if name != main]
    section.add("grid", [drawdown_table(returns[name], name) for name in names])
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
    plot = plot_rolling(returns, rf, _run_styles(run, main))
    if plot is None:
        section.add(
            "note",
            f"The run has {len(returns)} trading days, fewer than the "
            f"{ROLLING_WINDOW} of one window.",
        )
    section.add("plot", plot)
    return section


def _calendar_section(run: RunFolder, main: str) -> Section:
    """Calendar-year returns of every strategy and the main strategy's months."""
    returns = run.result.returns
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


def _weights_section(run: RunFolder, main: str) -> Section:
    """Stacked target weights of the main strategy."""
    section = Section("weights", "Weights over time")
    end = run.result.returns.index[-1]
    plot = plot_weights(run.result.weights, main, end)
    if plot is None:
        section.add("note", f"weights.csv holds no weights of {main}.")
    section.add("plot", plot)
    return section


def _turnover_section(run: RunFolder, main: str) -> Section:
    """Turnover and trading costs per rebalance and per year."""
    rebalances = run.result.rebalances
    summaries = run.metrics.get("strategies") or {}
    section = Section("turnover", "Turnover and costs")
    section.add("plot", plot_turnover(rebalances, _traded(run), _run_styles(run, main)))
    rows = []
    for name in _traded(run):
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
    return format_date(date), table


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
        section.add("plot", plot_risk_split(table, main, day))
        rows = [
            [
                text_cell(asset),
                text_cell(row.asset_class),
                text_cell(row.sector),
                number_cell(row.weight, "pct"),
                number_cell(row.contribution, "pct2"),
                number_cell(row.share, "pct"),
            ]
            for asset, row in zip(table.index, table.itertuples(), strict=True)
        ]
        headers = ["Asset", "Asset class", "Sector", "Weight", "Risk contribution"]
        section.add("table", Table([*headers, "Share of risk"], rows))
        section.add(
            "grid",
            [
                group_table(table, "asset_class", "Asset class"),
                group_table(table, "sector", "Sector"),
            ],
        )
    section.add("heading", "Concentration over time")
    section.add(
        "plot", plot_effective_assets(_effective_assets(run), _run_styles(run, main))
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
            [
                text_cell(label),
                number_cell(model.get(key), kind),
                number_cell(baseline.get(key), kind),
            ]
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
        section.add("plot", plot_information_coefficient(run.forecast_skill))
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
            plot_volatility_calibration(calibration, main, _run_styles(run, main)),
        )
        section.add("table", calibration_table(calibration))
    else:
        section.add("note", "No strategy has a predicted volatility to compare.")
    return section


def _verdict(name: str, summary: dict[str, Any], one_over_n: dict[str, Any]) -> str:
    """One honest sentence on the Sharpe-ratio difference of ``name`` and 1/N."""
    sharpe = FORMATS["ratio"](summary.get("sharpe"))
    reference = FORMATS["ratio"](one_over_n.get("sharpe"))
    p_value = finite(summary.get("sharpe_diff_pvalue"))
    method = summary.get("sharpe_diff_method")
    test = _TEST_NAMES.get(method, method)
    level = f"{SIGNIFICANCE_LEVEL:.0%}"
    if p_value is None:
        return (
            f"The Sharpe ratios of {name} ({sharpe}) and 1/N ({reference}) could not "
            "be compared (identical or constant returns)."
        )
    shown = format_pvalue(p_value)
    if p_value >= SIGNIFICANCE_LEVEL:
        outcome = f"is not distinguishable from 1/N's ({reference})"
    else:
        higher = (finite(summary.get("sharpe_diff_vs_equal_weight")) or 0.0) > 0
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
    dsr = finite((summaries.get(main) or {}).get("dsr"))
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
                text_cell(name),
                number_cell(summary.get("sharpe"), "ratio"),
                number_cell(summary.get("psr"), "ratio"),
                number_cell(summary.get("dsr"), "ratio"),
                number_cell(
                    summary.get("sharpe_diff_vs_equal_weight"), "ratio", signed=True
                ),
                number_cell(summary.get("sharpe_diff_statistic"), "ratio"),
                number_cell(summary.get("sharpe_diff_pvalue"), "pvalue"),
                text_cell(_TEST_NAMES.get(method, method)),
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
        [text_cell(name)]
        + [number_cell(counts.get((name, s), 0), "int") for s in statuses]
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
                text_cell(format_date(row.date)),
                text_cell(row.strategy),
                text_cell(row.status),
                text_cell(row.reason, "wrap"),
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
            f"{format_date(returns.index[0])} to {format_date(returns.index[-1])}",
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
