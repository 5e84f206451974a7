"""User price files: good files load, every kind of bad file names its problem."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foliocast.data import DataError, load_prices
from foliocast.data.validation import parse_iso_date

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


# Dates: ISO only, offsets dropped ------------------------------------------------


def test_utc_offsets_across_a_dst_change_keep_the_local_date(tmp_path):
    lines = ["date,AAA"]
    for i, day in enumerate(pd.bdate_range("2021-03-01", periods=25)):
        # New York: UTC-5 before 2021-03-14, UTC-4 after.
        offset = "-05:00" if day < pd.Timestamp("2021-03-14") else "-04:00"
        lines.append(f"{day.date()} 00:00:00{offset},{100 + i}")
    prices = load_prices(write(tmp_path, lines))
    assert prices.index.tz is None
    expected = pd.bdate_range("2021-03-01", periods=25)
    assert list(prices.index) == list(expected)
    assert prices.loc["2021-03-12", "AAA"] == 109
    assert prices.loc["2021-03-15", "AAA"] == 110


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("05/06/2021", "day and month are ambiguous"),
        ("5.6.21", "day and month are ambiguous"),
        ("13/06/2021", "not an ISO date"),
        ("Jun 5, 2021", "not an ISO date"),
        ("2021-02-30", "not a calendar date"),
    ],
)
def test_dates_that_are_not_iso_are_refused(tmp_path, text, reason):
    lines = wide_lines()
    lines[4] = f'"{text}",' + lines[4].split(",", 1)[1]
    error = expect_error(
        write(tmp_path, lines), f"cannot parse date '{text}'", reason, "line 5"
    )
    assert error.hint == "Write dates as YYYY-MM-DD"


def test_parse_iso_date_for_arguments():
    assert parse_iso_date(" 2022-12-31 ") == pd.Timestamp("2022-12-31")
    for text, reason in [
        ("05/06/2021", "ambiguous"),
        ("2022-12-31T10:00", "not an ISO date"),
        ("2022-13-01", "not a calendar date"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_iso_date(text)


# Delimiters ----------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_files_read_like_comma_files(tmp_path, delimiter):
    wide = load_prices(write(tmp_path, wide_lines()))
    lines = [line.replace(",", delimiter) for line in wide_lines()]
    pd.testing.assert_frame_equal(load_prices(write(tmp_path, lines, "p.txt")), wide)
    spreadsheet = [f"sep={delimiter}"] + lines
    pd.testing.assert_frame_equal(
        load_prices(write(tmp_path, spreadsheet, "s.csv")), wide
    )


def test_sep_line_shifts_line_numbers_in_errors(tmp_path):
    lines = ["sep=;"] + [line.replace(",", ";") for line in wide_lines()]
    lines[4] = lines[4].split(";")[0] + ";x;1"
    expect_error(write(tmp_path, lines), "non-numeric value 'x'", "line 5")


def test_decimal_commas_in_a_semicolon_file_are_named(tmp_path):
    lines = [line.replace(",", ";") for line in wide_lines()]
    lines[3] = lines[3].split(";")[0] + ";102,5;51"
    error = expect_error(write(tmp_path, lines), "'102,5'", "line 4")
    assert "decimal commas" in error.hint
