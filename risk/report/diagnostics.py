"""Diagnostic sections of the risk report: where risk comes from and what to doubt.

The section builders after the performance ones (`risk.report.sections` holds the page
model and the run facts they share): risk contributions of the main strategy and
concentration over time, forecast skill and the calibration of predicted volatility,
significance of the Sharpe ratios against 1/N (PSR, DSR and the difference test, in
plain words), held and failed rebalances, and the limitations of the backtest
(`limitations`).

Units as in `risk.report.record`: ``predicted_vol`` (rebalances) and
``risk_contribution`` (weights) are volatilities over the forecast horizon,
annualised by ``sqrt(252 / horizon)`` for display.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from foliocast.risk.attribution import (
    effective_number_of_assets,
    realised_vs_predicted_volatility,
)
from foliocast.risk.report.plots import (
    plot_effective_assets,
    plot_information_coefficient,
    plot_risk_split,
    plot_volatility_calibration,
)
from foliocast.risk.report.record import ReportInput
from foliocast.risk.report.sections import (
    PERIODS_PER_YEAR,
    Section,
    _annualiser,
    _ordered,
    _run_styles,
    held_out,
)
from foliocast.risk.report.tables import (
    FORMATS,
    Table,
    calibration_table,
    finite,
    format_date,
    format_pvalue,
    group_table,
    number_cell,
    text_cell,
)

__all__ = [
    "SIGNIFICANCE_LEVEL",
    "DUST",
    "MAX_LISTED_REBALANCES",
    "FORECAST_ROWS",
    "forecast_uncertainty",
    "limitations",
]

SIGNIFICANCE_LEVEL = 0.05
DUST = 5e-5  # weights and risk shares below this are not listed as holdings
MAX_LISTED_REBALANCES = 200  # rows of the held/failed table before it is cut

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
    (
        "gaussian_nll_mean",
        "Gaussian NLL of the return vector (lower is better)",
        "ratio",
    ),
    ("minvar_predicted_vol", "Min-variance portfolio: predicted vol", "pct2"),
    ("minvar_realised_vol", "Min-variance portfolio: realised vol", "pct2"),
    ("minvar_vol_ratio", "Min-variance: realised / predicted", "ratio"),
    (
        "minvar_qlike_mean",
        "Min-variance: QLIKE of its variance (lower is better)",
        "ratio",
    ),
    ("dm_statistic", "Diebold-Mariano statistic", "ratio"),
    ("dm_pvalue", "Diebold-Mariano p-value", "pvalue"),
)

_TEST_NAMES = {
    "jobson_korkie_memmel": "Jobson-Korkie with Memmel's correction",
    "ledoit_wolf_hac": "Ledoit-Wolf (HAC)",
}
_RISK_FREE_END = re.compile(r"last month \((\d{4}-\d{2})\)")


# ------------------------------------------------------------------- sections


def _latest_risk(record: ReportInput, main: str) -> tuple[str, pd.DataFrame] | None:
    """Weight, annualised risk contribution and risk share per asset of ``main``.

    At its last rebalance; None when no risk contribution was recorded.
    """
    weights = record.weights
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
    groups = record.assets.astype({"asset": str}).set_index("asset")
    table = pd.DataFrame(
        {
            "weight": latest["weight"].astype(float),
            "contribution": contribution * _annualiser(record),
            "share": contribution / total,
        }
    )[held]
    for column in ("asset_class", "sector"):
        mapping = groups[column] if column in groups else pd.Series(dtype=object)
        table[column] = mapping.reindex(table.index).fillna("unknown").to_numpy()
    # Largest share first; the sorted index breaks ties by name.
    table = table.iloc[np.argsort(-table["share"].to_numpy(), kind="stable")]
    return format_date(date), table


def _effective_assets(record: ReportInput) -> pd.DataFrame:
    weights = record.weights
    columns = {
        name: weights[weights["strategy"] == name]
        .groupby("date", sort=True)["weight"]
        .apply(effective_number_of_assets)
        for name in record.traded
        if (weights["strategy"] == name).any()
    }
    return pd.DataFrame(columns)


def _risk_section(record: ReportInput) -> Section:
    """Risk contributions of the main strategy and concentration of all."""
    main = record.main
    section = Section("risk", "Risk contributions")
    latest = _latest_risk(record, main)
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
        "plot", plot_effective_assets(_effective_assets(record), _run_styles(record))
    )
    return section


def _calibration(record: ReportInput) -> dict[str, pd.DataFrame]:
    """Predicted (ex ante, annualised) against realised volatility per strategy."""
    rebalances = record.rebalances
    tables = {}
    for name in record.traded:
        own = rebalances[rebalances["strategy"] == name].sort_values("date")
        predicted = own.set_index("date")["predicted_vol"].astype(float)
        predicted = predicted[np.isfinite(predicted.to_numpy())] * _annualiser(record)
        if predicted.empty:
            continue
        table = realised_vs_predicted_volatility(
            record.returns[name], predicted, periods_per_year=PERIODS_PER_YEAR
        )
        if table["realised"].notna().any():
            tables[name] = table
    return tables


def _skill_table(record: ReportInput, skill: dict[str, Any]) -> Table:
    """Model and baseline forecast skill side by side (`FORECAST_ROWS`)."""
    model, baseline = skill.get("model") or {}, skill.get("baseline") or {}
    rows = [
        [
            text_cell(label),
            number_cell(model.get(key), kind),
            number_cell(baseline.get(key), kind),
        ]
        for key, label, kind in FORECAST_ROWS
        if key in model or key in baseline
    ]
    kind = record.settings.forecaster
    return Table(["Measure", f"model ({kind})", "baseline"], rows)


def forecast_uncertainty(forecasts: pd.DataFrame) -> pd.DataFrame:
    """How uncertain each forecaster says its ``mu`` is, from ``forecasts.csv``.

    Parameters
    ----------
    forecasts : pandas.DataFrame
        The long table of a run's forecasts (``forecaster``, ``date``,
        ``mu`` and ``mu_std`` columns; older run folders have no ``mu_std``).

    Returns
    -------
    pandas.DataFrame
        One row per forecaster with a standard error of ``mu``, indexed by its name:
        ``dates`` (forecast dates), ``median_mu_std`` and ``median_abs_mu`` (medians
        over dates and assets) and ``ratio`` (their quotient: above 1, the typical
        forecast is smaller than its own uncertainty). Empty when none has one.
    """
    columns = ["dates", "median_mu_std", "median_abs_mu", "ratio"]
    if "mu_std" not in forecasts.columns or forecasts.empty:
        return pd.DataFrame(columns=columns)
    known = forecasts[np.isfinite(forecasts["mu_std"].to_numpy(dtype=float))]
    rows = {}
    for name, own in known.groupby("forecaster", sort=False):
        spread = float(np.median(own["mu_std"].to_numpy(dtype=float)))
        size = float(np.median(np.abs(own["mu"].to_numpy(dtype=float))))
        ratio = spread / size if size > 0 else np.nan
        rows[name] = [own["date"].nunique(), spread, size, ratio]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _uncertainty_table(record: ReportInput) -> Table | None:
    """`forecast_uncertainty` of the run's forecasters, or None if none has one."""
    summary = forecast_uncertainty(record.forecasts)
    if summary.empty:
        return None
    kind = record.settings.forecaster
    rows = [
        [
            text_cell(f"model ({kind})" if name == "model" else name),
            number_cell(row["dates"], "int"),
            number_cell(row["median_mu_std"], "pct2"),
            number_cell(row["median_abs_mu"], "pct2"),
            number_cell(row["ratio"], "ratio"),
        ]
        for name, row in summary.iterrows()
    ]
    headers = ["Forecaster", "Dates", "Median mu_std", "Median |mu|", "Ratio"]
    return Table(headers, rows)


