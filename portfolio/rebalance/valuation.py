"""The account on the rebalance date: its trading day, held prices, value and cash.

`resolve_as_of` snaps the requested date back to a trading day of the price data.
`last_prices` prices each held asset at its last close on or before that day and
refuses one older than `STALE_DAYS` trading days (its value is unknown).
`account_value` gives the account value ``V`` and the cash before trading: the shares
at market plus the ``CASH`` row, or ``--value`` with the difference noted as a deposit
or a withdrawal; neither may exceed `MAX_AMOUNT` (beyond it no real account lies and
whole-share arithmetic stops being exact). `portfolio.rebalance` describes the whole
run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from foliocast.data.errors import DataError
from foliocast.data.validation import parse_iso_date
from foliocast.portfolio.config import ConfigError
from foliocast.portfolio.rebalance.holdings import MAX_AMOUNT, Holdings

__all__ = ["STALE_DAYS", "resolve_as_of", "last_prices", "account_value"]


STALE_DAYS = 5
"""A held asset's last price may be at most this many trading days before as_of."""


# ---------------------------------------------------------------------- dates


def resolve_as_of(
    index: pd.DatetimeIndex, as_of: str | pd.Timestamp
) -> tuple[pd.Timestamp, str | None]:
    """The trading day of ``index`` to rebalance on, and a note if it moved.

    A date that is not a trading day of the data (a weekend, a holiday) uses the
    previous trading day. A date after the last day of the data uses that last day
    when at most `STALE_DAYS` weekdays lie between them (a weekend month-end just
    after the data ends): the same tolerance as for a held asset's last price.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Trading days of the price data, sorted.
    as_of : str or pandas.Timestamp
        The requested date; text must be ISO ``YYYY-MM-DD``.

    Returns
    -------
    date : pandas.Timestamp
        The trading day used.
    note : str or None
        Which day was used and why, when it is not ``as_of`` itself.

    Raises
    ------
    ConfigError
        If ``as_of`` is not an ISO date (``05/06/2021`` is ambiguous).
    DataError
        If it lies before the first date of ``index`` or more than `STALE_DAYS`
        weekdays after the last (the message gives the data range).
    """
    requested = _as_of_date(as_of)
    first, last = index[0], index[-1]
    missing_days = int(
        np.busday_count(
            (last + pd.Timedelta(days=1)).date(),
            (requested + pd.Timedelta(days=1)).date(),
        )
    )
    if requested < first or missing_days > STALE_DAYS:
        raise DataError(
            f"as_of {requested:%Y-%m-%d} is outside the price data",
            where=f"data from {first:%Y-%m-%d} to {last:%Y-%m-%d}",
            hint="Choose a date in that range (or at most "
            f"{STALE_DAYS} weekdays after it) or update the prices",
        )
    date = index[index.searchsorted(requested, side="right") - 1]
    if date == requested:
        return date, None
    if requested > last:
        return date, (
            f"as_of {requested:%Y-%m-%d} is after the last date of the price data; "
            f"used its last trading day, {date:%Y-%m-%d} ({missing_days} weekdays "
            "without prices in between)"
        )
    return date, (
        f"as_of {requested:%Y-%m-%d} is not a trading day of the data; "
        f"used the previous one, {date:%Y-%m-%d}"
    )


def _as_of_date(as_of: str | pd.Timestamp) -> pd.Timestamp:
    """``as_of`` as a plain date; text must be ISO so day and month cannot swap."""
    if isinstance(as_of, str):
        try:
            return parse_iso_date(as_of)
        except ValueError as err:
            raise ConfigError(
                f"as_of: {as_of!r}: {err}; write the date as YYYY-MM-DD"
            ) from None
    try:
        requested = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        raise ConfigError(f"as_of: {as_of!r} is not a date (use YYYY-MM-DD)") from None
    if requested is pd.NaT or requested.tz is not None:
        raise ConfigError(f"as_of: {as_of!r} must be a plain date (YYYY-MM-DD)")
    return requested.normalize()


