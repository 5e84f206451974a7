"""Confidence-weighted forecasts: model views blended with a prior (Black-Litterman).

The model's expected returns ``q`` are *views* on every asset (the pick matrix P is
the identity); the prior mean ``pi`` (historical or equilibrium returns) is uncertain
with covariance ``tau * cov``; the views are uncertain with a diagonal covariance
``Omega``. Bayes' rule gives (He & Litterman, 1999)

- the posterior mean ``pi + tau cov (tau cov + Omega)^-1 (q - pi)``;
- the posterior uncertainty of that mean
  ``M = ((tau cov)^-1 + Omega^-1)^-1 = tau cov - tau cov (tau cov + Omega)^-1 tau cov``;
- the posterior covariance of returns ``cov + M``.

Each asset's view moves the mean by its confidence: a view with no uncertainty
(``Omega_ii = 0``) is taken as it is, a view with huge uncertainty leaves the prior.
The second form of ``M`` needs neither ``Omega^-1`` (zero variances are allowed) nor
an inverse of ``cov``: every inverse is a linear solve with ``tau cov + Omega``.

For an ensemble forecaster the view variance is ``Omega = c * diag(mu_std^2)``, the
spread of the members' means scaled by a factor ``c`` fitted on the training window
(`calibrate_view_scale`); the forecaster puts the scaled value in
``Forecast.mu_std``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foliocast.forecasting.forecast import Forecast

__all__ = [
    "black_litterman",
    "equilibrium_returns",
    "calibrate_view_scale",
    "apply_views",
    "VIEW_SCALE_RANGE",
]

VIEW_SCALE_RANGE = (1e-2, 1e4)
"""Bounds of the calibrated view scale ``c``.

Below 1e-2 the views would be trusted 100 times more than the ensemble spread says
(a calibration sample where the forecast variance overstates the return noise gives
a negative moment estimate); above 1e4 (spread understated 100 times in standard
deviation) the views carry no weight anyway.
"""


def _matrix(cov: pd.DataFrame, tickers: pd.Index) -> np.ndarray:
    if list(cov.index) != list(tickers) or list(cov.columns) != list(tickers):
        raise ValueError("cov must be indexed by the tickers of the prior on both axes")
    values = cov.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("cov must be finite")
    return values


def _check_tau(tau: float) -> None:
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a finite number > 0, got {tau!r}")


def _aligned(name: str, values: pd.Series, tickers: pd.Index) -> np.ndarray:
    missing = [t for t in tickers if t not in values.index]
    if missing:
        raise ValueError(f"{name} has no value for {', '.join(map(str, missing[:5]))}")
    array = values.reindex(tickers).to_numpy(dtype=float)
    if not np.isfinite(array).all():
        bad = tickers[~np.isfinite(array)]
        raise ValueError(f"{name} is not finite for {', '.join(map(str, bad[:5]))}")
    return array


def black_litterman(
    prior_mu: pd.Series,
    cov: pd.DataFrame,
    views: pd.Series,
    omega: pd.Series,
    tau: float,
) -> tuple[pd.Series, pd.DataFrame]:
    """Posterior mean and covariance from absolute views on every asset.

    Parameters
    ----------
    prior_mu : pandas.Series
        Prior expected returns ``pi`` of shape (n_assets,), indexed by ticker.
    cov : pandas.DataFrame
        Covariance of returns ``cov`` of shape (n_assets, n_assets), indexed like
        ``prior_mu`` on both axes, positive definite (or ``omega`` positive).
    views : pandas.Series
        Views ``q``: expected return of each asset, indexed like ``prior_mu`` (any
        order).
    omega : pandas.Series
        Variance of each view (the diagonal of ``Omega``), >= 0; 0 means certain.
    tau : float
        Scale of the prior's uncertainty, ``tau * cov``, > 0.

    Returns
    -------
    posterior_mu : pandas.Series
        ``pi + tau cov (tau cov + Omega)^-1 (q - pi)``, indexed like ``prior_mu``.
    posterior_cov : pandas.DataFrame
        ``cov + M``, with ``M`` the posterior uncertainty of the mean (module
        docstring), symmetric.

    Raises
    ------
    ValueError
        Misaligned or non-finite inputs, negative view variances, ``tau <= 0``.
    """
    _check_tau(tau)
    tickers = prior_mu.index
    pi = _aligned("prior_mu", prior_mu, tickers)
    sigma = _matrix(cov, tickers)
    q = _aligned("views", views, tickers)
    variances = _aligned("omega", omega, tickers)
    if (variances < 0).any():
        raise ValueError("omega (view variances) must be >= 0")
    mean, uncertainty = _posterior(pi, sigma, q, variances, tau)
    return (
        pd.Series(mean, index=tickers),
        pd.DataFrame(sigma + uncertainty, index=tickers, columns=tickers),
    )


def _posterior(
    pi: np.ndarray, sigma: np.ndarray, q: np.ndarray, variances: np.ndarray, tau: float
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and its uncertainty ``M`` (module docstring), as arrays."""
    prior_cov = tau * sigma
    # Symmetric positive definite when cov is, or when every view is uncertain.
    system = prior_cov + np.diag(variances)
    mean = pi + prior_cov @ np.linalg.solve(system, q - pi)
    uncertainty = prior_cov - prior_cov @ np.linalg.solve(system, prior_cov)
    return mean, (uncertainty + uncertainty.T) / 2.0