def _forecast_section(record: ReportInput) -> Section:
    """Skill of the model's return forecasts and calibration of predicted risk."""
    section = Section("forecast", "Forecast skill")
    skill = record.metrics.get("forecast") or {}
    model = skill.get("model") or {}
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
        section.add("table", _skill_table(record, skill))
        part = held_out(record)
        if part is not None and (part.get("forecast") or {}).get("model"):
            section.add("heading", f"Held-out part, from {part['from']}")
            section.add("table", _skill_table(record, part["forecast"]))
        section.add(
            "note",
            f"Returns over the {record.settings.horizon}-day horizon, scored at each "
            "forecast date against what followed. Baseline: historical mean with a "
            "Ledoit-Wolf covariance. IC t-statistics ignore the overlap of horizons "
            "and overstate significance. Gaussian NLL: negative log-likelihood of "
            "the realised returns under the forecast mean and covariance. QLIKE "
            "(Patton 2011): loss of the minimum-variance portfolio's variance "
            "forecast against its squared realised return, 0 if exact. "
            "Diebold-Mariano test of squared errors: model against the baseline, "
            "baseline against the historical mean.",
        )
        section.add("plot", plot_information_coefficient(record.forecast_skill))
    else:
        section.add(
            "note",
            "The run has no model forecaster (neither lstm_mvo nor lstm_bl was "
            "configured): return forecasts are not scored.",
        )
    uncertainty = _uncertainty_table(record)
    if uncertainty is not None:
        section.add("heading", "Forecast uncertainty")
        section.add("table", uncertainty)
        section.add(
            "note",
            "mu_std: the forecaster's standard error of its "
            f"{record.settings.horizon}-day expected returns (an ensemble's spread "
            "of member means, calibrated on the training window); lstm_bl weighs "
            "each view by it. Ratio: median mu_std over median |mu|; above 1 the "
            "typical forecast is smaller than its own uncertainty.",
        )
    section.add("heading", "Predicted against realised volatility")
    calibration = _calibration(record)
    if calibration:
        section.add(
            "plot",
            plot_volatility_calibration(calibration, record.main, _run_styles(record)),
        )
        section.add("table", calibration_table(calibration))
    else:
        section.add("note", "No strategy has a predicted volatility to compare.")
    return section


