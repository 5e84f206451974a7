"""Units of time every layer shares.

The standard library only, so the run config can use them without loading pandas.
"""

__all__ = ["TRADING_DAYS_PER_YEAR"]

TRADING_DAYS_PER_YEAR = 252
"""Trading days in a year: annualises daily figures everywhere in the project."""
