"""CSV files a user may open in a spreadsheet, safe from formula injection.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
run as a formula by Excel, LibreOffice and Google Sheets (a ticker such as
``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0``). Following the OWASP guidance on CSV
injection, such cells are written with a leading single quote, which spreadsheets
show as text. Numbers are never touched: numeric columns are written by pandas as
numbers, and a text cell that is a plain number (``-0.25``) is left as it is.

A cell that itself starts with a quote gets one more, so `unescape_frame` turns every
written cell back into exactly the text it came from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["escape_cell", "unescape_cell", "safe_frame", "unescape_frame", "write_csv"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def escape_cell(value: Any) -> Any:
    """Return ``value`` made inert for a spreadsheet (text only; others unchanged)."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_QUOTE):
        return _QUOTE + value
    if value.startswith(_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return _QUOTE + value
    return value


def unescape_cell(value: Any) -> Any:
    """Invert `escape_cell`."""
    if isinstance(value, str) and value.startswith(_QUOTE):
        rest = value[1:]
        if rest.startswith((_QUOTE, *_TRIGGERS)):
            return rest
    return value


def _map_labels(index: pd.Index, cell: Any) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        mapped = index.set_levels([_map_labels(level, cell) for level in index.levels])
    elif index.dtype == object or pd.api.types.is_string_dtype(index.dtype):
        mapped = index.map(cell)
    else:
        mapped = index.copy()
    # The index name becomes a header cell too.
    return mapped.set_names([cell(name) for name in index.names])


def _map_frame(frame: pd.DataFrame, cell: Any) -> pd.DataFrame:
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Text held once per label (large forecast tables): map the labels;
            # escaping is one-to-one, so they stay distinct.
            labels = column.cat.categories
            out.isetitem(
                position, column.cat.rename_categories(_map_labels(labels, cell))
            )
        elif column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            mapped = column.map(cell, na_action="ignore")
            out.isetitem(position, mapped.astype(column.dtype))
    out.columns = _map_labels(out.columns, cell)
    out.index = _map_labels(out.index, cell)
    return out


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells and labels are escaped."""
    return _map_frame(frame, escape_cell)


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of a frame read from a `write_csv` file, text restored."""
    return _map_frame(frame, unescape_cell)


def write_csv(frame: pd.DataFrame, path: str | Path, **options: Any) -> None:
    """Write ``frame`` with `DataFrame.to_csv` after escaping its text cells."""
    safe_frame(frame).to_csv(path, **options)
