"""Is a Sharpe ratio real? Probabilistic and deflated Sharpe ratios, Sharpe differences.

All formulas work with the *per-period* Sharpe ratio ``SR = mean(r - rf) / std(r - rf)``
of ``T`` observations (``std`` with ``ddof=1``): :func:`risk.metrics.per_period_sharpe`,
the one definition, which :func:`risk.metrics.sharpe_ratio` annualises. Arguments and
results that are Sharpe ratios are *annualised* (multiplied by
``sqrt(periods_per_year)``) so they read like the summary table; they are converted
back to per-period units inside.

- Probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012):
  ``PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))``,
  the probability that the true Sharpe ratio exceeds ``SR*`` given the estimate's
  skewness ``g3`` and (raw, non-excess) kurtosis ``g4``. Here ``g3`` and ``g4`` are the
  moment (biased) estimators, as in the paper: they keep the denominator non-negative,
  since ``g4 >= 1 + g3^2`` holds for any sample.
- Deflated Sharpe ratio (Bailey & Lopez de Prado 2014): the PSR against the Sharpe
  ratio expected from the best of ``N`` unskilled trials,
  ``SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, with
  ``V`` the variance of the trials' Sharpe ratios and ``gamma`` the Euler-Mascheroni
  constant.
- Sharpe difference against a benchmark strategy (e.g. equal weight) on common dates:
  Jobson & Korkie (1981) with Memmel's (2003) correction (``method="memmel"``, assumes
  i.i.d. normal returns), or Ledoit & Wolf (2008) (``method="ledoit_wolf"``), a
  delta-method test with a heteroskedasticity and autocorrelation consistent (HAC)
  variance that does not assume normality. The HAC estimate here uses the Bartlett
  (Newey-West) kernel; the paper's preferred prewhitened quadratic-spectral kernel and
  its studentised bootstrap are not implemented.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.risk._validation import align_rf, as_return_series
from foliocast.risk.metrics import excess_returns, per_period_sharpe

__all__ = [
    "EULER_MASCHERONI",
    "SharpeTestResult",
    "probabilistic_sharpe_ratio",
    "probabilistic_sharpe_ratio_from_stats",
    "expected_max_sharpe",
    "trial_sharpe_variance",
    "deflated_sharpe_ratio",
    "deflated_sharpe_ratio_from_stats",
    "sharpe_difference_test",
    "newey_west_lags",
]

EULER_MASCHERONI = 0.5772156649015329

_NAN = float("nan")

Alternative = Literal["two-sided", "greater", "less"]


def _moments(excess: np.ndarray) -> tuple[float, float]:
    """Return the moment estimators of skewness and excess kurtosis."""
    centred = excess - excess.mean()
    m2 = np.mean(centred**2)
    skew = float(np.mean(centred**3) / m2**1.5)
    excess_kurt = float(np.mean(centred**4) / m2**2 - 3.0)
    return skew, excess_kurt


def probabilistic_sharpe_ratio_from_stats(
    sharpe: float,
    *,
    n_obs: int,
    skew: float = 0.0,
    excess_kurtosis: float = 0.0,
    benchmark_sharpe: float = 0.0,
) -> float:
    """Return the PSR from summary statistics, all Sharpe ratios *per period*.

    Parameters
    ----------
    sharpe : float
        Observed per-period Sharpe ratio.
    n_obs : int
        Number of returns it was estimated from.
    skew : float
        Skewness of the returns (0 for normal).
    excess_kurtosis : float
        Excess kurtosis of the returns (0 for normal; the paper's ``g4 - 3``).
    benchmark_sharpe : float
        Per-period Sharpe ratio to beat.

    Returns
    -------
    float
        Probability in [0, 1] that the true Sharpe ratio exceeds the benchmark; NaN
        if an input is NaN or the variance estimate is not positive.
    """
    if n_obs < 2:
        raise ValueError(f"n_obs must be at least 2, got {n_obs}")
    raw_kurtosis = excess_kurtosis + 3.0
    variance = 1.0 - skew * sharpe + (raw_kurtosis - 1.0) / 4.0 * sharpe**2
    if not np.isfinite(variance) or variance <= 0.0:
        return _NAN
    z = (sharpe - benchmark_sharpe) * np.sqrt(n_obs - 1.0) / np.sqrt(variance)
    return float(stats.norm.cdf(z))


def probabilistic_sharpe_ratio(
    returns: pd.Series,
    *,
    benchmark_sharpe: float = 0.0,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> float:
    """Return the probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns with a ``DatetimeIndex``.
    benchmark_sharpe : float
        *Annualised* Sharpe ratio to beat (0: is the Sharpe ratio positive at all?).
    rf : float or pd.Series
        Per-period risk-free return.
    periods_per_year : int
        Periods in a year, to convert ``benchmark_sharpe`` to per-period units.

    Returns
    -------
    float
        Probability in [0, 1] that the true Sharpe ratio exceeds ``benchmark_sharpe``
        (0.5 when the observed Sharpe ratio equals it); NaN with fewer than two
        returns or returns that do not vary.
    """
    excess = excess_returns(returns, rf)
    sharpe = per_period_sharpe(excess)
    if np.isnan(sharpe):
        return _NAN
    skew, excess_kurt = _moments(excess)
    return probabilistic_sharpe_ratio_from_stats(
        sharpe,
        n_obs=excess.size,
        skew=skew,
        excess_kurtosis=excess_kurt,
        benchmark_sharpe=benchmark_sharpe / np.sqrt(periods_per_year),
    )


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Return the expected maximum Sharpe ratio of ``n_trials`` unskilled trials.

    Parameters
    ----------
    n_trials : int
        Number of independent strategies or configurations tried, ``N >= 1``.
    sharpe_variance : float
        Variance of the trials' Sharpe ratios, in the units the result should have.

    Returns
    -------
    float
        ``sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, the
        Euler-Mascheroni approximation; 0 for a single trial (no selection).
    """
    if n_trials < 1 or int(n_trials) != n_trials:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials}")
    if not sharpe_variance >= 0.0:
        raise ValueError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    gamma = EULER_MASCHERONI
    quantiles = (1.0 - gamma) * stats.norm.ppf(1.0 - 1.0 / n_trials) + (
        gamma * stats.norm.ppf(1.0 - 1.0 / (n_trials * np.e))
    )
    return float(np.sqrt(sharpe_variance) * quantiles)


