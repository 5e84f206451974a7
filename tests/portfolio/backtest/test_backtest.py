"""Walk-forward engine: hand-computed example, vectorised check, costs, failures."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from foliocast.data import load_dataset, rebalance_schedule
from foliocast.portfolio.backtest.engine import ForecastBook, run_backtest
from foliocast.portfolio.backtest.strategies import (
    BuyAndHold,
    DecisionContext,
    EqualWeight,
)
from foliocast.portfolio.errors import OptimizationError


@dataclass
class Fixed:
    """Always the same target weights (cash = 1 - sum)."""

    weights: dict
    name: str = "fixed"
    forecaster: str | None = None

    def decide(self, context: DecisionContext) -> pd.Series:
        return pd.Series(self.weights)


@dataclass
class Failing:
    name: str = "failing"
    forecaster: str | None = None
    calls: int = 0

    def decide(self, context: DecisionContext) -> pd.Series:
        self.calls += 1
        if self.calls > 1:
            raise OptimizationError("solver gave up")
        return pd.Series(1.0 / len(context.universe), index=context.universe)


@pytest.fixture
def three_assets():
    index = pd.bdate_range("2021-01-25", "2021-04-09")
    rng = np.random.default_rng(42)
    steps = rng.normal(0.0005, 0.015, (len(index), 3))
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(steps, axis=0)), index=index, columns=["A", "B", "C"]
    )
    return prices


def by_hand(prices, schedule, target, bps, rf_daily):
    """Dollar holdings, one day at a time, independent of the engine's weight math."""
    dates = list(prices.index)
    start = dates.index(schedule[0])
    value, holdings, cash = 1.0, np.zeros(3), 1.0
    net = []
    for i in range(start, len(dates)):
        if i > start:
            growth = prices.iloc[i].to_numpy() / prices.iloc[i - 1].to_numpy()
            holdings = holdings * growth
            cash = cash * (1 + rf_daily)
        before = holdings.sum() + cash
        if dates[i] in schedule:
            weights_now = holdings / before
            cost = bps / 1e4 * np.abs(target - weights_now).sum() * before
            after = before - cost
            holdings = target * after
            cash = after - holdings.sum()
        else:
            after = before
        net.append(after / value - 1)
        value = after
    return pd.Series(net, index=dates[start:])


def test_three_assets_three_months_by_hand(three_assets):
    schedule = rebalance_schedule(three_assets.index, "M", start="2021-01-29")
    assert len(schedule) == 3  # Jan, Feb and Mar month ends
    target = np.array([0.5, 0.3, 0.1])  # 10% in cash earning rf
    rf = 0.0001
    result = run_backtest(
        three_assets,
        [Fixed(dict(zip("ABC", target, strict=True)))],
        ForecastBook({}),
        schedule,
        cost_bps=25,
        risk_free=pd.Series(rf, index=three_assets.index),
        min_history=1,
    )
    expected = by_hand(three_assets, list(schedule), target, 25, rf)
    np.testing.assert_allclose(result.returns["fixed"], expected, rtol=0, atol=1e-12)
    first = result.rebalances.iloc[0]
    # From cash into 90% invested: sum |dw| = 0.9, one-way turnover 0.45,
    # cost 25 bps * 0.9 = 0.00225.
    assert first.turnover == pytest.approx(0.45, abs=1e-15)
    assert first.cost == pytest.approx(0.00225, abs=1e-15)
    assert result.returns["fixed"].iloc[0] == pytest.approx(-0.00225, abs=1e-15)


def test_per_asset_costs(three_assets):
    schedule = rebalance_schedule(three_assets.index, "M", start="2021-01-29")
    result = run_backtest(
        three_assets,
        [Fixed({"A": 0.5, "B": 0.5})],
        ForecastBook({}),
        schedule,
        cost_bps={"A": 10, "B": 30},
        min_history=1,
    )
    assert result.rebalances.cost.iloc[0] == pytest.approx(0.5 * 0.001 + 0.5 * 0.003)


