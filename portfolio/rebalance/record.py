"""The record of a rebalance plan and its Markdown summary.

`RebalancePlan` is what `portfolio.rebalance.plan.plan_rebalance` returns;
`plan_summary` writes the short summary behind `RebalancePlan.summary`, and
`portfolio.rebalance.output` saves the plan's files.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.config import RunConfig
from foliocast.portfolio.rebalance.holdings import CASH

__all__ = ["RebalancePlan", "plan_summary"]


@dataclass(frozen=True)
class RebalancePlan:
    """Target weights, trades and pre-trade risk of one rebalance.

    Attributes
    ----------
    name : str
        Config name.
    as_of : pandas.Timestamp
        Trading day whose close prices the plan uses.
    value : float
        Account value ``V`` (all weights are fractions of it).
    cash : float
        Cash before trading.
    residual_cash : float
        Cash after the trades and their estimated cost (>= 0).
    forecast : Forecast
        The forecast the optimizer used (universe assets, horizon units).
    trades : pandas.DataFrame
        ``ticker, current_shares, target_shares, trade_shares, price, notional,
        side, est_cost``: sells first, then buys, largest first.
    weights : pandas.DataFrame
        ``ticker, current_weight, optimizer_weight, target_weight, mu, volatility,
        risk_contribution, percent_risk``, plus a ``CASH`` row.
    risk : pandas.DataFrame
        ``metric, value, unit``: volatilities, VaR, turnover, cost, cash.
    constraints : pandas.DataFrame
        ``constraint, lower, upper, optimizer_value, value, tolerance, ok``.
    notes : tuple of str
        Things the user should know (date snapped, assets sold, deposits).
    config : RunConfig
        The configuration the plan was made with.
    model : str
        Which model made the forecast: how it was obtained, its fit date and the
        fingerprint of the prices it was fitted on.
    """

    name: str
    as_of: pd.Timestamp
    value: float
    cash: float
    residual_cash: float
    forecast: Forecast
    trades: pd.DataFrame
    weights: pd.DataFrame
    risk: pd.DataFrame
    constraints: pd.DataFrame
    notes: tuple[str, ...]
    config: RunConfig
    model: str = ""

    def summary(self) -> str:
        """A short Markdown summary of the plan."""
        return plan_summary(self)


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def plan_summary(plan: RebalancePlan) -> str:
    """A short Markdown summary of a rebalance plan.

    Parameters
    ----------
    plan : RebalancePlan
        The plan to summarise.

    Returns
    -------
    str
        Markdown ending in a newline: a title with the name and date; bullets on the
        forecaster and objective, value and cash, sells and buys with turnover and
        estimated cost, ex-ante volatility, target and current VaR, the constraint
        check and the five largest target weights; then the plan's notes, if any,
        and the names of the plan's files.
    """
    risk = plan.risk.set_index("metric")["value"]
    trades = plan.trades
    buys = trades[trades["side"] == "buy"]
    sells = trades[trades["side"] == "sell"]
    spec = plan.config.forecaster
    opt = plan.config.optimizer
    failed = plan.constraints.loc[~plan.constraints["ok"], "constraint"].tolist()
    top = (
        plan.weights[plan.weights["ticker"] != CASH]
        .nlargest(5, "target_weight")
        .loc[:, ["ticker", "target_weight"]]
    )
    lines = [
        f"# Rebalance {plan.name}: {plan.as_of:%Y-%m-%d}",
        "",
        f"- Forecaster: {spec.kind} (horizon {plan.forecast.horizon} days, "
        f"universe {len(plan.forecast.tickers)} assets); objective "
        f"{opt.objective}, risk aversion {opt.risk_aversion:g}",
        f"- Model: {plan.model}",
        f"- Account value {_money(plan.value)}; cash before "
        f"{_money(plan.cash)}, after trades and costs "
        f"{_money(plan.residual_cash)}",
        f"- Trades: {len(sells)} sells ({_money(sells['notional'].sum())}), "
        f"{len(buys)} buys ({_money(buys['notional'].sum())}); one-way turnover "
        f"{risk['turnover']:.1%}; estimated cost {_money(risk['estimated_cost'])} "
        f"({risk['estimated_cost_bps']:.1f} bps at "
        f"{plan.config.backtest.cost_bps:g} bps of notional)",
        f"- Ex-ante volatility (annualised): current "
        f"{risk['volatility_current']:.1%} -> target {risk['volatility_target']:.1%}",
        f"- Historical 1-day 95% VaR of the target: {risk['var_95_1d_target']:.2%} "
        f"({_money(risk['var_95_1d_target_value'])}); current "
        f"{risk['var_95_1d_current']:.2%}",
        "- Constraints: "
        + (
            "all within limits after rounding"
            if not failed
            else f"NOT within limits after rounding: {', '.join(failed)}"
        ),
        "- Largest targets: "
        + ", ".join(f"{t} {w:.1%}" for t, w in top.itertuples(index=False)),
    ]
    if plan.notes:
        lines += ["", "Notes:", *(f"- {note}" for note in plan.notes)]
    lines += [
        "",
        "Files: trades.csv, target_weights.csv, risk.csv, constraints.csv, "
        "holdings.csv, config.yaml",
    ]
    return "\n".join(lines) + "\n"