def trial_sharpe_variance(sharpes: Iterable[float]) -> float:
    """Return the variance of the trials' annualised Sharpe ratios, for the DSR.

    Parameters
    ----------
    sharpes : iterable of float
        *Annualised* Sharpe ratio of each trial (strategy or sweep point); NaN
        (undefined) ones are left out.

    Returns
    -------
    float
        Sample variance (``ddof=1``) of the finite Sharpe ratios, in annualised
        units as :func:`deflated_sharpe_ratio` expects; 0 with fewer than two.
    """
    values = np.asarray(list(sharpes), dtype=float)
    values = values[np.isfinite(values)]
    return float(np.var(values, ddof=1)) if values.size > 1 else 0.0


def deflated_sharpe_ratio_from_stats(
    sharpe: float,
    *,
    n_obs: int,
    n_trials: int,
    sharpe_variance: float,
    skew: float = 0.0,
    excess_kurtosis: float = 0.0,
) -> float:
    """Return the DSR from summary statistics, all Sharpe ratios *per period*.

    Parameters
    ----------
    sharpe : float
        Observed per-period Sharpe ratio of the selected strategy.
    n_obs : int
        Number of returns it was estimated from.
    n_trials : int
        Number of strategies or configurations tried.
    sharpe_variance : float
        Variance of the trials' per-period Sharpe ratios.
    skew : float
        Skewness of the selected strategy's returns.
    excess_kurtosis : float
        Excess kurtosis of the selected strategy's returns.

    Returns
    -------
    float
        ``PSR(expected_max_sharpe(n_trials, sharpe_variance))``, a probability.
    """
    return probabilistic_sharpe_ratio_from_stats(
        sharpe,
        n_obs=n_obs,
        skew=skew,
        excess_kurtosis=excess_kurtosis,
        benchmark_sharpe=expected_max_sharpe(n_trials, sharpe_variance),
    )


