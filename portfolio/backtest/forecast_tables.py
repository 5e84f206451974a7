"""Forecasts as long tables, the form a run folder keeps them in, and back.

A run saves every forecast its forecasters made in two tables:

- ``forecasts.csv``: ``date, forecaster, asset, mu, vol, idio, mu_std``, one row per
  asset; ``vol`` is the forecast volatility ``sqrt(cov_ii)``, ``idio`` the
  idiosyncratic variance ``d_i`` and ``mu_std`` the standard error of ``mu`` (NaN
  for a forecaster that gives none; run folders written before it lack the column);
- ``forecast_factors.csv``: ``date, forecaster, asset, factor, loading``, one row
  per asset and factor: the loadings ``B``.

Together they give back each covariance as ``cov = B B^T + diag(d)``, so the
forecast scores (e.g. the Gaussian NLL and the QLIKE of `forecasting.evaluation`)
can be recomputed from the run folder. A forecaster with a factor model (the LSTM)
is saved with its own factors; for one with a plain covariance matrix the loadings
are its principal components scaled by the square roots of the eigenvalues
(``pc_1``, ``pc_2``, ...) and ``d = 0``, an exact rewriting of the same matrix.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from foliocast.forecasting.forecast import Forecast

__all__ = [
    "FORECAST_COLUMNS",
    "FACTOR_COLUMNS",
    "factor_form",
    "forecast_tables",
    "forecast_from_tables",
]

FORECAST_COLUMNS = ["date", "forecaster", "asset", "mu", "vol", "idio", "mu_std"]
FACTOR_COLUMNS = ["date", "forecaster", "asset", "factor", "loading"]


def factor_form(forecast: Forecast) -> tuple[pd.DataFrame, pd.Series]:
    """Return loadings ``B`` and idiosyncratic variances ``d`` of a forecast.

    Parameters
    ----------
    forecast : Forecast
        Any forecast.

    Returns
    -------
    loadings : pd.DataFrame of shape (n_assets, k)
        The forecast's own factors, or the principal components of its covariance
        scaled by ``sqrt(eigenvalue)`` (positive eigenvalues only, largest first,
        columns ``pc_1..pc_k``); no columns if the covariance is not finite.
    idio : pd.Series of shape (n_assets,)
        The forecast's idiosyncratic variances, or 0 for a plain covariance (NaN
        if it is not finite).
    """
    if forecast.factors is not None:
        return forecast.factors, forecast.idio
    tickers = forecast.mu.index
    cov = forecast.cov.to_numpy(dtype=float)
    if not np.isfinite(cov).all():
        return pd.DataFrame(index=tickers), pd.Series(np.nan, index=tickers)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    keep = order[values[order] > 0.0]
    loadings = vectors[:, keep] * np.sqrt(values[keep])
    columns = [f"pc_{j + 1}" for j in range(keep.size)]
    return (
        pd.DataFrame(loadings, index=tickers, columns=columns),
        pd.Series(0.0, index=tickers),
    )


def forecast_tables(
    history: Iterable[tuple[str, Forecast]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the long tables of a run's forecasts (see the module docstring).

    A forecast recorded under several names (one forecaster serving two names of
    a run) is written under each, its factor form computed once.

    Parameters
    ----------
    history : iterable of (str, Forecast)
        Forecaster name and forecast, in the order they were made.

    Returns
    -------
    forecasts : pd.DataFrame
        Columns `FORECAST_COLUMNS`.
    factors : pd.DataFrame
        Columns `FACTOR_COLUMNS`; ``forecaster``, ``asset`` and ``factor`` are
        categorical (a plain covariance of n assets gives n^2 rows a forecast).
    """
    parts, factor_parts = [], []
    # By forecast object; the object is kept with its form so that its id is not
    # reused by another forecast while this runs.
    forms: dict[int, tuple[Forecast, pd.DataFrame, pd.Series]] = {}
    for name, forecast in history:
        if id(forecast) not in forms:
            forms[id(forecast)] = (forecast, *factor_form(forecast))
        _, loadings, idio = forms[id(forecast)]
        parts.append(_forecast_rows(name, forecast, idio))
        factor_parts.append((name, forecast, loadings))
    if not parts:
        return (
            pd.DataFrame([], columns=FORECAST_COLUMNS).astype(
                {"idio": float, "mu_std": float}
            ),
            pd.DataFrame([], columns=FACTOR_COLUMNS),
        )
    return pd.concat(parts, ignore_index=True), _factor_table(factor_parts)


def _forecast_rows(name: str, forecast: Forecast, idio: pd.Series) -> pd.DataFrame:
    """One row per asset of ``forecast``: `FORECAST_COLUMNS`."""
    tickers = forecast.tickers
    n = len(tickers)
    std = (
        np.full(n, np.nan)
        if forecast.mu_std is None
        else forecast.mu_std.to_numpy(dtype=float)
    )
    return pd.DataFrame(
        {
            "date": _repeated(forecast.as_of, n),
            "forecaster": _labels([name], np.zeros(n, dtype=np.intp)),
            "asset": _labels(tickers, np.arange(n)),
            "mu": forecast.mu.to_numpy(dtype=float),
            "vol": np.sqrt(np.clip(np.diag(forecast.cov.to_numpy()), 0, None)),
            "idio": idio.to_numpy(dtype=float),
            "mu_std": std,
        }
    )


