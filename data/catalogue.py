"""What each bundled dataset holds, as plain facts: no package is imported.

`portfolio datasets` prints this table, and `data.list_datasets` returns it, without
loading skfolio, arch or pandas (several seconds). The facts describe the data
shipped with the pinned skfolio and arch releases; a test loads every dataset and
checks each row against it, so a package update that changes the data fails it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["CATALOGUE", "DatasetFacts", "catalogue_rows", "risk_free_description"]


@dataclass(frozen=True)
class DatasetFacts:
    """One bundled dataset: what it is, where it comes from, what it spans."""

    name: str
    description: str
    source: str
    assets: int
    asset_classes: str  # sorted, comma-separated
    first_date: str  # ISO dates of the first and last row
    last_date: str
    frequency: str = "daily"


def risk_free_description(last_month: str) -> str:
    """How the daily risk-free rate is made, given its last month (``YYYY-MM``)."""
    return (
        "Fama-French one-month T-bill return, monthly, converted to a daily rate as "
        f"(1 + r_month)^(12/252) - 1; after its last month ({last_month}) the last "
        "rate is carried forward"
    )


CATALOGUE: dict[str, DatasetFacts] = {
    facts.name: facts
    for facts in [
        DatasetFacts(
            "sp500",
            "20 large US stocks, daily adjusted close",
            "skfolio.datasets.load_sp500_dataset",
            20,
            "us_equity",
            "1990-01-02",
            "2022-12-28",
        ),
        DatasetFacts(
            "factors",
            "5 iShares factor ETFs (momentum, quality, size, min-vol, value)",
            "skfolio.datasets.load_factors_dataset",
            5,
            "equity_factor_etf",
            "2014-01-02",
            "2022-12-28",
        ),
        DatasetFacts(
            "sp500_index",
            "S&P 500 index level",
            "skfolio.datasets.load_sp500_index",
            1,
            "equity_index",
            "1990-01-02",
            "2022-12-28",
        ),
        DatasetFacts(
            "wti",
            "WTI crude oil spot price (FRED DCOILWTICO)",
            "arch.data.wti",
            1,
            "commodity",
            "1986-01-02",
            "2019-01-03",
        ),
        DatasetFacts(
            "nasdaq",
            "NASDAQ Composite index, adjusted close",
            "arch.data.nasdaq",
            1,
            "equity_index",
            "1999-01-04",
            "2018-12-31",
        ),
        DatasetFacts(
            "multi_asset",
            "sp500 stocks + crude + NASDAQ + factor ETFs on the US stock calendar; "
            "assets enter as their history starts (1990, 1999, 2014)",
            "skfolio + arch",
            27,
            "commodity, equity_factor_etf, equity_index, us_equity",
            "1990-01-02",
            "2018-12-31",
        ),
        # Not prices: the rate `data.risk_free_rate` reads, listed so users see it.
        DatasetFacts(
            "risk_free",
            risk_free_description("2018-11"),
            "arch.data.frenchdata (RF)",
            0,
            "rate",
            "1926-07-01",
            "2018-11-30",
            "monthly",
        ),
    ]
}


def catalogue_rows() -> list[dict[str, str | int]]:
    """The catalogue as one dict per dataset, in the order of `CATALOGUE`."""
    return [asdict(facts) for facts in CATALOGUE.values()]
