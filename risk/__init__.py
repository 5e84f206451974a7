"""Performance and risk metrics, significance tests and the risk-committee report.

Metrics are pure functions of return series (empyrical conventions); anyone may use
them. The report reads a backtest run folder.
"""

from foliocast.risk.attribution import (
    effective_number_of_assets,
    ex_ante_volatility,
    group_risk_contributions,
    percent_risk_contributions,
    realised_vs_predicted_volatility,
    risk_contributions,
)
from foliocast.risk.drawdown import max_drawdown, underwater, worst_drawdowns
from foliocast.risk.metrics import (
    annual_return,
    annual_volatility,
    performance_summary,
    sharpe_ratio,
    sortino_ratio,
    summary_table,
)
from foliocast.risk.rolling import (
    calendar_year_returns,
    monthly_returns_table,
    rolling_sharpe,
    rolling_volatility,
)
from foliocast.risk.significance import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    sharpe_difference_test,
)
from foliocast.risk.trading import annualised_cost_drag, annualised_turnover

__all__ = [
    "annual_return",
    "annual_volatility",
    "annualised_cost_drag",
    "annualised_turnover",
    "calendar_year_returns",
    "deflated_sharpe_ratio",
    "effective_number_of_assets",
    "ex_ante_volatility",
    "group_risk_contributions",
    "max_drawdown",
    "monthly_returns_table",
    "percent_risk_contributions",
    "performance_summary",
    "probabilistic_sharpe_ratio",
    "realised_vs_predicted_volatility",
    "risk_contributions",
    "rolling_sharpe",
    "rolling_volatility",
    "sharpe_difference_test",
    "sharpe_ratio",
    "sortino_ratio",
    "summary_table",
    "underwater",
    "worst_drawdowns",
]
