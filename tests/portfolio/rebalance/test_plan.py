"""Monthly rebalance run: budget, whole shares, no look-ahead, bad input, CLI."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foliocast.data import DataError, load_dataset
from foliocast.data.calendar import availability_mask
from foliocast.forecasting.baselines import make_forecaster
from foliocast.portfolio.backtest.runfolder import RunExistsError
from foliocast.portfolio.config import ConfigError, config_from_dict
from foliocast.portfolio.optimizer.constraints import Constraints
from foliocast.portfolio.rebalance import rounding
from foliocast.portfolio.rebalance.plan import (
    CASH,
    Holdings,
    parse_holdings,
    plan_rebalance,
    read_holdings,
    rebalance,
    resolve_as_of,
    whole_shares,
    write_plan,
)
from foliocast.portfolio.rebalance.valuation import account_value
from tests.cli_runner import run_main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "experiments" / "holdings_example.csv"
AS_OF = "2022-06-30"
SETTINGS = {
    "name": "rebalance_test",
    "data": {"dataset": "sp500"},
    "backtest": {"cost_bps": 10},
    "forecaster": {"kind": "ledoit_wolf", "lookback_days": 504},
    "optimizer": {
        "objective": "utility",
        "risk_aversion": 5,
        "constraints": {"long_only": True, "max_weight": 0.2},
    },
    "strategies": ["lstm_mvo"],
}
FILES = [
    "trades.csv",
    "target_weights.csv",
    "risk.csv",
    "constraints.csv",
    "holdings.csv",
    "config.yaml",
    "summary.md",
    ".forecast-portfolio.json",  # marks the folder as ours (--force may replace it)
]


def holdings_frame(rows):
    return pd.DataFrame(rows, columns=["ticker", "shares"])


HOLDINGS = holdings_frame(
    [("AAPL", 150), ("MSFT", 60), ("JNJ", 80), ("XOM", 200), ("KO", 250), (CASH, 25000)]
)


@pytest.fixture(scope="module")
def prices():
    return load_dataset("sp500")


@pytest.fixture(scope="module")
def config():
    return config_from_dict(SETTINGS)


@pytest.fixture(scope="module")
def plan(prices, config):
    return plan_rebalance(prices, config, HOLDINGS, AS_OF)


def with_constraints(**constraints):
    settings = {**SETTINGS, "optimizer": {**SETTINGS["optimizer"]}}
    settings["optimizer"]["constraints"] = constraints
    return config_from_dict(settings)


# ------------------------------------------------------------------- the plan


def test_trades_respect_the_budget(plan):
    trades = plan.trades
    buys = trades.loc[trades["side"] == "buy", "notional"].sum()
    sells = trades.loc[trades["side"] == "sell", "notional"].sum()
    cost = trades["est_cost"].sum()
    assert buys + cost <= plan.cash + sells + 1e-6
    assert plan.residual_cash >= 0
    # Self-consistency: cash after = cash before - net purchases - costs.
    net = (trades["trade_shares"] * trades["price"]).sum()
    assert plan.residual_cash == pytest.approx(plan.cash - net - cost)
    cash_row = plan.weights.set_index("ticker").loc[CASH, "target_weight"]
    assert cash_row * plan.value == pytest.approx(plan.residual_cash + cost)
    # Here nothing worth a share is left idle beyond the costs.
    assert plan.residual_cash < trades["price"].max()


def test_target_shares_are_whole(plan):
    trades = plan.trades
    assert (trades["target_shares"] == np.round(trades["target_shares"])).all()
    assert (trades["trade_shares"] == np.round(trades["trade_shares"])).all()
    assert (trades["target_shares"] >= 0).all()  # long-only
    expected = trades["target_shares"] - trades["current_shares"]
    assert (trades["trade_shares"] == expected).all()
    sides = np.sign(trades["trade_shares"]).map({1: "buy", -1: "sell", 0: "hold"})
    assert (trades["side"] == sides).all()


def test_rounded_weights_close_to_the_optimizer(prices, plan):
    table = plan.weights.set_index("ticker").drop(CASH)
    price = prices.loc[AS_OF, table.index]
    cost_share = plan.trades["est_cost"].sum() / plan.value
    gap = (table["target_weight"] - table["optimizer_weight"]).abs()
    # One share, plus the scaling that reserves cash for the costs.
    limit = price / plan.value + 2 * cost_share * table["optimizer_weight"] + 1e-9
    assert (gap <= limit).all(), gap[gap > limit]
    assert plan.weights[["current_weight", "target_weight"]].sum().to_numpy() == (
        pytest.approx([1.0, 1.0])
    )


def test_risk_is_consistent_with_the_forecast(plan):
    risk = plan.risk.set_index("metric")["value"]
    forecast = plan.forecast
    table = plan.weights.set_index("ticker").drop(CASH)
    w = table["target_weight"].reindex(forecast.tickers, fill_value=0.0).to_numpy()
    annual = 252 / forecast.horizon
    vol = np.sqrt(w @ forecast.cov.to_numpy() @ w * annual)
    assert risk["volatility_target"] == pytest.approx(vol)
    # Tracking error to the config's benchmark (1/N of the universe), by hand.
    active = w - 1.0 / len(forecast.tickers)
    te = np.sqrt(active @ forecast.cov.to_numpy() @ active * annual)
    assert risk["tracking_error_target"] == pytest.approx(te)
    assert risk["tracking_error_current"] > 0
    assert table["risk_contribution"].sum() == pytest.approx(vol)
    assert table["percent_risk"].sum() == pytest.approx(1.0)
    assert risk["estimated_cost"] == pytest.approx(
        10 / 1e4 * 2 * risk["turnover"] * plan.value
    )
    assert -0.1 < risk["var_95_1d_target"] < 0
    assert risk["var_95_1d_target_value"] == pytest.approx(
        risk["var_95_1d_target"] * plan.value
    )


def test_constraints_hold_after_rounding(plan):
    checks = plan.constraints.set_index("constraint")
    assert list(checks.index) == ["budget", "long_only", "max_weight"]
    assert checks["ok"].all()
    assert checks.loc["max_weight", "value"] <= 0.2 + 1e-12


def test_no_look_ahead(prices, config, plan):
    rng = np.random.default_rng(42)
    later = prices.index > pd.Timestamp(AS_OF)
    shocked = prices.copy()
    shocked.loc[later] = prices.loc[later] * rng.lognormal(0, 0.2, later.sum())[:, None]
    shocked.loc[later, "AAPL"] = np.nan  # delisted later: irrelevant today
    again = plan_rebalance(shocked, config, HOLDINGS, AS_OF)
    for name in ["trades", "weights", "risk", "constraints"]:
        pd.testing.assert_frame_equal(getattr(again, name), getattr(plan, name))
    assert again.residual_cash == plan.residual_cash
    assert again.as_of == pd.Timestamp(AS_OF)


def test_library_entry_point_reads_the_example_file(config, plan):
    from_file = rebalance(config, EXAMPLE, AS_OF)
    pd.testing.assert_frame_equal(from_file.trades, plan.trades)


def test_extra_groups_turnover_rows(prices):
    config = with_constraints(
        long_only=True,
        max_weight=0.2,
        turnover=0.3,
        groups={"tech": [0.0, 0.3]},
        asset_groups={"AAPL": "tech", "MSFT": "tech", "AMD": "tech"},
    )
    plan = plan_rebalance(prices, config, HOLDINGS, AS_OF)
    checks = plan.constraints.set_index("constraint")
    assert {"groups[tech]", "turnover"} <= set(checks.index)
    assert checks["ok"].all()
    assert (
        plan.risk.set_index("metric").loc["turnover", "value"]
        <= 0.3 + (checks.loc["turnover", "tolerance"])
    )


def test_short_holdings_allowed_when_not_long_only(prices):
    config = with_constraints(
        long_only=False, min_weight=-0.1, max_weight=0.2, max_leverage=1.6
    )
    short = holdings_frame([("AAPL", -50), ("MSFT", 100), (CASH, 50000)])
    plan = plan_rebalance(prices, config, short, AS_OF)
    assert plan.residual_cash >= 0
    assert plan.constraints["ok"].all()


def test_value_sets_the_cash(prices, config):
    shares = HOLDINGS[HOLDINGS["ticker"] != CASH].set_index("ticker")["shares"]
    market_value = (shares * prices.loc[AS_OF, shares.index]).sum()
    plan = plan_rebalance(prices, config, shares.reset_index(), AS_OF, value=200_000)
    assert plan.value == 200_000
    assert plan.cash == pytest.approx(200_000 - market_value)
    assert plan.notes == ()
    deposit = plan_rebalance(prices, config, HOLDINGS, AS_OF, value=200_000)
    assert any("deposit" in note for note in deposit.notes)
    sale = plan_rebalance(prices, config, HOLDINGS, AS_OF, value=50_000)
    assert any("withdrawal" in note for note in sale.notes)
    assert sale.residual_cash >= 0
    assert (sale.weights["target_weight"] >= 0).all()


def test_new_account_from_cash_only(prices, config):
    plan = plan_rebalance(prices, config, holdings_frame([]), AS_OF, value=1e6)
    assert plan.cash == 1e6
    assert (plan.trades["side"] == "buy").all()
    assert 0 <= plan.residual_cash < plan.trades["price"].max()


def test_weekend_snaps_to_the_previous_trading_day(prices, config):
    plan = plan_rebalance(prices, config, HOLDINGS, "2022-07-02")
    assert plan.as_of == pd.Timestamp("2022-07-01")
    assert any("not a trading day" in note for note in plan.notes)


def test_recent_gap_sells_the_asset(prices, config):
    gappy = prices.copy()
    gappy.loc["2022-06-28":, "KO"] = np.nan  # 2 days without a price: not stale
    plan = plan_rebalance(gappy, config, HOLDINGS, AS_OF)
    row = plan.trades.set_index("ticker").loc["KO"]
    assert row["target_shares"] == 0 and row["side"] == "sell"
    assert any("KO" in note and "sold" in note for note in plan.notes)


# ---------------------------------------------------------------- whole shares


def test_whole_shares_greedy_by_hand():
    tickers = ["A", "B", "C"]
    target = pd.Series([0.5, 0.3, 0.2], index=tickers)
    price = pd.Series([100.0, 33.0, 7.0], index=tickers)
    none = pd.Series(0.0, index=tickers)
    # exact 5, 9.09, 28.57 -> floor 5, 9, 28 spends 993; C has the larger
    # shortfall (4.0 vs 3.0) and costs 7 <= 7 left.
    shares = whole_shares(target, price, none, 1000.0, cash=1000.0)
    assert shares.tolist() == [5, 9, 29]


def test_whole_shares_respects_upper_limits_and_dust():
    tickers = ["A", "B"]
    target = pd.Series([0.5, 1e-8], index=tickers)
    price = pd.Series([90.0, 1.0], index=tickers)
    none = pd.Series(0.0, index=tickers)
    resolved = Constraints(max_weight=0.5, allow_cash=True).resolve(tickers)
    shares = whole_shares(target, price, none, 1000.0, cash=1000.0, resolved=resolved)
    # A sixth share of A (540) would break max_weight 0.5; B is solver dust.
    assert shares.tolist() == [5, 0]


def test_whole_shares_keeps_a_holding_within_one_share():
    tickers = ["A", "B"]
    target = pd.Series([0.398, 0.6], index=tickers)
    price = pd.Series([100.0, 50.0], index=tickers)
    held = pd.Series([4.0, 0.0], index=tickers)
    shares = whole_shares(target, price, held, 1000.0, cash=600.0, cost_rate=0.001)
    assert shares["A"] == 4  # no sale to chase 0.02 of a share
    assert shares["B"] == 11  # 12 cost 600 and leave nothing for the 0.60 cost


# ---------------------------------------------- whole shares: reference and scale


def _greedy_reference(
    target, prices, current, value, *, cash, cost_rate=0.0, resolved=None, sold=0.0
):
    """The share-by-share greedy as first written: the reference for small amounts.

    Kept verbatim in spirit: trunc of the cost-scaled targets, give up one share at
    a time while cash is short, then a heap hands out one share at a time to the
    largest shortfall while cash and the (ratcheted) limit allowance permit.
    """
    import heapq

    def _upper_excess(weights, resolved, prev, sold):
        if resolved is None:
            return np.zeros(0)
        c = resolved.constraints
        parts = [
            weights - resolved.upper,
            resolved.group_matrix @ weights - resolved.group_upper,
            [weights.sum() - c.budget if c.budget is not None else -np.inf],
            [np.abs(weights).sum() - c.max_leverage if c.max_leverage else -np.inf],
            [
                0.5 * (np.abs(weights - prev).sum() + sold) - c.turnover
                if c.turnover is not None
                else -np.inf
            ],
        ]
        flat = np.concatenate([np.asarray(p, dtype=float) for p in parts])
        return np.clip(flat, 0, None)

    price = prices.to_numpy(dtype=float)
    held = current.to_numpy(dtype=float)
    weights = target.to_numpy(dtype=float)
    exact = np.where(np.abs(weights) < 1e-6, 0.0, weights) * value / price
    settled = (np.abs(exact - held) < 1) & (held == np.round(held))

    def cash_after(shares):
        traded = np.abs(shares - held) * price
        return cash + float(((held - shares) * price).sum() - cost_rate * traded.sum())

    invested = float((exact * price).sum())
    room = (
        cash
        + float((held * price).sum())
        - cost_rate * float((np.abs(exact - held) * price).sum())
    )
    scale = min(1.0, room / invested) if invested > 0 else 1.0
    shares = np.where(settled, held, np.trunc(exact * max(scale, 0.0)))
    while cash_after(shares) < 0:
        longs = np.flatnonzero(shares > 0)
        if not len(longs):
            raise ValueError("no whole-share portfolio fits the account value")
        after = (exact[longs] - shares[longs] + 1) * price[longs]
        over = longs[np.argmin(after)]
        shares[over] -= 1
        settled[over] = False
    prev = held * price / value
    excess = _upper_excess(shares * price / value, resolved, prev, sold)
    shortfall = (exact - shares) * price
    queue = [(-shortfall[i], i) for i in np.flatnonzero((shortfall > 0) & ~settled)]
    heapq.heapify(queue)
    while queue:
        _, i = heapq.heappop(queue)
        shares[i] += 1
        trial = _upper_excess(shares * price / value, resolved, prev, sold)
        if cash_after(shares) < 0 or (trial > excess + 1e-9).any():
            shares[i] -= 1
            continue
        excess = np.maximum(excess, trial)
        remaining = (exact[i] - shares[i]) * price[i]
        if remaining > 0:
            heapq.heappush(queue, (-remaining, i))
    return pd.Series(shares.astype(np.int64), index=target.index, name="shares")


def _random_case(rng, *, value_scale=1e5):
    n = int(rng.integers(2, 12))
    tickers = [f"T{i}" for i in range(n)]
    prices = pd.Series(np.round(rng.uniform(1, 500, n), 2), index=tickers)
    target = pd.Series(rng.dirichlet(np.ones(n)), index=tickers)
    target[rng.random(n) < 0.2] = 0.0
    if rng.random() < 0.3:  # shorts and leverage
        target *= rng.choice([-1.0, 1.0], n, p=[0.3, 0.7])
    value = float(rng.uniform(0.1, 10) * value_scale)
    held = pd.Series(
        np.where(
            rng.random(n) < 0.5, np.round(rng.uniform(0, 2, n) * value / prices / n), 0
        ),
        index=tickers,
    )
    if rng.random() < 0.2:
        held.iloc[0] += 0.5  # a fractional holding
    cash = value - float((held * prices).sum())
    kwargs = {"cash": cash, "cost_rate": float(rng.choice([0.0, 0.001, 0.002]))}
    choice = rng.integers(0, 4)
    if choice == 1:
        kwargs["resolved"] = Constraints(
            max_weight=float(target.abs().max() * rng.uniform(0.9, 1.1)),
            allow_cash=True,
            long_only=False,
        ).resolve(tickers)
    elif choice == 2:
        kwargs["resolved"] = Constraints(
            turnover=float(rng.uniform(0.05, 1.0)),
            max_leverage=float(rng.uniform(1.0, 2.0)),
            allow_cash=True,
            long_only=False,
        ).resolve(tickers)
    elif choice == 3:
        groups = {t: ("g1" if i % 2 else "g2") for i, t in enumerate(tickers)}
        kwargs["resolved"] = Constraints(
            groups={"g1": (0.0, float(rng.uniform(0.2, 0.8)))},
            asset_groups=groups,
            allow_cash=True,
            long_only=False,
        ).resolve(tickers)
    return target, prices, held, value, kwargs


def test_whole_shares_matches_the_share_by_share_greedy_on_random_accounts():
    rng = np.random.default_rng(11)
    compared = 0
    for _ in range(200):
        target, prices, held, value, kwargs = _random_case(rng)
        try:
            expected = _greedy_reference(target, prices, held, value, **kwargs)
        except ValueError:
            with pytest.raises(ValueError):
                whole_shares(target, prices, held, value, **kwargs)
            continue
        got = whole_shares(target, prices, held, value, **kwargs)
        pd.testing.assert_series_equal(got, expected)
        compared += 1
    assert compared > 150


def test_whole_shares_in_bulk_matches_the_share_by_share_greedy(monkeypatch):
    # Jumping ahead in bulk must land where single steps would: force it on every
    # pass, on ordinary and on cheap-share accounts with costs.
    monkeypatch.setattr(rounding, "BULK_STEPS", -(10**9))
    rng = np.random.default_rng(12)
    compared = 0
    for case in range(150):
        target, prices, held, value, kwargs = _random_case(rng)
        if case % 2:
            prices = prices / 100
            kwargs["cost_rate"] = float(rng.choice([0.001, 0.005]))
            kwargs["cash"] = value - float((held * prices).sum())
        expected = _greedy_reference(target, prices, held, value, **kwargs)
        got = whole_shares(target, prices, held, value, **kwargs)
        pd.testing.assert_series_equal(got, expected)
        compared += 1
    assert compared == 150


def test_whole_shares_gives_up_shares_in_bulk_like_one_at_a_time():
    # The cost scaling leaves cash 4,995 short: about 5,000 shares are given up,
    # past the bulk threshold; the share-by-share greedy is the reference.
    tickers = ["A", "B", "C"]
    prices = pd.Series([0.01, 1.0, 3.0], index=tickers)
    held = pd.Series([1e8, 0.0, 0.0], index=tickers)
    value = 2e6
    target = pd.Series([0.5, 0.3, 0.2], index=tickers)
    kwargs = {"cash": value - 1e6, "cost_rate": 0.001}
    expected = _greedy_reference(target, prices, held, value, **kwargs)
    got = whole_shares(target, prices, held, value, **kwargs)
    pd.testing.assert_series_equal(got, expected)


@pytest.mark.parametrize("value", [1e9, 1e13])
def test_whole_shares_is_fast_and_within_cash_for_huge_accounts(value):
    rng = np.random.default_rng(13)
    tickers = [f"T{i}" for i in range(30)]
    prices = pd.Series(rng.uniform(0.5, 500, 30), index=tickers)
    target = pd.Series(rng.dirichlet(np.full(30, 50.0)), index=tickers)
    drift = rng.uniform(0.8, 1.2, 30)
    held = np.round(target * drift * value / prices)
    cash = value - float((held * prices).sum())
    resolved = Constraints(max_weight=0.1, turnover=0.5, allow_cash=True).resolve(
        tickers
    )
    started = time.perf_counter()
    shares = whole_shares(
        target, prices, held, value, cash=cash, cost_rate=0.001, resolved=resolved
    )
    assert time.perf_counter() - started < 2.0
    traded = ((shares - held).abs() * prices).sum()
    left = cash + float(((held - shares) * prices).sum()) - 0.001 * traded
    assert 0 <= left < 0.01 * value
    weights = shares * prices / value
    assert (weights <= 0.1 + 1e-9).all()
    assert 0.5 * (weights - held * prices / value).abs().sum() <= 0.5 + 1e-9


def test_absurd_amounts_are_refused_with_the_limit():
    with pytest.raises(DataError, match=r"shares of AAPL 1e\+13 is beyond.*1e\+12"):
        parse_holdings(holdings_frame([("AAPL", "1e13")]), source="h.csv")
    with pytest.raises(DataError, match=r"cash 1e\+308 is beyond.*1e\+13"):
        parse_holdings(holdings_frame([(CASH, "1e308")]), source="h.csv")
    holdings = parse_holdings(holdings_frame([("AAPL", 1e12)]))
    with pytest.raises(DataError, match="holdings are worth 1.5e\\+14"):
        account_value(holdings, 1.5e14, None)
    with pytest.raises(ConfigError, match=r"value: 1e\+15 is beyond.*1e\+13"):
        account_value(holdings, 1e6, 1e15)
    # A target beyond what float64 counts exactly (a tiny price).
    tickers = ["A", "B"]
    with pytest.raises(ValueError, match="target of 5e\\+16 shares of A"):
        whole_shares(
            pd.Series([0.5, 0.5], index=tickers),
            pd.Series([1e-4, 1.0], index=tickers),
            pd.Series(0.0, index=tickers),
            1e13,
            cash=1e13,
        )


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([("AAPL", 10), ("ZZZZ", 5)], ["unknown ticker", "ZZZZ"]),
        ([("aapl", 10)], ["aapl", "AAPL", "case-sensitive"]),
        ([("AAPL", -10)], ["negative shares", "AAPL", "long-only"]),
    ],
)
def test_holdings_the_data_rejects(prices, config, rows, words):
    with pytest.raises(DataError) as caught:
        plan_rebalance(prices, config, holdings_frame(rows), AS_OF, value=1e5)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([("AAPL", 10), ("AAPL", 5)], ["more than once", "AAPL"]),
        ([(CASH, 10), ("cash", 5)], ["more than once", CASH]),
        ([("AAPL", 10), ("MSFT", "ten")], ["'ten'", "MSFT", "row 3", "not a number"]),
        ([("AAPL", 10), ("MSFT", "")], ["MSFT", "not a number"]),
        ([(CASH, -100)], ["negative cash"]),
        ([("", 3)], ["blank ticker", "row 2"]),
    ],
)
def test_malformed_holdings(rows, words):
    with pytest.raises(DataError) as caught:
        parse_holdings(holdings_frame(rows), source="h.csv")
    message = str(caught.value)
    assert message.startswith("h.csv: ")
    for word in words:
        assert word in message


def test_holdings_file_missing_or_without_columns(tmp_path):
    with pytest.raises(DataError, match="holdings file not found"):
        read_holdings(tmp_path / "nope.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("symbol,qty\nAAPL,3\n")
    with pytest.raises(DataError, match="missing column"):
        read_holdings(wrong)


def test_holdings_file_format(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("Ticker, Shares,note\nAAPL, 12.5,x\ncash,100\n")
    holdings = read_holdings(path)
    assert isinstance(holdings, Holdings)
    assert holdings.shares.to_dict() == {"AAPL": 12.5}
    assert holdings.cash == 100.0
    assert read_holdings(EXAMPLE).cash > 0


def test_dates_outside_or_not_dates(prices):
    with pytest.raises(DataError) as caught:
        resolve_as_of(prices.index, "2030-01-31")
    assert "1990-01-02" in str(caught.value) and "2022-12-28" in str(caught.value)
    with pytest.raises(DataError, match="outside the price data"):
        resolve_as_of(prices.index, "1980-01-02")
    with pytest.raises(ConfigError, match="not an ISO date"):
        resolve_as_of(prices.index, "30/06/2022x")


def test_stale_price_of_a_held_asset(prices, config):
    stale = prices.copy()
    stale.loc["2022-06-20":, "AAPL"] = np.nan  # last price 2022-06-17
    with pytest.raises(DataError) as caught:
        plan_rebalance(stale, config, HOLDINGS, AS_OF)
    message = str(caught.value)
    assert "stale price for AAPL" in message and "2022-06-17" in message


def test_value_needed_for_an_empty_account(prices, config):
    with pytest.raises(ConfigError, match="empty and give no cash.*--value"):
        plan_rebalance(prices, config, holdings_frame([]), AS_OF)
    with pytest.raises(ConfigError, match="worth 0.00"):
        plan_rebalance(prices, config, holdings_frame([(CASH, 0)]), AS_OF)
    with pytest.raises(ConfigError, match="positive"):
        plan_rebalance(prices, config, HOLDINGS, AS_OF, value=-5.0)


def test_a_saved_model_needs_a_forecaster_with_saved_state(tmp_path, config):
    with pytest.raises(DataError, match="saved model not found"):
        rebalance(config, EXAMPLE, AS_OF, model=tmp_path / "missing")
    with pytest.raises(ConfigError, match="drop --model"):
        rebalance(config, EXAMPLE, AS_OF, model=tmp_path)


class Trained:
    """A forecaster loaded from disk: already fitted, on data up to ``fit_date_``."""

    def __init__(self, prices, fit_date):
        self.horizon = 21
        self.fit_date_ = pd.Timestamp(fit_date)
        self.inner = make_forecaster("ledoit_wolf", horizon=21, lookback=504)
        self.inner.fit(prices.loc[:fit_date])

    def fit(self, prices):
        raise AssertionError("a loaded forecaster must not be refitted")

    def predict(self, prices):
        return self.inner.predict(prices)


def test_loaded_forecaster_is_not_refitted_nor_from_the_future(prices, config):
    earlier = Trained(prices, "2022-05-31")
    plan = plan_rebalance(
        prices, config, HOLDINGS, AS_OF, forecaster=earlier, fitted=True
    )
    assert plan.forecast.as_of == pd.Timestamp(AS_OF)
    later = Trained(prices, "2022-09-30")
    with pytest.raises(DataError, match="seen the future"):
        plan_rebalance(prices, config, HOLDINGS, AS_OF, forecaster=later, fitted=True)


def test_too_little_history(prices, config):
    with pytest.raises(DataError, match="days of prices"):
        plan_rebalance(prices, config, holdings_frame([]), "1990-03-01", value=1e5)


# ---------------------------------------------------------------------- output


def test_write_plan_is_atomic_and_never_overwrites(tmp_path, plan):
    out = tmp_path / "plan"
    write_plan(plan, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns[:7]) == [
        "ticker",
        "current_shares",
        "target_shares",
        "trade_shares",
        "price",
        "notional",
        "side",
    ]
    assert AS_OF in (out / "summary.md").read_text()
    with pytest.raises(RunExistsError):
        write_plan(plan, out)
    write_plan(plan, out, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


# ------------------------------------------------------------------------- CLI


@pytest.fixture
def config_file(tmp_path):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(SETTINGS))
    return path


def test_cli_writes_the_plan(tmp_path, config_file):
    out = tmp_path / "plan"
    result = run_main(
        "rebalance",
        "--config",
        str(config_file),
        "--holdings",
        str(EXAMPLE),
        "--as-of",
        AS_OF,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert f"Rebalance rebalance_test: {AS_OF}" in result.stdout


def test_cli_bad_holdings_exit_2_and_leave_nothing(tmp_path, config_file):
    holdings = tmp_path / "h.csv"
    holdings.write_text("ticker,shares\nAAPL,10\nNOPE,3\n")
    out = tmp_path / "plan"
    result = run_main(
        "rebalance",
        "--config",
        str(config_file),
        "--holdings",
        str(holdings),
        "--as-of",
        AS_OF,
        "--value",
        "100000",
        "--out",
        str(out),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NOPE" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "h.csv"]


def test_cli_absurd_value_exit_2_with_one_line(tmp_path, config_file):
    holdings = tmp_path / "h.csv"
    holdings.write_text("ticker,shares\nAAPL,10\n")
    result = run_main(
        "rebalance",
        "--config",
        str(config_file),
        "--holdings",
        str(holdings),
        "--as-of",
        AS_OF,
        "--value",
        "1e15",
        "--out",
        str(tmp_path / "plan"),
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "beyond the supported" in lines[0], result.stderr
    assert not (tmp_path / "plan").exists()


# ------------------------------------------------- risk-free rate and volume


def test_max_sharpe_uses_the_risk_free_rate_known_at_as_of(prices):
    from foliocast.portfolio.optimizer.markowitz import optimize_forecast

    settings = {**SETTINGS, "data": {"dataset": "sp500", "risk_free": 0.08}}
    settings["optimizer"] = {
        **SETTINGS["optimizer"],
        "objective": "max_sharpe",
        "cost_penalty_bps": 0,
    }
    plan = plan_rebalance(prices, config_from_dict(settings), HOLDINGS, AS_OF)
    daily = 1.08 ** (1 / 252) - 1
    horizon_rf = (1 + daily) ** plan.forecast.horizon - 1

    def solve(risk_free):
        return optimize_forecast(
            plan.forecast,
            objective="max_sharpe",
            constraints={"long_only": True, "max_weight": 0.2},
            risk_free_rate=risk_free,
        )

    table = plan.weights.set_index("ticker").drop(CASH)["optimizer_weight"]
    expected = solve(horizon_rf).reindex(table.index)
    np.testing.assert_allclose(table, expected, atol=1e-6)
    ignoring_rf = solve(0.0).reindex(table.index)
    assert np.abs(table - ignoring_rf).max() > 1e-3  # the rate changes the answer


class _VolumeRecorder:
    """Historical-mean forecaster that declares volume and records what it got."""

    uses_volume = True

    def __init__(self):
        self.inner = make_forecaster("ledoit_wolf", lookback=504)
        self.horizon = self.inner.horizon
        self.seen = []

    def fit(self, prices, volume=None):
        self.seen.append(("fit", prices.index[-1], volume))
        self.inner.fit(prices)
        return self

    def predict(self, prices, volume=None):
        self.seen.append(("predict", prices.index[-1], volume))
        return self.inner.predict(prices)


def test_volume_reaches_a_forecaster_that_uses_it_up_to_as_of_only(prices, config):
    volume = pd.DataFrame(1e6, index=prices.index, columns=prices.columns)
    recorder = _VolumeRecorder()
    plan_rebalance(prices, config, HOLDINGS, AS_OF, forecaster=recorder, volume=volume)
    assert [kind for kind, _, _ in recorder.seen] == ["fit", "predict"]
    for _, last_price_date, seen in recorder.seen:
        assert seen is not None
        assert seen.index[-1] == last_price_date == pd.Timestamp(AS_OF)
        available = availability_mask(
            prices.loc[:AS_OF], config.backtest.min_history_days
        ).iloc[-1]
        assert list(seen.columns) == list(available.index[available.to_numpy()])
    # A forecaster that does not declare volume is called with prices alone.
    plain = make_forecaster("ledoit_wolf", lookback=504)
    plan_rebalance(prices, config, HOLDINGS, AS_OF, forecaster=plain, volume=volume)


def test_a_tracking_error_plan_tracks_the_benchmark_file(prices, tmp_path):
    bench = tmp_path / "bench.csv"
    bench.write_text("asset,weight\nAAPL,0.2\nMSFT,0.2\nJNJ,0.2\nXOM,0.2\nKO,0.2\n")
    settings = {**SETTINGS, "optimizer": {**SETTINGS["optimizer"]}}
    settings["optimizer"].update(
        objective="tracking_error",
        cost_penalty_bps=0,
        benchmark={"path": str(bench)},
    )
    plan = plan_rebalance(prices, config_from_dict(settings), HOLDINGS, AS_OF)
    optimal = plan.weights.set_index("ticker").drop(CASH)["optimizer_weight"]
    expected = pd.Series(0.2, index=["AAPL", "MSFT", "JNJ", "XOM", "KO"])
    # A benchmark the constraints allow is its own minimum-tracking-error portfolio.
    np.testing.assert_allclose(
        optimal.reindex(optimal.index.union(expected.index), fill_value=0.0),
        expected.reindex(optimal.index.union(expected.index), fill_value=0.0),
        atol=1e-7,
    )
    settings["optimizer"]["benchmark"] = {"path": str(tmp_path / "missing.csv")}
    with pytest.raises(ConfigError, match="optimizer.benchmark.path: .*not found"):
        plan_rebalance(prices, config_from_dict(settings), HOLDINGS, AS_OF)
