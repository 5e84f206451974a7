import empyrical
import numpy as np
import pandas as pd
import pytest

from foliocast.risk.drawdown import (
    EPISODE_COLUMNS,
    drawdown_episodes,
    max_drawdown,
    max_drawdown_duration_days,
    underwater,
    worst_drawdowns,
)


@pytest.fixture(scope="module")
def daily() -> pd.Series:
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2015-01-01", periods=1500)
    return pd.Series(rng.normal(0.0003, 0.012, dates.size), index=dates)


@pytest.fixture
def seven_days() -> pd.Series:
    # Calendar days 1..7 of January 2024.
    returns = [-0.1, 0.05, 0.1, -0.2, 0.1, 0.05, -0.01]
    return pd.Series(returns, index=pd.date_range("2024-01-01", periods=7))


def test_underwater_matches_empyrical(daily: pd.Series) -> None:
    expected = empyrical.stats.drawdown_series(daily)
    pd.testing.assert_series_equal(underwater(daily), expected, check_names=False)
    assert max_drawdown(daily) == pytest.approx(empyrical.max_drawdown(daily))


def test_pinned_episodes(seven_days: pd.Series) -> None:
    # Wealth: 0.9, 0.945, 1.0395 (new high above the initial 1), 0.8316, 0.91476,
    # 0.960498, 0.95089302. Underwater: -0.1, -0.055, 0, -0.2, -0.12, -0.076,
    # 0.95089302 / 1.0395 - 1 = -0.08524.
    expected_dd = [-0.1, -0.055, 0.0, -0.2, -0.12, -0.076, -0.08524]
    np.testing.assert_allclose(underwater(seven_days), expected_dd, atol=1e-12)

    episodes = drawdown_episodes(seven_days)
    assert list(episodes.columns) == list(EPISODE_COLUMNS)
    first, second = episodes.iloc[0], episodes.iloc[1]
    # The first loss happens on day one: its peak (the initial capital) is dated
    # at the first date; recovery on 3 Jan.
    assert first["start"] == pd.Timestamp("2024-01-01")
    assert first["trough"] == pd.Timestamp("2024-01-01")
    assert first["recovery"] == pd.Timestamp("2024-01-03")
    assert first["depth"] == pytest.approx(-0.1)
    assert first["duration_days"] == 2.0
    assert first["recovery_days"] == 2.0
    # Peak 3 Jan, trough 4 Jan, never recovered: duration counts to 7 Jan.
    assert second["start"] == pd.Timestamp("2024-01-03")
    assert second["trough"] == pd.Timestamp("2024-01-04")
    assert pd.isna(second["recovery"])
    assert second["depth"] == pytest.approx(-0.2)
    assert second["duration_days"] == 4.0
    assert np.isnan(second["recovery_days"])
    assert max_drawdown_duration_days(seven_days) == 4.0


def test_worst_drawdowns_ranked_by_depth(seven_days: pd.Series) -> None:
    worst = worst_drawdowns(seven_days, top=5)
    assert list(worst.index) == [1, 2]  # only two episodes exist
    assert list(worst["depth"]) == pytest.approx([-0.2, -0.1])
    assert len(worst_drawdowns(seven_days, top=1)) == 1
    with pytest.raises(ValueError, match="top"):
        worst_drawdowns(seven_days, top=0)


def test_worst_drawdown_is_the_max_drawdown(daily: pd.Series) -> None:
    worst = worst_drawdowns(daily, top=5)
    assert len(worst) == 5
    assert worst["depth"].iloc[0] == pytest.approx(max_drawdown(daily))
    assert worst["depth"].is_monotonic_increasing
    assert (worst["start"] <= worst["trough"]).all()
    recovered = worst.dropna(subset=["recovery"])
    assert (recovered["trough"] < recovered["recovery"]).all()
    np.testing.assert_allclose(
        recovered["recovery_days"],
        (recovered["recovery"] - recovered["trough"]).dt.days,
    )
    np.testing.assert_allclose(
        recovered["duration_days"],
        (recovered["recovery"] - recovered["start"]).dt.days,
    )


def test_episodes_agree_with_underwater(daily: pd.Series) -> None:
    dd = underwater(daily)
    episodes = drawdown_episodes(daily)
    for _, episode in episodes.iterrows():
        assert dd.loc[episode["trough"]] == episode["depth"]
        end = episode["recovery"] if pd.notna(episode["recovery"]) else dd.index[-1]
        inside = dd.loc[episode["start"] : end]
        assert inside.min() == episode["depth"]
    # The longest episode, not the deepest, sets the duration.
    assert max_drawdown_duration_days(daily) == episodes["duration_days"].max()


def test_no_drawdown() -> None:
    rising = pd.Series(0.01, index=pd.bdate_range("2024-01-01", periods=10))
    assert max_drawdown(rising) == 0.0
    assert max_drawdown_duration_days(rising) == 0.0
    episodes = worst_drawdowns(rising)
    assert episodes.empty and list(episodes.columns) == list(EPISODE_COLUMNS)


def test_underwater_of_a_frame_keeps_missing_values(daily: pd.Series) -> None:
    late = daily.where(daily.index >= daily.index[10])
    frame = pd.DataFrame({"a": daily, "late": late})
    dd = underwater(frame)
    assert dd["late"].iloc[:10].isna().all()
    # The late strategy compounds from its own start, not from the frame's.
    pd.testing.assert_series_equal(
        dd["late"].iloc[10:], underwater(daily.iloc[10:]), check_names=False
    )
    pd.testing.assert_series_equal(dd["a"], underwater(daily), check_names=False)


def test_drawdown_of_empty_series_raises() -> None:
    with pytest.raises(ValueError, match="no observations"):
        max_drawdown(pd.Series([], dtype=float, index=pd.DatetimeIndex([])))
