"""The tracking-error section: how far each strategy strays from the run's benchmark.

The benchmark is the run's benchmark portfolio (``settings.optimizer["benchmark"]``:
``equal_weight``, 1/N of the investable assets at each rebalance, or weights from a
file), held from one rebalance to the next: the portfolio that the
``tracking_error`` and ``active_utility`` objectives measure against. Not to be
confused with the benchmark index (``ReportInput.benchmark``), whose tracking error
is in the performance metrics.

Two measures per strategy: the realised tracking error (``active_tracking_error`` of
the summaries: annualised standard deviation of the daily return minus the
benchmark's) and the ex-ante one at each rebalance (``predicted_te`` of the
rebalances, ``sqrt((w - b)' Sigma (w - b))`` with the covariance that measured the
strategy's ex-ante risk that day, over the forecast horizon, annualised here by
``sqrt(252 / horizon)``; ``ex_ante_tracking_error`` of the summaries is its mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from foliocast.risk.report.plots import plot_tracking_error
from foliocast.risk.report.record import ReportInput
from foliocast.risk.report.sections import (
    Section,
    _annualiser,
    _ordered,
    _run_styles,
)
from foliocast.risk.report.tables import Table, finite, number_cell, text_cell

__all__ = ["benchmark_text", "ex_ante_tracking", "tracking_section"]


def benchmark_text(optimizer: Mapping[str, Any]) -> str:
    """The run's benchmark portfolio in words, from the optimizer settings."""
    source = optimizer.get("benchmark", "equal_weight")
    if isinstance(source, Mapping) and source.get("path"):
        return (
            f"the weights in {source['path']}, restricted to the assets investable "
            "at each rebalance and rescaled to add up to 1"
        )
    return "1/N of the assets investable at each rebalance"


def ex_ante_tracking(record: ReportInput) -> pd.DataFrame:
    """Annualised ex-ante tracking error at each rebalance, one column a strategy.

    Empty when the rebalances hold no ``predicted_te`` (runs written before it).
    """
    rebalances = record.rebalances
    if "predicted_te" not in rebalances.columns:
        return pd.DataFrame()
    scale = _annualiser(record)
    columns = {}
    for name in record.traded:
        own = rebalances[rebalances["strategy"] == name].sort_values("date")
        predicted = own.set_index("date")["predicted_te"].astype(float) * scale
        if np.isfinite(predicted.to_numpy()).any():
            columns[name] = predicted
    return pd.DataFrame(columns)


def tracking_section(record: ReportInput) -> Section:
    """Realised and ex-ante tracking error of every strategy to the benchmark."""
    section = Section("tracking", "Tracking error to the benchmark portfolio")
    benchmark = benchmark_text(record.settings.optimizer or {})
    ex_ante = ex_ante_tracking(record)
    summaries = record.summaries
    names = [
        name
        for name in _ordered(record.traded, list(record.returns.columns))
        if finite((summaries.get(name) or {}).get("active_tracking_error")) is not None
        or name in ex_ante.columns
    ]
    if not names:
        section.add(
            "note",
            "No tracking error to a benchmark portfolio was recorded (run folders "
            "written before it was measured have none; rerun the backtest).",
        )
        return section
    section.add(
        "text",
        f"The benchmark portfolio is {benchmark}, held from one rebalance to the "
        "next without costs. Realised: the annualised standard deviation of the "
        "daily return minus the benchmark's. Ex ante: sqrt((w - b)' Sigma (w - b)) "
        "of the target weights w and the benchmark weights b with the covariance "
        "forecast used at the rebalance, annualised.",
    )
    rows = []
    for name in names:
        summary = summaries.get(name) or {}
        predicted = ex_ante[name].dropna() if name in ex_ante else pd.Series([])
        rows.append(
            [
                text_cell(name),
                number_cell(summary.get("active_tracking_error"), "pct2"),
                number_cell(predicted.mean() if len(predicted) else None, "pct2"),
                number_cell(predicted.iloc[-1] if len(predicted) else None, "pct2"),
            ]
        )
    headers = ["Strategy", "Realised", "Ex ante (mean)", "Ex ante (last)"]
    section.add("table", Table(headers, rows))
    if not ex_ante.empty:
        section.add(
            "plot",
            plot_tracking_error(
                ex_ante[[n for n in names if n in ex_ante]], _run_styles(record)
            ),
        )
    return section
