"""The monthly rebalance run: holdings in, target weights, trade list and risk out.

``rebalance(config, holdings, as_of)`` forecasts with the configured forecaster on
prices up to and including ``as_of`` (nothing later is read), optimises target
weights from the current ones, rounds them to whole shares within the cash the
account has, and measures the pre-trade risk of the current and target portfolios.
``write_plan`` saves the plan into a run folder atomically; ``add_parser`` registers
the ``portfolio rebalance`` subcommand.

Holdings file: CSV with columns ``ticker,shares`` and at most one ``CASH`` row (the
cash in the account); `portfolio.holdings` reads and validates it. Negative shares
are short positions and only allowed when the config's constraints set
``long_only: false``; negative cash is never allowed.

Account value ``V``: ``--value`` when given; otherwise the market value of the shares
at the ``as_of`` close plus the ``CASH`` row. With ``--value``, cash is
``V - market value``: a value above the holdings plus cash is a deposit, one below is
a withdrawal met by selling (both are noted in the summary).

Dates: ``as_of`` must lie within the price data; a date that is not a trading day
of the data (weekend, holiday) snaps to the previous trading day, with a note.
The universe is the assets with ``backtest.min_history_days`` prices up to ``as_of``
and a price on it; ``backtest.end`` is ignored (``as_of`` is the cut). A held asset
outside the universe is sold at its last price. A held asset whose last price is
more than `STALE_DAYS` trading days before ``as_of`` is an error: its value is
unknown.

Rounding (`portfolio.rounding.whole_shares`): target weights below `DUST_WEIGHT`
count as 0 and the others become whole shares that the account's cash pays for,
costs included, without pushing any upper limit further out; each rounded weight is
within one share of its target (plus the scaling that leaves room for the costs).

Terms: ``weights`` are fractions of ``V``; ``turnover`` is one-way,
``0.5 * sum |w_target - w_current|``; the estimated cost is ``cost_bps`` of traded
notional (``= cost_bps * 2 * turnover * V``). Volatilities are ex-ante from the
forecast covariance of horizon returns, annualised by ``sqrt(252 / horizon)``; VaR is
the historical one-day 95% VaR over the last `VAR_DAYS` daily returns, as a return
(a loss is negative).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.calendar import availability_mask, simple_returns
from data.errors import DataError
from forecasting.base import Forecaster
from forecasting.forecast import Forecast
from portfolio.config import ConfigError, RunConfig, dump_config
from portfolio.constraints import Constraints, ResolvedConstraints
from portfolio.holdings import (
    CASH,
    Holdings,
    as_holdings,
    check_holdings,
    parse_holdings,
    read_holdings,
)
from portfolio.rounding import DUST_WEIGHT, LIMIT_EPS, whole_shares
from risk.attribution import (
    ex_ante_volatility,
    percent_risk_contributions,
    risk_contributions,
)
from risk.metrics import value_at_risk

__all__ = [
    "CASH",
    "STALE_DAYS",
    "VAR_DAYS",
    "DUST_WEIGHT",
    "Holdings",
    "RebalancePlan",
    "read_holdings",
    "parse_holdings",
    "resolve_as_of",
    "whole_shares",
    "plan_rebalance",
    "rebalance",
    "write_plan",
    "add_parser",
]


STALE_DAYS = 5
"""A held asset's last price may be at most this many trading days before as_of."""

VAR_DAYS = 252
"""Daily returns (one year) behind the historical VaR."""

TRADING_DAYS = 252


# ---------------------------------------------------------------------- dates


