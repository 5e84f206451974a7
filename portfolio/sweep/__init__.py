"""Sweeps of run configs.

Grids, the runner (local or Ray), the leaderboard, and the comparison of forecasters
across run folders.
"""
