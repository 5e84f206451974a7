"""Load user price files: CSV or Parquet, wide or long.

Wide: a date column first, then one column of prices per ticker::

    date,AAPL,MSFT
    2021-01-04,129.41,217.69

Long: one row per (date, ticker), with columns ``date, ticker, close`` and an
optional ``volume`` (any order, any letter case). Rows of a long file may come in any
order; they are sorted by date. A wide file must already be sorted by date.

Text files are comma-separated; a header line with semicolons or tabs and no comma
(as spreadsheets save in many locales) is read with that delimiter, and so is a file
whose first line is a spreadsheet's ``sep=;`` line. Dates must be ISO (``YYYY-MM-DD``,
see `data.validation.parse_dates`). After loading, `data.quality.check_prices` warns
about unadjusted splits and prices that are not daily.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from foliocast.data.errors import DataError
from foliocast.data.quality import DEFAULT_MAX_DAILY_MOVE, check_prices
from foliocast.data.validation import (
    DEFAULT_FILL_LIMIT,
    DEFAULT_MIN_ROWS,
    RowLabel,
    check_date_order,
    check_positive,
    check_tickers,
    parse_dates,
    parse_numbers,
    validate_price_frame,
)

__all__ = ["load_prices", "read_table", "sniff_delimiter"]

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
LONG_COLUMNS = {"date", "ticker", "close"}
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def load_prices(
    path: str | Path,
    *,
    fill_limit: int = DEFAULT_FILL_LIMIT,
    min_rows: int = DEFAULT_MIN_ROWS,
    with_volume: bool = False,
    checks: bool = True,
    max_daily_move: float = DEFAULT_MAX_DAILY_MOVE,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame | None]:
    """Load daily prices from a CSV or Parquet file, wide or long.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.txt`` or ``.parquet``/``.pq`` file.
    fill_limit : int, default 5
        Longest run of missing prices (after an asset's first price) that is
        forward-filled; longer gaps raise `DataError`.
    min_rows : int, default 20
        Fewest dates accepted.
    with_volume : bool, default False
        Also return the volume frame of a long file with a ``volume`` column (None
        when there is none).
    checks : bool, default True
        Warn (`data.quality.DataQualityWarning`) about one-day moves beyond
        ``max_daily_move`` and dates that are not daily; False to skip.
    max_daily_move : float, default 3.5
        Factor beyond which a one-day price move is flagged as a likely unadjusted
        split.

    Returns
    -------
    pandas.DataFrame or (DataFrame, DataFrame or None)
        Prices of shape (n_dates, n_assets): sorted unique tz-naive DatetimeIndex,
        one float column per ticker; NaN only before an asset's first price.

    Raises
    ------
    DataError
        On any problem with the file, naming the file, the row or column, and what
        to do.
    """
    path = Path(path)
    source = str(path)
    table, row_label = read_table(path)
    columns = {str(c).strip().lower(): c for c in table.columns}
    if LONG_COLUMNS <= set(columns):
        prices, volume = _from_long(table, columns, source=source, row_label=row_label)
    else:
        prices, volume = _from_wide(path, table, source=source, row_label=row_label)
    prices = validate_price_frame(
        prices, source=source, fill_limit=fill_limit, min_rows=min_rows
    )
    if checks:
        check_prices(prices, source=source, max_daily_move=max_daily_move)
    if with_volume:
        return prices, volume
    return prices


def read_table(path: Path) -> tuple[pd.DataFrame, RowLabel]:
    """Read a file as raw text cells, with a function naming a data row for errors."""
    source = str(path)
    if not path.exists():
        raise DataError("file not found", source=source, hint="Check the path")
    if path.is_dir():
        raise DataError("is a folder, not a file", source=source)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise DataError(
            f"unknown file format {suffix or '(no extension)'!r}",
            source=source,
            hint="Use a .csv or .parquet file",
        )
    if path.stat().st_size == 0:
        raise DataError(
            "file is empty", source=source, hint="Supply a file with prices"
        )
    if suffix in CSV_SUFFIXES:
        delimiter, skip = sniff_delimiter(path)
        try:
            table = pd.read_csv(
                path, dtype=str, skipinitialspace=True, sep=delimiter, skiprows=skip
            )
        except pd.errors.EmptyDataError as err:
            raise DataError("file is empty", source=source) from err
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            name = DELIMITER_NAMES[delimiter]
            raise DataError(
                f"cannot read as {name}-separated text: {err}".strip(),
                source=source,
                hint="Check that it is a text file with one delimiter throughout; "
                "save it comma-separated",
            ) from err

        # Line numbers as an editor shows them: the header is line 1 (after any
        # sep= line).
        def row_label(i: int) -> str:
            return f"line {i + 2 + skip}"

    else:
        try:
            table = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several unrelated types
            raise DataError(
                f"cannot read as Parquet: {err}",
                source=source,
                hint="Check that it is a valid Parquet file",
            ) from err
        if isinstance(table.index, pd.DatetimeIndex):
            table = table.reset_index()

        def row_label(i: int) -> str:
            return f"row {i + 1}"

    if table.empty:
        raise DataError(
            "file has no data rows", source=source, hint="Supply at least one price row"
        )
    return table, row_label


def sniff_delimiter(path: Path) -> tuple[str, int]:
    """The delimiter of a text file, from its header line, and lines to skip.

    Comma unless the header has no comma and has semicolons or tabs (the one that
    occurs more often wins); a first line ``sep=X`` (written by spreadsheets) names
    the delimiter and is skipped.
    """
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = handle.readline().lstrip("\ufeff").rstrip("\r\n")
    declared = header.lower()  # no strip: "sep=\t" ends in whitespace
    if declared.startswith("sep=") and declared[4:5] in DELIMITER_NAMES:
        return declared[4:5], 1
    if "," in header:
        return ",", 0
    counts = {d: header.count(d) for d in (";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return (best if counts[best] else ","), 0


def _raw_header(path: Path, table: pd.DataFrame) -> list[object]:
    # pandas renames duplicate CSV headers ("AAPL.1"); read the header line itself.
    if path.suffix.lower() in CSV_SUFFIXES:
        delimiter, skip = sniff_delimiter(path)
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            rows = csv.reader(handle, delimiter=delimiter)
            for _ in range(skip):
                next(rows)
            return next(rows)
    return list(table.columns)


def _from_wide(
    path: Path, table: pd.DataFrame, *, source: str, row_label: RowLabel
) -> tuple[pd.DataFrame, None]:
    if table.shape[1] < 2:
        raise DataError(
            "need a date column and at least one price column",
            source=source,
            hint="Wide files look like 'date,AAPL,MSFT' (comma-, semicolon- or "
            "tab-separated); long files need columns date, ticker, close",
        )
    header = _raw_header(path, table)
    tickers = check_tickers(header[1:], source=source)
    dates = parse_dates(table.iloc[:, 0], source=source, row_label=row_label)
    check_date_order(dates, source=source, row_label=row_label)
    columns = {}
    for position, ticker in enumerate(tickers, start=1):
        values = parse_numbers(
            table.iloc[:, position], source=source, column=ticker, row_label=row_label
        )
        check_positive(values, source=source, column=ticker, row_label=row_label)
        columns[ticker] = values.to_numpy()
    prices = pd.DataFrame(columns, index=dates)
    prices.index.name = "date"
    return prices, None


def _from_long(
    table: pd.DataFrame, columns: dict[str, object], *, source: str, row_label: RowLabel
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    dates = parse_dates(table[columns["date"]], source=source, row_label=row_label)
    tickers = table[columns["ticker"]]
    blank = (tickers.isna() | (tickers.astype(str).str.strip() == "")).to_numpy()
    if blank.any():
        raise DataError(
            "missing ticker",
            source=source,
            where=row_label(int(blank.nonzero()[0][0])),
            hint="Every row of a long file needs a ticker",
        )
    tickers = tickers.astype(str).str.strip().to_numpy()
    close = parse_numbers(
        table[columns["close"]], source=source, column="close", row_label=row_label
    )
    check_positive(close, source=source, column="close", row_label=row_label)
    keys = pd.MultiIndex.from_arrays([dates, tickers])
    duplicated = keys.duplicated()
    if duplicated.any():
        i = int(duplicated.nonzero()[0][0])
        raise DataError(
            f"duplicate row for ticker {tickers[i]!r} on {dates[i].date()}",
            source=source,
            where=row_label(i),
            hint="Keep one row per date and ticker",
        )
    prices = _pivot(dates, tickers, close.to_numpy())
    volume = None
    if "volume" in columns:
        raw = table[columns["volume"]]
        values = parse_numbers(raw, source=source, column="volume", row_label=row_label)
        negative = (values < 0).to_numpy()
        if negative.any():
            raise DataError(
                "negative volume",
                source=source,
                where=row_label(int(negative.nonzero()[0][0])),
                hint="Volumes must be >= 0",
            )
        volume = _pivot(dates, tickers, values.to_numpy())
    return prices, volume


def _pivot(dates: pd.DatetimeIndex, tickers, values) -> pd.DataFrame:
    frame = pd.DataFrame({"date": dates, "ticker": tickers, "value": values})
    wide = frame.pivot(index="date", columns="ticker", values="value").sort_index()
    wide.columns = pd.Index([str(c) for c in wide.columns])
    wide.columns.name = None
    return wide.astype(float)