def deflated_sharpe_ratio(
    returns: pd.Series,
    *,
    n_trials: int,
    sharpe_variance: float,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> float:
    """Return the deflated Sharpe ratio (Bailey & Lopez de Prado 2014).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns of the strategy that was selected.
    n_trials : int
        Number of strategies or sweep points tried, the selected one included.
    sharpe_variance : float
        Variance across the trials of their *annualised* Sharpe ratios.
    rf : float or pd.Series
        Per-period risk-free return.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        Probability that the selected strategy's true Sharpe ratio exceeds the best
        one expected from ``n_trials`` unskilled trials; it falls as ``n_trials``
        grows. Equals the PSR against 0 for a single trial.
    """
    annual_threshold = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(
        returns,
        benchmark_sharpe=annual_threshold,
        rf=rf,
        periods_per_year=periods_per_year,
    )


@dataclass(frozen=True)
class SharpeTestResult:
    """Outcome of a test of equal Sharpe ratios.

    Attributes
    ----------
    method : str
        ``"jobson_korkie_memmel"`` or ``"ledoit_wolf_hac"``.
    statistic : float
        Standard-normal test statistic; positive when the strategy's Sharpe ratio
        is the higher one.
    p_value : float
        p-value for ``alternative``.
    alternative : str
        ``"two-sided"``, ``"greater"`` (strategy better) or ``"less"``.
    sharpe : float
        Annualised Sharpe ratio of the strategy on the common dates.
    benchmark_sharpe : float
        Annualised Sharpe ratio of the benchmark strategy on the common dates.
    n_obs : int
        Number of common dates.
    """

    method: str
    statistic: float
    p_value: float
    alternative: str
    sharpe: float
    benchmark_sharpe: float
    n_obs: int

    def to_dict(self) -> dict[str, float | int | str]:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)


def _memmel_statistic(a: np.ndarray, b: np.ndarray) -> float:
    sr_a, sr_b = per_period_sharpe(a), per_period_sharpe(b)
    if np.isnan(sr_a) or np.isnan(sr_b):
        return _NAN
    rho = float(np.corrcoef(a, b)[0, 1])
    theta = (
        2.0 * (1.0 - rho) + 0.5 * (sr_a**2 + sr_b**2 - 2.0 * sr_a * sr_b * rho**2)
    ) / a.size
    return (sr_a - sr_b) / np.sqrt(theta) if theta > 0.0 else _NAN


def newey_west_lags(n_obs: int) -> int:
    """Return the Newey-West (1994) plug-in lag ``floor(4 (T / 100) ** (2 / 9))``."""
    return int(np.floor(4.0 * (n_obs / 100.0) ** (2.0 / 9.0)))


def _hac_covariance(y: np.ndarray, lags: int) -> np.ndarray:
    """Return the Bartlett-kernel long-run covariance of the centred rows of ``y``."""
    n = y.shape[0]
    psi = y.T @ y / n
    for lag in range(1, lags + 1):
        gamma = y[lag:].T @ y[:-lag] / n
        psi += (1.0 - lag / (lags + 1.0)) * (gamma + gamma.T)
    return psi