def resolve_as_of(
    index: pd.DatetimeIndex, as_of: str | pd.Timestamp
) -> tuple[pd.Timestamp, str | None]:
    """The trading day of ``index`` to rebalance on, and a note if it moved.

    Raises
    ------
    ConfigError
        If ``as_of`` is not a date.
    DataError
        If it lies before the first or after the last date of ``index`` (the
        message gives the data range).
    """
    try:
        requested = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        raise ConfigError(f"as_of: {as_of!r} is not a date (use YYYY-MM-DD)") from None
    if requested is pd.NaT or requested.tz is not None:
        raise ConfigError(f"as_of: {as_of!r} must be a plain date (YYYY-MM-DD)")
    requested = requested.normalize()
    first, last = index[0], index[-1]
    if not first <= requested <= last:
        raise DataError(
            f"as_of {requested:%Y-%m-%d} is outside the price data",
            where=f"data from {first:%Y-%m-%d} to {last:%Y-%m-%d}",
            hint="Choose a date in that range or update the prices",
        )
    date = index[index.searchsorted(requested, side="right") - 1]
    if date == requested:
        return date, None
    return date, (
        f"as_of {requested:%Y-%m-%d} is not a trading day of the data; "
        f"used the previous one, {date:%Y-%m-%d}"
    )


def _last_prices(past: pd.DataFrame, tickers: list[str], source: str) -> pd.Series:
    """Last price of each held asset, refusing one older than `STALE_DAYS`."""
    date = past.index[-1]
    last = pd.Series(np.nan, index=pd.Index(tickers, dtype=object))
    for ticker in tickers:
        series = past[ticker]
        seen = series.last_valid_index()
        if seen is None:
            raise DataError(
                f"{ticker} has no price on or before {date:%Y-%m-%d}",
                source=source,
                hint="Remove the holding or rebalance on a later date",
            )
        age = len(past) - 1 - past.index.get_loc(seen)
        if age > STALE_DAYS:
            raise DataError(
                f"stale price for {ticker}: its last price is on {seen:%Y-%m-%d}, "
                f"{age} trading days before as_of {date:%Y-%m-%d} (at most "
                f"{STALE_DAYS} allowed)",
                source=source,
                hint="Update the price data or remove the holding",
            )
        last[ticker] = series[seen]
    return last


# ------------------------------------------------------------------------ plan


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

    def summary(self) -> str:
        """A short Markdown summary of the plan."""
        return _summary(self)


def _constraints(config: RunConfig) -> Constraints:
    try:
        return Constraints.from_dict(config.optimizer.constraints)
    except ValueError as err:
        raise ConfigError(f"optimizer.constraints: {err}") from None


def _account_value(
    holdings: Holdings, market_value: float, value: float | None
) -> tuple[float, float, list[str]]:
    """Account value and cash before trading, with notes on deposits/withdrawals."""
    notes = []
    if value is None:
        cash = holdings.cash or 0.0
        total = market_value + cash
        if total <= 0:
            what = (
                "the holdings are empty and give no cash"
                if holdings.shares.empty and holdings.cash is None
                else f"holdings plus cash are worth {total:,.2f}"
            )
            raise ConfigError(
                f"value: {what}; pass --value (the account value to allocate) or "
                "add a CASH row"
            )
        return total, cash, notes
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"value: {value!r} must be a positive amount")
    cash = value - market_value
    booked = market_value + (holdings.cash or 0.0)
    flow = value - booked
    if abs(flow) > 0.005 and (holdings.cash is not None or flow < 0):
        kind = "deposit" if flow > 0 else "withdrawal"
        notes.append(
            f"--value {value:,.2f} differs from holdings plus cash {booked:,.2f}: "
            f"treated as a {kind} of {abs(flow):,.2f}"
        )
    return float(value), float(cash), notes


def _forecast(
    forecaster: Forecaster, past: pd.DataFrame, config: RunConfig, fit: bool
) -> Forecast:
    spec = config.forecaster
    date = past.index[-1]
    try:
        if fit:
            window = (
                past if spec.window == "expanding" else past.iloc[-spec.lookback_days :]
            )
            forecaster.fit(window)
        return forecaster.predict(past)
    except ValueError as err:
        raise DataError(
            f"forecaster {spec.kind!r} could not forecast at {date:%Y-%m-%d}: {err}"
        ) from None


def _optimize(forecast: Forecast, config: RunConfig, prev: pd.Series) -> pd.Series:
    from portfolio.optimizer import optimize_forecast

    opt = config.optimizer
    try:
        return optimize_forecast(
            forecast,
            objective=opt.objective,
            risk_aversion=opt.risk_aversion,
            constraints=dict(opt.constraints),
            prev_weights=prev,
            cost_penalty=opt.cost_penalty_bps / 1e4,
            target=opt.target,
            risk_free_rate=0.0,  # as the backtest's MeanVariance strategies
        )
    except (ValueError, TypeError) as err:
        raise ConfigError(f"optimizer: {err}") from None