def _factor_table(
    parts: list[tuple[str, Forecast, pd.DataFrame]],
) -> pd.DataFrame:
    """One row per asset and factor of each (name, forecast, loadings), in order.

    Each column is built once for the whole table: frames per forecast and their
    concatenation would hold it twice, and with a plain covariance of 500 assets
    a forecast has 250,000 rows (a 6-year monthly run, 36 million).
    """
    sizes = [
        (len(forecast.tickers), loadings.shape[1]) for _, forecast, loadings in parts
    ]
    rows = np.array([n * k for n, k in sizes])
    names, name_codes = _codes([[name] for name, _, _ in parts])
    assets, asset_codes = _codes([list(forecast.tickers) for _, forecast, _ in parts])
    factors, factor_codes = _codes(
        [[str(f) for f in loadings.columns] for _, _, loadings in parts]
    )
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex([f.as_of for _, f, _ in parts]).repeat(rows),
            "forecaster": _categories(
                names, np.repeat(np.concatenate(name_codes), rows)
            ),
            "asset": _categories(
                assets,
                np.concatenate(
                    [
                        np.repeat(c, k)
                        for c, (_, k) in zip(asset_codes, sizes, strict=True)
                    ]
                ),
            ),
            "factor": _categories(
                factors,
                np.concatenate(
                    [
                        np.tile(c, n)
                        for c, (n, _) in zip(factor_codes, sizes, strict=True)
                    ]
                ),
            ),
            "loading": np.concatenate(
                [loadings.to_numpy(dtype=float).ravel() for _, _, loadings in parts]
            ),
        },
        columns=FACTOR_COLUMNS,
    )


def _codes(groups: list[list[str]]) -> tuple[list[str], list[np.ndarray]]:
    """The distinct labels of ``groups`` and each group's positions among them."""
    index: dict[str, int] = {}
    codes = [
        np.array(
            [index.setdefault(label, len(index)) for label in group], dtype=np.int32
        )
        for group in groups
    ]
    return list(index), codes


def _repeated(day: pd.Timestamp, rows: int) -> pd.DatetimeIndex:
    """``day`` ``rows`` times, in the unit pandas gives the timestamp."""
    return pd.DatetimeIndex([day]).repeat(rows)


def _categories(labels: list[str], codes: np.ndarray) -> pd.Categorical:
    """``labels`` at ``codes``, stored as codes.

    A text column of the factor table (tens of millions of rows at 500 assets)
    would take a string per row: 1.6 GB for a 6-year run, against 0.2 GB as
    categories. It reads and writes as the same text.
    """
    small = (
        np.int8 if len(labels) < 2**7 else np.int16 if len(labels) < 2**15 else np.int32
    )
    return pd.Categorical.from_codes(
        codes.astype(small), categories=pd.Index(labels, dtype="str")
    )


def _labels(
    values: Iterable, positions: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """``values`` at ``positions``, as the strings pandas infers for text columns.

    Taken from the few distinct labels: converting one Python string per row of
    a 500-asset factor table (250,000 rows a forecast) costs seconds a run.
    """
    return pd.array(list(values), dtype="str").take(positions)


def forecast_from_tables(
    forecasts: pd.DataFrame,
    factors: pd.DataFrame,
    date: str | pd.Timestamp,
    forecaster: str,
    *,
    horizon: int,
) -> Forecast:
    """Rebuild one saved forecast, its covariance as ``B B^T + diag(d)``.

    Parameters
    ----------
    forecasts, factors : pd.DataFrame
        The tables of `forecast_tables` (or read back from a run folder).
    date : str or pandas.Timestamp
        Forecast date.
    forecaster : str
        Forecaster name (``model`` or ``ledoit_wolf`` in a run).
    horizon : int
        Horizon of the forecast in trading days (``forecaster.horizon``).

    Returns
    -------
    Forecast
        With ``factors``, ``idio`` and ``mu_std`` as saved; ``mu_std`` is None when
        the forecast was saved without one (NaN, or no ``mu_std`` column).

    Raises
    ------
    KeyError
        If the tables hold no forecast of ``forecaster`` at ``date``.
    """
    day = pd.Timestamp(date)
    own = forecasts[
        (pd.to_datetime(forecasts["date"]) == day)
        & (forecasts["forecaster"] == forecaster)
    ]
    if own.empty:
        raise KeyError(f"no forecast of {forecaster!r} on {day.date()} in the tables")
    tickers = pd.Index(own["asset"].astype(str), name=None)
    mine = factors[
        (pd.to_datetime(factors["date"]) == day) & (factors["forecaster"] == forecaster)
    ]
    loadings = (
        mine.astype({"asset": str})
        .pivot(index="asset", columns="factor", values="loading")
        .reindex(index=tickers)
    )
    order = list(dict.fromkeys(mine["factor"]))  # the saved factor order
    loadings = loadings.reindex(columns=order).fillna(0.0)
    loadings.columns.name = None
    return Forecast.from_factors(
        as_of=day,
        horizon=horizon,
        mu=pd.Series(own["mu"].to_numpy(dtype=float), index=tickers),
        factors=loadings,
        idio=pd.Series(own["idio"].to_numpy(dtype=float), index=tickers),
        mu_std=_saved_mu_std(own, tickers),
    )


def _saved_mu_std(own: pd.DataFrame, tickers: pd.Index) -> pd.Series | None:
    """The saved standard error of ``mu``, or None where none was saved."""
    if "mu_std" not in own.columns:
        return None
    values = pd.to_numeric(own["mu_std"], errors="coerce").to_numpy(dtype=float)
    # The writer puts NaN on every row of a forecast that has no standard error.
    if not np.isfinite(values).all():
        return None
    return pd.Series(values, index=tickers)
