"""Formula injection: no cell a user opens in a spreadsheet can run as a formula."""

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from foliocast.data.csv_safety import (
    escape_cell,
    safe_frame,
    unescape_cell,
    unescape_frame,
)

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "@SUM(1+1)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "=1+1",
]


def formula_cells(path):
    """Every cell of a CSV file that a spreadsheet would run as a formula."""
    with open(path, newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    plain_number = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce")
    return [
        cell
        for cell, number in zip(cells, plain_number, strict=True)
        if cell.startswith(TRIGGERS) and np.isnan(number)
    ]


@pytest.mark.parametrize("cell", HOSTILE + ["\tx", "\rx"])
def test_trigger_cells_get_a_leading_quote(cell):
    assert escape_cell(cell) == "'" + cell
    assert unescape_cell(escape_cell(cell)) == cell


@pytest.mark.parametrize("cell", ["-0.25", "+1e-3", "-12", "AAPL", "BRK.B", "", "  "])
def test_numbers_and_plain_text_are_untouched(cell):
    assert escape_cell(cell) == cell


@given(st.text(max_size=12))
def test_escaping_round_trips_any_text(text):
    assert unescape_cell(escape_cell(text)) == text
    escaped = escape_cell(text)
    assert not escaped.startswith(TRIGGERS) or escaped == text


def test_frames_keep_numbers_and_escape_text_and_labels(tmp_path):
    frame = pd.DataFrame(
        {"asset": HOSTILE, "weight": [-0.5, 0.25, -1e-9, 1.0, 0.0]},
        index=pd.Index(HOSTILE, name="=index"),
    )
    path = tmp_path / "frame.csv"
    safe_frame(frame).to_csv(path)
    assert formula_cells(path) == []
    back = unescape_frame(pd.read_csv(path, index_col=0))
    assert back["asset"].tolist() == HOSTILE
    assert back.index.tolist() == HOSTILE
    np.testing.assert_array_equal(back["weight"], frame["weight"])
    assert "-0.5" in path.read_text()  # a negative number stays a number


def test_categorical_text_is_escaped(tmp_path):
    # Large forecast tables hold their text columns as categories.
    frame = pd.DataFrame({"asset": pd.Categorical(HOSTILE * 2), "x": range(10)})
    path = tmp_path / "frame.csv"
    safe_frame(frame).to_csv(path, index=False)
    assert formula_cells(path) == []
    assert unescape_frame(pd.read_csv(path))["asset"].tolist() == HOSTILE * 2


def _hostile_prices(path):
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2015-01-01", periods=600)
    steps = 0.0003 + 0.01 * rng.standard_normal((len(dates), len(HOSTILE)))
    frame = pd.DataFrame(100 * np.exp(np.cumsum(steps, axis=0)), dates, HOSTILE)
    frame.rename_axis("date").to_csv(path, float_format="%.6f")


def test_run_and_plan_files_are_safe_to_open_in_a_spreadsheet(tmp_path):
    from foliocast.portfolio.backtest.runfolder import load_run
    from foliocast.portfolio.cli import main

    prices = tmp_path / "prices.csv"
    _hostile_prices(prices)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"name: hostile\ndata: {{path: {prices}, risk_free: 0.0}}\n"
        "backtest: {start: null, rebalance: Q}\n"
        "forecaster: {kind: historical, lookback_days: 252}\n"
        "strategies: [lstm_mvo, equal_weight]\n"
    )
    run = tmp_path / "run"
    assert (
        main(["backtest", "--config", str(config), "--out", str(run), "--quiet"]) == 0
    )
    written = sorted(run.glob("*.csv"))
    assert {"weights.csv", "trades.csv", "forecasts.csv", "assets.csv"} <= {
        p.name for p in written
    }
    for path in written:
        assert formula_cells(path) == [], path.name
    loaded = load_run(run)
    assert set(loaded.result.weights["asset"]) == set(HOSTILE)

    holdings = tmp_path / "holdings.csv"
    pd.DataFrame({"ticker": [HOSTILE[0], "CASH"], "shares": [10, 1000]}).to_csv(
        holdings, index=False
    )
    plan = tmp_path / "plan"
    code = main(
        [
            "rebalance", "--config", str(config), "--holdings", str(holdings),
            "--as-of", "2017-03-31", "--out", str(plan), "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    for path in sorted(plan.glob("*.csv")):
        assert formula_cells(path) == [], path.name
