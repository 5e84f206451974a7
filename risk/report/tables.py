"""Tables of the risk report: cells, number formats and the tables built from frames.

`Table` and `Cell` are what the template of `risk.report` renders; a cell carries its
text and CSS classes (``num`` right-aligns, ``pos``/``neg`` colour a signed number,
``hot-pos``/``hot-neg`` shade a heat-map cell). `FORMATS` maps a format name
(``pct``, ``pct0``, ``pct2``, ``ratio``, ``int``, ``pvalue``) to a function that
writes any value as text: a missing, NaN or infinite value is a dash, and a value
that rounds to zero loses its minus sign.

The ``*_table`` functions build the tables that need only frames (no run folder):
the universe, the worst drawdowns, the risk split by group and the calibration of
predicted volatility.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from foliocast.risk.drawdown import worst_drawdowns

__all__ = [
    "DASH",
    "FORMATS",
    "Cell",
    "Table",
    "finite",
    "format_pvalue",
    "format_date",
    "number_cell",
    "text_cell",
    "heat_css",
    "universe_table",
    "drawdown_table",
    "group_table",
    "calibration_table",
]

DASH = "\u2013"  # stands for a missing value


# ------------------------------------------------------------------ page model


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and CSS classes (``num``, ``pos``, ``neg``...)."""

    text: str
    css: str = ""


@dataclass(frozen=True)
class Table:
    """A table for the template; ``row_headers`` makes column 0 a ``<th>``."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    caption: str = ""
    css: str = ""
    row_headers: bool = True


# ------------------------------------------------------------------ formatting


def finite(value: Any) -> float | None:
    """The value as a float; None when missing, NaN, infinite or not a number."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _unsigned_zero(text: str) -> str:
    """``-0.0%`` reads as a loss: a value that rounds to zero loses its sign."""
    if text.startswith("-") and not any(c in "123456789" for c in text):
        return text[1:]
    return text


def _formatter(spec: str) -> Callable[[Any], str]:
    def format_value(value: Any) -> str:
        number = finite(value)
        return DASH if number is None else _unsigned_zero(format(number, spec))

    return format_value


def format_pvalue(value: Any) -> str:
    """A p-value to three decimals; ``< 0.001`` below that."""
    number = finite(value)
    if number is None:
        return DASH
    return "< 0.001" if number < 0.001 else f"{number:.3f}"


FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": _formatter(".1%"),
    "pct0": _formatter(".0%"),
    "pct2": _formatter(".2%"),
    "ratio": _formatter(".2f"),
    "int": _formatter(",.0f"),
    "pvalue": format_pvalue,
}


def format_date(value: Any) -> str:
    """A date as ``YYYY-MM-DD``; a dash when missing."""
    if value is None or pd.isna(value):
        return DASH
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def number_cell(value: Any, kind: str, *, signed: bool = False, css: str = "") -> Cell:
    """A right-aligned number; ``signed`` colours it by sign (gains green)."""
    classes = ["num", css] if css else ["num"]
    number = finite(value)
    text = FORMATS[kind](value)
    if signed and number is not None and text.lstrip("-") != FORMATS[kind](0.0):
        classes.append("pos" if number > 0 else "neg")
    return Cell(text, " ".join(classes))


def text_cell(value: Any, css: str = "") -> Cell:
    """A text cell; a dash when the value is missing or empty."""
    return Cell(DASH if value is None or value == "" else str(value), css)


def heat_css(value: Any) -> str:
    """Heat-map class of a return cell: by the sign of its shown percentage."""
    text = FORMATS["pct"](value)
    if text in (DASH, FORMATS["pct"](0.0)):
        return ""
    return "hot-neg" if text.startswith("-") else "hot-pos"


# ---------------------------------------------------------------------- tables


def universe_table(assets: pd.DataFrame) -> Table:
    """Assets per asset class and sector, from the run's ``assets.csv``."""
    frame = assets.astype({"asset": str}).fillna(
        {"asset_class": "unknown", "sector": "unknown"}
    )
    rows = [
        [
            text_cell(asset_class),
            text_cell(sector),
            number_cell(len(group), "int"),
            text_cell(", ".join(sorted(group["asset"])), "wrap"),
        ]
        for (asset_class, sector), group in frame.groupby(
            ["asset_class", "sector"], sort=True
        )
    ]
    return Table(["Asset class", "Sector", "Assets", "Tickers"], rows)


def drawdown_table(returns: pd.Series, name: str) -> Table:
    """The five worst drawdowns of one strategy's daily returns."""
    worst = worst_drawdowns(returns, top=5)
    rows = [
        [
            text_cell(rank),
            text_cell(format_date(row.start)),
            text_cell(format_date(row.trough)),
            text_cell(
                "not yet" if pd.isna(row.recovery) else format_date(row.recovery)
            ),
            number_cell(row.depth, "pct", signed=True),
            number_cell(row.duration_days, "int"),
            number_cell(row.recovery_days, "int"),
        ]
        for rank, row in zip(worst.index, worst.itertuples(), strict=True)
    ]
    headers = ["#", "Peak", "Trough", "Recovered", "Depth", "Days", "To recover"]
    return Table(headers, rows, caption=name)


def group_table(table: pd.DataFrame, by: str, title: str) -> Table:
    """Weight, risk contribution and share of risk summed per ``by`` group."""
    grouped = table.groupby(by, sort=True)[["weight", "contribution", "share"]].sum()
    rows = [
        [
            text_cell(group),
            number_cell(row.weight, "pct"),
            number_cell(row.contribution, "pct2"),
            number_cell(row.share, "pct"),
        ]
        for group, row in zip(grouped.index, grouped.itertuples(), strict=True)
    ]
    return Table([title, "Weight", "Risk contribution", "Share of risk"], rows)


def calibration_table(calibration: dict[str, pd.DataFrame]) -> Table:
    """Predicted against realised volatility, summarised per strategy."""
    rows = []
    for name, table in calibration.items():
        both = table.dropna(subset=["predicted", "realised"])
        under = (both["realised"] > both["predicted"]).mean()
        corr = both["predicted"].corr(both["realised"]) if len(both) > 2 else None
        rows.append(
            [
                text_cell(name),
                number_cell(len(both), "int"),
                number_cell(both["predicted"].mean(), "pct"),
                number_cell(both["realised"].mean(), "pct"),
                number_cell(both["ratio"].median(), "ratio"),
                number_cell(under, "pct0"),
                number_cell(corr, "ratio"),
            ]
        )
    headers = [
        "Strategy",
        "Periods",
        "Mean predicted",
        "Mean realised",
        "Median realised / predicted",
        "Under-predicted",
        "Correlation",
    ]
    return Table(headers, rows)
