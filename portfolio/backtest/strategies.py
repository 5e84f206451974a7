"""Allocation strategies: how each one turns what it may see at ``t`` into weights.

A strategy's `decide` gets a `DecisionContext` holding what is known at the decision
date only: the investable universe, the weights it currently holds (drifted), access
to forecasts made at that date and the risk-free rate of that date; it returns target
weights, or None to hold (no trade).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pandas as pd

from foliocast.forecasting.forecast import Forecast
from foliocast.forecasting.posterior import apply_views, equilibrium_returns
from foliocast.portfolio.errors import OptimizationError
from foliocast.portfolio.names import (
    BASELINE_MVO,
    BUY_AND_HOLD,
    EQUAL_WEIGHT,
    HRP,
    INDEX,
    MIN_VARIANCE,
    RISK_PARITY,
)
from foliocast.portfolio.optimizer import risk_parity
from foliocast.portfolio.optimizer.active import ACTIVE_OBJECTIVES
from foliocast.portfolio.optimizer.markowitz import optimize_forecast

__all__ = [
    "DecisionContext",
    "Strategy",
    "EqualWeight",
    "BuyAndHold",
    "MeanVariance",
    "Views",
    "RiskBased",
    "compound_risk_free",
    "describe_strategy",
    "MIN_VARIANCE_COST_PENALTY_BPS",
]

MIN_VARIANCE_COST_PENALTY_BPS = 0.0
"""Cost penalty of the ``min_variance`` baseline, in bps of traded notional.