def plan_rebalance(
    prices: pd.DataFrame,
    config: RunConfig,
    holdings: Holdings | pd.DataFrame | str | Path,
    as_of: str | pd.Timestamp,
    *,
    value: float | None = None,
    forecaster: Forecaster | None = None,
    fitted: bool = False,
) -> RebalancePlan:
    """Plan a rebalance from given prices (the computation behind `rebalance`).

    Parameters
    ----------
    prices : pandas.DataFrame of shape (n_days, n_assets)
        Daily prices; only rows up to and including ``as_of`` are read.
    config : RunConfig
        Forecaster, optimizer, ``backtest.min_history_days`` and ``cost_bps``.
    holdings : Holdings, DataFrame or path
        Current holdings (see the module docstring for the format).
    as_of : date-like
        Rebalance date (snapped back to a trading day of ``prices``).
    value : float, optional
        Account value; default shares at market plus the ``CASH`` row.
    forecaster : Forecaster, optional
        Forecaster to use; default the configured kind, built fresh.
    fitted : bool
        ``forecaster`` is already fitted (e.g. loaded from a checkpoint): predict
        only.

    Returns
    -------
    RebalancePlan
    """
    holdings = as_holdings(holdings)
    constraints = _constraints(config)
    date, snapped = resolve_as_of(prices.index, as_of)
    past = prices.loc[:date]  # the only prices anything below sees
    check_holdings(holdings, past, constraints)
    notes = [snapped] if snapped else []

    held = holdings.shares[holdings.shares != 0]
    held_prices = _last_prices(past, list(held.index), holdings.source)
    market_value = float((held * held_prices).sum())
    value, cash, flow_notes = _account_value(holdings, market_value, value)
    notes += flow_notes

    min_history = config.backtest.min_history_days
    available = availability_mask(past, min_history).iloc[-1]
    universe = list(available.index[available.to_numpy()])
    if not universe:
        raise DataError(
            f"no asset has {min_history} days of prices up to {date:%Y-%m-%d}",
            hint="Rebalance on a later date or lower backtest.min_history_days",
        )
    outside = [t for t in held.index if t not in universe]
    if outside:
        notes.append(
            f"{', '.join(outside)} not investable on {date:%Y-%m-%d} (fewer than "
            f"{min_history} days of prices or no price that day): sold"
        )

    current_weights = held * held_prices / value
    if forecaster is None:
        forecaster = _model_forecaster(config)
    elif fitted:
        _check_fit_date(forecaster, date)
    forecast = _forecast(forecaster, past[universe], config, fit=not fitted)
    optimal = _optimize(forecast, config, current_weights).reindex(universe)

    price = past[universe].iloc[-1]
    current = held.reindex(universe, fill_value=0.0)
    cost_rate = config.backtest.cost_bps / 1e4
    sold_value = float((held[outside] * held_prices[outside]).sum())
    sold_cost = cost_rate * float((held[outside].abs() * held_prices[outside]).sum())
    resolved = constraints.resolve(universe)
    try:
        target_shares = whole_shares(
            optimal,
            price,
            current,
            value,
            cash=cash + sold_value - sold_cost,
            cost_rate=cost_rate,
            resolved=resolved,
            sold=float(current_weights[outside].abs().sum()),
        )
    except ValueError as err:
        raise ConfigError(f"value: {err} ({value:,.2f})") from None

    book = _book(held, held_prices, target_shares, price, cost_rate)
    residual = cash - float((book["trade_shares"] * book["price"]).sum())
    residual -= float(book["est_cost"].sum())
    weights = _weights_table(book, optimal, forecast, value)
    rounded = weights.set_index("ticker")["target_weight"].drop(CASH)
    risk = _risk_table(past, forecast, weights, book, value, cash, residual, outside)
    checks = _constraint_table(
        resolved, optimal, rounded, current_weights, book, value, cost_rate
    )
    if not checks["ok"].all():
        failed = ", ".join(checks.loc[~checks["ok"], "constraint"])
        notes.append(f"after rounding to whole shares, not within limits: {failed}")
    return RebalancePlan(
        name=config.name,
        as_of=date,
        value=value,
        cash=cash,
        residual_cash=residual,
        forecast=forecast,
        trades=_trade_list(book),
        weights=weights,
        risk=risk,
        constraints=checks,
        notes=tuple(notes),
        config=config,
    )


