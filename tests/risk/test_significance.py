import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from foliocast.risk.metrics import sharpe_ratio
from foliocast.risk.significance import (
    EULER_MASCHERONI,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_stats,
    expected_max_sharpe,
    newey_west_lags,
    probabilistic_sharpe_ratio,
    probabilistic_sharpe_ratio_from_stats,
    sharpe_difference_test,
    trial_sharpe_variance,
)


def reference_dsr(
    excess: np.ndarray, n_trials: int, annual_variance: float, ppy: int = 252
) -> float:
    """The deflated Sharpe ratio of Bailey & Lopez de Prado (2014), written out.

    ``excess`` are per-period excess returns; ``annual_variance`` is the variance of
    the trials' *annualised* Sharpe ratios. The paper's formula is in per-period
    units, so the variance is divided by ``ppy``:

    - ``SR = mean / std(ddof=1)``, ``g3`` and ``g4`` the moment skewness and (raw)
      kurtosis;
    - ``E[max of N standard normals] ~ (1 - gamma) Phi^-1(1 - 1/N)
      + gamma Phi^-1(1 - 1/(N e))``, ``gamma`` the Euler-Mascheroni constant;
    - ``SR0 = sqrt(V) E[max]``;
    - ``DSR = Phi((SR - SR0) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))``.
    """
    n_obs = excess.size
    sr = excess.mean() / excess.std(ddof=1)
    centred = excess - excess.mean()
    m2 = np.mean(centred**2)
    g3 = np.mean(centred**3) / m2**1.5
    g4 = np.mean(centred**4) / m2**2
    gamma = 0.5772156649015329
    expected_max = (1 - gamma) * stats.norm.ppf(1 - 1 / n_trials) + gamma * (
        stats.norm.ppf(1 - 1 / (n_trials * math.e))
    )
    sr0 = math.sqrt(annual_variance / ppy) * expected_max
    denominator = math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(stats.norm.cdf((sr - sr0) * math.sqrt(n_obs - 1) / denominator))


@pytest.fixture(scope="module")
def daily() -> pd.Series:
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2012-01-01", periods=1500)
    return pd.Series(rng.standard_t(5, dates.size) * 0.008 + 0.0005, index=dates)


def _pair(
    rng: np.random.Generator, n: int, means: tuple[float, float], rho: float
) -> tuple[pd.Series, pd.Series]:
    cov = 1e-4 * np.array([[1.0, rho], [rho, 1.0]])
    draws = rng.multivariate_normal(means, cov, size=n)
    dates = pd.bdate_range("2000-01-03", periods=n)
    return pd.Series(draws[:, 0], index=dates), pd.Series(draws[:, 1], index=dates)


# --- probabilistic Sharpe ratio ---------------------------------------------------


def test_psr_is_one_half_at_the_observed_sharpe(daily: pd.Series) -> None:
    observed = sharpe_ratio(daily)
    assert probabilistic_sharpe_ratio(
        daily, benchmark_sharpe=observed
    ) == pytest.approx(0.5)


def test_psr_pinned_normal_case() -> None:
    # Per-period SR 0.1 from 101 normal returns against 0:
    # z = 0.1 * sqrt(100) / sqrt(1 - 0 + (3 - 1) / 4 * 0.01) = 1 / sqrt(1.005).
    expected = stats.norm.cdf(1.0 / math.sqrt(1.005))
    assert probabilistic_sharpe_ratio_from_stats(0.1, n_obs=101) == pytest.approx(
        expected
    )


