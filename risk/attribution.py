"""Ex-ante risk of a portfolio at a rebalance and how it splits across assets.

Notation: ``w`` the weights (a Series indexed by ticker), ``Sigma`` the covariance of
asset returns over one period of the forecast (e.g. the 21-day horizon), and
``sigma = sqrt(w' Sigma w)`` the portfolio volatility over that period. Passing
``periods_per_year`` (periods of the covariance in a year, e.g. 12 for a monthly
horizon, 252 for a daily covariance) annualises every volatility figure by
``sqrt(periods_per_year)``; percent contributions do not depend on it.

Euler's theorem splits ``sigma`` exactly: with the marginal risk
``m_i = (Sigma w)_i / sigma``, the risk contribution ``RC_i = w_i m_i`` sums over
assets to ``sigma``. Group contributions are sums of asset contributions. An asset can
contribute negatively (a hedge). With ``sigma = 0`` (no positions) contributions are
undefined and come back NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.risk._validation import as_return_series

__all__ = [
    "ex_ante_volatility",
    "ex_ante_tracking_error",
    "marginal_risk",
    "risk_contributions",
    "percent_risk_contributions",
    "group_risk_contributions",
    "risk_contribution_table",
    "effective_number_of_assets",
    "realised_vs_predicted_volatility",
]


def _aligned(weights: pd.Series, cov: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return ``w`` and ``Sigma`` as arrays in the order of ``weights``."""
    if not isinstance(weights, pd.Series) or not isinstance(cov, pd.DataFrame):
        raise TypeError("weights must be a pandas Series and cov a pandas DataFrame")
    if not cov.index.equals(cov.columns) and set(cov.index) != set(cov.columns):
        raise ValueError("cov must have the same tickers on its index and columns")
    missing = [t for t in weights.index if t not in cov.index]
    extra = [t for t in cov.index if t not in weights.index]
    if missing or extra:
        raise ValueError(
            f"weights and cov cover different assets (only in weights: {missing}, "
            f"only in cov: {extra}); give a weight (0 if none) for every asset in cov"
        )
    w = weights.to_numpy(dtype=float)
    if cov.index.equals(weights.index) and cov.columns.equals(weights.index):
        sigma = cov.to_numpy(dtype=float)  # already in order: skip the slow .loc
    else:
        sigma = cov.loc[weights.index, weights.index].to_numpy(dtype=float)
    if not np.isfinite(w).all() or not np.isfinite(sigma).all():
        raise ValueError("weights and cov must be finite (no NaN)")
    return w, sigma


def _portfolio_vol(w: np.ndarray, sigma: np.ndarray) -> float:
    # Clip tiny negative variances from rounding in a PSD matrix.
    return float(np.sqrt(max(w @ sigma @ w, 0.0)))


def ex_ante_volatility(
    weights: pd.Series, cov: pd.DataFrame, *, periods_per_year: float = 1.0
) -> float:
    """Return the predicted portfolio volatility ``sqrt(w' Sigma w)``.

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights indexed by ticker.
    cov : pd.DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns over one period, same tickers as ``weights``.
    periods_per_year : float
        Periods of ``cov`` in a year; 1 leaves the figure per period.

    Returns
    -------
    float
        ``sqrt(w' Sigma w * periods_per_year)``.
    """
    w, sigma = _aligned(weights, cov)
    return _portfolio_vol(w, sigma) * float(np.sqrt(periods_per_year))