def last_prices(past: pd.DataFrame, tickers: list[str], source: str) -> pd.Series:
    """Last price of each held asset, refusing one older than `STALE_DAYS`.

    Parameters
    ----------
    past : pandas.DataFrame of shape (n_days, n_assets)
        Daily prices up to and including the rebalance date (its last row), with
        every ticker of ``tickers`` among the columns.
    tickers : list of str
        Held assets to price.
    source : str
        Where the holdings came from, for error messages.

    Returns
    -------
    pandas.Series of shape (len(tickers),)
        Each asset's last non-missing price on or before the rebalance date,
        indexed by ``tickers``.

    Raises
    ------
    DataError
        If an asset has no price at all, or its last price is more than
        `STALE_DAYS` trading days before the rebalance date.
    """
    date = past.index[-1]
    last = pd.Series(np.nan, index=pd.Index(tickers, dtype=object))
    for ticker in tickers:
        series = past[ticker]
        seen = series.last_valid_index()
        if seen is None:
            raise DataError(
                f"{ticker} has no price on or before {date:%Y-%m-%d}",
                source=source,
                hint="Remove the holding or rebalance on a later date",
            )
        age = len(past) - 1 - past.index.get_loc(seen)
        if age > STALE_DAYS:
            raise DataError(
                f"stale price for {ticker}: its last price is on {seen:%Y-%m-%d}, "
                f"{age} trading days before as_of {date:%Y-%m-%d} (at most "
                f"{STALE_DAYS} allowed)",
                source=source,
                hint="Update the price data or remove the holding",
            )
        last[ticker] = series[seen]
    return last


# -------------------------------------------------------------------- account


def account_value(
    holdings: Holdings, market_value: float, value: float | None
) -> tuple[float, float, list[str]]:
    """Account value and cash before trading, with notes on deposits/withdrawals.

    Parameters
    ----------
    holdings : Holdings
        Current holdings; only the ``CASH`` row (``holdings.cash``) is read, plus
        whether the holdings are empty, for the error message.
    market_value : float
        Market value of the held shares at their last prices.
    value : float or None
        Account value given by the user (``--value``); None to use the shares at
        market plus the ``CASH`` row.

    Returns
    -------
    value : float
        Account value ``V``.
    cash : float
        Cash before trading: the ``CASH`` row (0 without one) when ``value`` is
        None, else ``value - market_value`` (negative when a withdrawal must be met
        by selling).
    notes : list of str
        A note on the deposit or withdrawal when ``value`` differs from the
        holdings plus cash (by more than half a cent; without a ``CASH`` row only a
        withdrawal is noted); empty otherwise.

    Raises
    ------
    ConfigError
        If ``value`` is None and the shares plus cash are worth nothing (or less),
        or if ``value`` is not a positive finite amount up to `MAX_AMOUNT`.
    DataError
        If the held shares are worth more than `MAX_AMOUNT` at market (or their
        value overflows).
    """
    notes = []
    if not abs(market_value) <= MAX_AMOUNT:
        raise DataError(
            f"the holdings are worth {market_value:.6g} at their last prices, beyond "
            f"the supported account value of {MAX_AMOUNT:.0e}",
            source=holdings.source,
            hint="Check the shares and the prices (units? a typo?)",
        )
    if value is None:
        cash = holdings.cash or 0.0
        total = market_value + cash
        if total <= 0:
            what = (
                "the holdings are empty and give no cash"
                if holdings.shares.empty and holdings.cash is None
                else f"holdings plus cash are worth {total:,.2f}"
            )
            raise ConfigError(
                f"value: {what}; pass --value (the account value to allocate) or "
                "add a CASH row"
            )
        if total > MAX_AMOUNT:
            raise ConfigError(
                f"value: holdings plus cash are worth {total:.6g}, beyond the "
                f"supported account value of {MAX_AMOUNT:.0e}"
            )
        return total, cash, notes
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"value: {value!r} must be a positive amount")
    if value > MAX_AMOUNT:
        raise ConfigError(
            f"value: {value:.6g} is beyond the supported account value of "
            f"{MAX_AMOUNT:.0e}; give the account value in the currency of the prices"
        )
    cash = value - market_value
    booked = market_value + (holdings.cash or 0.0)
    flow = value - booked
    if abs(flow) > 0.005 and (holdings.cash is not None or flow < 0):
        kind = "deposit" if flow > 0 else "withdrawal"
        notes.append(
            f"--value {value:,.2f} differs from holdings plus cash {booked:,.2f}: "
            f"treated as a {kind} of {abs(flow):,.2f}"
        )
    return float(value), float(cash), notes