@pytest.fixture(scope="module")
def sp500_run():
    prices = load_dataset("sp500").loc["2015":"2019"]
    schedule = rebalance_schedule(prices.index, "M", min_history=252)
    result = run_backtest(
        prices,
        [EqualWeight(), BuyAndHold()],
        ForecastBook({}),
        schedule,
        cost_bps=10,
    )
    return prices, schedule, result


def test_equal_weight_matches_vectorised_computation(sp500_run):
    prices, schedule, result = sp500_run
    n = prices.shape[1]
    # Within each holding block a 1/N portfolio is worth the mean of the assets'
    # growth since the block's start; each rebalance scales value by (1 - cost).
    wealth = pd.Series(np.nan, index=prices.loc[schedule[0] :].index)
    value, drifted = 1.0, np.zeros(n)
    ends = list(schedule[1:]) + [prices.index[-1]]
    for start, stop in zip(schedule, ends, strict=True):
        value *= 1 - 10 / 1e4 * np.abs(1 / n - drifted).sum()
        wealth[start] = value
        growth = prices.loc[start:stop] / prices.loc[start]
        path = value * growth.mean(axis=1)
        wealth[path.index[1:]] = path.iloc[1:]
        drifted = (growth.iloc[-1] / growth.iloc[-1].sum()).to_numpy()
        value = path.iloc[-1]
    engine = (1 + result.returns["equal_weight"]).cumprod()
    np.testing.assert_allclose(engine, wealth, rtol=1e-10)


def test_gross_minus_net_is_the_cost(sp500_run):
    _, schedule, result = sp500_run
    for name in ["equal_weight", "buy_and_hold"]:
        gross, net = result.gross_returns[name], result.returns[name]
        costs = result.costs()[name].reindex(gross.index).fillna(0.0)
        np.testing.assert_allclose(gross - net, (1 + gross) * costs, atol=1e-15)
        on_other_days = ~gross.index.isin(schedule)
        assert (gross - net)[on_other_days].abs().max() == 0.0


def test_buy_and_hold_trades_once(sp500_run):
    _, _, result = sp500_run
    bh = result.rebalances[result.rebalances.strategy == "buy_and_hold"]
    assert (bh.status.iloc[1:] == "held").all()
    assert (
        bh.turnover.iloc[0] == pytest.approx(0.5) and (bh.turnover.iloc[1:] == 0).all()
    )


def test_failed_rebalance_holds_or_raises(three_assets):
    schedule = rebalance_schedule(three_assets.index, "M", start="2021-01-29")
    result = run_backtest(
        three_assets, [Failing()], ForecastBook({}), schedule, min_history=1
    )
    statuses = result.rebalances.status.tolist()
    assert statuses == ["traded", "failed", "failed"]
    assert "solver gave up" in result.rebalances.reason.iloc[1]
    assert (result.rebalances.turnover.iloc[1:] == 0).all()
    with pytest.raises(
        OptimizationError, match="failing on 2021-02-26: solver gave up"
    ):
        run_backtest(
            three_assets,
            [Failing()],
            ForecastBook({}),
            schedule,
            min_history=1,
            on_failure="raise",
        )


def test_late_starter_joins_universe(three_assets):
    prices = three_assets.copy()
    prices.loc[:"2021-02-15", "C"] = np.nan
    schedule = rebalance_schedule(prices.index, "M", start="2021-01-29")
    result = run_backtest(
        prices, [EqualWeight()], ForecastBook({}), schedule, min_history=5
    )
    weights = result.weights.pivot(index="date", columns="asset", values="weight")
    assert "C" not in weights.columns[weights.iloc[0].notna()] or np.isnan(
        weights.iloc[0].get("C", np.nan)
    )
    assert weights.iloc[-1]["C"] == pytest.approx(1 / 3)