def ex_ante_tracking_error(
    weights: pd.Series,
    benchmark: pd.Series,
    cov: pd.DataFrame,
    *,
    periods_per_year: float = 1.0,
) -> float:
    """Return the predicted tracking error ``sqrt((w - b)' Sigma (w - b))``.

    The ex-ante volatility of the active weights ``w - b``; its realised
    counterpart is `risk.metrics.tracking_error`.

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights indexed by ticker.
    benchmark : pd.Series
        Benchmark weights indexed by ticker; an asset of ``weights`` it leaves out
        has benchmark weight 0, and it may hold no other asset.
    cov : pd.DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns over one period, same tickers as ``weights``.
    periods_per_year : float
        Periods of ``cov`` in a year; 1 leaves the figure per period.

    Returns
    -------
    float
    """
    if not isinstance(benchmark, pd.Series):
        raise TypeError("benchmark must be a pandas Series of weights by ticker")
    if benchmark.index.equals(weights.index):
        b = benchmark.to_numpy(dtype=float)  # the usual case: skip the alignment
    else:
        outside = benchmark.index.difference(weights.index)
        if len(outside):
            raise ValueError(
                f"the benchmark holds assets the portfolio has no weight for: "
                f"{list(outside)[:5]}; give both on the same assets"
            )
        b = benchmark.reindex(weights.index, fill_value=0.0).to_numpy(dtype=float)
    active = pd.Series(weights.to_numpy(dtype=float) - b, index=weights.index)
    return ex_ante_volatility(active, cov, periods_per_year=periods_per_year)


def marginal_risk(
    weights: pd.Series, cov: pd.DataFrame, *, periods_per_year: float = 1.0
) -> pd.Series:
    """Return each asset's marginal risk ``d sigma / d w_i = (Sigma w)_i / sigma``.

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights indexed by ticker.
    cov : pd.DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns over one period.
    periods_per_year : float
        Periods of ``cov`` in a year; 1 leaves the figures per period.

    Returns
    -------
    pd.Series of shape (n_assets,)
        Marginal risk per asset; NaN if ``sigma`` is 0.
    """
    w, sigma = _aligned(weights, cov)
    vol = _portfolio_vol(w, sigma)
    scale = float(np.sqrt(periods_per_year))
    marginal = sigma @ w / vol * scale if vol > 0.0 else np.full(w.size, np.nan)
    return pd.Series(marginal, index=weights.index, name="marginal_risk")


def risk_contributions(
    weights: pd.Series, cov: pd.DataFrame, *, periods_per_year: float = 1.0
) -> pd.Series:
    """Return each asset's contribution ``RC_i = w_i (Sigma w)_i / sigma``.

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights indexed by ticker.
    cov : pd.DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns over one period.
    periods_per_year : float
        Periods of ``cov`` in a year; 1 leaves the figures per period.

    Returns
    -------
    pd.Series of shape (n_assets,)
        Contributions in volatility units; they sum to :func:`ex_ante_volatility`.
    """
    marginal = marginal_risk(weights, cov, periods_per_year=periods_per_year)
    return (weights.astype(float) * marginal).rename("risk_contribution")


def percent_risk_contributions(weights: pd.Series, cov: pd.DataFrame) -> pd.Series:
    """Return each asset's share of portfolio risk, ``RC_i / sigma``.

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights indexed by ticker.
    cov : pd.DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns over one period.

    Returns
    -------
    pd.Series of shape (n_assets,)
        Fractions that sum to 1 (negative for a hedge); NaN if ``sigma`` is 0.
    """
    w, sigma = _aligned(weights, cov)
    variance = max(w @ sigma @ w, 0.0)
    shares = w * (sigma @ w) / variance if variance > 0.0 else np.full(w.size, np.nan)
    return pd.Series(shares, index=weights.index, name="percent_risk_contribution")


def _group_of(assets: pd.Index, groups: Mapping[str, str] | pd.Series) -> pd.Series:
    mapping = pd.Series(groups) if not isinstance(groups, pd.Series) else groups
    ungrouped = [asset for asset in assets if asset not in mapping.index]
    if ungrouped:
        raise ValueError(
            f"assets without a group: {ungrouped}; map every asset to a group"
        )
    return mapping.reindex(assets)


def group_risk_contributions(
    weights: pd.Series,
    cov: pd.DataFrame,
    groups: Mapping[str, str] | pd.Series,
    *,
    periods_per_year: float = 1.0,
) -> pd.Series:
    """Return risk contributions summed within groups (e.g. asset classes).

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights indexed by ticker.
    cov : pd.DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns over one period.
    groups : mapping or pd.Series of ticker to group name
        Group of every asset in ``weights`` (extra tickers are ignored).
    periods_per_year : float
        Periods of ``cov`` in a year; 1 leaves the figures per period.

    Returns
    -------
    pd.Series of shape (n_groups,)
        Contribution per group, indexed by group name (sorted); they sum to
        :func:`ex_ante_volatility`.
    """
    contributions = risk_contributions(weights, cov, periods_per_year=periods_per_year)
    group = _group_of(weights.index, groups)
    return contributions.groupby(group.to_numpy()).sum(min_count=1).rename_axis("group")


