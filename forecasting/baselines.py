"""Simple forecasters the LSTM has to beat.

Every baseline estimates the *daily* mean and covariance of simple returns over a
trailing window and maps them to the horizon the same way (see `horizon_moments`),
so the baselines differ only in how the daily covariance is estimated:

- ``historical``: sample covariance (pairwise over each pair's common days).
- ``ewma``: RiskMetrics exponentially weighted covariance, lambda = 0.94.
- ``ledoit_wolf``: PyPortfolioOpt's Ledoit-Wolf shrinkage towards a scaled identity.
- ``garch``: GARCH(1,1) volatility per asset (``arch``) with constant correlation
  (Bollerslev's CCC); the horizon covariance uses the multi-step variance forecasts.

The daily mean is always the sample mean of each asset's simple returns in the window.

Windows and missing data. ``lookback`` counts daily returns: the window is the last
``lookback`` rows of returns, the same dates for every asset. An asset that started
trading inside the window (leading NaNs) uses the days it has: its mean over its own
days, its covariances over the days both assets have (pairwise; Ledoit-Wolf needs one
complete panel and uses the common window where every asset trades). Pairwise
covariances need not be positive semi-definite, so they are projected back onto the
PSD cone by clipping negative eigenvalues. An asset with fewer than ``min_history``
returns in the window is an error that names it. Nothing is filled here: a missing
price inside the window loses the returns on both sides of it (filling is the data
layer's decision).

``fit`` only learns what has parameters (GARCH); the sample estimators re-estimate at
every ``predict`` from the trailing window of the prices they are handed, which is what
a rolling baseline should do. Their ``fit`` stores the fit-date estimates for
inspection.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from arch import arch_model
from arch.univariate.base import ARCHModel
from pypfopt.risk_models import CovarianceShrinkage, fix_nonpositive_semidefinite

from foliocast.forecasting.base import Forecaster
from foliocast.forecasting.forecast import Forecast

__all__ = [
    "EWMAForecaster",
    "FORECASTERS",
    "GARCHForecaster",
    "HistoricalForecaster",
    "LedoitWolfForecaster",
    "daily_returns_window",
    "horizon_moments",
    "make_forecaster",
]


def horizon_moments(
    daily_mean: np.ndarray, daily_cov: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Map daily return moments to the moments of the compounded horizon return.

    The horizon gross return of asset i is ``G_i = prod_t (1 + r_it)``. If the daily
    return vectors are independent across days with mean ``m`` and covariance
    ``S_t`` on day t, then exactly::

        E[G_i] = (1 + m_i) ** horizon
        E[G_i G_j] = prod_t ((1 + m_i) (1 + m_j) + S_t[i, j])

    so ``mu = (1 + m) ** horizon - 1`` (compounding of the arithmetic mean) and
    ``cov = prod_t (A + S_t) - A ** horizon`` elementwise with
    ``A = (1 + m)(1 + m)^T``. To first order this is ``sum_t S_t``, i.e.
    ``horizon * S`` for a constant covariance. The result is PSD whenever every
    ``S_t`` is: the difference expands into Hadamard products of PSD matrices
    (Schur product theorem).

    Parameters
    ----------
    daily_mean : ndarray of shape (n_assets,)
        Expected daily simple return ``m``.
    daily_cov : ndarray of shape (n_assets, n_assets) or (horizon, n_assets, n_assets)
        Daily covariance, constant or one per day of the horizon.
    horizon : int
        Number of trading days, at least 1.

    Returns
    -------
    mu : ndarray of shape (n_assets,)
        Expected simple return over the horizon.
    cov : ndarray of shape (n_assets, n_assets)
        Covariance of the horizon simple returns (symmetric).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    gross = 1.0 + np.asarray(daily_mean, dtype=float)
    covs = np.asarray(daily_cov, dtype=float)
    first = np.outer(gross, gross)
    if covs.ndim == 2:
        second = (first + covs) ** horizon
    else:
        if covs.shape[0] != horizon:
            raise ValueError(
                f"daily_cov has {covs.shape[0]} daily matrices, expected {horizon}"
            )
        second = np.prod(first[None, :, :] + covs, axis=0)
    cov = second - first**horizon
    return gross**horizon - 1.0, 0.5 * (cov + cov.T)


def _clip_to_psd(matrix: np.ndarray) -> np.ndarray:
    """Project a symmetric matrix onto the PSD cone by clipping eigenvalues at zero.

    Parameters
    ----------
    matrix : ndarray of shape (n, n)

    Returns
    -------
    ndarray of shape (n, n)
        The input (symmetrised) when already PSD, else the eigenvalue-clipped matrix.
    """
    sym = 0.5 * (matrix + matrix.T)
    # Only a positive definite matrix has a Cholesky factor, at a tenth of the cost
    # of eigh: most covariances leave here. Otherwise the eigenvalues decide.
    try:
        np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        pass
    else:
        return sym
    values, vectors = np.linalg.eigh(sym)
    if values[0] >= 0.0:
        return sym
    clipped = (vectors * np.clip(values, 0.0, None)) @ vectors.T
    return 0.5 * (clipped + clipped.T)


def _check_prices(prices: pd.DataFrame) -> None:
    """Reject inputs a forecaster cannot work with, saying what is wrong."""
    if not isinstance(prices, pd.DataFrame):
        raise TypeError(f"prices must be a pandas DataFrame, got {type(prices)!r}")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise TypeError("prices must have a DatetimeIndex of trading days")
    if len(prices) < 2 or prices.shape[1] == 0:
        raise ValueError("prices need at least two rows and one column")
    if not prices.index.is_monotonic_increasing:
        raise ValueError("prices index must be sorted in increasing date order")


def daily_returns_window(
    prices: pd.DataFrame, lookback: int | None, min_history: int
) -> pd.DataFrame:
    """Compute simple daily returns over the trailing window, checking history.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Daily prices up to the decision date (last row).
    lookback : int or None
        Number of most recent daily returns to keep; None keeps all.
    min_history : int
        Minimum number of non-missing returns every asset needs in the window.

    Returns
    -------
    DataFrame of shape (n_window, n_assets)
        Daily simple returns, NaN where an asset has no price.

    Raises
    ------
    ValueError
        If an asset has fewer than ``min_history`` returns in the window (named in
        the message) or a return is infinite (a zero price).
    """
    _check_prices(prices)
    window = prices if lookback is None else prices.iloc[-(lookback + 1) :]
    returns = window.pct_change(fill_method=None).iloc[1:]
    if np.isinf(returns.to_numpy(dtype=float)).any():
        bad = returns.columns[np.isinf(returns.to_numpy(dtype=float)).any(axis=0)]
        raise ValueError(
            f"infinite daily returns (a zero price?) for {', '.join(map(str, bad))}"
        )
    counts = returns.notna().sum()
    short = counts[counts < min_history]
    if len(short) > 0:
        names = ", ".join(f"{ticker} ({n})" for ticker, n in short.items())
        raise ValueError(
            f"fewer than the {min_history} daily returns the forecaster needs "
            f"(its min_history) in the window ending {prices.index[-1]:%Y-%m-%d} "
            f"for: {names}; give a longer price history or drop these assets (in a "
            f"run config, backtest.min_history_days of at least {min_history + 1} "
            "keeps such assets out of the universe)"
        )
    return returns


def _to_forecast(
    as_of: pd.Timestamp,
    horizon: int,
    tickers: pd.Index,
    daily_mean: np.ndarray,
    daily_cov: np.ndarray,
) -> Forecast:
    """Wrap horizon moments of daily estimates into a `Forecast`."""
    mu, cov = horizon_moments(daily_mean, daily_cov, horizon)
    return Forecast(
        as_of=pd.Timestamp(as_of),
        horizon=horizon,
        mu=pd.Series(mu, index=tickers, name="mu"),
        cov=pd.DataFrame(cov, index=tickers, columns=tickers),
    )


class _WindowEstimator:
    """Shared fit/predict of the sample estimators; subclasses give `_daily_cov`."""

    horizon: int
    lookback: int | None
    min_history: int

    def _daily_cov(self, returns: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _estimate(self, prices: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
        returns = daily_returns_window(prices, self.lookback, self.min_history)
        cov = self._daily_cov(returns)
        if not np.isfinite(cov).all():
            raise ValueError(
                "a covariance is undefined: some pair of assets shares no trading "
                "days in the window; lengthen lookback or drop one of them"
            )
        return returns.mean(), _clip_to_psd(cov)

    def fit(self, prices: pd.DataFrame) -> _WindowEstimator:
        """Estimate the daily moments at the last row of ``prices`` and store them.

        Parameters
        ----------
        prices : DataFrame of shape (n_days, n_assets)
            Daily prices up to the fit date.

        Returns
        -------
        self
            With ``mean_`` (Series, daily mean), ``cov_`` (DataFrame, daily
            covariance), ``tickers_`` and ``as_of_``.
        """
        mean, cov = self._estimate(prices)
        self.mean_ = mean
        self.cov_ = pd.DataFrame(cov, index=prices.columns, columns=prices.columns)
        self.tickers_ = list(prices.columns)
        self.as_of_ = pd.Timestamp(prices.index[-1])
        return self

    def predict(self, prices: pd.DataFrame) -> Forecast:
        """Forecast the next ``horizon`` days from the trailing window of ``prices``.

        Parameters
        ----------
        prices : DataFrame of shape (n_days, n_assets)
            Daily prices up to the decision date (last row); only rows up to it exist,
            and only the last ``lookback + 1`` rows are used.

        Returns
        -------
        Forecast
            ``mu`` of shape (n_assets,) and ``cov`` of shape (n_assets, n_assets) for
            the horizon, ``as_of`` the last date of ``prices``.
        """
        mean, cov = self._estimate(prices)
        return _to_forecast(
            prices.index[-1], self.horizon, prices.columns, mean.to_numpy(), cov
        )

    def __repr__(self) -> str:
        names = inspect.signature(type(self).__init__).parameters
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in names if n != "self")
        return f"{type(self).__name__}({args})"


class HistoricalForecaster(_WindowEstimator):
    """Sample mean and sample covariance of daily returns over a lookback.

    Daily -> horizon by `horizon_moments` (exact compounding under i.i.d. days:
    ``mu = (1 + m)^h - 1``; ``cov`` to first order ``h * S``).

    Parameters
    ----------
    horizon : int, default 21
        Trading days the forecast covers.
    lookback : int or None, default 1260
        Number of trailing daily returns used (None: all available history).
    min_history : int, default 63
        Minimum number of returns each asset needs in the window.
    """

    def __init__(
        self, *, horizon: int = 21, lookback: int | None = 1260, min_history: int = 63
    ) -> None:
        self.horizon = horizon
        self.lookback = lookback
        self.min_history = min_history

    def _daily_cov(self, returns: pd.DataFrame) -> np.ndarray:
        # pandas uses each pair's common days (ddof=1), the pairwise rule above.
        return returns.cov().to_numpy()


class EWMAForecaster(_WindowEstimator):
    """RiskMetrics exponentially weighted covariance with the historical mean.

    Daily covariance ``S = sum_k w_k r_{T-k} r_{T-k}^T / sum_k w_k`` with weights
    ``w_k = lam ** k`` (k = 0 for the last day), i.e. the RiskMetrics recursion
    ``S_t = lam S_{t-1} + (1 - lam) r_t r_t^T`` normalised over the finite window.
    RiskMetrics takes daily mean returns as zero in the covariance; ``demean=True``
    subtracts each asset's window mean first, which matches PyPortfolioOpt's
    ``exp_cov`` with ``span = 2 / (1 - lam) - 1``. For a pair with missing days, the
    weights are renormalised over the days both assets trade. Daily -> horizon by
    `horizon_moments`.

    Parameters
    ----------
    horizon : int, default 21
        Trading days the forecast covers.
    lam : float, default 0.94
        Daily decay factor in (0, 1).
    lookback : int or None, default 1260
        Number of trailing daily returns used (None: all available history).
    min_history : int, default 63
        Minimum number of returns each asset needs in the window.
    demean : bool, default False
        Subtract the window mean before weighting (False is RiskMetrics).
    """

    def __init__(
        self,
        *,
        horizon: int = 21,
        lam: float = 0.94,
        lookback: int | None = 1260,
        min_history: int = 63,
        demean: bool = False,
    ) -> None:
        if not 0.0 < lam < 1.0:
            raise ValueError(f"lam must lie in (0, 1), got {lam}")
        self.horizon = horizon
        self.lam = lam
        self.lookback = lookback
        self.min_history = min_history
        self.demean = demean

    def _daily_cov(self, returns: pd.DataFrame) -> np.ndarray:
        values = returns.to_numpy(dtype=float)
        if self.demean:
            values = values - np.nanmean(values, axis=0)
        observed = np.isfinite(values).astype(float)
        values = np.where(observed > 0, values, 0.0)
        weights = self.lam ** np.arange(len(values) - 1, -1, -1, dtype=float)
        weighted = values * weights[:, None]
        # Per-pair normalisation over the days both assets trade.
        return (weighted.T @ values) / ((observed * weights[:, None]).T @ observed)


class LedoitWolfForecaster(_WindowEstimator):
    """Ledoit-Wolf shrunk covariance (PyPortfolioOpt) with the historical mean.

    Covariance: ``CovarianceShrinkage(returns, returns_data=True,
    frequency=1).ledoit_wolf()`` (shrinkage towards a scaled identity) on the common
    window, the rows where every asset has a return, because the estimator needs a
    complete panel. The mean uses each asset's own days. Daily -> horizon by
    `horizon_moments`.

    Parameters
    ----------
    horizon : int, default 21
        Trading days the forecast covers.
    lookback : int or None, default 1260
        Number of trailing daily returns used (None: all available history).
    min_history : int, default 63
        Minimum number of returns each asset needs in the window; the common window
        must be at least this long too.
    shrinkage_target : str, default "constant_variance"
        PyPortfolioOpt target: "constant_variance", "single_factor" or
        "constant_correlation".
    """

    def __init__(
        self,
        *,
        horizon: int = 21,
        lookback: int | None = 1260,
        min_history: int = 63,
        shrinkage_target: str = "constant_variance",
    ) -> None:
        self.horizon = horizon
        self.lookback = lookback
        self.min_history = min_history
        self.shrinkage_target = shrinkage_target

    def _daily_cov(self, returns: pd.DataFrame) -> np.ndarray:
        common = returns.dropna(how="any")
        if len(common) < self.min_history:
            first_day = returns.apply(pd.Series.first_valid_index)
            latest = first_day[first_day == first_day.max()].index
            raise ValueError(
                f"only {len(common)} days where all assets have returns, fewer than "
                f"the {self.min_history} the forecaster needs (its min_history); the "
                f"latest starters are {', '.join(map(str, latest))}: give a longer "
                "price history or drop them (in a run config, "
                f"backtest.min_history_days of at least {self.min_history + 1} keeps "
                "such assets out of the universe)"
            )
        if self.shrinkage_target != "constant_variance":
            shrinkage = CovarianceShrinkage(common, returns_data=True, frequency=1)
            return shrinkage.ledoit_wolf(self.shrinkage_target).to_numpy()
        # CovarianceShrinkage(...).ledoit_wolf() without the unused sample
        # covariance and PSD check of its constructor (a third of the cost at 500
        # assets): scikit-learn's estimate, then PyPortfolioOpt's own PSD repair.
        from sklearn.covariance import ledoit_wolf  # loaded on first forecast

        shrunk, _ = ledoit_wolf(common.to_numpy(dtype=float))
        return np.asarray(fix_nonpositive_semidefinite(shrunk, fix_method="spectral"))


class GARCHForecaster:
    """GARCH(1,1) volatility per asset with a constant correlation (CCC).

    ``fit`` estimates, for each asset on its own days in the window, a constant-mean
    GARCH(1,1) with normal errors on returns in percent (``arch`` is better
    conditioned at that scale), and the correlation of the standardised residuals
    (pairwise, PSD-projected, unit diagonal). ``predict`` keeps these parameters,
    filters the conditional variance through the window it is handed and forecasts
    the daily variances ``s_{t+1..t+h}``. Day t's covariance is
    ``S_t = D_t R D_t`` with ``D_t = diag(sqrt(s_t))``; `horizon_moments` combines
    them, which to first order sums the multi-step variance forecasts. The daily
    mean is the window's sample mean, as in the other baselines.

    An asset whose price did not move in the window (daily return variance below
    `VARIANCE_FLOOR`: a suspended listing, a stale feed, a cash-like asset) has no
    volatility dynamics to estimate, and GARCH's likelihood is undefined on it. It
    gets a constant daily variance of `VARIANCE_FLOOR` instead (``omega`` at the
    floor, ``alpha = beta = 0``), no correlation with the others, and a
    RuntimeWarning that names it; ``flat_`` lists such assets. A fit that fails for
    another reason raises ValueError naming the asset.

    Parameters
    ----------
    horizon : int, default 21
        Trading days the forecast covers.
    lookback : int or None, default 1260
        Number of trailing daily returns used (None: all available history).
    min_history : int, default 250
        Minimum number of returns each asset needs in the window (GARCH needs more
        data than a sample covariance).
    """

    # Returns are scaled to percent for arch's optimiser.
    _SCALE = 100.0

    VARIANCE_FLOOR = 1e-10
    """Daily return variance (a 0.001% daily volatility) given to flat assets."""

    def __init__(
        self, *, horizon: int = 21, lookback: int | None = 1260, min_history: int = 250
    ) -> None:
        self.horizon = horizon
        self.lookback = lookback
        self.min_history = min_history

    @staticmethod
    def _model(returns: pd.Series) -> ARCHModel:
        return arch_model(
            returns.dropna() * GARCHForecaster._SCALE,
            mean="Constant",
            vol="GARCH",
            p=1,
            q=1,
            dist="normal",
            rescale=False,
        )

    def fit(self, prices: pd.DataFrame) -> GARCHForecaster:
        """Estimate GARCH(1,1) parameters per asset and the residual correlation.

        Parameters
        ----------
        prices : DataFrame of shape (n_days, n_assets)
            Daily prices up to the fit date.

        Returns
        -------
        self
            With ``params_`` (DataFrame n_assets x [mu, omega, alpha[1], beta[1]],
            percent units), ``correlation_`` (DataFrame n_assets x n_assets),
            ``converged_`` (Series of bool), ``flat_`` (list of the assets that
            did not move, given the constant `VARIANCE_FLOOR`), ``tickers_`` and
            ``as_of_``.

        Raises
        ------
        ValueError
            If an asset has too little history (`daily_returns_window`) or its
            GARCH fit fails (the message names it).
        """
        returns = daily_returns_window(prices, self.lookback, self.min_history)
        date = prices.index[-1]
        flat = [t for t in returns.columns if self._is_flat(returns[t])]
        params, residuals, converged = {}, {}, {}
        for ticker in returns.columns:
            if ticker in flat:
                params[ticker] = self._flat_params(returns[ticker])
                converged[ticker] = True
                continue
            try:
                result = self._model(returns[ticker]).fit(
                    disp="off", show_warning=False
                )
            except (ValueError, np.linalg.LinAlgError) as err:
                raise ValueError(
                    f"GARCH(1,1) could not be fitted to {ticker} in the window ending "
                    f"{date:%Y-%m-%d} ({err}); use another forecaster (e.g. ewma) or "
                    "drop the asset"
                ) from None
            params[ticker] = result.params
            residuals[ticker] = result.std_resid
            converged[ticker] = result.convergence_flag == 0
        if flat:
            warnings.warn(
                f"GARCH(1,1): {', '.join(map(str, flat))} did not move in the window "
                f"ending {date:%Y-%m-%d} (daily return variance below "
                f"{self.VARIANCE_FLOOR:g}); forecasting a constant daily variance of "
                f"{self.VARIANCE_FLOOR:g} and no correlation for "
                f"{'it' if len(flat) == 1 else 'them'}",
                RuntimeWarning,
                stacklevel=2,
            )
        if not all(converged.values()):
            failed = [str(t) for t, ok in converged.items() if not ok]
            warnings.warn(
                f"GARCH(1,1) optimiser did not converge for {', '.join(failed)}; "
                "using its last parameters",
                RuntimeWarning,
                stacklevel=2,
            )
        correlation = self._correlation(residuals, returns.columns)
        self.params_ = pd.DataFrame(params).T
        self.correlation_ = pd.DataFrame(
            correlation, index=returns.columns, columns=returns.columns
        )
        self.converged_ = pd.Series(converged)
        self.flat_ = flat
        self.tickers_ = list(returns.columns)
        self.as_of_ = pd.Timestamp(prices.index[-1])
        return self

    def predict(self, prices: pd.DataFrame) -> Forecast:
        """Forecast the next ``horizon`` days with the fitted GARCH parameters.

        Parameters
        ----------
        prices : DataFrame of shape (n_days, n_assets)
            Daily prices up to the decision date (last row), with the fitted tickers.

        Returns
        -------
        Forecast
            ``mu`` of shape (n_assets,) and ``cov`` of shape (n_assets, n_assets).
        """
        if not hasattr(self, "params_"):
            raise RuntimeError("GARCHForecaster is not fitted; call fit(prices) first")
        if list(prices.columns) != self.tickers_:
            raise ValueError(
                f"prices columns {list(prices.columns)} differ from the fitted "
                f"tickers {self.tickers_}; refit on this universe"
            )
        returns = daily_returns_window(prices, self.lookback, self.min_history)
        variances = np.empty((self.horizon, len(self.tickers_)))
        for i, ticker in enumerate(self.tickers_):
            if ticker in getattr(self, "flat_", ()):  # constant: nothing to filter
                variances[:, i] = self.params_.loc[ticker, "omega"] / self._SCALE**2
                continue
            fixed = self._model(returns[ticker]).fix(self.params_.loc[ticker])
            path = fixed.forecast(horizon=self.horizon, reindex=False).variance
            variances[:, i] = path.to_numpy()[-1] / self._SCALE**2
        bad = ~np.isfinite(variances).all(axis=0)
        if bad.any():
            names = ", ".join(
                str(t) for t, b in zip(self.tickers_, bad, strict=True) if b
            )
            raise ValueError(
                f"GARCH(1,1) variance forecast at {prices.index[-1]:%Y-%m-%d} is not "
                f"finite for {names}; use another forecaster (e.g. ewma) or drop "
                "the asset"
            )
        vols = np.sqrt(variances)
        corr = self.correlation_.to_numpy()
        daily_covs = vols[:, :, None] * corr[None, :, :] * vols[:, None, :]
        return _to_forecast(
            prices.index[-1],
            self.horizon,
            prices.columns,
            returns.mean().to_numpy(),
            daily_covs,
        )

    @classmethod
    def _is_flat(cls, returns: pd.Series) -> bool:
        """Whether an asset's returns are too still for GARCH (variance < floor)."""
        variance = returns.var()
        return not variance >= cls.VARIANCE_FLOOR  # NaN (no spread) counts as flat

    @classmethod
    def _flat_params(cls, returns: pd.Series) -> pd.Series:
        """Constant-variance parameters (percent units) for a flat asset."""
        mean = returns.mean()
        return pd.Series(
            {
                "mu": (0.0 if np.isnan(mean) else mean) * cls._SCALE,
                "omega": cls.VARIANCE_FLOOR * cls._SCALE**2,
                "alpha[1]": 0.0,
                "beta[1]": 0.0,
            }
        )

    @staticmethod
    def _correlation(residuals: dict, tickers: pd.Index) -> np.ndarray:
        """Residual correlation, PSD with unit diagonal; 0 where undefined.

        Flat assets have no residuals and pairs without common days no
        correlation: both count as uncorrelated.
        """
        frame = pd.DataFrame(residuals).reindex(columns=tickers)
        correlation = frame.corr().to_numpy()
        correlation = np.where(np.isfinite(correlation), correlation, 0.0)
        np.fill_diagonal(correlation, 1.0)
        correlation = _clip_to_psd(correlation)
        scale = np.sqrt(np.diag(correlation))
        return correlation / np.outer(scale, scale)

    def __repr__(self) -> str:
        return (
            f"GARCHForecaster(horizon={self.horizon!r}, lookback={self.lookback!r}, "
            f"min_history={self.min_history!r})"
        )


