"""Pre-trade risk and constraint checks of a rebalance plan.

`risk_table` measures the current and the target portfolio: ex-ante volatility and
tracking error to the run's benchmark portfolio from the forecast covariance of
horizon returns (annualised by ``sqrt(252 / horizon)``),
historical one-day 95% VaR over the last `VAR_DAYS` daily returns (as a return: a loss
is negative), one-way turnover, traded notional, estimated cost and cash.
`constraint_table` checks each configured limit before and after whole-share
rounding, within the tolerance that rounding can move it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR, simple_returns
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.optimizer.constraints import ResolvedConstraints
from foliocast.portfolio.rebalance.holdings import CASH
from foliocast.portfolio.rebalance.rounding import LIMIT_EPS
from foliocast.risk.attribution import ex_ante_tracking_error, ex_ante_volatility
from foliocast.risk.metrics import value_at_risk

__all__ = ["VAR_DAYS", "risk_table", "constraint_table"]


VAR_DAYS = TRADING_DAYS_PER_YEAR
"""Daily returns (one year) behind the historical VaR."""


def _historical_var(past: pd.DataFrame, weights: pd.Series) -> float:
    """One-day 95% VaR of fixed ``weights`` over the last `VAR_DAYS` returns."""
    weights = weights[weights != 0]
    if weights.empty:
        return 0.0
    returns = simple_returns(past[list(weights.index)].iloc[-(VAR_DAYS + 1) :])
    returns = returns.dropna(how="any")
    if len(returns) < 20:
        return float("nan")
    portfolio = pd.Series(returns.to_numpy() @ weights.to_numpy(), index=returns.index)
    return value_at_risk(portfolio, level=0.95)


def risk_table(
    past: pd.DataFrame,
    forecast: Forecast,
    weights: pd.DataFrame,
    book: pd.DataFrame,
    value: float,
    cash: float,
    residual: float,
    outside: list[str],
    benchmark: pd.Series | None = None,
) -> pd.DataFrame:
    """Pre-trade risk, turnover, cost and cash of the current and target portfolio.

    Parameters
    ----------
    past : pandas.DataFrame of shape (n_days, n_tickers)
        Daily prices up to and including the rebalance date, every ticker of
        ``weights`` among the columns; the last `VAR_DAYS` returns give the VaR.
    forecast : Forecast
        Forecast over the universe; its ``cov`` gives the ex-ante volatilities.
    weights : pandas.DataFrame of shape (n_rows, 8)
        Weights table from `portfolio.trades.weights_table` (with its ``CASH``
        row, which is left out here).
    book : pandas.DataFrame of shape (n_tickers, 6)
        Book from `portfolio.trades.trade_book` (``notional`` and ``est_cost``).
    value : float
        Account value ``V``.
    cash : float
        Cash before trading.
    residual : float
        Cash after the trades and their estimated cost.
    outside : list of str
        Held tickers outside the forecast universe; the current volatility leaves
        them out and its unit says so.
    benchmark : pandas.Series, optional
        The benchmark portfolio over the universe (`backtest.benchmark.benchmark_at`):
        with it, two rows more give the ex-ante tracking error of the current and
        the target weights to it.

    Returns
    -------
    pandas.DataFrame of shape (13, 3), or (15, 3) with a benchmark
        Columns ``metric, value, unit``: value, cash before and after (also as a
        fraction of ``V``), annualised ex-ante volatility and historical one-day 95%
        VaR (a return; a loss is negative) of the current and target weights, the
        target VaR in currency, one-way turnover, traded notional and estimated
        cost (in currency and in bps of ``V``).
    """
    per_year = TRADING_DAYS_PER_YEAR / forecast.horizon
    by_ticker = weights.set_index("ticker").drop(CASH)
    current = by_ticker["current_weight"]
    target = by_ticker["target_weight"]
    on_forecast = {
        name: w.reindex(forecast.tickers, fill_value=0.0)
        for name, w in (("current", current), ("target", target))
    }
    turnover = 0.5 * float((target - current).abs().sum())
    cost = float(book["est_cost"].sum())
    var_target = _historical_var(past, target)
    excluded = f" (excludes {', '.join(outside)})" if outside else ""
    rows = [
        ("value", value, "currency"),
        ("cash_before", cash, "currency"),
        ("cash_after", residual, "currency"),
        ("cash_after_weight", residual / value, "fraction"),
        (
            "volatility_current",
            ex_ante_volatility(
                on_forecast["current"], forecast.cov, periods_per_year=per_year
            ),
            f"annualised{excluded}",
        ),
        (
            "volatility_target",
            ex_ante_volatility(
                on_forecast["target"], forecast.cov, periods_per_year=per_year
            ),
            "annualised",
        ),
        *_tracking_error_rows(on_forecast, benchmark, forecast, per_year, excluded),
        ("var_95_1d_current", _historical_var(past, current), "daily return"),
        ("var_95_1d_target", var_target, "daily return"),
        ("var_95_1d_target_value", var_target * value, "currency"),
        ("turnover", turnover, "one-way fraction"),
        ("traded_notional", float(book["notional"].sum()), "currency"),
        ("estimated_cost", cost, "currency"),
        ("estimated_cost_bps", cost / value * 1e4, "bps of value"),
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "unit"])


def _tracking_error_rows(
    on_forecast: dict[str, pd.Series],
    benchmark: pd.Series | None,
    forecast: Forecast,
    per_year: float,
    excluded: str,
) -> list[tuple[str, float, str]]:
    if benchmark is None:
        return []
    units = {"current": f"annualised{excluded}", "target": "annualised"}
    return [
        (
            f"tracking_error_{name}",
            ex_ante_tracking_error(
                weights, benchmark, forecast.cov, periods_per_year=per_year
            ),
            units[name],
        )
        for name, weights in on_forecast.items()
    ]


def constraint_table(
    resolved: ResolvedConstraints,
    optimal: pd.Series,
    rounded: pd.Series,
    current: pd.Series,
    book: pd.DataFrame,
    value: float,
    cost_rate: float,
) -> pd.DataFrame:
    """Each configured limit: its value before and after whole-share rounding.

    ``tolerance`` is the most whole-share rounding can move the value (one share of
    each asset involved, plus the cash kept for the costs in the budget); ``ok``
    means the rounded value lies within the limits widened by it.

    Parameters
    ----------
    resolved : ResolvedConstraints
        The configured constraints laid out on the universe (n_assets tickers).
    optimal : pandas.Series of shape (n_assets,)
        Optimizer weights by ticker (0 where missing).
    rounded : pandas.Series of shape (n_rounded,)
        Target weights after whole-share rounding by ticker, without ``CASH``
        (0 where missing).
    current : pandas.Series of shape (n_held,)
        Current weights of the held assets; those outside the universe count as
        sold in the turnover.
    book : pandas.DataFrame of shape (n_tickers, 6)
        Book from `portfolio.trades.trade_book`, indexed by ticker (``price`` and
        ``notional``).
    value : float
        Account value ``V``.
    cost_rate : float
        Trading cost as a fraction of traded notional.

    Returns
    -------
    pandas.DataFrame of shape (n_limits, 7)
        One row per configured limit (budget, long_only, min_weight, max_weight,
        bounds, groups, max_leverage, turnover), with columns ``constraint, lower,
        upper, optimizer_value, value, tolerance, ok``.
    """
    c = resolved.constraints
    tickers = list(resolved.tickers)
    share = (book["price"] / value).reindex(tickers).to_numpy()
    w_opt = optimal.reindex(tickers, fill_value=0.0).to_numpy()
    w = rounded.reindex(tickers, fill_value=0.0).to_numpy()
    prev = current.reindex(tickers, fill_value=0.0).to_numpy()
    sold = float(current.drop(tickers, errors="ignore").abs().sum())
    cost = cost_rate * float(book["notional"].sum()) / value
    rows: list[tuple[str, float, float, float, float, float]] = []
    inf = math.inf

    def add(name, lower, upper, before, after, tolerance) -> None:
        rows.append((name, lower, upper, float(before), float(after), float(tolerance)))

    if c.budget is not None:
        lower = -inf if c.allow_cash else c.budget
        # Each asset held can fall short of its target by up to one share.
        held = (w_opt != 0) | (w != 0)
        add("budget", lower, c.budget, w_opt.sum(), w.sum(), share[held].sum() + cost)
    if c.long_only:
        add("long_only", 0.0, inf, w_opt.min(), w.min(), 0.0)
    if c.min_weight is not None:
        add("min_weight", c.min_weight, inf, w_opt.min(), w.min(), share.max())
    if c.max_weight is not None:
        add("max_weight", -inf, c.max_weight, w_opt.max(), w.max(), share.max())
    for ticker in c.bounds or {}:
        if ticker in tickers:
            i = tickers.index(ticker)
            lo, hi = resolved.lower[i], resolved.upper[i]
            add(f"bounds[{ticker}]", lo, hi, w_opt[i], w[i], share[i])
    for j, name in enumerate(resolved.group_names):
        members = resolved.group_matrix[j].astype(bool)
        add(
            f"groups[{name}]",
            resolved.group_lower[j],
            resolved.group_upper[j],
            w_opt[members].sum(),
            w[members].sum(),
            share[members].sum(),
        )
    if c.max_leverage is not None:
        add(
            "max_leverage",
            -inf,
            c.max_leverage,
            np.abs(w_opt).sum(),
            np.abs(w).sum(),
            share.sum(),
        )
    if c.turnover is not None:
        add(
            "turnover",
            -inf,
            c.turnover,
            0.5 * (np.abs(w_opt - prev).sum() + sold),
            0.5 * (np.abs(w - prev).sum() + sold),
            0.5 * share.sum(),
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "constraint",
            "lower",
            "upper",
            "optimizer_value",
            "value",
            "tolerance",
        ],
    )
    table["ok"] = (
        table["value"] >= table["lower"] - table["tolerance"] - LIMIT_EPS
    ) & (table["value"] <= table["upper"] + table["tolerance"] + LIMIT_EPS)
    return table
