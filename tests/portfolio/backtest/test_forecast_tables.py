"""Saved forecasts give back every forecast covariance, B B^T + diag(d)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from foliocast.data import load_dataset, rebalance_schedule
from foliocast.forecasting.baselines import make_forecaster
from foliocast.forecasting.evaluation import evaluate_forecasts
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.backtest.engine import ForecastBook, run_backtest
from foliocast.portfolio.backtest.forecast_tables import (
    factor_form,
    forecast_from_tables,
    forecast_tables,
)
from foliocast.portfolio.backtest.runfolder import load_run, save_run
from foliocast.portfolio.backtest.strategies import EqualWeight
from foliocast.portfolio.config import config_from_dict

HORIZON = 5
TICKERS = ["AAPL", "AMD", "BAC", "KO", "XOM"]


@dataclass
class SeededFactors:
    """A factor-model forecaster: seeded loadings and idiosyncratic variances."""

    horizon: int = HORIZON

    def fit(self, prices: pd.DataFrame) -> SeededFactors:
        return self

    def predict(self, prices: pd.DataFrame) -> Forecast:
        rng = np.random.default_rng(len(prices))
        tickers = prices.columns
        n = len(tickers)
        return Forecast.from_factors(
            prices.index[-1],
            self.horizon,
            pd.Series(rng.normal(0.0, 0.01, n), index=tickers),
            pd.DataFrame(
                rng.normal(0.0, 0.03, (n, 2)),
                index=tickers,
                columns=["factor_1", "factor_2"],
            ),
            pd.Series(rng.uniform(1e-4, 1e-3, n), index=tickers),
            mu_std=pd.Series(rng.uniform(1e-3, 1e-2, n), index=tickers),
        )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A short backtest with a factor and a plain-covariance forecaster, saved."""
    prices = load_dataset("sp500")[TICKERS].loc["2018-01-01":"2019-06-30"]
    schedule = rebalance_schedule(prices.index, "M", start="2019-01-01")
    book = ForecastBook(
        {
            "model": SeededFactors(),
            "ledoit_wolf": make_forecaster(
                "ledoit_wolf", horizon=HORIZON, lookback=200
            ),
        }
    )
    result = run_backtest(
        prices,
        [EqualWeight(), EqualWeight(name="model_weighted", forecaster="model")],
        book,
        schedule,
        min_history=100,
        risk_model="ledoit_wolf",
    )
    folder = tmp_path_factory.mktemp("tables") / "run"
    folder.mkdir()
    save_run(
        folder,
        config=config_from_dict({"name": "tables"}),
        result=result,
        metrics={"strategies": {}},
        forecast_skill=pd.DataFrame(),
        risk_free=pd.Series(0.0, index=result.returns.index),
        assets=pd.DataFrame({"asset": TICKERS}),
    )
    assert len(schedule) >= 4
    return book.history, load_run(folder), prices, schedule


def _rebuilt_by_hand(run, forecaster: str, day: pd.Timestamp) -> np.ndarray:
    """``B B^T + diag(d)`` straight from the two CSV tables."""
    forecasts = run.result.forecasts
    factors = run.result.forecast_factors
    own = forecasts[(forecasts.date == day) & (forecasts.forecaster == forecaster)]
    loadings = factors[(factors.date == day) & (factors.forecaster == forecaster)]
    b = loadings.pivot(index="asset", columns="factor", values="loading")
    b = b.reindex(own.asset).to_numpy()
    return b @ b.T + np.diag(own.idio.to_numpy())


def test_saved_loadings_and_idio_give_back_every_covariance(saved):
    history, run, _, schedule = saved
    names = {name for name, _ in history}
    assert names == {"model", "ledoit_wolf"}
    assert len(history) == 2 * len(schedule)  # two forecasters, each month-end
    for name, forecast in history:
        expected = forecast.cov.to_numpy()
        day = pd.Timestamp(forecast.as_of)
        np.testing.assert_allclose(
            _rebuilt_by_hand(run, name, day), expected, rtol=1e-9, atol=1e-16
        )
        rebuilt = forecast_from_tables(
            run.result.forecasts,
            run.result.forecast_factors,
            day,
            name,
            horizon=HORIZON,
        )
        assert list(rebuilt.tickers) == TICKERS
        np.testing.assert_allclose(rebuilt.cov.to_numpy(), expected, rtol=1e-9)
        np.testing.assert_allclose(rebuilt.mu.to_numpy(), forecast.mu.to_numpy())


def test_a_factor_model_is_saved_with_its_own_factors(saved):
    history, run, _, _ = saved
    factors = run.result.forecast_factors
    model = factors[factors.forecaster == "model"]
    assert set(model.factor) == {"factor_1", "factor_2"}
    name, forecast = next(item for item in history if item[0] == "model")
    own = run.result.forecasts
    own = own[(own.forecaster == name) & (own.date == forecast.as_of)]
    np.testing.assert_allclose(own.idio, forecast.idio.to_numpy(), rtol=1e-11)
    np.testing.assert_allclose(own.vol, forecast.volatility.to_numpy(), rtol=1e-11)
    dense = factors[factors.forecaster == "ledoit_wolf"]
    assert set(dense.factor) <= {f"pc_{j}" for j in range(1, len(TICKERS) + 1)}