def _model_forecaster(config: RunConfig) -> Forecaster:
    """The configured forecaster, built as the backtest builds ``lstm_mvo``'s."""
    from portfolio.run import make_model_forecaster

    try:
        return make_model_forecaster(config)
    except ValueError as err:
        raise ConfigError(f"forecaster: {err}") from None


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


def _risk_table(
    past: pd.DataFrame,
    forecast: Forecast,
    weights: pd.DataFrame,
    book: pd.DataFrame,
    value: float,
    cash: float,
    residual: float,
    outside: list[str],
) -> pd.DataFrame:
    per_year = TRADING_DAYS / forecast.horizon
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
        ("var_95_1d_current", _historical_var(past, current), "daily return"),
        ("var_95_1d_target", var_target, "daily return"),
        ("var_95_1d_target_value", var_target * value, "currency"),
        ("turnover", turnover, "one-way fraction"),
        ("traded_notional", float(book["notional"].sum()), "currency"),
        ("estimated_cost", cost, "currency"),
        ("estimated_cost_bps", cost / value * 1e4, "bps of value"),
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "unit"])


def _constraint_table(
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


# -------------------------------------------------------------------- summary


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def _summary(plan: RebalancePlan) -> str:
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


# ------------------------------------------------------------------ top level


def _load_prices(config: RunConfig) -> pd.DataFrame:
    from portfolio.run import load_run_prices

    # as_of is the cut of a rebalance; backtest.end belongs to backtests only.
    uncut = dataclasses.replace(
        config, backtest=dataclasses.replace(config.backtest, end=None)
    )
    prices, _ = load_run_prices(uncut)
    return prices


def _checkpointed(config: RunConfig, checkpoint: str | Path) -> Forecaster:
    """The trained LSTM saved in ``checkpoint`` (see `forecasting.checkpoint`)."""
    path = Path(checkpoint)
    if not path.exists():
        raise DataError("checkpoint not found", source=str(path))
    if config.forecaster.kind != "lstm":
        raise ConfigError(
            f"forecaster.kind {config.forecaster.kind!r} is fitted on the data, not "
            "loaded; drop --checkpoint (a checkpoint holds a trained LSTM)"
        )
    from forecasting.lstm import LSTMForecaster

    try:
        return LSTMForecaster.load(path)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(
            f"not a readable LSTM checkpoint ({err})",
            source=str(path),
            hint="Point --checkpoint at a folder written by LSTMForecaster.save",
        ) from None


def _check_fit_date(forecaster: Forecaster, date: pd.Timestamp) -> None:
    """A loaded model trained on prices after ``date`` would carry look-ahead."""
    fit_date = getattr(forecaster, "fit_date_", None)
    if fit_date is not None and pd.Timestamp(fit_date) > date:
        raise DataError(
            f"the checkpoint was trained on prices up to {fit_date:%Y-%m-%d}, after "
            f"as_of {date:%Y-%m-%d}: it has seen the future",
            hint="Use a checkpoint trained up to as_of, or drop --checkpoint to fit",
        )


def rebalance(
    config: RunConfig,
    holdings: Holdings | pd.DataFrame | str | Path,
    as_of: str | pd.Timestamp,
    *,
    value: float | None = None,
    checkpoint: str | Path | None = None,
) -> RebalancePlan:
    """Plan the rebalance of an account on ``as_of`` with the configured model.

    Parameters
    ----------
    config : RunConfig
        Data source, forecaster, optimizer and costs.
    holdings : Holdings, DataFrame or path
        Current holdings; a path is read with `read_holdings`.
    as_of : date-like
        Rebalance date; only prices up to and including it are used.
    value : float, optional
        Account value; default the holdings at market plus the ``CASH`` row.
    checkpoint : path, optional
        Folder of a trained LSTM (``LSTMForecaster.save``) to predict with instead of
        training; it must have been trained on prices up to ``as_of`` at the latest.

    Returns
    -------
    RebalancePlan

    Raises
    ------
    DataError, ConfigError
        On bad holdings, dates, prices or settings (one clear message).
    """
    holdings = as_holdings(holdings)  # a bad file fails before the data loads
    prices = _load_prices(config)
    forecaster = _checkpointed(config, checkpoint) if checkpoint else None
    return plan_rebalance(
        prices,
        config,
        holdings,
        as_of,
        value=value,
        forecaster=forecaster,
        fitted=checkpoint is not None,
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, float_format="%.10g")


def _holdings_table(plan: RebalancePlan) -> pd.DataFrame:
    """The holdings the plan started from, priced, in the input format plus price."""
    held = plan.trades.loc[
        plan.trades["current_shares"] != 0, ["ticker", "current_shares", "price"]
    ].rename(columns={"current_shares": "shares"})
    cash = pd.DataFrame({"ticker": [CASH], "shares": [plan.cash], "price": [1.0]})
    return pd.concat([held, cash], ignore_index=True)


def write_plan(plan: RebalancePlan, out_dir: str | Path, force: bool = False) -> Path:
    """Write the plan into ``out_dir`` atomically; never replace it without force.

    Files: ``trades.csv``, ``target_weights.csv``, ``risk.csv``,
    ``constraints.csv``, ``holdings.csv`` (current shares and prices),
    ``config.yaml`` and ``summary.md``.

    Raises
    ------
    portfolio.runfolder.RunExistsError
        If ``out_dir`` exists and ``force`` is False.
    """
    from portfolio.runfolder import staging

    out = Path(out_dir)
    with staging(out, force=force) as folder:
        _write_csv(plan.trades, folder / "trades.csv")
        _write_csv(plan.weights, folder / "target_weights.csv")
        _write_csv(plan.risk, folder / "risk.csv")
        _write_csv(plan.constraints, folder / "constraints.csv")
        _write_csv(_holdings_table(plan), folder / "holdings.csv")
        (folder / "config.yaml").write_text(dump_config(plan.config))
        (folder / "summary.md").write_text(plan.summary())
    return out


# ------------------------------------------------------------------------ CLI


def _command(args: argparse.Namespace) -> int:
    from portfolio.config import load_config
    from portfolio.runfolder import RunExistsError

    config = load_config(args.config)
    out = Path(args.out)
    if out.exists() and not args.force:  # fail before the slow part
        raise RunExistsError(
            f"{out} already exists; choose another --out or pass --force to replace it"
        )
    with warnings.catch_warnings():
        if args.quiet:
            warnings.simplefilter("ignore")
        plan = rebalance(
            config,
            args.holdings,
            args.as_of,
            value=args.value,
            checkpoint=args.checkpoint,
        )
    write_plan(plan, out, force=args.force)
    if args.quiet:
        print(out)
    else:
        sys.stdout.write(plan.summary())
        print(f"plan: {out}")
    return 0


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``rebalance`` subcommand on an argparse subparsers object."""
    parser = commands.add_parser(
        "rebalance",
        help="target weights, whole-share trade list and pre-trade risk for holdings",
        description="Plan a rebalance: forecast with the configured model on prices "
        "up to --as-of, optimise, round to whole shares within the cash, check "
        "the constraints. Holdings CSV: columns ticker,shares with an optional "
        "row CASH,<amount>.",
    )
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument(
        "--holdings", required=True, help="CSV with columns ticker,shares (+ CASH row)"
    )
    parser.add_argument(
        "--as-of",
        required=True,
        help="rebalance date YYYY-MM-DD (a non-trading day uses the previous one)",
    )
    parser.add_argument(
        "--value",
        type=float,
        help="account value (default: holdings at market plus the CASH row)",
    )
    parser.add_argument("--out", required=True, help="folder to create for the plan")
    parser.add_argument(
        "--checkpoint",
        help="trained LSTM checkpoint folder to predict with instead of training",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing plan folder"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the folder")
    parser.set_defaults(handler=_command)
    return parser