def test_psr_from_returns_uses_moment_skew_and_kurtosis(daily: pd.Series) -> None:
    r = daily.to_numpy()
    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r)  # biased moment estimators, as in the paper
    g4 = stats.kurtosis(r, fisher=False)
    z = sr * math.sqrt(r.size - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert probabilistic_sharpe_ratio(daily) == pytest.approx(stats.norm.cdf(z))


def test_psr_penalises_negative_skew_and_fat_tails() -> None:
    normal = probabilistic_sharpe_ratio_from_stats(0.08, n_obs=500)
    ugly = probabilistic_sharpe_ratio_from_stats(
        0.08, n_obs=500, skew=-2.0, excess_kurtosis=10.0
    )
    assert 0.5 < ugly < normal


def test_psr_of_flat_returns_is_nan() -> None:
    flat = pd.Series(0.001, index=pd.bdate_range("2020-01-01", periods=30))
    assert math.isnan(probabilistic_sharpe_ratio(flat))


# --- deflated Sharpe ratio --------------------------------------------------------


def test_dsr_reproduces_bailey_lopez_de_prado_2014_example() -> None:
    # Their numerical example: annualised SR 2.5 over 5 years of daily returns
    # (T = 1250, 250 days a year), skew -3, kurtosis 10 (excess 7), N = 100
    # trials whose annualised Sharpe ratios have variance 0.5. In daily units
    # SR = 2.5 / sqrt(250) and V = 0.5 / 250. The expected maximum is
    # sqrt(V) * (0.4228 * Phi^-1(0.99) + 0.5772 * Phi^-1(1 - 1/(100 e))), about
    # 1.79 annualised; the paper reports DSR = 0.9004.
    dsr = deflated_sharpe_ratio_from_stats(
        2.5 / math.sqrt(250),
        n_obs=1250,
        n_trials=100,
        sharpe_variance=0.5 / 250,
        skew=-3.0,
        excess_kurtosis=7.0,
    )
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    assert expected_max_sharpe(100, 0.5) == pytest.approx(1.7894, abs=1e-4)


def test_expected_max_sharpe_approximates_the_maximum_of_normals() -> None:
    rng = np.random.default_rng(42)
    simulated = rng.standard_normal((20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, 1.0) == pytest.approx(simulated, rel=0.02)
    assert expected_max_sharpe(1, 1.0) == 0.0
    assert EULER_MASCHERONI == pytest.approx(np.euler_gamma)


def test_dsr_decreases_with_the_number_of_trials(daily: pd.Series) -> None:
    values = [
        deflated_sharpe_ratio(daily, n_trials=n, sharpe_variance=0.25)
        for n in (1, 2, 5, 20, 100, 1000)
    ]
    assert np.all(np.diff(values) < 0)
    # One trial means no selection: the DSR is the PSR against zero.
    assert values[0] == pytest.approx(probabilistic_sharpe_ratio(daily))


@pytest.mark.parametrize("n_trials, annual_variance", [(2, 0.05), (5, 0.3), (50, 1.0)])
def test_dsr_matches_the_formula_written_out(
    daily: pd.Series, n_trials: int, annual_variance: float
) -> None:
    rf = pd.Series(0.0001, index=daily.index)
    excess = (daily - rf).to_numpy()
    expected = reference_dsr(excess, n_trials, annual_variance)
    dsr = deflated_sharpe_ratio(
        daily, n_trials=n_trials, sharpe_variance=annual_variance, rf=rf
    )
    assert dsr == pytest.approx(expected, rel=1e-12)
    # The variance is annualised: passing the per-period one deflates far less.
    too_lenient = reference_dsr(excess, n_trials, annual_variance / 252)
    assert expected < too_lenient


def test_trial_sharpe_variance_is_the_sample_variance_of_finite_sharpes() -> None:
    assert trial_sharpe_variance([0.5, 0.9, np.nan, 0.1]) == pytest.approx(
        np.var([0.5, 0.9, 0.1], ddof=1)
    )
    assert trial_sharpe_variance([0.7]) == 0.0
    assert trial_sharpe_variance([]) == 0.0


def test_dsr_argument_checks(daily: pd.Series) -> None:
    with pytest.raises(ValueError, match="n_trials"):
        deflated_sharpe_ratio(daily, n_trials=0, sharpe_variance=0.1)
    with pytest.raises(ValueError, match="sharpe_variance"):
        deflated_sharpe_ratio(daily, n_trials=5, sharpe_variance=-0.1)


# --- Sharpe difference tests ------------------------------------------------------


def test_memmel_pinned_small_example() -> None:
    dates = pd.bdate_range("2024-01-01", periods=6)
    a = pd.Series([0.02, -0.01, 0.03, 0.01, -0.02, 0.02], index=dates)
    b = pd.Series([0.01, -0.02, 0.02, 0.00, -0.01, 0.01], index=dates)
    # a: mean 0.05/6 = 0.0083333, squared deviations sum 18.8333e-4, var (ddof=1)
    #    3.76667e-4, std 0.019408, SR_a = 0.42938.
    # b: mean 0.01/6 = 0.0016667, squared deviations sum 10.8333e-4, var 2.16667e-4,
    #    std 0.014720, SR_b = 0.11323.
    # Cross products sum 13.1667e-4: rho = 13.1667 / sqrt(18.8333 * 10.8333) = 0.92179.
    # Memmel: theta = (2 (1 - rho) + (SRa^2 + SRb^2 - 2 SRa SRb rho^2) / 2) / T
    #   = (0.15642 + (0.18437 + 0.01282 - 0.08262) / 2) / 6 = 0.21370 / 6 = 0.035617
    # z = (0.42938 - 0.11323) / sqrt(0.035617) = 1.6752.
    sr_a = a.mean() / a.std()
    sr_b = b.mean() / b.std()
    rho = a.corr(b)
    theta = (2 * (1 - rho) + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2)) / 6
    z = (sr_a - sr_b) / math.sqrt(theta)
    result = sharpe_difference_test(a, b)
    assert result.method == "jobson_korkie_memmel"
    assert result.statistic == pytest.approx(z)
    assert result.statistic == pytest.approx(1.6752, abs=1e-3)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert result.sharpe == pytest.approx(sharpe_ratio(a))
    assert result.benchmark_sharpe == pytest.approx(sharpe_ratio(b))
    assert result.n_obs == 6


def test_ledoit_wolf_uses_newey_west_hac() -> None:
    sandwich = pytest.importorskip("statsmodels.stats.sandwich_covariance")
    rng = np.random.default_rng(42)
    a, b = _pair(rng, 750, (0.0006, 0.0002), 0.4)
    x, y = a.to_numpy(), b.to_numpy()
    mu = np.array([x.mean(), y.mean()])
    m2 = np.array([np.mean(x**2), np.mean(y**2)])
    var = m2 - mu**2
    # Delta method on v = (mean_a, mean_b, E[a^2], E[b^2]) (Ledoit & Wolf 2008).
    gradient = np.array(
        [
            m2[0] / var[0] ** 1.5,
            -m2[1] / var[1] ** 1.5,
            -mu[0] / (2 * var[0] ** 1.5),
            mu[1] / (2 * var[1] ** 1.5),
        ]
    )
    moments = np.column_stack([x - mu[0], y - mu[1], x**2 - m2[0], y**2 - m2[1]])
    lags = newey_west_lags(x.size)
    psi = sandwich.S_hac_simple(moments, nlags=lags) / x.size
    difference = mu[0] / np.sqrt(var[0]) - mu[1] / np.sqrt(var[1])
    expected = difference / np.sqrt(gradient @ psi @ gradient / x.size)
    result = sharpe_difference_test(a, b, method="ledoit_wolf")
    assert result.method == "ledoit_wolf_hac"
    assert result.statistic == pytest.approx(expected)


def test_ledoit_wolf_agrees_with_memmel_for_iid_normal_returns() -> None:
    # Memmel's variance is the delta-method variance under normality, so on a
    # long i.i.d. normal sample the two statistics nearly coincide.
    rng = np.random.default_rng(42)
    a, b = _pair(rng, 5000, (0.0006, 0.0003), 0.6)
    memmel = sharpe_difference_test(a, b).statistic
    lw = sharpe_difference_test(a, b, method="ledoit_wolf", lags=0).statistic
    assert lw == pytest.approx(memmel, rel=0.03)


@pytest.mark.parametrize("method", ["memmel", "ledoit_wolf"])
def test_size_under_the_null(method: str) -> None:
    # Equal Sharpe ratios: a 5% test should reject about 5% of the time.
    rng = np.random.default_rng(42)
    rejections = [
        sharpe_difference_test(*_pair(rng, 500, (5e-4, 5e-4), 0.5), method=method)
        for _ in range(200)
    ]
    rate = np.mean([r.p_value < 0.05 for r in rejections])
    assert 0.01 <= rate <= 0.11


def test_power_and_one_sided_alternatives() -> None:
    rng = np.random.default_rng(42)
    a, b = _pair(rng, 2500, (0.0015, 0.0), 0.5)
    two_sided = sharpe_difference_test(a, b)
    assert two_sided.statistic > 0 and two_sided.p_value < 0.01
    greater = sharpe_difference_test(a, b, alternative="greater")
    assert greater.p_value == pytest.approx(two_sided.p_value / 2)
    less = sharpe_difference_test(a, b, alternative="less")
    assert less.p_value == pytest.approx(1 - greater.p_value)


def test_identical_strategies_give_nan_not_an_error(daily: pd.Series) -> None:
    for method in ("memmel", "ledoit_wolf"):
        result = sharpe_difference_test(daily, daily, method=method)
        assert math.isnan(result.statistic) or result.statistic == pytest.approx(0)
        json.dumps(result.to_dict())


def test_difference_test_argument_checks(daily: pd.Series) -> None:
    with pytest.raises(ValueError, match="method"):
        sharpe_difference_test(daily, daily, method="bootstrap")
    with pytest.raises(ValueError, match="share 2 dates"):
        sharpe_difference_test(daily.iloc[:2], daily)
    with pytest.raises(ValueError, match="lags"):
        sharpe_difference_test(daily, daily * 0.5, method="ledoit_wolf", lags=-1)
