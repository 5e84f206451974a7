"""The forecaster comparison of a sweep: one table, same dates, checked by hand.

Two points (historical and EWMA forecasters) run on five seeded synthetic assets,
weekly forecasts over a 10-day horizon (so horizons overlap and the DM test needs a
HAC lag of 1). Every number of the table is recomputed here from the run folders'
CSV files and the prices with the formulas written out.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from foliocast.forecasting.evaluation import diebold_mariano, paired_diebold_mariano
from foliocast.portfolio.backtest.run import run
from foliocast.portfolio.backtest.runfolder import save_output
from foliocast.portfolio.cli import main
from foliocast.portfolio.sweep.compare import (
    COLUMNS,
    compare_forecasters,
    comparison_markdown,
    write_comparison,
)
from foliocast.portfolio.sweep.grid import grid_points, spec_from_dict
from foliocast.portfolio.sweep.leaderboard import leaderboard

HORIZON = 10
KINDS = ("historical", "ewma")


def synthetic_prices() -> pd.DataFrame:
    """Five assets with two common factors, 420 business days, seeded."""
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2019-01-01", periods=420, name="date")
    loadings = rng.normal(0.0, 0.008, (5, 2))
    loadings[:, 0] = np.abs(loadings[:, 0]) + 0.006
    daily = (
        rng.standard_normal((len(dates), 2)) @ loadings.T
        + rng.normal(0.0, 0.01, (len(dates), 5))
        + 0.0004
    )
    return pd.DataFrame(
        100.0 * np.exp(np.cumsum(daily, axis=0)),
        index=dates,
        columns=[f"S{i}" for i in range(5)],
    )


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A finished two-point sweep folder, its spec and the prices."""
    root = tmp_path_factory.mktemp("compare")
    prices = synthetic_prices()
    prices.to_csv(root / "prices.csv")
    spec = spec_from_dict(
        {
            "name": "forecasters",
            "base": {
                "name": "cmp",
                "data": {"path": str(root / "prices.csv"), "risk_free": 0.02},
                "backtest": {"start": "2020-01-01", "rebalance": "W"},
                "forecaster": {"horizon": HORIZON, "lookback_days": 252},
                "strategies": ["lstm_mvo", "equal_weight"],
            },
            "grid": [{"forecaster.kind": kind} for kind in KINDS],
        }
    )
    folder = root / "sweep"
    for name, config in grid_points(spec):
        output = run(config)
        point = folder / "points" / name
        point.mkdir(parents=True)
        save_output(point, output)
        (point / "point.json").write_text(json.dumps({"status": "ok"}))
    return folder, spec, prices


