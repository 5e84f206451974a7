"""Fixtures of the optimizer tests."""

from __future__ import annotations

import pytest

from foliocast.portfolio.optimizer import problem as compiled_problem


@pytest.fixture
def cvxpy_solves(monkeypatch) -> list[str]:
    """The solver of every solve that goes through cvxpy's ``Problem.solve``."""
    solves: list[str] = []
    run_solver = compiled_problem._run_solver

    def spy(problem, solver, options):
        solves.append(solver)
        return run_solver(problem, solver, options)

    monkeypatch.setattr(compiled_problem, "_run_solver", spy)
    return solves