def _beat_one_over_n(summary: dict[str, Any]) -> bool | None:
    """Whether the difference test says the strategy beat 1/N; None if untested."""
    p_value = finite(summary.get("sharpe_diff_pvalue"))
    if p_value is None:
        return None
    difference = finite(summary.get("sharpe_diff_vs_equal_weight")) or 0.0
    return p_value < SIGNIFICANCE_LEVEL and difference > 0.0


def _verdict(name: str, summary: dict[str, Any], one_over_n: dict[str, Any]) -> str:
    """Did ``name`` beat 1/N? The answer first, then the test behind it."""
    sharpe = FORMATS["ratio"](summary.get("sharpe"))
    reference = FORMATS["ratio"](one_over_n.get("sharpe"))
    p_value = finite(summary.get("sharpe_diff_pvalue"))
    method = summary.get("sharpe_diff_method")
    test = _TEST_NAMES.get(method, method)
    level = f"{SIGNIFICANCE_LEVEL:.0%}"
    if p_value is None:
        return (
            f"Not known: the Sharpe ratios of {name} ({sharpe}) and 1/N "
            f"({reference}) could not be compared (identical or constant returns)."
        )
    shown = format_pvalue(p_value)
    evidence = f"p {shown if shown.startswith('<') else '= ' + shown}, {test}"
    difference = finite(summary.get("sharpe_diff_vs_equal_weight")) or 0.0
    direction = "higher" if difference > 0 else "lower"
    if p_value < SIGNIFICANCE_LEVEL and difference > 0:
        answer, tail = f"Yes: {name} beat 1/N.", "and the difference is significant"
    elif p_value < SIGNIFICANCE_LEVEL:
        answer = f"No: {name} did worse than 1/N."
        tail = "and the difference is significant"
    else:
        answer = f"No: {name} did not beat 1/N beyond chance."
        tail = "but the difference is not significant"
    return (
        f"{answer} Its Sharpe ratio ({sharpe}) is {direction} than 1/N's "
        f"({reference}), {tail} at the {level} level ({evidence})."
    )


def _dsr_verdict(name: str, summary: dict[str, Any], trials: int) -> str | None:
    """What the DSR of ``name`` says, and that it says nothing about 1/N."""
    dsr = finite(summary.get("dsr"))
    if dsr is None:
        return None
    bar = 1.0 - SIGNIFICANCE_LEVEL
    if dsr >= bar:
        text = (
            f"{name}'s DSR is {dsr:.2f} (at least {bar:.2f}): its Sharpe ratio is "
            f"above zero at the {SIGNIFICANCE_LEVEL:.0%} level even after deflating "
            f"for the {trials} strategies of this run."
        )
        if _beat_one_over_n(summary) is False:
            text += (
                f" That is not evidence that {name} beat 1/N, a question the DSR "
                "does not ask."
            )
        return text
    return (
        f"{name}'s DSR is {dsr:.2f} (below {bar:.2f}): after deflating for the "
        f"{trials} strategies of this run, its Sharpe ratio is not shown to be above "
        f"zero at the {SIGNIFICANCE_LEVEL:.0%} level."
    )


def _significance_verdicts(
    summaries: Mapping[str, Mapping[str, Any]],
    names: list[str],
    main: str,
    *,
    one_over_n: str | None,
    benchmark: str | None,
) -> list[str]:
    """The answer to "did it beat 1/N?" first, then what each test asks.

    ``one_over_n`` names the 1/N strategy every test compares with, ``benchmark``
    the untraded index (not a trial of the deflated Sharpe ratio).
    """
    reference = summaries.get(one_over_n) if one_over_n is not None else None
    trials = len([name for name in names if name != benchmark])
    if reference is None:
        verdicts = [
            f"The run has no {one_over_n or '1/N'} strategy: no Sharpe ratio is "
            "tested against 1/N."
        ]
    else:
        others = [name for name in names if name not in (main, one_over_n)]
        verdicts = []
        if main in summaries and main != one_over_n:
            first = _verdict(main, summaries[main], reference)
            verdicts.append(f"Did {main} beat 1/N? {first}")
        verdicts += [
            _verdict(name, summaries[name], reference)
            for name in others
            if name in summaries
        ]
    verdicts.append(
        "Each test asks its own question. The Sharpe-difference test asks whether "
        "a strategy's Sharpe ratio differs from 1/N's on the same days. The PSR "
        "asks whether the Sharpe ratio is above zero, and the DSR asks the same "
        f"after allowing for picking the best of the {trials} strategies of this "
        "run; neither compares with 1/N."
    )
    dsr = _dsr_verdict(main, summaries.get(main) or {}, trials)
    if dsr is not None:
        verdicts.append(dsr)
    return verdicts