def by_hand(point: Path, prices: pd.DataFrame) -> pd.DataFrame:
    """Per-date losses and min-variance returns from a point's CSV files."""
    forecasts = pd.read_csv(point / "forecasts.csv", parse_dates=["date"])
    factors = pd.read_csv(point / "forecast_factors.csv", parse_dates=["date"])
    forecasts = forecasts[forecasts.forecaster == "model"]
    factors = factors[factors.forecaster == "model"]
    rows = {}
    for date, own in forecasts.groupby("date"):
        start = prices.index.get_loc(date)
        if start + HORIZON >= len(prices):
            continue  # the horizon runs past the data
        tickers = list(own.asset)
        r = (prices.iloc[start + HORIZON] / prices.iloc[start] - 1.0)[tickers]
        r = r.to_numpy()
        mu = own.mu.to_numpy()
        b = (
            factors[factors.date == date]
            .pivot(index="asset", columns="factor", values="loading")
            .reindex(tickers)
            .fillna(0.0)
            .to_numpy()
        )
        cov = b @ b.T + np.diag(own.idio.to_numpy())
        error = r - mu
        _, log_det = np.linalg.slogdet(cov)
        nll = 0.5 * (
            len(r) * math.log(2 * math.pi)
            + log_det
            + error @ np.linalg.solve(cov, error)
        )
        w = np.linalg.solve(cov, np.ones(len(r)))
        w /= w.sum()
        ratio = (w @ r) ** 2 / (w @ cov @ w)
        rows[date] = {
            "nll": nll,
            "qlike": ratio - math.log(ratio) - 1.0,
            "mse": np.mean(error**2),
            "minvar": w @ r,
            "ic": np.corrcoef(mu, r)[0, 1],
            "position": start,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def dm_pvalue_by_hand(d: np.ndarray, lag: int) -> float:
    """Two-sided DM p-value: Bartlett HAC variance, HLN correction, Student t."""
    n, h = d.size, lag + 1
    c = d - d.mean()
    lrv = c @ c / n + sum(
        2.0 * (1.0 - k / (lag + 1)) * (c[k:] @ c[:-k] / n) for k in range(1, lag + 1)
    )
    statistic = d.mean() / math.sqrt(lrv / n)
    statistic *= math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return 2.0 * stats.t.sf(abs(statistic), df=n - 1)


def test_table_matches_scores_computed_by_hand(sweep):
    folder, spec, prices = sweep
    table = compare_forecasters(folder).set_index("forecaster")
    assert list(table.columns) == [c for c, _, _ in COLUMNS if c != "forecaster"]
    hand = {
        kind: by_hand(folder / "points" / name, prices)
        for kind, (name, _) in zip(KINDS, grid_points(spec), strict=True)
    }
    assert hand["historical"].index.equals(hand["ewma"].index)  # the same dates
    for kind in KINDS:
        mine, row = hand[kind], table.loc[kind]
        assert row.n_dates == len(mine) > 20
        assert row.gaussian_nll == pytest.approx(mine.nll.mean(), rel=1e-9)
        assert row.minvar_qlike == pytest.approx(mine.qlike.mean(), rel=1e-9)
        assert row.minvar_realised_vol == pytest.approx(
            mine.minvar.std(ddof=1), rel=1e-9
        )
        ic_t = mine.ic.mean() / (mine.ic.std(ddof=1) / math.sqrt(len(mine)))
        assert row.ic_mean == pytest.approx(mine.ic.mean(), rel=1e-9)
        assert row.ic_tstat == pytest.approx(ic_t, rel=1e-9)
        point = folder / "points" / row.point
        metrics = json.loads((point / "metrics.json").read_text())
        summary = metrics["strategies"][f"{kind}_mvo"]
        assert row.sharpe == pytest.approx(summary["sharpe"], rel=1e-12)
        assert row.turnover == pytest.approx(summary["turnover"], rel=1e-12)

    # The reference is the classical forecaster with the lower NLL.
    nll = {kind: hand[kind].nll.mean() for kind in KINDS}
    reference = min(nll, key=nll.get)
    other = next(kind for kind in KINDS if kind != reference)
    assert table.loc[reference, "reference"] == "yes"
    assert table.loc[other, "reference"] != "yes"
    assert table.loc[reference, ["dm_pvalue_nll", "dm_pvalue_qlike"]].isna().all()
    # Weekly forecasts, 5 days apart, over a 10-day horizon: one overlap, lag 1.
    assert set(np.diff(hand[other].position)) == {5}
    for loss, column in (
        ("nll", "dm_pvalue_nll"),
        ("qlike", "dm_pvalue_qlike"),
        ("mse", "dm_pvalue_mse"),
    ):
        d = (hand[other][loss] - hand[reference][loss]).to_numpy(dtype=float)
        if loss == "mse":
            # Both forecast the historical mean: equal errors, no test to make.
            assert np.abs(d).max() < 1e-15 and np.isnan(table.loc[other, column])
            continue
        expected = dm_pvalue_by_hand(d, lag=1)
        assert table.loc[other, column] == pytest.approx(expected, rel=1e-9)
        assert 0.0 < expected < 1.0


def test_a_later_start_scores_only_the_later_dates(sweep):
    folder, spec, prices = sweep
    table = compare_forecasters(folder, start="2020-04-01")
    full = compare_forecasters(folder)
    name = table.point.iloc[0]
    mine = by_hand(folder / "points" / name, prices)
    later = mine[mine.index >= "2020-04-01"]
    assert table.n_dates.iloc[0] == len(later) < full.n_dates.iloc[0]
    assert table.gaussian_nll.iloc[0] == pytest.approx(later.nll.mean(), rel=1e-9)
    # The Sharpe ratio is that of the same period's daily returns.
    returns = pd.read_csv(
        folder / "points" / name / "returns.csv", index_col="date", parse_dates=True
    )
    rf = pd.read_csv(
        folder / "points" / name / "risk_free.csv", index_col="date", parse_dates=True
    )["rf"]
    r = returns.loc["2020-04-01":, f"{KINDS[0]}_mvo"]
    excess = r - rf.reindex(r.index)
    sharpe = excess.mean() / excess.std(ddof=1) * math.sqrt(252)
    assert table.sharpe.iloc[0] == pytest.approx(sharpe, rel=1e-6)
    assert table.attrs["start"] == "2020-04-01"


def test_paired_dm_compares_losses_of_the_same_dates():
    dates = pd.bdate_range("2021-01-01", periods=40)
    rng = np.random.default_rng(3)
    model = pd.DataFrame(
        {"gaussian_nll": rng.normal(0.0, 1.0, 30), "horizon": 1}, index=dates[:30]
    )
    baseline = pd.DataFrame(
        {"gaussian_nll": rng.normal(0.3, 1.0, 30), "horizon": 1}, index=dates[10:]
    )
    shuffled = baseline.sample(frac=1.0, random_state=0)  # order must not matter
    result = paired_diebold_mariano(model, shuffled, "gaussian_nll", dates)
    common = dates[10:30]
    d = model.gaussian_nll[common] - baseline.gaussian_nll[common]
    assert result.n == 20
    assert result.pvalue == pytest.approx(diebold_mariano(d.to_numpy()).pvalue)
    assert result.pvalue == pytest.approx(dm_pvalue_by_hand(d.to_numpy(), lag=0))


def test_leaderboard_ranks_each_points_model_strategy(sweep):
    folder, spec, _ = sweep
    board = leaderboard(spec, folder / "points").set_index("forecaster.kind")
    for kind in KINDS:
        assert board.loc[kind, "strategy"] == f"{kind}_mvo"
        point = folder / "points" / board.loc[kind, "point"]
        summary = json.loads((point / "metrics.json").read_text())["strategies"]
        assert board.loc[kind, "sharpe"] == summary[f"{kind}_mvo"]["sharpe"]


def test_compare_command_writes_csv_and_markdown(sweep, capsys):
    folder, _, _ = sweep
    assert main(["compare", str(folder), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "forecasters.md")
    saved = pd.read_csv(folder / "forecasters.csv")
    table = compare_forecasters(folder)
    assert list(saved.columns) == [c for c, _, _ in COLUMNS]
    np.testing.assert_allclose(saved.gaussian_nll, table.gaussian_nll, rtol=1e-12)
    text = (folder / "forecasters.md").read_text()
    assert text.startswith("| point | forecaster |")
    assert "the same dates for every forecaster" in text
    assert text == comparison_markdown(table)
    write_comparison(folder, table)  # rewriting its own output is allowed


def test_compare_command_refuses_bad_input_with_one_line(sweep, tmp_path, capsys):
    folder, _, _ = sweep
    assert main(["compare", str(folder), "--from", "04/01/2020"]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["compare", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