class CountingForecaster:
    """Stateful toy forecaster: its forecasts depend on how often it was fitted."""

    horizon = 21

    def __init__(self):
        self.fits = 0  # restored from checkpoints
        self.fit_calls = 0  # made in this process only

    def fit(self, prices):
        self.fits += 1
        self.fit_calls += 1
        return self

    def predict(self, prices):
        from foliocast.forecasting.forecast import Forecast

        returns = prices.pct_change(fill_method=None).iloc[-63:]
        mu = returns.mean() * 21 + 0.001 * self.fits
        cov = returns.cov() * 21
        return Forecast(prices.index[-1], 21, mu, cov)

    def save_state(self, folder):
        folder.mkdir(parents=True)
        (folder / "fits.txt").write_text(str(self.fits))

    def load_state(self, folder):
        self.fits = int((folder / "fits.txt").read_text())


@dataclass
class Tilt:
    """Weights tilted towards the forecast mean."""

    name: str = "tilt"
    forecaster: str | None = "toy"

    def decide(self, context):
        mu = context.forecast("toy").mu
        raw = (1 + 10 * mu).clip(lower=0.01)
        return raw / raw.sum()


def _resumable_run(prices, schedule, checkpoint, stop_after=None):
    def progress(done, total, date):
        if stop_after is not None and done == stop_after:
            raise KeyboardInterrupt

    toy = CountingForecaster()
    result = run_backtest(
        prices,
        [Tilt(), BuyAndHold(), EqualWeight()],
        ForecastBook({"toy": toy}, retrain_months=6),
        schedule,
        cost_bps=10,
        checkpoint=checkpoint,
        fingerprint="test",
        progress=progress,
    )
    return result, toy


def test_resume_after_interruption_gives_identical_results(tmp_path):
    prices = load_dataset("sp500").loc["2012":"2016"]
    schedule = rebalance_schedule(prices.index, "M", min_history=252)
    uninterrupted, full = _resumable_run(prices, schedule, None)
    with pytest.raises(KeyboardInterrupt):
        _resumable_run(prices, schedule, tmp_path, stop_after=20)
    assert (tmp_path / "current" / "state.json").is_file()
    resumed, rest = _resumable_run(prices, schedule, tmp_path)
    # It really resumed: fewer fits in this process, same total fitted state.
    assert rest.fit_calls < full.fit_calls and rest.fits == full.fits
    pd.testing.assert_frame_equal(resumed.returns, uninterrupted.returns)
    pd.testing.assert_frame_equal(resumed.weights, uninterrupted.weights)
    pd.testing.assert_frame_equal(resumed.trades, uninterrupted.trades)
    pd.testing.assert_frame_equal(resumed.rebalances, uninterrupted.rebalances)
    pd.testing.assert_frame_equal(resumed.forecasts, uninterrupted.forecasts)


def test_checkpoint_of_other_inputs_is_ignored(tmp_path):
    prices = load_dataset("sp500").loc["2012":"2016"]
    schedule = rebalance_schedule(prices.index, "M", min_history=252)
    with pytest.raises(KeyboardInterrupt):
        _resumable_run(prices, schedule, tmp_path, stop_after=20)
    shorter_prices = prices.loc[:"2016-06"]
    shorter_schedule = schedule[schedule < "2016-06"]
    shorter, toy = _resumable_run(shorter_prices, shorter_schedule, tmp_path)
    assert toy.fit_calls == toy.fits  # started afresh
    fresh, _ = _resumable_run(shorter_prices, shorter_schedule, None)
    pd.testing.assert_frame_equal(shorter.returns, fresh.returns)


