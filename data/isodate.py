"""Year-first ISO dates (``YYYY-MM-DD``), checked with the standard library alone.

The run config checks its dates with these before any numeric library loads, so a
mistake in a date answers at once; `data.validation.parse_iso_date` builds on them.
Only year-first dates are accepted: ``05/06/2021`` is 5 June in most of the world and
May 6 in the US, so guessing would silently pick the wrong day.
"""

from __future__ import annotations

import datetime
import re

__all__ = ["NUMERIC_DATE", "not_iso_reason", "parse_iso_day"]

NUMERIC_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})")
_ISO_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def not_iso_reason(text: str) -> str:
    """Why a date string is refused: ambiguous day/month order, or not ISO."""
    numeric = NUMERIC_DATE.fullmatch(text.strip())
    if numeric:
        first, second = int(numeric.group(1)), int(numeric.group(2))
        if first != second and 1 <= first <= 12 and 1 <= second <= 12:
            return (
                f"day and month are ambiguous ({first}/{second} could be day/month "
                "or month/day)"
            )
    return "not an ISO date"


def parse_iso_day(text: object) -> datetime.date:
    """Parse one ISO date ``YYYY-MM-DD`` into a `datetime.date`.

    Raises
    ------
    ValueError
        Saying why ``text`` is not a plain ISO date, or not a day of the calendar.
    """
    text = str(text).strip()
    match = _ISO_DAY.fullmatch(text)
    if not match:
        raise ValueError(not_iso_reason(text))
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError("not a calendar date") from None
