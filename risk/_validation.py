"""Input checks shared by the risk metrics: one place that says what a return is.

A return series is a ``pandas.Series`` of simple (not log) per-period returns with a
sorted, unique ``DatetimeIndex``. Missing values (a strategy that started later, a
holiday in one market) are dropped before a metric is computed, so every metric is a
statistic of the observed periods only. Infinite values are always an error: they mean
an upstream division by a zero price, and no metric of them would be meaningful.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["as_return_series", "as_return_frame", "align_rf", "finite_or_nan"]


def _check_index(index: pd.Index, name: str) -> None:
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(
            f"{name} must have a DatetimeIndex, got {type(index).__name__}; "
            "index the returns by date (e.g. pd.to_datetime on the date column)"
        )
    if not index.is_unique:
        first = index[index.duplicated()][0]
        raise ValueError(f"{name} has duplicate dates (first: {first.date()})")
    if not index.is_monotonic_increasing:
        raise ValueError(f"{name} dates are not sorted; call .sort_index() first")


def _check_numeric(values: pd.Series | pd.DataFrame, name: str) -> None:
    dtypes = values.dtypes if isinstance(values, pd.DataFrame) else [values.dtype]
    for dtype in dtypes:
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(
            dtype
        ):
            raise TypeError(f"{name} must hold numbers, got dtype {dtype}")
    if np.isinf(values.to_numpy(dtype=float)).any():
        raise ValueError(
            f"{name} contains infinite values; check for divisions by zero prices"
        )


def as_return_series(returns: pd.Series, *, name: str = "returns") -> pd.Series:
    """Validate a return series and drop its missing values.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns indexed by a sorted, unique ``DatetimeIndex``.
    name : str
        What to call the series in error messages.

    Returns
    -------
    pd.Series of shape (n_observed,)
        The non-missing returns as float64.

    Raises
    ------
    TypeError
        If ``returns`` is not a numeric Series with a ``DatetimeIndex``.
    ValueError
        If it has duplicate or unsorted dates, infinite values, or no observations.
    """
    if isinstance(returns, pd.DataFrame):
        raise TypeError(
            f"{name} must be a Series of one strategy's returns, got a DataFrame; "
            "use summary_table for several strategies"
        )
    if not isinstance(returns, pd.Series):
        raise TypeError(f"{name} must be a pandas Series, got {type(returns).__name__}")
    _check_index(returns.index, name)
    _check_numeric(returns, name)
    observed = returns.dropna().astype("float64")
    if observed.empty:
        raise ValueError(
            f"{name} has no observations (empty or all missing); "
            "a metric needs at least one return"
        )
    return observed


def as_return_frame(returns: pd.DataFrame, *, name: str = "returns") -> pd.DataFrame:
    """Validate a frame of returns (one column per strategy or asset).

    Parameters
    ----------
    returns : pd.DataFrame of shape (n_periods, n_columns)
        Simple per-period returns indexed by a sorted, unique ``DatetimeIndex``.
    name : str
        What to call the frame in error messages.

    Returns
    -------
    pd.DataFrame of shape (n_periods, n_columns)
        The same frame as float64; missing values are kept, because columns may
        start on different dates and are handled one at a time.

    Raises
    ------
    TypeError
        If ``returns`` is not a numeric DataFrame with a ``DatetimeIndex``.
    ValueError
        If it has no columns or rows, duplicate or unsorted dates, or infinite values.
    """
    if not isinstance(returns, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame, got {type(returns).__name__}"
        )
    if returns.shape[0] == 0 or returns.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {returns.shape})")
    _check_index(returns.index, name)
    _check_numeric(returns, name)
    return returns.astype("float64")


def align_rf(rf: float | pd.Series, index: pd.DatetimeIndex) -> float | np.ndarray:
    """Return the per-period risk-free rate on the dates of ``index``.

    Parameters
    ----------
    rf : float or pd.Series
        Per-period risk-free return: a constant, or a series indexed by date.
    index : pd.DatetimeIndex of shape (n_periods,)
        The dates of the returns the rate is subtracted from.

    Returns
    -------
    float or ndarray of shape (n_periods,)
        The constant, or the series' values on exactly those dates.

    Raises
    ------
    ValueError
        If ``rf`` is not finite or a series lacks a value on some return date.
    """
    if isinstance(rf, pd.Series):
        aligned = rf.reindex(index).to_numpy(dtype=float)
        missing = ~np.isfinite(aligned)
        if missing.any():
            first = index[np.flatnonzero(missing)[0]]
            raise ValueError(
                f"rf has no value on {int(missing.sum())} return date(s) "
                f"(first: {first.date()}); pass a rate covering every date or a "
                "scalar"
            )
        return aligned
    rate = float(rf)
    if not np.isfinite(rate):
        raise ValueError(f"rf must be a finite per-period rate, got {rf!r}")
    return rate


def finite_or_nan(value: float) -> float:
    """Return ``value`` as a plain float, with infinities turned into NaN.

    Reports and ``metrics.json`` need plain floats; an infinite ratio (a zero
    denominator) is undefined rather than meaningfully large, so it becomes NaN.
    """
    value = float(value)
    return value if np.isfinite(value) else float("nan")
