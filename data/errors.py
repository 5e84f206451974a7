"""The one error type for bad price data."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Price data that cannot be used as given.

    The message names the source (file or dataset), where the problem is (row,
    column or date) when known, and what to do about it.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    source : str, optional
        File path or dataset name the data came from.
    where : str, optional
        Row, column or date range of the problem.
    hint : str, optional
        What the user should do to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.where = where
        self.hint = hint
        parts = [f"{source}: " if source else "", problem]
        if where:
            parts.append(f" ({where})")
        if hint:
            parts.append(f". {hint}")
        super().__init__("".join(parts))
