"""Prices in: bundled real datasets, user files, validation, calendars and returns."""

from foliocast.data.calendar import (
    align_prices,
    availability_mask,
    log_returns,
    period_ends,
    rebalance_schedule,
    simple_returns,
)
from foliocast.data.datasets import (
    asset_classes,
    list_datasets,
    load_dataset,
    risk_free_info,
    risk_free_rate,
    sectors,
)
from foliocast.data.errors import DataError
from foliocast.data.fingerprint import prices_fingerprint
from foliocast.data.loaders import load_prices
from foliocast.data.quality import DataQualityWarning, check_prices

__all__ = [
    "DataError",
    "DataQualityWarning",
    "align_prices",
    "asset_classes",
    "availability_mask",
    "check_prices",
    "list_datasets",
    "load_dataset",
    "load_prices",
    "log_returns",
    "period_ends",
    "prices_fingerprint",
    "rebalance_schedule",
    "risk_free_info",
    "risk_free_rate",
    "sectors",
    "simple_returns",
]
