"""One BLAS thread inside a block (and inside every optimize call), restored after."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from foliocast._blas import ONE_BLAS_THREAD
from foliocast.portfolio.backtest.book import ForecastBook
from foliocast.portfolio.backtest.decision import decide_at
from foliocast.portfolio.backtest.strategies import EqualWeight
from foliocast.portfolio.optimizer import markowitz as markowitz_module
from tests.portfolio.conftest import factor_problem


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads() -> list[int]:
    """BLAS at up to two threads (as on a 2-core machine): the setting to restore."""
    import numpy  # noqa: F401  (loads numpy's BLAS before the limit is set)
    import scipy.linalg  # noqa: F401  (and scipy's)

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        if 2 not in before:
            pytest.skip("no BLAS library here runs more than one thread")
        yield before


def test_block_holds_one_thread_and_restores_the_setting(two_blas_threads):
    with ONE_BLAS_THREAD:
        assert set(_blas_threads()) == {1}
        with ONE_BLAS_THREAD:  # nested: the inner exit keeps the limit
            pass
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == two_blas_threads


def test_setting_is_restored_after_an_error(two_blas_threads):
    with pytest.raises(RuntimeError, match="inside"), ONE_BLAS_THREAD:
        raise RuntimeError("inside the block")
    assert _blas_threads() == two_blas_threads


class _FakeBlas:
    """A BLAS library's thread setting, as threadpoolctl's controllers expose it."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def get_num_threads(self) -> int:
        return self.threads

    def set_num_threads(self, threads: int) -> None:
        self.threads = threads


def test_overlapping_blocks_in_threads_restore_the_setting(monkeypatch):
    # Thread A enters, B enters, A leaves, B leaves: the limit holds until B
    # leaves, and then the setting from before A entered comes back. (A fake
    # library: how OpenBLAS reports a setting made in another thread varies.)
    library = _FakeBlas(4)
    monkeypatch.setattr(ONE_BLAS_THREAD, "_libraries", [library])
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def first():
        with ONE_BLAS_THREAD:
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second():
        a_in.wait(5)
        with ONE_BLAS_THREAD:
            b_in.set()
            a_out.wait(5)
            seen.append(library.threads)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [1]
    assert library.threads == 4


def test_optimize_runs_on_one_blas_thread_and_restores_the_setting(
    monkeypatch, two_blas_threads
):
    mu, cov, _, _ = factor_problem(8, seed=3)
    during = []
    solve = markowitz_module._solve

    def spy(inputs, options):
        during.append(set(_blas_threads()))
        return solve(inputs, options)

    monkeypatch.setattr(markowitz_module, "_solve", spy)
    markowitz_module.optimize(mu, cov, risk_aversion=2.0)
    markowitz_module.efficient_frontier(mu, cov, n_points=2)
    assert during and all(threads == {1} for threads in during)
    assert _blas_threads() == two_blas_threads


def test_a_decision_runs_on_one_blas_thread_and_restores_the_setting(
    two_blas_threads,
):
    # The forecasts and risk figures of a decision are numpy work outside optimize.
    during = []

    class Spy(EqualWeight):
        def decide(self, context):
            during.append(set(_blas_threads()))
            return super().decide(context)

    days = pd.bdate_range("2020-01-01", periods=300)
    prices = pd.DataFrame(100.0, index=days, columns=["A", "B", "C"])
    book = ForecastBook({}, retrain_months=12)
    decide_at(prices, {"spy": pd.Series()}, [Spy("spy")], book)
    assert during == [{1}]
    assert _blas_threads() == two_blas_threads
