"""The prices fingerprint: digests recorded before this module existed still match."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foliocast.data.fingerprint import prices_fingerprint


def _frame() -> pd.DataFrame:
    dates = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06"])
    return pd.DataFrame(
        {"AAA": [1.0, 2.0, np.nan], "B,C": [3.0, 4.5, 5.0]}, index=dates
    )


def test_run_layout_reproduces_the_digest_run_folders_record() -> None:
    # Written by the run's own fingerprint before the two were merged.
    assert prices_fingerprint(_frame()) == (
        "9f179d6679ca10a51babc45d99e2b0a9cd95d22ad111cc9d822de198581ce77d"
    )


def test_checkpoint_layout_reproduces_the_digest_checkpoints_record() -> None:
    # Written by the LSTM checkpoint's fingerprint before the two were merged.
    assert prices_fingerprint(_frame(), layout="checkpoint") == (
        "3a1960522fc462a1f79c851f436cbf86f6a3d891aa0b2fb462d73224eaebac48"
    )


def test_checkpoint_layout_ignores_the_date_resolution() -> None:
    frame = _frame()
    coarse = frame.set_axis(frame.index.as_unit("s"))
    assert prices_fingerprint(coarse, layout="checkpoint") == prices_fingerprint(
        frame, layout="checkpoint"
    )


@pytest.mark.parametrize("layout", ["run", "checkpoint"])
def test_any_changed_value_ticker_or_date_changes_the_digest(layout: str) -> None:
    frame = _frame()
    digest = prices_fingerprint(frame, layout=layout)
    changed_value = frame.copy()
    changed_value.iloc[1, 1] = 4.6
    renamed = frame.rename(columns={"AAA": "AAB"})
    shifted = frame.set_axis(frame.index + pd.Timedelta(days=1))
    for other in (changed_value, renamed, shifted):
        assert prices_fingerprint(other, layout=layout) != digest


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="layout"):
        prices_fingerprint(_frame(), layout="other")  # type: ignore[arg-type]
