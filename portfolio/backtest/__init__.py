"""The walk-forward backtest.

The loop, the forecast book, strategies, simulation, resume, the run, its scoring and
run-folder I/O.
"""