def equilibrium_returns(
    cov: pd.DataFrame, weights: pd.Series, risk_aversion: float
) -> pd.Series:
    """Expected returns that make ``weights`` optimal: ``pi = delta * cov @ w``.

    Reverse optimisation (Sharpe, 1974; Black & Litterman, 1992): the maximiser of
    ``mu^T w - (delta / 2) w^T cov w`` (the optimizer's utility, with ``delta`` its
    ``risk_aversion``) is ``w`` exactly when ``mu = delta cov w``. Black and
    Litterman take the market-capitalisation weights; the bundled datasets carry no
    capitalisations, so a run passes 1/N weights of the investable universe.

    Parameters
    ----------
    cov : pandas.DataFrame
        Covariance of horizon returns, shape (n_assets, n_assets).
    weights : pandas.Series
        Equilibrium weights by ticker (every ticker of ``cov``).
    risk_aversion : float
        ``delta`` > 0.

    Returns
    -------
    pandas.Series
        Implied excess returns over the horizon, indexed like ``cov``.
    """
    if not (np.isfinite(risk_aversion) and risk_aversion > 0):
        raise ValueError(f"risk_aversion must be > 0, got {risk_aversion!r}")
    tickers = cov.index
    sigma = _matrix(cov, tickers)
    w = _aligned("weights", weights, tickers)
    return pd.Series(risk_aversion * sigma @ w, index=tickers)


