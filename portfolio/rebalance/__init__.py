"""The production rebalance.

Holdings, valuation, the plan at one date, rounding, trades, pre-trade risk and the
plan folder.
"""
