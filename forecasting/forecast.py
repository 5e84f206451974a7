"""The `Forecast` record that carries a forecaster's view to the optimizer.

Terms used across the project:

- ``mu``: expected *simple* return of each asset over the horizon.
- ``cov``: covariance of those horizon returns (PSD).
- ``factors`` (B, n_assets x k) and ``idio`` (d, n_assets) when the covariance has
  the factor form ``cov = B B^T + diag(d)``; the optimizer then uses the cheaper
  factor risk term.
- ``mu_std``: standard error of ``mu`` (an ensemble's spread of member means, scaled
  by a factor calibrated on the training window), when the forecaster knows it; a
  confidence-weighted (Black-Litterman) step turns it into view uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Forecast"]


@dataclass(frozen=True)
class Forecast:
    """A forecast of horizon returns made at ``as_of`` with data up to ``as_of``.

    Parameters
    ----------
    as_of : pandas.Timestamp
        Last date of the data the forecast was made from.
    horizon : int
        Number of trading days the forecast covers.
    mu : pandas.Series
        Expected simple return over the horizon, indexed by ticker.
    cov : pandas.DataFrame
        Covariance of horizon returns, shape (n_assets, n_assets), same tickers as
        ``mu`` on both axes.
    factors : pandas.DataFrame, optional
        Loadings B of shape (n_assets, k) when ``cov = B B^T + diag(idio)``.
    idio : pandas.Series, optional
        Idiosyncratic variances d of shape (n_assets,), positive.
    mu_std : pandas.Series, optional
        Standard error of ``mu`` (same index), non-negative.
    """

    as_of: pd.Timestamp
    horizon: int
    mu: pd.Series
    cov: pd.DataFrame
    factors: pd.DataFrame | None = None
    idio: pd.Series | None = None
    mu_std: pd.Series | None = None

    def __post_init__(self) -> None:
        tickers = list(self.mu.index)
        if list(self.cov.index) != tickers or list(self.cov.columns) != tickers:
            raise ValueError(
                "Forecast.cov must be indexed by the tickers of mu in order"
            )
        if (self.factors is None) != (self.idio is None):
            raise ValueError("Forecast.factors and Forecast.idio go together")
        if self.factors is not None:
            if list(self.factors.index) != tickers or list(self.idio.index) != tickers:
                raise ValueError("Forecast.factors/idio must be indexed like mu")
        if self.mu_std is not None:
            if list(self.mu_std.index) != tickers:
                raise ValueError("Forecast.mu_std must be indexed like mu")
            if not (self.mu_std.to_numpy(dtype=float) >= 0).all():
                raise ValueError("Forecast.mu_std must be finite and >= 0")
        if self.horizon < 1:
            raise ValueError(f"Forecast.horizon must be >= 1, got {self.horizon}")

    @property
    def tickers(self) -> list[str]:
        """Assets covered by the forecast, in order."""
        return list(self.mu.index)

    @property
    def volatility(self) -> pd.Series:
        """Forecast standard deviation of each asset's horizon return."""
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.mu.index)

    @classmethod
    def from_factors(
        cls,
        as_of: pd.Timestamp,
        horizon: int,
        mu: pd.Series,
        factors: pd.DataFrame,
        idio: pd.Series,
        mu_std: pd.Series | None = None,
    ) -> Forecast:
        """Build a forecast whose covariance is ``B B^T + diag(d)``."""
        b = factors.to_numpy()
        cov = b @ b.T + np.diag(idio.to_numpy())
        cov_df = pd.DataFrame(cov, index=mu.index, columns=mu.index)
        return cls(as_of, horizon, mu, cov_df, factors, idio, mu_std)