def calibrate_view_scale(
    realised: np.ndarray,
    mu: np.ndarray,
    mu_std: np.ndarray,
    variance: np.ndarray,
    mask: np.ndarray | None = None,
) -> float:
    """The factor ``c`` of the view variance ``Omega = c * diag(mu_std^2)``.

    A view ``q`` is a forecast of the *expected* return ``m``, not of the realised
    return ``r = m + e``, whose noise ``e`` has the forecast variance ``sigma^2``.
    If the view's error ``q - m`` has variance ``c s^2`` (``s`` the ensemble spread)
    and is independent of the noise, then ``E[(r - q)^2] = c s^2 + sigma^2``: the
    realised squared error minus the return noise measures the view's own error.
    Pooling the samples gives the moment estimate::

        c = sum((r - q)^2 - sigma^2) / sum(s^2)

    clipped to `VIEW_SCALE_RANGE` (a sample where ``sigma^2`` overstates the noise
    can make the numerator negative). Fit it on samples of the training window
    only (e.g. a validation block inside it): a later sample would be look-ahead.

    ``sigma^2`` should be the variance of the return around its expected value: for
    an ensemble, the mean of the members' variances. The mixture variance already
    contains the spread of the means and would bias ``c`` down.

    Parameters
    ----------
    realised : ndarray of shape (n_dates, n_assets)
        Realised horizon returns ``r``.
    mu : ndarray of shape (n_dates, n_assets)
        The views ``q`` made for those returns.
    mu_std : ndarray of shape (n_dates, n_assets)
        Unscaled spread ``s`` of the views (standard deviation of member means).
    variance : ndarray of shape (n_dates, n_assets)
        Forecast variance ``sigma^2`` of each return.
    mask : ndarray of bool of shape (n_dates, n_assets), optional
        Entries to use; entries with a NaN in any input are left out as well.

    Returns
    -------
    float
        ``c`` within `VIEW_SCALE_RANGE`.

    Raises
    ------
    ValueError
        Shapes differ, no entry is usable, or the spread is zero on every entry.
    """
    arrays = [np.asarray(a, dtype=float) for a in (realised, mu, mu_std, variance)]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(
            "realised, mu, mu_std and variance must have the same shape, got "
            + ", ".join(str(a.shape) for a in arrays)
        )
    use = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise ValueError(f"mask has shape {mask.shape}, expected {shape}")
        use &= mask
    if not use.any():
        raise ValueError("no entry to calibrate the view scale on (all masked or NaN)")
    r, q, s, var = (a[use] for a in arrays)
    spread = float(np.sum(s**2))
    if spread <= 0.0:
        raise ValueError(
            "the view spread mu_std is zero on every entry: with identical ensemble "
            "members there is no spread to scale"
        )
    scale = float(np.sum((r - q) ** 2 - var)) / spread
    low, high = VIEW_SCALE_RANGE
    return float(np.clip(scale, low, high))


def apply_views(forecast: Forecast, prior_mu: pd.Series, *, tau: float) -> Forecast:
    """The confidence-weighted forecast: ``forecast.mu`` as views on ``prior_mu``.

    The view variance is ``Omega = diag(forecast.mu_std^2)`` when the forecast has a
    standard error (an ensemble's calibrated spread); otherwise He & Litterman's
    default ``Omega = diag(tau * cov)``, which trusts each view as much as the prior
    (for uncorrelated assets the posterior lies halfway between them).

    Parameters
    ----------
    forecast : Forecast
        The model's forecast; its ``mu`` are the views, its ``cov`` the ``cov`` of
        `black_litterman`.
    prior_mu : pandas.Series
        Prior expected returns over the same horizon, covering the forecast's
        tickers.
    tau : float
        Scale of the prior's uncertainty, > 0.

    Returns
    -------
    Forecast
        The posterior mean as ``mu``; the forecast's own ``cov``, ``factors`` and
        ``idio``; ``mu_std`` the posterior standard error ``sqrt(diag(M))``.
    """
    tickers = forecast.mu.index
    cov = forecast.cov
    if forecast.mu_std is not None:
        omega = forecast.mu_std**2
    else:
        omega = pd.Series(tau * np.diag(cov.to_numpy(dtype=float)), index=tickers)
    variances = omega.to_numpy(dtype=float)
    _check_tau(tau)
    mean, uncertainty = _posterior(
        _aligned("prior_mu", prior_mu, tickers),
        _matrix(cov, tickers),
        _aligned("forecast.mu", forecast.mu, tickers),
        variances,
        tau,
    )
    std = np.sqrt(np.clip(np.diag(uncertainty), 0.0, None))
    # The risk model stays the forecaster's: its factor form is what the optimizer
    # solves fastest, and the strategy compared with lstm_mvo should differ in the
    # mean only. The posterior covariance cov + M is `black_litterman`'s second
    # output for whoever wants it.
    return Forecast(
        as_of=forecast.as_of,
        horizon=forecast.horizon,
        mu=pd.Series(mean, index=tickers, name=forecast.mu.name),
        cov=cov,
        factors=forecast.factors,
        idio=forecast.idio,
        mu_std=pd.Series(std, index=tickers),
    )
