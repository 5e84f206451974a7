"""The book of a rebalance: current and target shares, trade list, target weights.

`trade_book` lines up the current shares of every held or targeted asset with its
whole-share target and its price; `trade_list` turns the book into trades (sells
first, as they fund the buys, largest first) and `weights_table` into current,
optimizer and target weights with the forecast ``mu``, volatility and risk
contributions, plus a ``CASH`` row.

Weights are fractions of the account value ``V``; ``est_cost`` is the cost rate times
the traded notional; volatilities are annualised by ``sqrt(252 / horizon)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.rebalance.holdings import CASH
from foliocast.portfolio.rebalance.rounding import DUST_WEIGHT
from foliocast.risk.attribution import percent_risk_contributions, risk_contributions

__all__ = ["trade_book", "trade_list", "weights_table"]


def trade_book(
    held: pd.Series,
    held_prices: pd.Series,
    target: pd.Series,
    price: pd.Series,
    cost_rate: float,
) -> pd.DataFrame:
    """Current and target shares of every held or targeted asset, with prices.

    Parameters
    ----------
    held : pandas.Series of shape (n_held,)
        Shares held now by ticker (nonzero positions only; negative = short).
    held_prices : pandas.Series of shape (n_held,)
        Last price of each held asset, same tickers as ``held``; used only for
        assets that have no price in ``price`` (held outside the universe).
    target : pandas.Series of shape (n_assets,)
        Whole-share target by universe ticker.
    price : pandas.Series of shape (n_assets,)
        Close on the rebalance date by universe ticker.
    cost_rate : float
        Trading cost as a fraction of traded notional.

    Returns
    -------
    pandas.DataFrame of shape (n_tickers, 6)
        Indexed by ``ticker`` (the tickers of ``target``, then held tickers not in
        it), with columns ``current_shares`` (float), ``target_shares`` (int64),
        ``price``, ``trade_shares`` (target minus current), ``notional``
        (``|trade_shares| * price``) and ``est_cost`` (``notional * cost_rate``).
    """
    tickers = list(dict.fromkeys([*target.index, *held.index]))
    book = pd.DataFrame(index=pd.Index(tickers, name="ticker", dtype=object))
    book["current_shares"] = held.reindex(tickers, fill_value=0.0).astype(float)
    book["target_shares"] = target.reindex(tickers, fill_value=0).astype(np.int64)
    book["price"] = price.reindex(tickers).fillna(held_prices).astype(float)
    book["trade_shares"] = book["target_shares"] - book["current_shares"]
    book["notional"] = (book["trade_shares"].abs() * book["price"]).astype(float)
    book["est_cost"] = book["notional"] * cost_rate
    return book


def trade_list(book: pd.DataFrame) -> pd.DataFrame:
    """The trades of a book: sells first, then buys, then holds, largest first.

    Parameters
    ----------
    book : pandas.DataFrame of shape (n_tickers, 6)
        Book from `trade_book`, indexed by ticker.

    Returns
    -------
    pandas.DataFrame of shape (n_trades, 8)
        One row per asset held now or targeted (current or target shares nonzero),
        with columns ``ticker, current_shares, target_shares, trade_shares, price,
        notional, side, est_cost``; ``side`` is ``"buy"``, ``"sell"`` or ``"hold"``.
        Rows are ordered sells, buys, holds, each by ``notional`` descending, on a
        fresh integer index.
    """
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


def weights_table(
    book: pd.DataFrame, optimal: pd.Series, forecast: Forecast, value: float
) -> pd.DataFrame:
    """Current, optimizer and target weights with forecast risk, plus a cash row.

    Parameters
    ----------
    book : pandas.DataFrame of shape (n_tickers, 6)
        Book from `trade_book`, indexed by ticker.
    optimal : pandas.Series of shape (n_assets,)
        Optimizer weights (fractions of ``value``) by universe ticker.
    forecast : Forecast
        Forecast over the universe: ``mu``, ``cov`` and ``horizon``.
    value : float
        Account value ``V`` the weights are fractions of.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, 8)
        Columns ``ticker, current_weight, optimizer_weight, target_weight, mu,
        volatility, risk_contribution, percent_risk``. One row per asset of the
        book held now, targeted, or given an optimizer weight of at least
        `DUST_WEIGHT` in absolute value, then a ``CASH`` row whose weights are
        1 minus the sums over the whole book (its other columns NaN). ``mu`` is the
        horizon forecast; ``volatility`` and ``risk_contribution`` (of the rounded
        target weights) are annualised by ``sqrt(252 / horizon)``; ``percent_risk``
        is each asset's share of the target portfolio's risk.
    """
    tickers = book.index
    horizon = forecast.horizon
    per_year = TRADING_DAYS_PER_YEAR / horizon
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
