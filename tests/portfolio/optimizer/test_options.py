"""The options record: one declaration of the settings, taken as record or keywords."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.optimizer.markowitz import (
    MarkowitzOptions,
    efficient_frontier,
    markowitz,
    optimize,
    optimize_forecast,
)
from tests.portfolio.conftest import factor_problem


def test_a_record_and_keywords_give_the_same_weights():
    mu, cov, b, d = factor_problem(10, seed=200)
    settings = {
        "objective": "target_return",
        "target": 0.09,
        "constraints": {"max_weight": 0.3},
        "solvers": ["clarabel"],
    }
    by_keywords = optimize(mu, cov, **settings)
    by_record = optimize(mu, cov, MarkowitzOptions(**settings))
    np.testing.assert_array_equal(by_keywords, by_record)
    forecast = Forecast.from_factors(pd.Timestamp("2020-01-31"), 21, mu, b, d)
    from_forecast = optimize_forecast(forecast, MarkowitzOptions(**settings))
    np.testing.assert_allclose(from_forecast, by_record, atol=1e-7)


def test_keywords_replace_the_fields_of_a_record():
    mu, cov, _, _ = factor_problem(10, seed=201)
    record = MarkowitzOptions(objective="min_variance", constraints={"max_weight": 0.3})
    utility = markowitz(mu, cov, record, objective="utility", risk_aversion=2.0)
    assert utility.objective == "utility"
    expected = optimize(mu, cov, risk_aversion=2.0, constraints={"max_weight": 0.3})
    np.testing.assert_array_equal(utility.weights, expected)
    assert record.objective == "min_variance"  # the record is not changed


def test_unknown_settings_and_wrong_records_are_named():
    mu, cov, _, _ = factor_problem(4, seed=202)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['gama'\]"):
        optimize(mu, cov, gama=2.0)
    with pytest.raises(TypeError, match="options must be a MarkowitzOptions, got dict"):
        optimize(mu, cov, {"objective": "utility"})
    with pytest.raises(TypeError, match="fast_path must be True or False"):
        optimize(mu, cov, fast_path="no")


def test_the_frontier_sets_its_own_objective():
    mu, cov, _, _ = factor_problem(6, seed=203)
    with pytest.raises(TypeError, match=r"efficient_frontier sets \['objective'\]"):
        efficient_frontier(mu, cov, 3, objective="utility")
    # A record made for optimize() serves: its objective and costs are not used.
    record = MarkowitzOptions(
        objective="max_sharpe", risk_free_rate=0.01, constraints={"max_weight": 0.4}
    )
    frontier = efficient_frontier(mu, cov, 4, record)
    plain = efficient_frontier(mu, cov, 4, constraints={"max_weight": 0.4})
    np.testing.assert_array_equal(frontier.weights, plain.weights)