def test_no_look_ahead_perturbing_the_future_changes_nothing_before():
    from foliocast.forecasting.baselines import make_forecaster
    from foliocast.portfolio.backtest.strategies import MeanVariance

    prices = load_dataset("sp500").loc["2010":"2014"]
    cut = pd.Timestamp("2013-06-28")
    rng = np.random.default_rng(42)
    future = prices.index > cut
    perturbed = prices.copy()
    perturbed.loc[future] *= np.exp(
        rng.normal(0, 0.05, (future.sum(), prices.shape[1]))
    )

    def simulate(frame):
        book = ForecastBook(
            {
                "lw": make_forecaster("ledoit_wolf", horizon=21, lookback=504),
                "ewma": make_forecaster("ewma", horizon=21),
            },
            retrain_months=6,
        )
        strategies = [
            MeanVariance(
                "mvo",
                "ewma",
                risk_aversion=5,
                cost_penalty_bps=10,
                constraints={"long_only": True, "max_weight": 0.25},
            ),
            MeanVariance(
                "minvar",
                "lw",
                objective="min_variance",
                constraints={"long_only": True},
            ),
            EqualWeight(),
        ]
        schedule = rebalance_schedule(frame.index, "M", min_history=252)
        return run_backtest(frame, strategies, book, schedule, risk_model="lw")

    base, moved = simulate(prices), simulate(perturbed)
    for table in ["weights", "trades", "rebalances", "forecasts"]:
        before = getattr(base, table)
        after = getattr(moved, table)
        pd.testing.assert_frame_equal(
            before[before.date <= cut].reset_index(drop=True),
            after[after.date <= cut].reset_index(drop=True),
        )
    pd.testing.assert_frame_equal(base.returns.loc[:cut], moved.returns.loc[:cut])

    # The perturbation is real: decisions after the cut do change.
    def later_weights(result):
        rows = result.weights[
            (result.weights.date > cut) & (result.weights.strategy == "mvo")
        ]
        return rows.pivot(index="date", columns="asset", values="weight").fillna(0.0)

    assert not np.allclose(
        later_weights(base),
        later_weights(moved).reindex_like(later_weights(base)).fillna(0.0),
    )


def test_resume_with_the_lstm_is_identical(tmp_path):
    """The LSTM warm-starts from its last fit: its state must survive the restart."""
    from foliocast.forecasting.lstm import LSTMForecaster
    from foliocast.portfolio.backtest.strategies import MeanVariance

    prices = load_dataset("sp500").loc["2008":"2012"].iloc[:, :6]
    schedule = rebalance_schedule(prices.index, "Q", min_history=504)

    def run(checkpoint, stop_after=None):
        def progress(done, total, date):
            if stop_after is not None and done == stop_after:
                raise KeyboardInterrupt

        lstm = LSTMForecaster(
            hidden=8,
            ensemble=2,
            seq_len=21,
            factors=2,
            max_epochs=2,
            batch_size=64,
            lookback_days=504,
        )
        strategy = MeanVariance("m", "lstm", constraints={"long_only": True})
        book = ForecastBook({"lstm": lstm}, retrain_months=6)
        result = run_backtest(
            prices,
            [strategy],
            book,
            schedule,
            checkpoint=checkpoint,
            fingerprint="lstm",
            progress=progress,
        )
        return result, lstm

    uninterrupted, _ = run(None)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, stop_after=5)
    resumed, lstm = run(tmp_path)
    assert lstm.n_fits_ == 6
    pd.testing.assert_frame_equal(resumed.returns, uninterrupted.returns)
    pd.testing.assert_frame_equal(resumed.weights, uninterrupted.weights)
    pd.testing.assert_frame_equal(resumed.forecasts, uninterrupted.forecasts)