def test_forecast_scores_can_be_recomputed_from_the_run_folder(saved):
    history, run, prices, _ = saved
    for name in ("model", "ledoit_wolf"):
        originals = [f for n, f in history if n == name]
        rebuilt = [
            forecast_from_tables(
                run.result.forecasts,
                run.result.forecast_factors,
                f.as_of,
                name,
                horizon=HORIZON,
            )
            for f in originals
        ]
        before = evaluate_forecasts(originals, prices).summary
        after = evaluate_forecasts(rebuilt, prices).summary
        for key in ("gaussian_nll_mean", "minvar_qlike_mean"):
            assert after[key] == pytest.approx(before[key], rel=1e-8), (name, key)


def test_factor_form_of_a_plain_covariance_is_exact():
    rng = np.random.default_rng(42)
    a = rng.normal(size=(4, 4))
    tickers = list("ABCD")
    cov = pd.DataFrame(a @ a.T, tickers, tickers)
    forecast = Forecast(pd.Timestamp("2020-01-02"), 5, pd.Series(0.0, tickers), cov)
    loadings, idio = factor_form(forecast)
    b = loadings.to_numpy()
    np.testing.assert_allclose(b @ b.T + np.diag(idio), cov.to_numpy(), atol=1e-12)
    assert (idio == 0.0).all()


def test_an_unknown_forecast_is_a_clear_error(saved):
    _, run, _, _ = saved
    with pytest.raises(KeyError, match="no forecast of 'model' on 2001-01-02"):
        forecast_from_tables(
            run.result.forecasts,
            run.result.forecast_factors,
            "2001-01-02",
            "model",
            horizon=HORIZON,
        )


def test_mu_std_is_saved_and_read_back(saved):
    history, run, _, _ = saved
    forecasts = run.result.forecasts
    assert forecasts[forecasts.forecaster == "ledoit_wolf"].mu_std.isna().all()
    for name, forecast in history:
        rebuilt = forecast_from_tables(
            forecasts,
            run.result.forecast_factors,
            forecast.as_of,
            name,
            horizon=HORIZON,
        )
        if name == "ledoit_wolf":
            assert forecast.mu_std is None and rebuilt.mu_std is None
        else:
            np.testing.assert_allclose(
                rebuilt.mu_std.to_numpy(), forecast.mu_std.to_numpy(), rtol=1e-11
            )
            assert rebuilt.mu_std.index.equals(forecast.mu.index)


def test_tables_written_before_mu_std_still_load(saved):
    history, run, _, _ = saved
    older = run.result.forecasts.drop(columns="mu_std")
    name, forecast = next(item for item in history if item[0] == "model")
    rebuilt = forecast_from_tables(
        older, run.result.forecast_factors, forecast.as_of, name, horizon=HORIZON
    )
    assert rebuilt.mu_std is None
    np.testing.assert_allclose(rebuilt.mu.to_numpy(), forecast.mu.to_numpy())


def test_a_forecast_shared_by_two_names_is_written_under_each_factored_once(
    monkeypatch,
):
    import foliocast.portfolio.backtest.forecast_tables as tables

    rng = np.random.default_rng(42)
    tickers = list("ABCDE")
    a = rng.normal(size=(5, 5))
    shared = Forecast(
        pd.Timestamp("2020-01-02"),
        21,
        pd.Series(rng.normal(size=5), tickers),
        pd.DataFrame(a @ a.T, tickers, tickers),
    )
    calls = []

    def counted(forecast):
        calls.append(forecast)
        return factor_form(forecast)

    monkeypatch.setattr(tables, "factor_form", counted)
    forecasts, factors = tables.forecast_tables(
        [("ledoit_wolf", shared), ("model", shared)]
    )
    assert calls == [shared]
    for table in (forecasts, factors):
        first = table[table.forecaster == "ledoit_wolf"].drop(columns="forecaster")
        second = table[table.forecaster == "model"].drop(columns="forecaster")
        pd.testing.assert_frame_equal(
            first.reset_index(drop=True), second.reset_index(drop=True)
        )
    rebuilt = forecast_from_tables(
        forecasts, factors, "2020-01-02", "model", horizon=21
    )
    np.testing.assert_allclose(rebuilt.cov.to_numpy(), a @ a.T, atol=1e-12)
    assert len(factors) == 2 * 5 * 5


def test_tables_hold_one_row_per_asset_and_factor_in_history_order():
    rng = np.random.default_rng(7)
    tickers = ["AAA", "BBB", "CCC"]
    a = rng.normal(size=(3, 3))
    plain = Forecast(
        pd.Timestamp("2021-03-01"),
        21,
        pd.Series(rng.normal(size=3), tickers),
        pd.DataFrame(a @ a.T, tickers, tickers),
    )
    factored = Forecast.from_factors(
        as_of=pd.Timestamp("2021-04-01"),
        horizon=21,
        mu=pd.Series(rng.normal(size=2), tickers[:2]),
        factors=pd.DataFrame(rng.normal(size=(2, 2)), tickers[:2], ["f1", "f2"]),
        idio=pd.Series([0.1, 0.2], tickers[:2]),
    )
    history = [("model", factored), ("ledoit_wolf", plain), ("model", plain)]
    _, factors = forecast_tables(history)
    expected = []
    for name, forecast in history:
        loadings, _ = factor_form(forecast)
        for asset in forecast.tickers:
            for factor in loadings.columns:
                row = (forecast.as_of, name, asset, factor, loadings.loc[asset, factor])
                expected.append(row)
    expected = pd.DataFrame(expected, columns=list(factors.columns))
    text = {"forecaster": str, "asset": str, "factor": str}
    assert all(factors[c].dtype == "category" for c in text)  # a string a row is GBs
    pd.testing.assert_frame_equal(factors.astype(text), expected.astype(text))
