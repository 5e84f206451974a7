"""Optimisation: the Markowitz problem, its constraints and solver paths, risk parity.

Imports nothing on its own; the public names are re-exported by `foliocast.portfolio`.
"""
