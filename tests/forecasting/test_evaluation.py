"""Tests of forecast evaluation against scipy and direct numpy computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from foliocast.forecasting.evaluation import (
    diebold_mariano,
    evaluate_forecasts,
    qlike,
    realised_horizon_returns,
)
from foliocast.forecasting.forecast import Forecast

HORIZON = 5
N_ASSETS = 6


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    log_returns = rng.normal(0.0003, 0.015, size=(400, N_ASSETS))
    index = pd.bdate_range("2020-01-01", periods=400)
    columns = [f"A{i}" for i in range(N_ASSETS)]
    return pd.DataFrame(100 * np.exp(np.cumsum(log_returns, axis=0)), index, columns)


@pytest.fixture(scope="module")
def cov() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    loadings = rng.normal(0, 0.02, size=(N_ASSETS, 2))
    matrix = loadings @ loadings.T + np.diag(rng.uniform(1e-4, 4e-4, N_ASSETS))
    columns = [f"A{i}" for i in range(N_ASSETS)]
    return pd.DataFrame(matrix, columns, columns)


def _truth(prices: pd.DataFrame, date: pd.Timestamp, horizon: int) -> pd.Series:
    pos = prices.index.get_loc(date)
    return prices.iloc[pos + horizon] / prices.iloc[pos] - 1


def _forecasts(
    prices: pd.DataFrame,
    cov: pd.DataFrame,
    dates: pd.DatetimeIndex,
    noise: float,
    seed: int = 0,
) -> list[Forecast]:
    """Forecasts equal to the realised return plus noise (noise=0: perfect)."""
    rng = np.random.default_rng(seed)
    out = []
    for date in dates:
        mu = _truth(prices, date, HORIZON) + rng.normal(0, noise, N_ASSETS)
        out.append(Forecast(date, HORIZON, mu, cov))
    return out


@pytest.fixture(scope="module")
def monthly_dates(prices: pd.DataFrame) -> pd.DatetimeIndex:
    return prices.index[100:390:21]


def test_realised_horizon_returns(prices: pd.DataFrame) -> None:
    date = prices.index[10]
    got = realised_horizon_returns(prices, date, 3)
    expected = prices.iloc[13] / prices.iloc[10] - 1
    pd.testing.assert_series_equal(got, expected)
    assert realised_horizon_returns(prices, prices.index[-3], 3) is None
    with pytest.raises(ValueError, match="not a date of the prices"):
        realised_horizon_returns(prices, pd.Timestamp("2019-01-01"), 3)


def test_perfect_forecast(prices, cov, monthly_dates) -> None:
    result = evaluate_forecasts(_forecasts(prices, cov, monthly_dates, 0.0), prices)
    s = result.summary
    assert s["rmse"] == pytest.approx(0.0, abs=1e-15)
    assert s["mae"] == pytest.approx(0.0, abs=1e-15)
    assert s["r2_oos"] == pytest.approx(1.0)
    assert s["directional_accuracy"] == 1.0
    assert s["ic_mean"] == pytest.approx(1.0)
    assert s["rank_ic_mean"] == pytest.approx(1.0)
    assert s["n_forecasts"] == len(monthly_dates)
    assert s["n_observations"] == len(monthly_dates) * N_ASSETS


def test_pooled_errors_ic_and_r2_match_direct_computation(
    prices, cov, monthly_dates
) -> None:
    forecasts = _forecasts(prices, cov, monthly_dates, 0.02)
    result = evaluate_forecasts(forecasts, prices)
    daily = prices.pct_change()
    errors, bench_errors, hits = [], [], []
    for f in forecasts:
        r = _truth(prices, f.as_of, HORIZON)
        # Campbell-Thompson benchmark: expanding mean daily return, compounded.
        bench = (1 + daily.loc[: f.as_of].mean()) ** HORIZON - 1
        errors.append(r - f.mu)
        bench_errors.append(r - bench)
        hits.append(np.sign(r) == np.sign(f.mu))
        row = result.per_date.loc[f.as_of]
        assert row["ic"] == pytest.approx(stats.pearsonr(f.mu, r).statistic)
        assert row["rank_ic"] == pytest.approx(stats.spearmanr(f.mu, r).statistic)
        assert row["rmse"] == pytest.approx(np.sqrt(np.mean((r - f.mu) ** 2)))
    e, eb = np.concatenate(errors), np.concatenate(bench_errors)
    s = result.summary
    assert s["rmse"] == pytest.approx(np.sqrt(np.mean(e**2)))
    assert s["mae"] == pytest.approx(np.mean(np.abs(e)))
    assert s["directional_accuracy"] == pytest.approx(np.mean(np.concatenate(hits)))
    assert s["r2_oos"] == pytest.approx(1 - (e @ e) / (eb @ eb))
    ic = result.per_date["ic"].to_numpy()
    assert s["ic_mean"] == pytest.approx(ic.mean())
    assert s["ic_tstat"] == pytest.approx(stats.ttest_1samp(ic, 0.0).statistic)


def test_benchmark_lookback_uses_trailing_window(prices, cov, monthly_dates) -> None:
    forecasts = _forecasts(prices, cov, monthly_dates, 0.02)
    result = evaluate_forecasts(forecasts, prices, benchmark_lookback=60)
    daily = prices.pct_change()
    sse_bench = 0.0
    for f in forecasts:
        pos = prices.index.get_loc(f.as_of)
        bench = (1 + daily.iloc[pos - 59 : pos + 1].mean()) ** HORIZON - 1
        sse_bench += float(((_truth(prices, f.as_of, HORIZON) - bench) ** 2).sum())
    assert result.per_date["sse_benchmark"].sum() == pytest.approx(sse_bench)


def test_gaussian_nll_and_min_variance_portfolio(prices, cov, monthly_dates) -> None:
    forecasts = _forecasts(prices, cov, monthly_dates, 0.02)
    result = evaluate_forecasts(forecasts, prices)
    sigma = cov.to_numpy()
    inv_ones = np.linalg.solve(sigma, np.ones(N_ASSETS))
    w = inv_ones / inv_ones.sum()
    realised = []
    for f in forecasts:
        r = _truth(prices, f.as_of, HORIZON)
        row = result.per_date.loc[f.as_of]
        nll = -stats.multivariate_normal(f.mu.to_numpy(), sigma).logpdf(r.to_numpy())
        assert row["gaussian_nll"] == pytest.approx(nll)
        assert row["minvar_predicted_vol"] == pytest.approx(1 / np.sqrt(inv_ones.sum()))
        assert row["minvar_realised_return"] == pytest.approx(w @ r.to_numpy())
        realised.append(w @ r.to_numpy())
    s = result.summary
    assert s["minvar_realised_vol"] == pytest.approx(np.std(realised, ddof=1))
    assert s["minvar_vol_ratio"] == pytest.approx(
        np.std(realised, ddof=1) * np.sqrt(inv_ones.sum())
    )


def test_patton_qlike_of_the_min_variance_portfolio(prices, cov, monthly_dates):
    forecasts = _forecasts(prices, cov, monthly_dates, 0.02)
    result = evaluate_forecasts(forecasts, prices)
    sigma = cov.to_numpy()
    w = np.linalg.solve(sigma, np.ones(N_ASSETS))
    w /= w.sum()
    losses = []
    for f in forecasts:
        realised = (w @ _truth(prices, f.as_of, HORIZON).to_numpy()) ** 2
        predicted = w @ sigma @ w
        loss = realised / predicted - np.log(realised / predicted) - 1.0
        assert result.per_date.loc[f.as_of, "minvar_qlike"] == pytest.approx(loss)
        losses.append(loss)
    assert result.summary["minvar_qlike_mean"] == pytest.approx(np.mean(losses))
    assert "qlike_mean" not in result.summary  # the NLL is not called QLIKE


def test_qlike_is_zero_for_a_perfect_forecast_and_asymmetric():
    assert qlike(0.04, 0.04) == 0.0
    assert qlike(0.01, 0.02) == pytest.approx(0.5 - np.log(0.5) - 1.0)
    # Predicting half the variance costs more than predicting double.
    assert qlike(2.0, 1.0) > qlike(1.0, 2.0) > 0.0
    for realised, predicted in ((0.0, 1.0), (1.0, 0.0), (np.nan, 1.0), (1.0, -1.0)):
        assert math.isnan(qlike(realised, predicted))


def test_forecasts_past_the_data_are_skipped(prices, cov) -> None:
    dates = prices.index[[200, 390, 396]]  # the last two run past day 399
    forecasts = [Forecast(d, 10, pd.Series(0.0, cov.index), cov) for d in dates]
    result = evaluate_forecasts(forecasts, prices)
    assert result.summary["n_forecasts"] == 1
    assert result.summary["n_skipped"] == 2
    assert list(result.per_date.index) == [dates[0]]


def test_missing_assets_are_left_out(prices, cov, monthly_dates) -> None:
    late = prices.copy()
    late.iloc[:250, 0] = np.nan  # A0 starts trading on day 250
    result = evaluate_forecasts(_forecasts(prices, cov, monthly_dates, 0.02), late)
    counts = result.per_date["n_assets"]
    assert (counts[counts.index < late.index[250]] == N_ASSETS - 1).all()
    assert (counts[counts.index > late.index[250]] == N_ASSETS).all()
    assert np.isfinite(result.per_date["gaussian_nll"]).all()
    assert np.isfinite(result.per_date["minvar_qlike"]).all()


def test_summary_is_strict_json(prices, cov, monthly_dates) -> None:
    result = evaluate_forecasts(_forecasts(prices, cov, monthly_dates, 0.02), prices)
    text = json.dumps(result.summary, allow_nan=False)
    assert json.loads(text)["n_forecasts"] == len(monthly_dates)
    empty = evaluate_forecasts([], prices)
    json.dumps(empty.summary, allow_nan=False)
    assert empty.summary["n_forecasts"] == 0 and empty.summary["rmse"] is None


# --- Diebold-Mariano -----------------------------------------------------------


def _dm_direct(d: np.ndarray, lag: int) -> tuple[float, float]:
    """Textbook DM with Bartlett-weighted autocovariances and the HLN factor."""
    n = len(d)
    dbar = d.mean()
    gammas = [
        sum((d[t] - dbar) * (d[t - k] - dbar) for t in range(k, n)) / n
        for k in range(lag + 1)
    ]
    lrv = gammas[0] + 2 * sum(
        (1 - k / (lag + 1)) * gammas[k] for k in range(1, lag + 1)
    )
    h = lag + 1
    dm = dbar / math.sqrt(lrv / n) * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return dm, 2 * stats.t.sf(abs(dm), n - 1)


def test_dm_with_no_lag_is_the_one_sample_t_test() -> None:
    d = np.random.default_rng(42).normal(0.1, 1.0, 50)
    result = diebold_mariano(d, lag=0)
    expected = stats.ttest_1samp(d, 0.0)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)


@pytest.mark.parametrize("lag", [1, 4])
def test_dm_matches_direct_formula(lag: int) -> None:
    rng = np.random.default_rng(42)
    d = np.convolve(rng.normal(0.05, 1.0, 80), np.ones(lag + 1), mode="valid")
    result = diebold_mariano(d, lag=lag)
    dm, p = _dm_direct(d, lag)
    assert result.statistic == pytest.approx(dm)
    assert result.pvalue == pytest.approx(p)
    assert (result.n, result.lag) == (len(d), lag)


def test_dm_degenerate_inputs_give_nan() -> None:
    assert math.isnan(diebold_mariano(np.array([0.3]), lag=0).statistic)
    assert math.isnan(diebold_mariano(np.zeros(10), lag=0).statistic)


def test_dm_against_a_baseline_in_evaluation(prices, cov, monthly_dates) -> None:
    model = _forecasts(prices, cov, monthly_dates, 0.01, seed=1)
    baseline = _forecasts(prices, cov, monthly_dates, 0.03, seed=2)
    result = evaluate_forecasts(model, prices, baseline=baseline)
    d = np.array(
        [
            np.mean((_truth(prices, m.as_of, HORIZON) - m.mu) ** 2)
            - np.mean((_truth(prices, b.as_of, HORIZON) - b.mu) ** 2)
            for m, b in zip(model, baseline, strict=True)
        ]
    )
    dm, p = _dm_direct(d, 0)  # monthly forecasts over 5 days do not overlap
    s = result.summary
    assert s["dm_lag"] == 0
    assert s["dm_statistic"] == pytest.approx(dm)
    assert s["dm_pvalue"] == pytest.approx(p)
    assert s["dm_statistic"] < 0  # the less noisy model wins


def test_dm_lag_follows_overlap_of_daily_forecasts(prices, cov) -> None:
    dates = prices.index[100:160]
    result = evaluate_forecasts(_forecasts(prices, cov, dates, 0.01), prices)
    assert result.summary["dm_lag"] == HORIZON - 1


def test_missing_baseline_forecast_is_an_error(prices, cov, monthly_dates) -> None:
    model = _forecasts(prices, cov, monthly_dates, 0.01)
    with pytest.raises(ValueError, match="baseline has no forecast"):
        evaluate_forecasts(model, prices, baseline=model[1:])