def _ledoit_wolf_statistic(a: np.ndarray, b: np.ndarray, lags: int) -> float:
    # Sharpe ratios as functions of first and second moments, so the delta method
    # applies to v = (mean_a, mean_b, E[a^2], E[b^2]).
    mu_a, mu_b = a.mean(), b.mean()
    m2_a, m2_b = np.mean(a**2), np.mean(b**2)
    var_a, var_b = m2_a - mu_a**2, m2_b - mu_b**2
    if var_a <= 0.0 or var_b <= 0.0:
        return _NAN
    difference = mu_a / np.sqrt(var_a) - mu_b / np.sqrt(var_b)
    gradient = np.array(
        [
            m2_a / var_a**1.5,
            -m2_b / var_b**1.5,
            -mu_a / (2.0 * var_a**1.5),
            mu_b / (2.0 * var_b**1.5),
        ]
    )
    y = np.column_stack([a - mu_a, b - mu_b, a**2 - m2_a, b**2 - m2_b])
    variance = gradient @ _hac_covariance(y, lags) @ gradient / a.size
    return difference / np.sqrt(variance) if variance > 0.0 else _NAN


def _p_value(statistic: float, alternative: Alternative) -> float:
    if np.isnan(statistic):
        return _NAN
    if alternative == "two-sided":
        return float(2.0 * stats.norm.sf(abs(statistic)))
    if alternative == "greater":
        return float(stats.norm.sf(statistic))
    return float(stats.norm.cdf(statistic))


def sharpe_difference_test(
    returns: pd.Series,
    benchmark: pd.Series,
    *,
    rf: float | pd.Series = 0.0,
    method: Literal["memmel", "ledoit_wolf"] = "memmel",
    alternative: Alternative = "two-sided",
    lags: int | None = None,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> SharpeTestResult:
    """Test whether a strategy's Sharpe ratio differs from a benchmark strategy's.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns of the strategy.
    benchmark : pd.Series of shape (n_bench_periods,)
        Simple per-period returns of the benchmark strategy (e.g. equal weight);
        only dates present in both are used.
    rf : float or pd.Series
        Per-period risk-free return subtracted from both.
    method : {"memmel", "ledoit_wolf"}
        Jobson-Korkie with Memmel's correction (i.i.d. normal returns), or Ledoit &
        Wolf's (2008) HAC delta-method test (Bartlett kernel).
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: the strategy's Sharpe ratio is higher.
    lags : int, optional
        HAC lags for ``"ledoit_wolf"``; default the Newey-West plug-in
        ``floor(4 (T / 100) ** (2 / 9))``; 0 assumes no autocorrelation.
    periods_per_year : int
        Periods in a year, to annualise the reported Sharpe ratios.

    Returns
    -------
    SharpeTestResult
        Method, z statistic, p-value and the two annualised Sharpe ratios. The
        statistic and p-value are NaN when the test is undefined (e.g. identical
        series, or returns that do not vary).

    Raises
    ------
    ValueError
        On an unknown ``method`` or ``alternative``, fewer than three common dates,
        or negative ``lags``.
    """
    if method not in ("memmel", "ledoit_wolf"):
        raise ValueError(f"method must be 'memmel' or 'ledoit_wolf', got {method!r}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(
            f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}"
        )
    strategy = as_return_series(returns)
    reference = as_return_series(benchmark, name="benchmark")
    common = strategy.index.intersection(reference.index)
    if len(common) < 3:
        raise ValueError(
            f"returns and benchmark share {len(common)} dates; the test needs at "
            "least 3 (and many more to mean anything)"
        )
    rate = align_rf(rf, common)
    a = strategy.loc[common].to_numpy() - rate
    b = reference.loc[common].to_numpy() - rate
    if method == "memmel":
        name, statistic = "jobson_korkie_memmel", _memmel_statistic(a, b)
    else:
        lags = newey_west_lags(a.size) if lags is None else lags
        if lags < 0:
            raise ValueError(f"lags must be >= 0, got {lags}")
        name, statistic = "ledoit_wolf_hac", _ledoit_wolf_statistic(a, b, lags)
    annualiser = float(np.sqrt(periods_per_year))
    return SharpeTestResult(
        method=name,
        statistic=float(statistic),
        p_value=_p_value(float(statistic), alternative),
        alternative=alternative,
        sharpe=per_period_sharpe(a) * annualiser,
        benchmark_sharpe=per_period_sharpe(b) * annualiser,
        n_obs=int(a.size),
    )