def risk_contribution_table(
    weights: pd.Series, cov: pd.DataFrame, *, periods_per_year: float = 1.0
) -> pd.DataFrame:
    """Return weight, marginal risk, risk contribution and percent per asset.

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights indexed by ticker.
    cov : pd.DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns over one period.
    periods_per_year : float
        Periods of ``cov`` in a year; 1 leaves the figures per period.

    Returns
    -------
    pd.DataFrame of shape (n_assets, 4)
        Columns ``weight, marginal_risk, risk_contribution,
        percent_risk_contribution``, indexed by ticker.
    """
    return pd.DataFrame(
        {
            "weight": weights.astype(float),
            "marginal_risk": marginal_risk(
                weights, cov, periods_per_year=periods_per_year
            ),
            "risk_contribution": risk_contributions(
                weights, cov, periods_per_year=periods_per_year
            ),
            "percent_risk_contribution": percent_risk_contributions(weights, cov),
        }
    )


def effective_number_of_assets(weights: pd.Series) -> float:
    """Return the effective number of assets, the inverse Herfindahl ``1 / sum w^2``.

    Parameters
    ----------
    weights : pd.Series of shape (n_assets,)
        Portfolio weights (fully invested long-only weights give a number between 1
        and ``n_assets``).

    Returns
    -------
    float
        ``n`` for equal weights, 1 for a single asset; NaN if all weights are 0.
    """
    w = weights.to_numpy(dtype=float)
    if not np.isfinite(w).all():
        raise ValueError("weights must be finite (no NaN)")
    concentration = float(np.sum(w**2))
    return 1.0 / concentration if concentration > 0.0 else float("nan")


def realised_vs_predicted_volatility(
    returns: pd.Series,
    predicted: pd.Series,
    *,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> pd.DataFrame:
    """Compare each rebalance's predicted volatility with the one that followed.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        The portfolio's simple per-period (daily) returns.
    predicted : pd.Series of shape (n_rebalances,)
        Annualised ex-ante volatility at each rebalance date (e.g.
        :func:`ex_ante_volatility` with ``periods_per_year``), indexed by date.
    periods_per_year : int
        Periods of ``returns`` in a year, to annualise the realised volatility.

    Returns
    -------
    pd.DataFrame of shape (n_rebalances, 4)
        Indexed by rebalance date; columns ``predicted``, ``realised``
        (``std(ddof=1) * sqrt(periods_per_year)`` of the returns after the rebalance
        date up to and including the next one, the last period running to the end),
        ``ratio`` (realised / predicted; near 1 for a calibrated model) and
        ``n_obs``. Realised is NaN with fewer than two returns in the period.
    """
    observed = as_return_series(returns)
    forecast = as_return_series(predicted, name="predicted")
    # Returns strictly after a rebalance belong to it: the close-to-close return of
    # the rebalance day itself was earned by the previous holdings.
    period = np.searchsorted(forecast.index.to_numpy(), observed.index.to_numpy())
    period = period - 1
    held = period >= 0
    grouped = observed[held].groupby(period[held])
    realised = grouped.std(ddof=1) * np.sqrt(periods_per_year)
    counts = grouped.size()
    positions = np.arange(len(forecast))
    table = pd.DataFrame(
        {
            "predicted": forecast.to_numpy(),
            "realised": realised.reindex(positions).to_numpy(),
            "n_obs": counts.reindex(positions, fill_value=0).to_numpy(),
        },
        index=forecast.index,
    )
    table["ratio"] = table["realised"] / table["predicted"].where(
        table["predicted"] > 0.0
    )
    return table[["predicted", "realised", "ratio", "n_obs"]]