def test_no_look_ahead_with_the_lstm():
    from foliocast.forecasting.lstm import LSTMForecaster
    from foliocast.portfolio.backtest.strategies import MeanVariance

    prices = load_dataset("sp500").loc["2008":"2012"].iloc[:, :6]
    cut = pd.Timestamp("2011-06-30")
    future = prices.index > cut
    perturbed = prices.copy()
    rng = np.random.default_rng(7)
    perturbed.loc[future] *= np.exp(rng.normal(0, 0.05, (future.sum(), 6)))
    schedule = rebalance_schedule(prices.index, "Q", min_history=504)

    def simulate(frame):
        lstm = LSTMForecaster(
            hidden=8,
            ensemble=2,
            seq_len=21,
            factors=2,
            max_epochs=2,
            batch_size=64,
            lookback_days=504,
        )
        strategy = MeanVariance("m", "lstm", constraints={"long_only": True})
        book = ForecastBook({"lstm": lstm}, retrain_months=6)
        return run_backtest(frame, [strategy], book, schedule)

    base, moved = simulate(prices), simulate(perturbed)
    for table in ["weights", "trades", "forecasts"]:
        before, after = getattr(base, table), getattr(moved, table)
        pd.testing.assert_frame_equal(
            before[before.date <= cut].reset_index(drop=True),
            after[after.date <= cut].reset_index(drop=True),
        )
    later = base.forecasts.date > cut
    assert not np.allclose(base.forecasts[later].mu, moved.forecasts[later].mu)


def _trending_prices(n_days: int = 520, seed: int = 42) -> pd.DataFrame:
    """Five assets with different drifts and volatilities (seeded)."""
    index = pd.bdate_range("2018-01-01", periods=n_days)
    drift = np.array([0.0002, 0.0005, 0.0008, 0.0011, 0.0014])
    vol = np.array([0.004, 0.008, 0.012, 0.016, 0.02])
    rng = np.random.default_rng(seed)
    steps = drift + vol * rng.standard_normal((n_days, 5))
    return pd.DataFrame(
        100 * np.exp(np.cumsum(steps, axis=0)), index=index, columns=list("ABCDE")
    )


def _max_sharpe_run(prices, risk_free, *, cash=False):
    from foliocast.forecasting.baselines import HistoricalForecaster
    from foliocast.portfolio.backtest.strategies import MeanVariance

    book = ForecastBook(
        {"hist": HistoricalForecaster(horizon=21, lookback=252)}, retrain_months=6
    )
    strategy = MeanVariance(
        "ms", "hist", objective="max_sharpe", constraints={"long_only": True}
    )
    schedule = rebalance_schedule(prices.index, "M", min_history=252)
    result = run_backtest(
        prices,
        [strategy],
        book,
        schedule,
        risk_free=risk_free,
        cash=cash,
        on_failure="raise",
    )
    return result, book


def test_max_sharpe_uses_the_horizon_risk_free_rate_of_the_run():
    from foliocast.data import risk_free_rate
    from foliocast.portfolio.optimizer.markowitz import optimize

    prices = _trending_prices()
    annual = 0.08
    result, book = _max_sharpe_run(prices, risk_free_rate(prices.index, annual))
    weights = result.weights.pivot(index="date", columns="asset", values="weight")
    horizon_rf = (1 + annual) ** (21 / 252) - 1
    for name, forecast in book.history[:3]:
        assert name == "hist"
        expected = optimize(
            forecast.mu,
            forecast.cov,
            objective="max_sharpe",
            constraints={"long_only": True},
            risk_free_rate=horizon_rf,
        )
        got = weights.loc[forecast.as_of].reindex(expected.index).fillna(0.0)
        np.testing.assert_allclose(got, expected, atol=1e-7)
        at_zero = optimize(
            forecast.mu,
            forecast.cov,
            objective="max_sharpe",
            constraints={"long_only": True},
            risk_free_rate=0.0,
        )
        assert np.abs(got - at_zero).max() > 0.01


