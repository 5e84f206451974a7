"""The book of a rebalance: current and target shares, trade list, target weights.

`_book` lines up the current shares of every held or targeted asset with its
whole-share target and its price; `_trade_list` turns the book into trades (sells
first, as they fund the buys, largest first) and `_weights_table` into current,
optimizer and target weights with the forecast ``mu``, volatility and risk
contributions, plus a ``CASH`` row.

Weights are fractions of the account value ``V``; ``est_cost`` is the cost rate times
the traded notional; volatilities are annualised by ``sqrt(252 / horizon)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecasting.forecast import Forecast
from portfolio.holdings import CASH
from portfolio.pretrade import TRADING_DAYS
from portfolio.rounding import DUST_WEIGHT
from risk.attribution import percent_risk_contributions, risk_contributions

__all__: list[str] = []  # helpers of portfolio.rebalance only


def _book(
    held: pd.Series,
    held_prices: pd.Series,
    target: pd.Series,
    price: pd.Series,
    cost_rate: float,
) -> pd.DataFrame:
    """Current and target shares of every held or targeted asset, with prices."""
    tickers = list(dict.fromkeys([*target.index, *held.index]))
    book = pd.DataFrame(index=pd.Index(tickers, name="ticker", dtype=object))
    book["current_shares"] = held.reindex(tickers, fill_value=0.0).astype(float)
    book["target_shares"] = target.reindex(tickers, fill_value=0).astype(np.int64)
    book["price"] = price.reindex(tickers).fillna(held_prices).astype(float)
    book["trade_shares"] = book["target_shares"] - book["current_shares"]
    book["notional"] = (book["trade_shares"].abs() * book["price"]).astype(float)
    book["est_cost"] = book["notional"] * cost_rate
    return book


def _trade_list(book: pd.DataFrame) -> pd.DataFrame:
    trades = book[(book["current_shares"] != 0) | (book["target_shares"] != 0)].copy()
    trades["side"] = np.select(
        [trades["trade_shares"] > 0, trades["trade_shares"] < 0],
        ["buy", "sell"],
        default="hold",
    )
    # Sales first: they fund the purchases.
    order = trades["side"].map({"sell": 0, "buy": 1, "hold": 2})
    trades = trades.assign(_order=order).sort_values(
        ["_order", "notional"], ascending=[True, False], kind="stable"
    )
    columns = [
        "current_shares",
        "target_shares",
        "trade_shares",
        "price",
        "notional",
        "side",
        "est_cost",
    ]
    return trades[columns].reset_index()


def _weights_table(
    book: pd.DataFrame, optimal: pd.Series, forecast: Forecast, value: float
) -> pd.DataFrame:
    tickers = book.index
    horizon = forecast.horizon
    per_year = TRADING_DAYS / horizon
    table = pd.DataFrame(index=tickers)
    table["current_weight"] = book["current_shares"] * book["price"] / value
    table["optimizer_weight"] = optimal.reindex(tickers, fill_value=0.0)
    table["target_weight"] = book["target_shares"] * book["price"] / value
    table["mu"] = forecast.mu.reindex(tickers)
    table["volatility"] = forecast.volatility.reindex(tickers) * math.sqrt(per_year)
    rounded = table["target_weight"].reindex(forecast.tickers)
    table["risk_contribution"] = risk_contributions(
        rounded, forecast.cov, periods_per_year=per_year
    ).reindex(tickers)
    table["percent_risk"] = percent_risk_contributions(rounded, forecast.cov).reindex(
        tickers
    )
    cash_row = pd.DataFrame(
        {
            "current_weight": [1.0 - table["current_weight"].sum()],
            "optimizer_weight": [1.0 - table["optimizer_weight"].sum()],
            "target_weight": [1.0 - table["target_weight"].sum()],
        },
        index=pd.Index([CASH]),
    )
    # Solver dust on an asset neither held nor bought is not worth a row.
    keep = (
        (table["current_weight"] != 0)
        | (table["target_weight"] != 0)
        | (table["optimizer_weight"].abs() >= DUST_WEIGHT)
    )
    table = pd.concat([table[keep], cash_row])
    return table.rename_axis("ticker").reset_index()