def _lstm(**params: object) -> Forecaster:
    """The LSTM forecaster; JAX is imported only when one is asked for."""
    # Imported here: the LSTM module loads JAX (seconds), which the classical
    # forecasters never need.
    from foliocast.forecasting.lstm import LSTMForecaster

    return LSTMForecaster(**params)


# Registry of forecaster kinds for configs; a new kind is one entry here.
FORECASTERS: dict[str, Callable[..., Forecaster]] = {
    "historical": HistoricalForecaster,
    "ewma": EWMAForecaster,
    "ledoit_wolf": LedoitWolfForecaster,
    "garch": GARCHForecaster,
    "lstm": _lstm,
}


def make_forecaster(kind: str, **params: object) -> Forecaster:
    """Build a forecaster from its registry name and keyword hyperparameters.

    Parameters
    ----------
    kind : str
        A key of `FORECASTERS` ("historical", "ewma", "ledoit_wolf", "garch", ...).
    **params
        Keyword hyperparameters of that forecaster, e.g. ``horizon=21``.

    Returns
    -------
    Forecaster

    Raises
    ------
    ValueError
        For an unknown kind or a hyperparameter the forecaster does not take (the
        message names it and lists the valid ones).
    """
    if kind not in FORECASTERS:
        raise ValueError(
            f"unknown forecaster kind {kind!r}; choose one of {sorted(FORECASTERS)}"
        )
    factory = FORECASTERS[kind]
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not takes_any:
        raise ValueError(
            f"unknown parameter(s) {unknown} for forecaster {kind!r}; "
            f"valid: {sorted(accepted)}"
        )
    return factory(**params)
