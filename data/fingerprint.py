"""The sha256 fingerprint of a price (or volume) frame: which data a result came from.

One function, two byte layouts, so every digest recorded so far stays comparable:

- ``"run"`` (the default): recorded in every run folder's provenance
  (``fingerprint``, ``volume_fingerprint``), shown in the report, and compared when a
  run resumes and when a sweep's runs are compared. The tickers joined by commas,
  the dates at the index's own resolution, then the values as stored.
- ``"checkpoint"``: recorded in an LSTM checkpoint and checked by
  ``LSTMForecaster.load(path, prices)``. The dates in nanoseconds, the tickers as a
  JSON list, then the values with every NaN written alike; so a frame read back at
  another resolution or with other NaN payloads keeps its digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["prices_fingerprint"]


def prices_fingerprint(
    prices: pd.DataFrame, *, layout: Literal["run", "checkpoint"] = "run"
) -> str:
    """Return the sha256 hex digest of a frame's dates, tickers and values.

    Parameters
    ----------
    prices : pandas.DataFrame of shape (n_dates, n_assets)
        Prices (or volume) with a ``DatetimeIndex``.
    layout : {"run", "checkpoint"}, default "run"
        Which recorded digest to reproduce (see the module docstring).

    Returns
    -------
    str
        64 hex characters; equal frames give equal digests.
    """
    digest = hashlib.sha256()
    if layout == "run":
        digest.update(",".join(prices.columns).encode())
        digest.update(prices.index.asi8.tobytes())
        digest.update(np.ascontiguousarray(prices.to_numpy(dtype=float)).tobytes())
        return digest.hexdigest()
    if layout != "checkpoint":
        raise ValueError(f"layout must be 'run' or 'checkpoint', got {layout!r}")
    dates = pd.DatetimeIndex(prices.index).as_unit("ns").asi8
    digest.update(np.ascontiguousarray(dates, dtype=np.int64).tobytes())
    digest.update(json.dumps([str(c) for c in prices.columns]).encode())
    values = np.ascontiguousarray(prices.to_numpy(dtype=np.float64))
    # All NaN payloads hash alike.
    values = np.where(np.isnan(values), np.nan, values)
    digest.update(values.tobytes())
    return digest.hexdigest()
