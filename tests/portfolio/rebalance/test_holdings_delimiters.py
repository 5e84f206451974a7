"""Holdings files saved with semicolons or tabs read like comma-separated ones."""

import pytest

from foliocast.portfolio.rebalance.holdings import read_holdings


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_holdings_any_common_delimiter(tmp_path, delimiter):
    path = tmp_path / "holdings.csv"
    rows = ["ticker,shares", "AAPL,10.5", "MSFT,3", "CASH,1000"]
    path.write_text("\n".join(row.replace(",", delimiter) for row in rows) + "\n")
    holdings = read_holdings(path)
    assert holdings.shares.to_dict() == {"AAPL": 10.5, "MSFT": 3.0}
    assert holdings.cash == 1000.0