Zero: the baseline is the pure minimum-variance portfolio of the Ledoit-Wolf
covariance under the configured constraints, whatever ``optimizer.risk_aversion``
and ``optimizer.cost_penalty_bps`` say; its trades still pay ``backtest.cost_bps``.
"""


@dataclass(frozen=True)
class DecisionContext:
    """What a strategy may look at when it decides at ``date``.

    Attributes
    ----------
    date : pandas.Timestamp
        The rebalance date (its close is the last price seen).
    universe : list of str
        Tickers investable at ``date``.
    drifted : pandas.Series
        Weights held going into the rebalance, indexed by ``universe``.
    forecast : callable
        ``forecast(name)`` returns the named forecaster's `Forecast` at ``date``
        for the universe.
    risk_free : float, default 0.0
        Daily risk-free return at ``date`` (the run's rate as known then).
    benchmark : pandas.Series, optional
        The run's benchmark over ``universe`` (`portfolio.backtest.benchmark`),
        adding up to 1; None when none of its assets is investable.
    """

    date: pd.Timestamp
    universe: list[str]
    drifted: pd.Series
    forecast: Callable[[str], Forecast]
    risk_free: float = 0.0
    benchmark: pd.Series | None = None


def compound_risk_free(daily: float, horizon: int) -> float:
    """Risk-free return over ``horizon`` days from the daily rate known at ``t``.

    Compounded like `data.risk_free_rate`'s annual -> daily conversion; the rate of
    the decision date stands for the whole horizon (no later rate is known then).
    """
    return (1.0 + daily) ** horizon - 1.0


def describe_strategy(name: str, config: Mapping[str, Any]) -> str:
    """What a strategy of a run is, in one phrase, for reports.

    Parameters
    ----------
    name : str
        Result name of the strategy (``lstm_mvo``, ``ewma_mvo``, ``min_variance``,
        ...; ``index`` is the benchmark column).
    config : mapping
        The run's resolved config as plain data (``config.yaml``).

    Returns
    -------
    str
    """
    optimizer = config.get("optimizer") or {}
    objective = optimizer.get("objective")
    if objective in ACTIVE_OBJECTIVES:
        source = optimizer.get("benchmark")
        path = source.get("path") if isinstance(source, Mapping) else None
        objective += f" to {f'the weights in {path}' if path else '1/N'}"
    settings = (
        f"objective {objective}, risk aversion "
        f"{optimizer.get('risk_aversion')}, cost penalty "
        f"{optimizer.get('cost_penalty_bps')} bp, optimizer.constraints"
    )
    fixed = {
        BASELINE_MVO: f"historical mean and Ledoit-Wolf covariance ({settings})",
        MIN_VARIANCE: (
            "minimum variance of the Ledoit-Wolf covariance under "
            "optimizer.constraints; no expected returns, no risk aversion, cost "
            f"penalty {MIN_VARIANCE_COST_PENALTY_BPS:g} bp"
        ),
        RISK_PARITY: (
            "equal risk contribution to the variance of the Ledoit-Wolf covariance "
            "(skfolio RiskBudgeting), long-only and fully invested; of "
            "optimizer.constraints only the per-asset min_weight, max_weight and "
            "bounds apply"
        ),
        HRP: (
            "hierarchical risk parity of the Ledoit-Wolf covariance (skfolio, single "
            "linkage, inverse-variance bisection), long-only and fully invested; of "
            "optimizer.constraints only the per-asset min_weight, max_weight and "
            "bounds apply"
        ),
        EQUAL_WEIGHT: "1/N of the investable assets at every rebalance",
        BUY_AND_HOLD: "1/N at the first rebalance, never traded again",
        INDEX: "the benchmark index: not traded, no costs",
    }
    if name in fixed:
        return fixed[name]
    forecaster = config.get("forecaster") or {}
    if name.endswith("_mvo"):
        kind = forecaster.get("kind", name[: -len("_mvo")])
        return f"the {kind} forecaster's mean and covariance ({settings})"
    if name.endswith("_bl"):
        kind = forecaster.get("kind", name[: -len("_bl")])
        views = forecaster.get("views") or {}
        prior = {
            "historical": "the historical mean",
            "equilibrium": "the equilibrium returns of 1/N",
        }.get(views.get("prior"), "a prior mean")
        return (
            f"the {kind} forecaster's mean blended with {prior} by its confidence "
            f"(Black-Litterman, tau {views.get('tau')}), and its covariance "
            f"({settings})"
        )
    return name


class Strategy(Protocol):
    """Anything that decides target weights at a rebalance."""

    name: str
    forecaster: str | None

    def decide(self, context: DecisionContext) -> pd.Series | None:
        """Target weights indexed by ``context.universe``, or None to hold."""
        ...


@dataclass
class EqualWeight:
    """1/N over the assets investable at each rebalance."""

    name: str = EQUAL_WEIGHT
    forecaster: str | None = None

    def decide(self, context: DecisionContext) -> pd.Series:
        """Return 1/N on every investable asset."""
        n = len(context.universe)
        return pd.Series(1.0 / n, index=context.universe)


@dataclass
class BuyAndHold:
    """Buy 1/N at the first rebalance, then never trade (weights drift freely)."""

    name: str = BUY_AND_HOLD
    forecaster: str | None = None
    _bought: bool = field(default=False, repr=False)

    def decide(self, context: DecisionContext) -> pd.Series | None:
        """Return 1/N the first time, None (hold) afterwards."""
        if self._bought:
            return None
        self._bought = True
        n = len(context.universe)
        return pd.Series(1.0 / n, index=context.universe)

    def get_state(self) -> dict[str, Any]:
        """State to checkpoint: whether the portfolio was bought."""
        return {"bought": self._bought}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore from `get_state`."""
        self._bought = bool(state["bought"])


@dataclass(frozen=True)
class Views:
    """The confidence-weighted step: a forecast's mean as views on a prior mean.

    `forecasting.posterior.apply_views` blends the forecast's ``mu`` with the prior
    by their confidence (the forecast's ``mu_std``; the prior's ``tau * cov``) and
    keeps its covariance.

    Parameters
    ----------
    prior : {"historical", "equilibrium"}
        ``historical``: the ``mu`` of the forecaster named ``historical`` at the
        decision date. ``equilibrium``: the returns that make 1/N of the universe
        optimal for the forecast's covariance at the strategy's risk aversion
        (`forecasting.posterior.equilibrium_returns`; no market capitalisations).
    tau : float
        Scale of the prior's uncertainty, > 0.
    historical : str
        Forecaster whose mean is the historical prior (the run's Ledoit-Wolf
        baseline, whose mean is the sample mean).
    """

    prior: Literal["historical", "equilibrium"] = "historical"
    tau: float = 0.05
    historical: str = "ledoit_wolf"

    def posterior(
        self, forecast: Forecast, context: DecisionContext, risk_aversion: float
    ) -> Forecast:
        """Return ``forecast`` with its mean replaced by the posterior mean."""
        if self.prior == "historical":
            prior_mu = context.forecast(self.historical).mu
        else:
            equal = pd.Series(1.0 / len(context.universe), index=context.universe)
            prior_mu = equilibrium_returns(forecast.cov, equal, risk_aversion)
        return apply_views(forecast, prior_mu, tau=self.tau)


@dataclass
class MeanVariance:
    """Markowitz weights from a named forecaster's forecast at each rebalance.

    Parameters
    ----------
    name : str
        Strategy name in results.
    forecaster : str
        Name of the forecaster in the backtest's forecast book.
    objective : str
        Optimizer objective (``utility``, ``min_variance``, ``max_sharpe``, ...).
    risk_aversion : float
        Gamma of the utility objective.
    constraints : mapping
        Constraint settings passed to the optimizer.
    cost_penalty_bps : float
        Transaction-cost penalty in the objective, bps of traded notional.
    target : float, optional
        Target horizon return or volatility for the ``target_*`` objectives.
    risk_free : float, optional
        Horizon risk-free return for ``max_sharpe``. None (default) uses the run's
        rate at the decision date, ``context.risk_free``, compounded over the
        forecast horizon: ``(1 + rf_daily) ** horizon - 1``.
    views : Views, optional
        Optimize the confidence-weighted forecast (`Views`) instead of the raw one.
    """

    name: str
    forecaster: str
    objective: str = "utility"
    risk_aversion: float = 5.0
    constraints: Mapping[str, Any] = field(default_factory=dict)
    cost_penalty_bps: float = 0.0
    target: float | None = None
    risk_free: float | None = None
    views: Views | None = None

    def horizon_risk_free(self, context: DecisionContext, horizon: int) -> float:
        """Risk-free return over ``horizon`` days used at ``context.date``."""
        if self.risk_free is not None:
            return float(self.risk_free)
        return compound_risk_free(context.risk_free, horizon)

    def decide(self, context: DecisionContext) -> pd.Series:
        """Solve the optimizer on the forecast at ``context.date``.

        Raises
        ------
        OptimizationError
            If the objective is relative to the benchmark and none of its assets is
            investable at the date.
        """
        forecast = context.forecast(self.forecaster)
        if self.views is not None:
            forecast = self.views.posterior(forecast, context, self.risk_aversion)
        active = {}
        if self.objective in ACTIVE_OBJECTIVES:
            if context.benchmark is None:
                raise OptimizationError(
                    f"no asset of the benchmark (optimizer.benchmark) is investable "
                    f"on {context.date:%Y-%m-%d}, so {self.objective} is undefined; "
                    "start the backtest later or widen the benchmark"
                )
            active["benchmark"] = context.benchmark
        return optimize_forecast(
            forecast,
            objective=self.objective,
            risk_aversion=self.risk_aversion,
            constraints=dict(self.constraints),
            prev_weights=context.drifted,
            cost_penalty=self.cost_penalty_bps / 1e4,
            target=self.target,
            risk_free_rate=self.horizon_risk_free(context, forecast.horizon),
            **active,
        )


@dataclass
class RiskBased:
    """Weights from a named forecaster's covariance alone: ERC or HRP.

    ``method`` is ``"risk_parity"`` (equal risk contribution,
    `portfolio.risk_parity.equal_risk_contribution`) or ``"hrp"`` (hierarchical risk
    parity, `portfolio.risk_parity.hierarchical_risk_parity`). Both are long-only and
    fully invested; of ``constraints`` only the per-asset bounds (``min_weight``,
    ``max_weight``, ``bounds``) apply, not groups, turnover, leverage or cash.

    Parameters
    ----------
    name : str
        Strategy name in results.
    forecaster : str
        Name of the forecaster whose ``cov`` is used (its ``mu`` is not).
    method : {"risk_parity", "hrp"}
        The allocation rule.
    constraints : mapping
        Constraint settings of the run.
    """

    name: str
    forecaster: str
    method: Literal["risk_parity", "hrp"]
    constraints: Mapping[str, Any] = field(default_factory=dict)

    def decide(self, context: DecisionContext) -> pd.Series:
        """Allocate the forecast covariance at ``context.date`` by ``method``."""
        allocate = {
            "risk_parity": risk_parity.equal_risk_contribution,
            "hrp": risk_parity.hierarchical_risk_parity,
        }[self.method]
        cov = context.forecast(self.forecaster).cov
        return allocate(
            cov, *risk_parity.weight_bounds(self.constraints, list(cov.index))
        )
