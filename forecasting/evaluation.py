"""Forecast skill: how well a sequence of forecasts matched what happened.

For a forecast made at ``as_of`` over ``horizon`` trading days, the realised return of
asset i is ``price_i[as_of + horizon] / price_i[as_of] - 1`` (positions in the price
index). Forecasts whose horizon runs past the last price are skipped. Per date, only
assets with a finite forecast, realised return and benchmark (below) are scored.

Measures (all in horizon units, not annualised):

- ``rmse``, ``mae``: errors ``e = r - mu`` per date and pooled over (date, asset).
- ``directional_accuracy``: share of (date, asset) with ``sign(mu) == sign(r)``.
- ``ic``, ``rank_ic``: cross-sectional Pearson / Spearman correlation of ``mu`` and
  ``r`` per date; summarised by mean, standard deviation and t-statistic
  ``mean / (std / sqrt(n_dates))``. Overlapping horizons make the t-statistic
  optimistic; the Diebold-Mariano test below accounts for the overlap.
- ``r2_oos``: Campbell-Thompson out-of-sample R^2, ``1 - SSE_model / SSE_benchmark``
  pooled over (date, asset); the benchmark forecasts each asset's horizon return by
  its historical mean daily return up to ``as_of``, compounded:
  ``(1 + mean)^horizon - 1`` (the ``historical`` baseline's mean).
- ``gaussian_nll``: Gaussian negative log-likelihood of the realised return vector
  under ``N(mu, cov)``: ``0.5 (k log 2 pi + log det cov + e^T cov^{-1} e)``; lower is
  better. It scores mean and covariance together (it is not Patton's QLIKE).
- Minimum-variance portfolio ``w = cov^{-1} 1 / (1^T cov^{-1} 1)`` of each forecast:
  its predicted volatility ``sqrt(w^T cov w)`` against the realised volatility of
  ``w^T r`` over the dates; ``minvar_bias_stat`` is the standard deviation of
  ``(w^T r - w^T mu) / predicted_vol`` (1 when the risk forecast is calibrated).
- ``minvar_qlike``: Patton's (2011) QLIKE loss of that portfolio's variance forecast,
  ``x - log x - 1`` with ``x = (w^T r)^2 / (w^T cov w)`` (:func:`qlike`): 0 for a
  perfect forecast, lower is better, robust to the noise of the squared return as a
  proxy of the true variance. It scores the covariance alone.
- Diebold-Mariano test of equal squared-error loss against a baseline.

`paired_diebold_mariano` tests two forecasters' per-date tables against each other on
one loss (`PER_DATE_LOSSES`: the squared error of ``mu``, the Gaussian NLL or the
min-variance QLIKE), on the dates both scored, with the same overlap lag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from foliocast.forecasting.forecast import Forecast

__all__ = [
    "DieboldMarianoResult",
    "EvaluationResult",
    "PER_DATE_LOSSES",
    "diebold_mariano",
    "evaluate_forecasts",
    "paired_diebold_mariano",
    "qlike",
    "realised_horizon_returns",
]


class DieboldMarianoResult(NamedTuple):
    """Outcome of a Diebold-Mariano test (negative statistic: model loses less).

    Attributes
    ----------
    statistic : float
        HLN-corrected DM statistic, Student-t with ``n - 1`` degrees of freedom.
    pvalue : float
        Two-sided p-value.
    mean_loss_diff : float
        Mean loss differential ``mean(loss_model - loss_baseline)``.
    n : int
        Number of loss differentials.
    lag : int
        Newey-West truncation lag used.
    """

    statistic: float
    pvalue: float
    mean_loss_diff: float
    n: int
    lag: int


class EvaluationResult(NamedTuple):
    """Per-date scores and their summary.

    Attributes
    ----------
    per_date : DataFrame
        One row per evaluated forecast, indexed by ``as_of``.
    summary : dict
        Aggregated measures; plain Python ints and floats, None where undefined, so
        ``json.dumps(summary, allow_nan=False)`` works.
    """

    per_date: pd.DataFrame
    summary: dict[str, float | int | None]


def realised_horizon_returns(
    prices: pd.DataFrame, as_of: pd.Timestamp, horizon: int
) -> pd.Series | None:
    """Return the simple return of each asset from ``as_of`` over ``horizon`` days.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Daily prices; ``as_of`` must be one of its dates.
    as_of : pandas.Timestamp
        Start date of the horizon.
    horizon : int
        Number of trading days (rows) ahead.

    Returns
    -------
    Series of shape (n_assets,) or None
        ``price[as_of + horizon] / price[as_of] - 1``; None when the horizon runs
        past the last row.
    """
    try:
        start = prices.index.get_loc(pd.Timestamp(as_of))
    except KeyError:
        raise ValueError(
            f"forecast date {as_of} is not a date of the prices; evaluate with the "
            "prices the forecasts were made from"
        ) from None
    if not isinstance(start, int):
        raise ValueError("prices index must be unique to evaluate forecasts")
    end = start + horizon
    if end >= len(prices):
        return None
    return prices.iloc[end] / prices.iloc[start] - 1.0


def diebold_mariano(loss_diff: np.ndarray, *, lag: int = 0) -> DieboldMarianoResult:
    """Diebold-Mariano test with Newey-West variance and the HLN correction.

    Parameters
    ----------
    loss_diff : ndarray of shape (n,)
        Loss differential ``d_t = loss_model_t - loss_baseline_t`` in time order.
    lag : int, default 0
        Newey-West truncation lag L; for h-step forecasts made every period,
        ``L = h - 1``. Autocovariances get Bartlett weights ``1 - k / (L + 1)``,
        which keep the long-run variance positive.

    Returns
    -------
    DieboldMarianoResult
        ``DM = mean(d) / sqrt(lrv / n)`` scaled by the Harvey-Leybourne-Newbold
        factor ``sqrt((n + 1 - 2h + h (h - 1) / n) / n)`` with ``h = L + 1``, and a
        two-sided p-value from Student-t with ``n - 1`` degrees of freedom. NaN when
        ``n < 2``, the variance is zero or the correction is undefined.
    """
    d = np.asarray(loss_diff, dtype=float)
    n = d.size
    mean = float(d.mean()) if n else math.nan
    nan_result = DieboldMarianoResult(math.nan, math.nan, mean, n, lag)
    if n < 2:
        return nan_result
    centred = d - mean
    lrv = centred @ centred / n
    for k in range(1, min(lag, n - 1) + 1):
        gamma = centred[k:] @ centred[:-k] / n
        lrv += 2.0 * (1.0 - k / (lag + 1)) * gamma
    h = lag + 1
    correction = (n + 1 - 2 * h + h * (h - 1) / n) / n
    if lrv <= 0.0 or correction <= 0.0:
        return nan_result
    statistic = mean / math.sqrt(lrv / n) * math.sqrt(correction)
    pvalue = 2.0 * stats.t.sf(abs(statistic), df=n - 1)
    return DieboldMarianoResult(float(statistic), float(pvalue), mean, n, lag)


def _historical_mean_daily(prices: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums and counts of daily returns, for expanding means.

    Returns
    -------
    sums, counts : ndarray of shape (n_days, n_assets)
        Row p holds the sum and count of the daily returns up to and including p.
    """
    returns = prices.pct_change(fill_method=None).to_numpy(dtype=float)
    observed = np.isfinite(returns)
    sums = np.cumsum(np.where(observed, returns, 0.0), axis=0)
    return sums, np.cumsum(observed, axis=0)


