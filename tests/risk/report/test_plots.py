"""Report plots on runs of any length draw without warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from foliocast.risk.report import plots as report_plots

STYLES = report_plots.line_styles(["model", "index"], "model", benchmark="index")


def _monthly_run(n_rebalances: int, seed: int = 0) -> tuple[pd.DatetimeIndex, ...]:
    """Daily dates of a run and its month-apart rebalance dates."""
    days = pd.bdate_range("2016-01-29", periods=21 * n_rebalances + 1)
    return days, days[::21][:n_rebalances]


# One rebalance, two months, and the 2.5-5 year spans for which the half-width
# calibration axis had no tick interval (matplotlib's AutoDateLocator then warns).
@pytest.mark.parametrize("n_rebalances", [1, 2, 31, 36, 42, 48, 57, 240])
def test_calibration_plot_has_a_date_locator_for_every_span(n_rebalances):
    _, rebalances = _monthly_run(n_rebalances)
    rng = np.random.default_rng(n_rebalances)
    table = pd.DataFrame(
        {
            "predicted": rng.uniform(0.1, 0.2, n_rebalances),
            "realised": rng.uniform(0.1, 0.2, n_rebalances),
        },
        index=rebalances,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot = report_plots.plot_volatility_calibration(
            {"model": table}, "model", STYLES
        )
    assert plot.uri.startswith("data:image/png;base64,")


def test_every_plot_of_a_two_month_run_draws_without_warnings():
    days, rebalances = _monthly_run(2)
    rng = np.random.default_rng(42)
    returns = pd.DataFrame(
        rng.normal(0.0, 0.01, (len(days), 2)), index=days, columns=["model", "index"]
    )
    rows = pd.DataFrame(
        {"date": rebalances, "strategy": "model", "turnover": 0.1, "cost": 1e-3}
    )
    weights = pd.DataFrame(
        {"date": rebalances, "strategy": "model", "asset": "AAA", "weight": 1.0}
    )
    skill = pd.DataFrame(
        {"ic": rng.normal(0, 0.1, 2), "rank_ic": rng.normal(0, 0.1, 2)},
        index=rebalances,
    )
    calibration = pd.DataFrame(
        {"predicted": [0.15, 0.16], "realised": [0.14, 0.2]}, index=rebalances
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots = [
            report_plots.plot_equity(returns, STYLES),
            report_plots.plot_underwater(returns, "model", STYLES),
            report_plots.plot_weights(weights, "model", days[-1]),
            report_plots.plot_turnover(rows, ["model"], STYLES),
            report_plots.plot_effective_assets(
                pd.DataFrame({"model": [1.0, 1.0]}, index=rebalances), STYLES
            ),
            report_plots.plot_information_coefficient(skill),
            report_plots.plot_volatility_calibration(
                {"model": calibration}, "model", STYLES
            ),
        ]
    assert all(plot is not None for plot in plots)
    # Too short for a twelve-month rolling window: left out, not drawn empty.
    risk_free = pd.Series(0.0, index=days)
    assert report_plots.plot_rolling(returns, risk_free, STYLES) is None