def test_risk_free_rates_after_t_do_not_change_decisions_at_t():
    prices = _trending_prices()
    cut = pd.Timestamp("2019-06-28")
    daily = pd.Series(1.03 ** (1 / 252) - 1, index=prices.index)
    moved = daily.copy()
    moved[moved.index > cut] = 1.15 ** (1 / 252) - 1
    for cash in (False, True):
        base, _ = _max_sharpe_run(prices, daily, cash=cash)
        later, _ = _max_sharpe_run(prices, moved, cash=cash)
        for table in ["weights", "trades", "rebalances", "forecasts"]:
            before, after = getattr(base, table), getattr(later, table)
            pd.testing.assert_frame_equal(
                before[before.date <= cut].reset_index(drop=True),
                after[after.date <= cut].reset_index(drop=True),
            )
        pd.testing.assert_frame_equal(base.returns.loc[:cut], later.returns.loc[:cut])
        # The perturbation is real: decisions after the cut do change.
        w_base = base.weights[base.weights.date > cut].weight.to_numpy()
        w_later = later.weights[later.weights.date > cut].weight.to_numpy()
        assert w_base.shape != w_later.shape or not np.allclose(w_base, w_later)


class VolumeRecorder(CountingForecaster):
    """Toy forecaster that uses volume and records what it was handed."""

    uses_volume = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def fit(self, prices, volume=None):
        self.seen.append(("fit", prices, volume))
        return super().fit(prices)

    def predict(self, prices, volume=None):
        self.seen.append(("predict", prices, volume))
        return super().predict(prices)


def _volume(prices: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(13.0, 0.4, prices.shape)
    return pd.DataFrame(values, index=prices.index, columns=prices.columns)


def test_volume_is_handed_only_to_forecasters_that_use_it_and_only_up_to_t():
    prices = load_dataset("sp500").loc["2012":"2014"].iloc[:, :4]
    volume = _volume(prices)
    schedule = rebalance_schedule(prices.index, "Q", min_history=252)
    recorder, plain = VolumeRecorder(), CountingForecaster()
    run_backtest(
        prices,
        [Tilt(), EqualWeight()],
        ForecastBook({"toy": recorder, "plain": plain}, retrain_months=6),
        schedule,
        risk_model="plain",  # equal weight's ex-ante risk: plain.predict(prices)
        volume=volume,
    )
    assert plain.fit_calls > 0  # fit(prices) and predict(prices) only, as before
    assert {kind for kind, _, _ in recorder.seen} == {"fit", "predict"}
    for _, seen_prices, seen_volume in recorder.seen:
        assert seen_volume is not None
        assert seen_volume.index.equals(seen_prices.index)
        assert list(seen_volume.columns) == list(seen_prices.columns)
        pd.testing.assert_frame_equal(
            seen_volume, volume.loc[seen_prices.index, seen_prices.columns]
        )


def test_no_look_ahead_in_volume_with_the_lstm():
    """Volume after t changes nothing the LSTM forecasts at t, and does matter."""
    from foliocast.forecasting.lstm import LSTMForecaster
    from foliocast.portfolio.backtest.strategies import MeanVariance

    prices = _trending_prices(n_days=700).iloc[:, :4]
    volume = _volume(prices)
    cut = pd.Timestamp("2019-09-30")
    future = volume.index > cut
    shocked = volume.copy()
    rng = np.random.default_rng(7)
    shocked.loc[future] *= rng.uniform(0.1, 10.0, (future.sum(), 4))
    schedule = rebalance_schedule(prices.index, "Q", min_history=252)

    def simulate(frame):
        lstm = LSTMForecaster(
            hidden=8, seq_len=21, factors=2, max_epochs=2, batch_size=64, ensemble=1
        )
        strategy = MeanVariance("m", "lstm", constraints={"long_only": True})
        book = ForecastBook({"lstm": lstm}, retrain_months=6)
        result = run_backtest(prices, [strategy], book, schedule, volume=frame)
        return result, lstm

    (base, lstm), (moved, _) = simulate(volume), simulate(shocked)
    assert "volume_z" in lstm.feature_names_
    for table in ["weights", "trades", "forecasts"]:
        before, after = getattr(base, table), getattr(moved, table)
        pd.testing.assert_frame_equal(
            before[before.date <= cut].reset_index(drop=True),
            after[after.date <= cut].reset_index(drop=True),
        )
    later = base.forecasts.date > cut
    assert later.any()
    assert not np.allclose(base.forecasts[later].mu, moved.forecasts[later].mu)
