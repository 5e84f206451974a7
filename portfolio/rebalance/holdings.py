"""Account holdings: the holdings file of a rebalance, read and validated.

Holdings file (CSV, header required, any letter case, extra columns ignored)::

    ticker,shares
    AAPL,120
    MSFT,45.5
    CASH,25000

``shares`` may be fractional (the targets are whole shares); a ``CASH`` row (at most
one) gives the cash in the account, in the currency of the prices. Negative shares
are short positions and only allowed when the config's constraints set
``long_only: false`` (`check_holdings`); negative cash is never allowed.

Amounts are bounded so that whole-share arithmetic stays exact and fast: at most
`MAX_SHARES` shares per row (short or long) and at most `MAX_AMOUNT` of cash; the
account value is bounded by the same `MAX_AMOUNT` (`portfolio.valuation`).

`read_holdings` reads a file and `parse_holdings` validates a table into `Holdings`;
every error is a `DataError` that names the file, the row and what to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from foliocast.data.errors import DataError
from foliocast.data.loaders import sniff_delimiter
from foliocast.portfolio.optimizer.constraints import Constraints

__all__ = [
    "CASH",
    "MAX_AMOUNT",
    "MAX_SHARES",
    "Holdings",
    "read_holdings",
    "parse_holdings",
    "as_holdings",
    "check_holdings",
]

CASH = "CASH"
"""Ticker of the cash row of a holdings file (any letter case)."""

MAX_SHARES = 1e12
"""Largest number of shares (long or short) one holding may have."""

MAX_AMOUNT = 1e13
"""Largest cash or account value (ten trillion in the currency of the prices)."""


@dataclass(frozen=True)
class Holdings:
    """What the account holds before the rebalance.

    Attributes
    ----------
    shares : pandas.Series
        Shares per ticker (float; negative = short), without the cash row.
    cash : float or None
        Cash from the ``CASH`` row, None when the file has none.
    source : str
        Where the holdings came from, for messages.
    """

    shares: pd.Series
    cash: float | None
    source: str


def read_holdings(path: str | Path) -> Holdings:
    """Read a holdings CSV (``ticker, shares`` with an optional ``CASH`` row).

    Raises
    ------
    DataError
        If the file is missing or malformed (see `parse_holdings`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "holdings file not found",
            source=str(path),
            hint="Give --holdings a CSV with columns ticker,shares",
        )
    # Semicolon- or tab-separated files (spreadsheets in many locales) are read as
    # such, told apart by the header line as for price files.
    delimiter, _ = sniff_delimiter(path)
    try:
        table = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, sep=delimiter
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise DataError(
            "not a readable CSV",
            source=str(path),
            hint="Write a header line 'ticker,shares' and one holding per line",
        ) from None
    return parse_holdings(table, source=str(path))


def parse_holdings(table: pd.DataFrame, *, source: str = "holdings") -> Holdings:
    """Validate a holdings table and split off the cash row.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``ticker`` and ``shares`` (any letter case; others are ignored).
    source : str
        Name used in messages (the file path).

    Returns
    -------
    Holdings

    Raises
    ------
    DataError
        On a missing column, a blank or duplicate ticker, a non-numeric or
        non-finite number of shares, more than `MAX_SHARES` shares, negative cash
        or cash above `MAX_AMOUNT`; the row is named (rows count from 2, the line
        after the header).
    """
    columns = {str(c).strip().lower(): c for c in table.columns}
    missing = [name for name in ("ticker", "shares") if name not in columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}",
            source=source,
            hint="The header must name the columns ticker,shares",
        )
    tickers = table[columns["ticker"]].astype(str).str.strip()
    raw_shares = table[columns["shares"]]
    shares = pd.to_numeric(raw_shares, errors="coerce").astype(float)
    for position, (ticker, amount) in enumerate(zip(tickers, shares, strict=True)):
        row = f"row {position + 2}"
        if not ticker or ticker.lower() == "nan":
            raise DataError("blank ticker", source=source, where=row)
        if not math.isfinite(amount):
            raise DataError(
                f"shares {raw_shares.iloc[position]!r} of {ticker} is not a number",
                source=source,
                where=row,
                hint="Write shares as a plain number such as 120 or 45.5",
            )
        limit = MAX_AMOUNT if ticker.upper() == CASH else MAX_SHARES
        if abs(amount) > limit:
            what = "cash" if ticker.upper() == CASH else f"shares of {ticker}"
            raise DataError(
                f"{what} {amount:.6g} is beyond the supported {limit:.0e}",
                source=source,
                where=row,
                hint="Check the amount (a unit or a typo?); larger accounts are not "
                "supported",
            )
    is_cash = tickers.str.upper() == CASH
    keys = tickers.where(~is_cash, CASH)
    duplicated = sorted(set(keys[keys.duplicated()]))
    if duplicated:
        raise DataError(
            f"ticker(s) listed more than once: {', '.join(duplicated)}",
            source=source,
            hint="Keep one row per ticker (add the shares up)",
        )
    cash = float(shares[is_cash].iloc[0]) if is_cash.any() else None
    if cash is not None and cash < 0:
        raise DataError(
            f"negative cash {cash:g}",
            source=source,
            hint="Cash must be >= 0; a margin loan is not supported",
        )
    held = pd.Series(
        shares[~is_cash].to_numpy(), index=pd.Index(keys[~is_cash], dtype=object)
    )
    return Holdings(held.rename("shares"), cash, source)


def as_holdings(holdings: Holdings | pd.DataFrame | str | Path) -> Holdings:
    """Holdings as given, parsed from a table, or read from a file path."""
    if isinstance(holdings, Holdings):
        return holdings
    if isinstance(holdings, pd.DataFrame):
        return parse_holdings(holdings)
    return read_holdings(holdings)


def check_holdings(
    holdings: Holdings, prices: pd.DataFrame, constraints: Constraints
) -> None:
    """Reject tickers the data does not know and shorts a long-only config forbids."""
    unknown = [t for t in holdings.shares.index if t not in prices.columns]
    if unknown:
        known = list(prices.columns)
        by_case = {str(t).upper(): t for t in known}
        guesses = [
            f"{t} -> {by_case[t.upper()]}" for t in unknown if t.upper() in by_case
        ]
        shown = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
        hint = f"Use the tickers of the data ({shown}) or add their prices"
        if guesses:
            hint = f"Tickers are case-sensitive: {', '.join(guesses)}"
        raise DataError(
            f"unknown ticker(s) {', '.join(unknown)} not in the price data",
            source=holdings.source,
            hint=hint,
        )
    short = holdings.shares[holdings.shares < 0]
    if constraints.long_only and len(short):
        raise DataError(
            f"negative shares for {', '.join(short.index)} but the config is long-only",
            source=holdings.source,
            hint="Fix the holdings or set optimizer.constraints.long_only: false",
        )
