"""Checks that turn raw tables into clean price frames, or say exactly what is wrong.

A clean price frame has a sorted, unique, tz-naive ``DatetimeIndex`` and one float
column per ticker (string). Prices are strictly positive. Missing values are allowed
only before an asset's first price (it had not started trading) and in gaps of at most
``fill_limit`` consecutive rows, which are forward-filled; anything longer is an error,
because silently filling weeks of prices invents returns.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from foliocast.data.errors import DataError
from foliocast.data.isodate import not_iso_reason, parse_iso_day

__all__ = [
    "DEFAULT_FILL_LIMIT",
    "DEFAULT_MIN_ROWS",
    "check_tickers",
    "parse_dates",
    "not_iso_reason",
    "parse_iso_date",
    "parse_numbers",
    "check_date_order",
    "check_positive",
    "fill_gaps",
    "validate_price_frame",
]

DEFAULT_FILL_LIMIT = 5
DEFAULT_MIN_ROWS = 20

RowLabel = Callable[[int], str]

# ISO 8601 date, optional time, optional UTC offset: year first, so day and month
# cannot be swapped. The offset is kept apart: dates are read in their local time.
ISO_DATE = re.compile(
    r"(?P<local>\d{4}-\d{1,2}-\d{1,2}"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)"
    r"\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?"
)
# Day and month first in either order (05/06/2021, 6.5.21): ambiguous.


def _first_true(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_tickers(names: Sequence[object], *, source: str) -> list[str]:
    """Return ticker names as stripped strings; reject blank or duplicate names."""
    tickers = ["" if n is None else str(n).strip() for n in names]
    for position, name in enumerate(tickers, start=1):
        if not name or name.lower().startswith("unnamed:"):
            raise DataError(
                "a price column has no ticker name",
                source=source,
                where=f"column {position + 1} of the header",
                hint="Give every price column a ticker in the header row",
            )
    duplicated = [name for name, count in Counter(tickers).items() if count > 1]
    if duplicated:
        raise DataError(
            f"duplicate ticker {duplicated[0]!r} appears more than once",
            source=source,
            where="header",
            hint="Keep one column per ticker, or rename one of them",
        )
    return tickers


def parse_iso_date(text: str) -> pd.Timestamp:
    """Parse one ISO date ``YYYY-MM-DD`` (e.g. a command-line argument).

    Only year-first dates are accepted (`data.isodate.parse_iso_day`).

    Raises
    ------
    ValueError
        Saying why ``text`` is not a plain ISO date.
    """
    day = parse_iso_day(text)
    try:
        return pd.Timestamp(day)
    except (ValueError, OverflowError):  # outside pandas' years 1677-2262
        raise ValueError("not a calendar date") from None


def _date_error(text: str, reason: str, source: str, where: str) -> DataError:
    return DataError(
        f"cannot parse date {text!r}: {reason}",
        source=source,
        where=where,
        hint="Write dates as YYYY-MM-DD",
    )


def parse_dates(
    raw: pd.Series, *, source: str, row_label: RowLabel
) -> pd.DatetimeIndex:
    """Parse a column of ISO dates; name the first row that is missing or not ISO.

    Dates must be year first (``2021-03-31``, optionally with a time). A UTC offset
    is dropped, keeping the date and time as written: ``2021-03-15 00:00:00-04:00``
    is 2021-03-15, even when the offset changes with daylight saving time.
    """
    missing = raw.isna().to_numpy()
    if missing.any():
        raise DataError(
            "missing date",
            source=source,
            where=row_label(_first_true(missing)),
            hint="Every row needs a date such as 2021-03-31",
        )
    if pd.api.types.is_datetime64_any_dtype(raw):
        dates = pd.DatetimeIndex(raw)
    else:
        text = raw.astype(str).str.strip()
        local = text.str.extract(f"^(?:{ISO_DATE.pattern})$")["local"]
        not_iso = local.isna().to_numpy()
        if not_iso.any():
            i = _first_true(not_iso)
            reason = not_iso_reason(text.iloc[i])
            raise _date_error(text.iloc[i], reason, source, row_label(i))
        dates = pd.DatetimeIndex(
            pd.to_datetime(local, errors="coerce", format="ISO8601")
        )
        bad = dates.isna()
        if bad.any():
            i = _first_true(bad)
            raise _date_error(text.iloc[i], "not a calendar date", source, row_label(i))
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    return dates


def parse_numbers(
    raw: pd.Series, *, source: str, column: str, row_label: RowLabel
) -> pd.Series:
    """Convert a column to float; name the first cell that is not a number."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype(float)
    else:
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = (values.isna() & raw.notna()).to_numpy()
        if bad.any():
            i = _first_true(bad)
            raise DataError(
                f"non-numeric value {raw.iloc[i]!r} in column {column!r}",
                source=source,
                where=row_label(i),
                hint="Prices must be plain numbers with a decimal point (no currency "
                "signs, thousands separators or decimal commas); leave a cell empty "
                "if the price is missing",
            )
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        raise DataError(
            f"infinite value in column {column!r}",
            source=source,
            where=row_label(_first_true(infinite)),
            hint="Replace it with the real price or leave the cell empty",
        )
    return values


