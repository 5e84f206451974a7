"""User price files: good files load, every kind of bad file names its problem."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import DataError, load_prices

DATES = pd.bdate_range("2021-01-04", periods=25)


def wide_lines(n_rows: int = 25) -> list[str]:
    lines = ["date,AAA,BBB"]
    for i, day in enumerate(DATES[:n_rows]):
        lines.append(f"{day.date()},{100 + i},{50 + 0.5 * i}")
    return lines


def write(tmp_path: Path, lines: list[str], name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def expect_error(path: Path, *fragments: str, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        load_prices(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


# Good files -------------------------------------------------------------------


def test_wide_csv_loads_with_clean_index(tmp_path):
    prices = load_prices(write(tmp_path, wide_lines()))
    assert list(prices.columns) == ["AAA", "BBB"]
    assert isinstance(prices.index, pd.DatetimeIndex)
    assert prices.index.is_monotonic_increasing and prices.index.is_unique
    assert prices.index.tz is None
    assert prices.dtypes.eq(float).all()
    assert prices.loc["2021-01-05", "AAA"] == 101


def test_long_csv_any_row_order_matches_wide(tmp_path):
    wide = load_prices(write(tmp_path, wide_lines()))
    rows = ["Ticker,Date,Close,Volume"]
    for ticker in ["BBB", "AAA"]:
        for day, price in wide[ticker].items():
            rows.append(f"{ticker},{day.date()},{price},1000")
    prices, volume = load_prices(write(tmp_path, rows, "long.csv"), with_volume=True)
    pd.testing.assert_frame_equal(prices, wide, check_names=False)
    assert volume.shape == wide.shape and (volume == 1000).all().all()


def test_parquet_wide_and_long_round_trip(tmp_path):
    wide = load_prices(write(tmp_path, wide_lines()))
    path = tmp_path / "prices.parquet"
    wide.to_parquet(path)
    pd.testing.assert_frame_equal(load_prices(path), wide, check_names=False)
    long = wide.stack().rename("close").reset_index()
    long.columns = ["date", "ticker", "close"]
    long_path = tmp_path / "long.parquet"
    long.to_parquet(long_path)
    pd.testing.assert_frame_equal(load_prices(long_path), wide, check_names=False)


def test_short_gap_is_forward_filled_and_late_start_kept(tmp_path):
    lines = wide_lines()
    lines[5] = lines[5].split(",")[0] + ",,55"  # one missing AAA price
    for i in range(1, 4):  # BBB starts trading on the 4th date
        lines[i] = ",".join(lines[i].split(",")[:2]) + ","
    prices = load_prices(write(tmp_path, lines))
    assert prices["AAA"].iloc[4] == prices["AAA"].iloc[3]
    assert prices["BBB"].iloc[:3].isna().all() and prices["BBB"].iloc[3:].notna().all()


# Bad files: one test per case ------------------------------------------------------


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.csv", "file not found")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    expect_error(path, "empty")


def test_header_only_file(tmp_path):
    expect_error(write(tmp_path, ["date,AAA"]), "no data rows")


def test_unknown_format(tmp_path):
    path = tmp_path / "prices.xlsx"
    path.write_bytes(b"PK\x03\x04")
    expect_error(path, "unknown file format", ".xlsx", "csv or .parquet")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "prices.parquet"
    path.write_bytes(b"not parquet at all")
    expect_error(path, "cannot read as Parquet")


def test_unparseable_date(tmp_path):
    lines = wide_lines()
    lines[7] = "31/31/2021" + lines[7][10:]
    expect_error(write(tmp_path, lines), "cannot parse date '31/31/2021'", "line 8")


def test_missing_date(tmp_path):
    lines = wide_lines()
    lines[3] = "," + lines[3].split(",", 1)[1]
    expect_error(write(tmp_path, lines), "missing date", "line 4")


def test_duplicate_dates(tmp_path):
    lines = wide_lines()
    lines[6] = lines[5]
    expect_error(
        write(tmp_path, lines), "duplicate date 2021-01-08", "line 6 and line 7"
    )


def test_unsorted_dates(tmp_path):
    lines = wide_lines()
    lines[4], lines[5] = lines[5], lines[4]
    expect_error(write(tmp_path, lines), "not in ascending order", "line 6", "Sort")


def test_non_numeric_cell(tmp_path):
    lines = wide_lines()
    lines[9] = lines[9].split(",")[0] + ",$101.5,55"
    expect_error(
        write(tmp_path, lines), "non-numeric value '$101.5'", "'AAA'", "line 10"
    )


def test_zero_price(tmp_path):
    lines = wide_lines()
    lines[2] = lines[2].split(",")[0] + ",101,0"
    expect_error(write(tmp_path, lines), "not positive", "'BBB'", "line 3")


def test_negative_price(tmp_path):
    lines = wide_lines()
    lines[2] = lines[2].split(",")[0] + ",-3,50"
    expect_error(write(tmp_path, lines), "price -3", "'AAA'", "line 3")


def test_empty_column(tmp_path):
    lines = [line + "," for line in wide_lines()]
    lines[0] = "date,AAA,BBB,CCC"
    expect_error(write(tmp_path, lines), "column 'CCC' is empty")


def test_duplicate_tickers(tmp_path):
    lines = [line + ",1" for line in wide_lines()]
    lines[0] = "date,AAA,BBB,AAA"
    expect_error(write(tmp_path, lines), "duplicate ticker 'AAA'")


def test_blank_ticker_name(tmp_path):
    lines = [line + ",1" for line in wide_lines()]
    lines[0] = "date,AAA,BBB,"
    expect_error(write(tmp_path, lines), "no ticker name", "column 4")


def test_duplicate_long_rows(tmp_path):
    rows = ["date,ticker,close"] + [
        f"{d.date()},AAA,{100 + i}" for i, d in enumerate(DATES)
    ]
    rows.append(rows[3])
    expect_error(write(tmp_path, rows), "duplicate row for ticker 'AAA'", "line 27")


def test_too_few_rows(tmp_path):
    expect_error(write(tmp_path, wide_lines(5)), "only 5 dates", "20 needed")


def test_gap_longer_than_fill_limit(tmp_path):
    lines = wide_lines()
    for i in range(10, 17):  # 7 missing AAA prices in a row
        lines[i] = lines[i].split(",")[0] + ",," + lines[i].split(",")[2]
    error = expect_error(
        write(tmp_path, lines), "'AAA'", "7 consecutive missing", "fill limit of 5"
    )
    assert "2021-01-15 to 2021-01-25" in str(error)
    # The same file is accepted when the user allows longer fills.
    prices = load_prices(write(tmp_path, lines), fill_limit=7)
    assert np.isfinite(prices.to_numpy()).all()


def test_single_column_file(tmp_path):
    expect_error(
        write(tmp_path, ["date"] + [str(d.date()) for d in DATES]), "price column"
    )


def test_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_prices(tmp_path / "missing.csv")