def _significance_section(record: ReportInput) -> Section:
    """PSR, DSR and the Sharpe-difference test against 1/N, in plain words."""
    summaries = record.summaries
    names = _ordered(summaries, list(record.returns.columns))
    section = Section("significance", "Significance")
    main = record.main
    names_of = {"one_over_n": record.one_over_n, "benchmark": record.benchmark}
    section.verdicts = _significance_verdicts(summaries, names, main, **names_of)
    section.add("table", _significance_table(summaries, names))
    part = held_out(record)
    if part is not None and part.get("strategies"):
        held = part["strategies"]
        section.add("heading", f"Held-out part, from {part['from']}")
        held_names = _ordered(held, list(record.returns.columns))
        # The answer for the main strategy; the caveats above hold here too.
        verdicts = _significance_verdicts(held, held_names, main, **names_of)
        section.add("text", verdicts[0])
        section.add("table", _significance_table(held, held_names))
    section.add(
        "note",
        "Sharpe minus 1/N, z and p-value: two-sided test of equal Sharpe ratios "
        f"against {record.one_over_n or '1/N'} on the same days (is the strategy "
        "different from "
        "1/N?). PSR: probability that the true Sharpe ratio is above 0, given the "
        "track record's length, skewness and kurtosis (Bailey and Lopez de Prado, "
        "2012). DSR: the same probability against the Sharpe ratio that the best "
        "of the run's strategies would show by luck alone (2014); it deflates only "
        "for the strategies of this run, not for every configuration tried before "
        "it. PSR and DSR do not compare with 1/N.",
    )
    return section


def _significance_table(
    summaries: dict[str, dict[str, Any]], names: list[str]
) -> Table:
    """Sharpe, PSR, DSR and the difference test against 1/N per strategy."""
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
    return Table([*headers, "Test"], rows)


def _rebalance_section(record: ReportInput) -> Section:
    """Rebalances that did not trade: counts per strategy and the reasons."""
    rebalances = record.rebalances
    section = Section("rebalances", "Held and failed rebalances")
    counts = rebalances.groupby(["strategy", "status"]).size()
    statuses = ("traded", "held", "failed")
    rows = [
        [text_cell(name)]
        + [number_cell(counts.get((name, s), 0), "int") for s in statuses]
        for name in record.traded
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


def limitations(record: ReportInput) -> list[str]:
    """Return the caveats a reader must keep in mind, specific to the run.

    Parameters
    ----------
    record : ReportInput
        The run the report is about.

    Returns
    -------
    list of str
        One sentence each, in a fixed order.
    """
    settings, info = record.settings, record.provenance
    if settings.dataset in ("sp500", "multi_asset"):
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
        f"Costs are proportional only ({settings.cost_bps} bp of "
        "the value traded): no market impact, no spread that widens in stress, no "
        "borrow fees, taxes or financing costs.",
    ]
    if settings.risk_free == "fama_french":
        found = _RISK_FREE_END.search(str(info.get("risk_free", "")))
        if found and str(info.get("end", ""))[:7] > found.group(1):
            items.append(
                "The risk-free rate (Fama-French one-month T-bill) ends in "
                f"{found.group(1)}; later days carry its last rate forward."
            )
    if settings.cash is False:
        items.append("Weight left uninvested earns nothing (backtest.cash is off).")
    if settings.forecaster == "lstm":
        items.append(
            "The LSTM is one training run: its seed, and the number of CPU devices "
            "that split its batches, change the training path and with it the "
            "results. Sweep forecaster.train.seed (experiments/seeds.yaml) to see "
            "how far they move before reading a difference as skill."
        )
    items += [
        "One historical path: the tests assume stationary returns, and a few years "
        "of data separate Sharpe ratios only when they differ by a lot.",
        "The forecaster and its settings were chosen with the same history in view; "
        "the deflated Sharpe ratio counts only the strategies of this run.",
    ]
    return items


def _limitations_section(record: ReportInput) -> Section:
    """A short list of what the backtest does not capture."""
    section = Section("limitations", "Limitations")
    section.add("list", limitations(record))
    return section