def check_date_order(
    dates: pd.DatetimeIndex, *, source: str, row_label: RowLabel
) -> None:
    """Reject duplicate dates and dates out of ascending order."""
    duplicated = dates.duplicated(keep="first")
    if duplicated.any():
        i = _first_true(duplicated)
        first = int(np.flatnonzero(dates == dates[i])[0])
        raise DataError(
            f"duplicate date {dates[i].date()}",
            source=source,
            where=f"{row_label(first)} and {row_label(i)}",
            hint="Keep one row per date",
        )
    backwards = np.flatnonzero(np.diff(dates.asi8) < 0)
    if backwards.size:
        i = int(backwards[0]) + 1
        raise DataError(
            f"dates are not in ascending order: {dates[i].date()} comes after "
            f"{dates[i - 1].date()}",
            source=source,
            where=row_label(i),
            hint="Sort the file by date, oldest first",
        )


def check_positive(
    values: pd.Series, *, source: str, column: str, row_label: RowLabel
) -> None:
    """Reject zero or negative prices, which have no meaningful return."""
    bad = (values <= 0).to_numpy()
    if bad.any():
        i = _first_true(bad)
        raise DataError(
            f"price {values.iloc[i]:g} in column {column!r} is not positive",
            source=source,
            where=row_label(i),
            hint="Prices must be > 0; fix the value or leave the cell empty if unknown",
        )


def fill_gaps(prices: pd.DataFrame, *, fill_limit: int, source: str) -> pd.DataFrame:
    """Forward-fill missing prices in runs of at most ``fill_limit`` rows.

    Rows before an asset's first price stay NaN (it had not started). A run of
    missing prices after it started that is longer than ``fill_limit`` raises
    `DataError` naming the column and the dates of the gap.
    """
    for column in prices.columns:
        values = prices[column].to_numpy()
        started = np.flatnonzero(~np.isnan(values))
        if started.size == 0:
            raise DataError(
                f"column {column!r} is empty",
                source=source,
                where=f"column {column!r}",
                hint="Remove the column or fill in its prices",
            )
        missing = np.isnan(values[started[0] :])
        run_start, run_length = _longest_run(missing)
        if run_length > fill_limit:
            first = prices.index[started[0] + run_start]
            last = prices.index[started[0] + run_start + run_length - 1]
            raise DataError(
                f"column {column!r} has {run_length} consecutive missing prices, more "
                f"than the fill limit of {fill_limit}",
                source=source,
                where=f"{first.date()} to {last.date()}",
                hint="Supply the missing prices, drop the column, or raise the fill "
                "limit if filling that many days is acceptable",
            )
    return prices.ffill(limit=fill_limit) if fill_limit > 0 else prices


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """Start and length of the longest run of True values (0, 0 if none)."""
    if not flags.any():
        return 0, 0
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(ends - starts))
    return int(starts[longest]), int(ends[longest] - starts[longest])


def validate_price_frame(
    prices: pd.DataFrame,
    *,
    source: str,
    fill_limit: int = DEFAULT_FILL_LIMIT,
    min_rows: int = DEFAULT_MIN_ROWS,
) -> pd.DataFrame:
    """Check an already-parsed price frame and return it gap-filled.

    Parameters
    ----------
    prices : pandas.DataFrame
        Prices with a DatetimeIndex and one float column per ticker.
    source : str
        File or dataset name, used in error messages.
    fill_limit : int
        Longest run of missing prices that is forward-filled.
    min_rows : int
        Fewest dates accepted.

    Returns
    -------
    pandas.DataFrame
        The validated, gap-filled prices.
    """
    if prices.shape[1] == 0:
        raise DataError(
            "no price columns", source=source, hint="Add one column of prices per asset"
        )
    if len(prices) < min_rows:
        raise DataError(
            f"only {len(prices)} dates, fewer than the {min_rows} needed",
            source=source,
            hint="Supply a longer price history",
        )
    return fill_gaps(prices, fill_limit=fill_limit, source=source)