def _historical_mean_mu(
    sums: np.ndarray,
    counts: np.ndarray,
    pos: int,
    horizon: int,
    lookback: int | None,
) -> np.ndarray:
    """Compounded mean daily return over the window ending at row ``pos``.

    Returns
    -------
    ndarray of shape (n_assets,)
        ``(1 + mean)^horizon - 1``; NaN for an asset without returns in the window.
    """
    total, count = sums[pos].copy(), counts[pos].astype(float)
    if lookback is not None and pos - lookback > 0:
        # Rows pos - lookback + 1 .. pos are the last `lookback` returns.
        total -= sums[pos - lookback]
        count -= counts[pos - lookback]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1.0 + total / count) ** horizon - 1.0


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation, NaN with fewer than 3 points or a constant input."""
    if x.size < 3 or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _gaussian_nll(error: np.ndarray, cov: np.ndarray) -> float:
    """Negative log-likelihood of ``error`` under N(0, cov); NaN if cov is singular."""
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return math.nan
    z = np.linalg.solve(chol, error)
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    return float(0.5 * (error.size * math.log(2.0 * math.pi) + log_det + z @ z))


def qlike(realised_var: float, predicted_var: float) -> float:
    """Return Patton's (2011) QLIKE loss of a variance forecast.

    Parameters
    ----------
    realised_var : float
        Proxy of the realised variance, e.g. the squared realised return.
    predicted_var : float
        Forecast variance.

    Returns
    -------
    float
        ``x - log x - 1`` with ``x = realised_var / predicted_var``: 0 when the
        forecast equals the proxy, positive otherwise; under-prediction costs more
        than over-prediction. NaN when either is not positive or not finite.
    """
    if not (
        np.isfinite(realised_var)
        and np.isfinite(predicted_var)
        and realised_var > 0.0
        and predicted_var > 0.0
    ):
        return math.nan
    ratio = realised_var / predicted_var
    return float(ratio - math.log(ratio) - 1.0)


def _min_variance(cov: np.ndarray) -> np.ndarray | None:
    """Fully invested minimum-variance weights ``cov^{-1} 1 / 1^T cov^{-1} 1``."""
    try:
        raw = np.linalg.solve(cov, np.ones(len(cov)))
    except np.linalg.LinAlgError:
        return None
    total = raw.sum()
    if not np.isfinite(total) or total <= 0.0:
        return None
    return raw / total


_COLUMNS = [
    "horizon",
    "n_assets",
    "rmse",
    "mae",
    "directional_accuracy",
    "ic",
    "rank_ic",
    "sse",
    "sse_benchmark",
    "loss_diff",
    "gaussian_nll",
    "minvar_predicted_vol",
    "minvar_predicted_return",
    "minvar_realised_return",
    "minvar_qlike",
]


def _score(
    forecast: Forecast,
    realised: pd.Series,
    benchmark_mu: pd.Series,
    baseline_mu: pd.Series,
) -> dict[str, float]:
    """Score one forecast on the assets where every input is finite."""
    tickers = forecast.tickers
    r = realised.reindex(tickers).to_numpy(dtype=float)
    mu = forecast.mu.to_numpy(dtype=float)
    bench = benchmark_mu.reindex(tickers).to_numpy(dtype=float)
    base = baseline_mu.reindex(tickers).to_numpy(dtype=float)
    keep = np.isfinite(r) & np.isfinite(mu) & np.isfinite(bench) & np.isfinite(base)
    r, mu, bench, base = r[keep], mu[keep], bench[keep], base[keep]
    cov = forecast.cov.to_numpy(dtype=float)[np.ix_(keep, keep)]
    error = r - mu
    row = dict.fromkeys(_COLUMNS, math.nan)
    row.update(horizon=float(forecast.horizon), n_assets=float(keep.sum()))
    if not keep.any():
        return row
    row.update(
        rmse=float(np.sqrt(np.mean(error**2))),
        mae=float(np.mean(np.abs(error))),
        directional_accuracy=float(np.mean(np.sign(mu) == np.sign(r))),
        ic=_correlation(mu, r),
        rank_ic=_correlation(stats.rankdata(mu), stats.rankdata(r)),
        sse=float(error @ error),
        sse_benchmark=float((r - bench) @ (r - bench)),
        loss_diff=float(np.mean(error**2) - np.mean((r - base) ** 2)),
        gaussian_nll=_gaussian_nll(error, cov),
    )
    weights = _min_variance(cov) if np.isfinite(cov).all() else None
    if weights is not None:
        predicted_var = max(float(weights @ cov @ weights), 0.0)
        realised = float(weights @ r)
        row.update(
            minvar_predicted_vol=math.sqrt(predicted_var),
            minvar_predicted_return=float(weights @ mu),
            minvar_realised_return=realised,
            minvar_qlike=qlike(realised**2, predicted_var),
        )
    return row


def _overlap_lag(positions: np.ndarray, horizons: np.ndarray) -> int:
    """Largest number of later forecasts starting inside one forecast's horizon.

    With a forecast every day this is ``horizon - 1``; with non-overlapping
    (e.g. monthly, 21-day) forecasts it is 0.
    """
    lag = 0
    for i in range(len(positions)):
        inside = positions[i + 1 :] < positions[i] + horizons[i]
        lag = max(lag, int(inside.sum()))
    return lag


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _mean_std_tstat(values: pd.Series) -> tuple[float, float, float]:
    x = values.dropna().to_numpy()
    if x.size < 2:
        return (float(x.mean()) if x.size else math.nan), math.nan, math.nan
    std = float(x.std(ddof=1))
    tstat = x.mean() / (std / math.sqrt(x.size)) if std > 0 else math.nan
    return float(x.mean()), std, float(tstat)


def _summarise(
    per_date: pd.DataFrame, positions: np.ndarray, n_skipped: int, dm_lag: int | None
) -> dict[str, float | int | None]:
    """Aggregate per-date scores into the summary dict (see module docstring).

    ``positions`` are the row numbers of the forecast dates in the price index.
    """
    n_obs = per_date["n_assets"].sum()
    hits = (per_date["directional_accuracy"] * per_date["n_assets"]).sum()
    abs_err = (per_date["mae"] * per_date["n_assets"]).sum()
    sse, sse_bench = per_date["sse"].sum(), per_date["sse_benchmark"].sum()
    ic = _mean_std_tstat(per_date["ic"])
    rank_ic = _mean_std_tstat(per_date["rank_ic"])

    predicted_var = per_date["minvar_predicted_vol"] ** 2
    realised = per_date["minvar_realised_return"].dropna()
    z = (
        per_date["minvar_realised_return"] - per_date["minvar_predicted_return"]
    ) / per_date["minvar_predicted_vol"]
    predicted_vol = (
        math.sqrt(predicted_var.mean()) if predicted_var.notna().any() else math.nan
    )
    realised_vol = float(realised.std(ddof=1)) if len(realised) > 1 else math.nan

    has_diff = per_date["loss_diff"].notna().to_numpy()
    if dm_lag is None:
        horizons = per_date["horizon"].to_numpy()[has_diff]
        dm_lag = _overlap_lag(positions[has_diff], horizons)
    dm = diebold_mariano(per_date["loss_diff"].to_numpy()[has_diff], lag=dm_lag)

    summary: dict[str, float | int | None] = {
        "n_forecasts": int(len(per_date)),
        "n_skipped": int(n_skipped),
        "n_observations": int(n_obs),
        "rmse": math.sqrt(sse / n_obs) if n_obs else math.nan,
        "mae": abs_err / n_obs if n_obs else math.nan,
        "directional_accuracy": hits / n_obs if n_obs else math.nan,
        "ic_mean": ic[0],
        "ic_std": ic[1],
        "ic_tstat": ic[2],
        "rank_ic_mean": rank_ic[0],
        "rank_ic_std": rank_ic[1],
        "rank_ic_tstat": rank_ic[2],
        "r2_oos": 1.0 - sse / sse_bench if sse_bench > 0 else math.nan,
        "gaussian_nll_mean": float(per_date["gaussian_nll"].mean()),
        "minvar_predicted_vol": predicted_vol,
        "minvar_realised_vol": realised_vol,
        "minvar_vol_ratio": (
            realised_vol / predicted_vol if predicted_vol > 0 else math.nan
        ),
        "minvar_bias_stat": float(z.std(ddof=1)) if z.notna().sum() > 1 else math.nan,
        "minvar_qlike_mean": float(per_date["minvar_qlike"].mean()),
        "dm_statistic": dm.statistic,
        "dm_pvalue": dm.pvalue,
        "dm_mean_loss_diff": dm.mean_loss_diff,
        "dm_n": dm.n,
        "dm_lag": dm.lag,
    }
    return {
        k: v if isinstance(v, int) else _finite_or_none(float(v))
        for k, v in summary.items()
    }


def evaluate_forecasts(
    forecasts: Sequence[Forecast],
    prices: pd.DataFrame,
    *,
    baseline: Sequence[Forecast] | None = None,
    benchmark_lookback: int | None = None,
    dm_lag: int | None = None,
) -> EvaluationResult:
    """Score forecasts against the returns that followed them.

    Parameters
    ----------
    forecasts : sequence of Forecast
        The model's forecasts; each ``as_of`` must be a date of ``prices``.
    prices : DataFrame of shape (n_days, n_assets)
        Daily prices covering the forecast dates and the horizons after them.
    baseline : sequence of Forecast, optional
        Competing forecasts for the Diebold-Mariano test, one per model forecast
        with the same ``as_of``. Default: the historical-mean benchmark of R^2.
    benchmark_lookback : int, optional
        Daily returns in the historical-mean benchmark; None (default) uses all
        history up to ``as_of`` (expanding, as Campbell and Thompson).
    dm_lag : int, optional
        Newey-West lag of the DM test. Default: the largest number of later
        forecasts that start inside one forecast's horizon (``horizon - 1`` for
        daily forecasts, 0 for non-overlapping ones).

    Returns
    -------
    EvaluationResult
        ``per_date``: DataFrame indexed by ``as_of`` with columns ``horizon,
        n_assets, rmse, mae, directional_accuracy, ic, rank_ic, sse, sse_benchmark,
        loss_diff, gaussian_nll, minvar_predicted_vol, minvar_predicted_return,
        minvar_realised_return, minvar_qlike``. ``summary``: dict with
        ``n_forecasts, n_skipped, n_observations, rmse, mae, directional_accuracy,
        ic_mean, ic_std, ic_tstat, rank_ic_mean, rank_ic_std, rank_ic_tstat, r2_oos,
        gaussian_nll_mean, minvar_predicted_vol, minvar_realised_vol,
        minvar_vol_ratio, minvar_bias_stat, minvar_qlike_mean, dm_statistic,
        dm_pvalue, dm_mean_loss_diff, dm_n, dm_lag``.
    """
    baseline_by_date = (
        None if baseline is None else {pd.Timestamp(f.as_of): f for f in baseline}
    )
    sums, counts = _historical_mean_daily(prices)
    rows, dates, positions, skipped = [], [], [], 0
    for forecast in sorted(forecasts, key=lambda f: pd.Timestamp(f.as_of)):
        as_of = pd.Timestamp(forecast.as_of)
        realised = realised_horizon_returns(prices, as_of, forecast.horizon)
        if realised is None:
            skipped += 1
            continue
        pos = prices.index.get_loc(as_of)
        benchmark_mu = pd.Series(
            _historical_mean_mu(
                sums, counts, pos, forecast.horizon, benchmark_lookback
            ),
            index=prices.columns,
        )
        if baseline_by_date is None:
            baseline_mu = benchmark_mu
        else:
            other = baseline_by_date.get(as_of)
            if other is None or other.horizon != forecast.horizon:
                raise ValueError(
                    f"baseline has no forecast for {as_of:%Y-%m-%d} with horizon "
                    f"{forecast.horizon}; give one baseline forecast per model forecast"
                )
            baseline_mu = other.mu
        rows.append(_score(forecast, realised, benchmark_mu, baseline_mu))
        dates.append(as_of)
        positions.append(pos)

    per_date = pd.DataFrame(
        rows, index=pd.DatetimeIndex(dates, name="as_of"), columns=_COLUMNS
    )
    summary = _summarise(per_date, np.asarray(positions, dtype=int), skipped, dm_lag)
    per_date = per_date.astype({"horizon": int, "n_assets": int})
    return EvaluationResult(per_date, summary)


# Per-date losses of `evaluate_forecasts`'s table, lower is better: the mean squared
# error of mu over the scored assets, the Gaussian NLL and the min-variance QLIKE.
PER_DATE_LOSSES = ("mse", "gaussian_nll", "minvar_qlike")


def _per_date_loss(per_date: pd.DataFrame, loss: str) -> pd.Series:
    if loss not in PER_DATE_LOSSES:
        raise ValueError(f"loss {loss!r} is not one of {', '.join(PER_DATE_LOSSES)}")
    if loss == "mse":
        return per_date["rmse"] ** 2  # rmse is the root of the mean squared error
    return per_date[loss]


def paired_diebold_mariano(
    model: pd.DataFrame,
    baseline: pd.DataFrame,
    loss: str,
    price_dates: pd.Index,
    *,
    dm_lag: int | None = None,
) -> DieboldMarianoResult:
    """Diebold-Mariano test of two forecasters' per-date losses on the same dates.

    Parameters
    ----------
    model, baseline : DataFrame
        ``per_date`` tables of `evaluate_forecasts` for the two forecasters.
    loss : str
        One of `PER_DATE_LOSSES`.
    price_dates : pandas.Index
        Dates of the prices the forecasts were scored on, to count how many later
        forecasts start inside one forecast's horizon.
    dm_lag : int, optional
        Newey-West lag; default as in `evaluate_forecasts` (the overlap of the
        horizons of the dates both scored).

    Returns
    -------
    DieboldMarianoResult
        On ``d_t = loss_model_t - loss_baseline_t`` over the dates where both
        losses are finite, in date order; negative statistic: the model loses less.
    """
    both = pd.concat(
        [_per_date_loss(model, loss), _per_date_loss(baseline, loss)],
        axis=1,
        join="inner",
    ).sort_index()
    both = both[np.isfinite(both.to_numpy()).all(axis=1)]
    if dm_lag is None:
        positions = pd.Index(price_dates).get_indexer(both.index)
        if (positions < 0).any():
            raise ValueError("a forecast date is not a date of the prices")
        horizons = model["horizon"].reindex(both.index).to_numpy()
        dm_lag = _overlap_lag(positions, horizons)
    return diebold_mariano(both.iloc[:, 0] - both.iloc[:, 1], lag=dm_lag)
