"""A rebalance plan on screen and on disk: its Markdown summary and its files.

`plan_summary` writes the short Markdown summary behind `RebalancePlan.summary`;
`write_plan` saves the plan's tables, the holdings it started from, the config and
the summary into a new folder atomically (`portfolio.output_folder.staging`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from foliocast.data.csv_safety import write_csv
from foliocast.portfolio.config import dump_config
from foliocast.portfolio.output_folder import staging
from foliocast.portfolio.rebalance.holdings import CASH

if TYPE_CHECKING:
    from foliocast.portfolio.rebalance.plan import RebalancePlan

__all__ = ["plan_summary", "write_plan"]


# -------------------------------------------------------------------- summary


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def plan_summary(plan: RebalancePlan) -> str:
    """A short Markdown summary of a rebalance plan.

    Parameters
    ----------
    plan : RebalancePlan
        The plan to summarise.

    Returns
    -------
    str
        Markdown ending in a newline: a title with the name and date; bullets on the
        forecaster and objective, value and cash, sells and buys with turnover and
        estimated cost, ex-ante volatility, target and current VaR, the constraint
        check and the five largest target weights; then the plan's notes, if any,
        and the names of the plan's files.
    """
    risk = plan.risk.set_index("metric")["value"]
    trades = plan.trades
    buys = trades[trades["side"] == "buy"]
    sells = trades[trades["side"] == "sell"]
    spec = plan.config.forecaster
    opt = plan.config.optimizer
    failed = plan.constraints.loc[~plan.constraints["ok"], "constraint"].tolist()
    top = (
        plan.weights[plan.weights["ticker"] != CASH]
        .nlargest(5, "target_weight")
        .loc[:, ["ticker", "target_weight"]]
    )
    lines = [
        f"# Rebalance {plan.name}: {plan.as_of:%Y-%m-%d}",
        "",
        f"- Forecaster: {spec.kind} (horizon {plan.forecast.horizon} days, "
        f"universe {len(plan.forecast.tickers)} assets); objective "
        f"{opt.objective}, risk aversion {opt.risk_aversion:g}",
        f"- Account value {_money(plan.value)}; cash before "
        f"{_money(plan.cash)}, after trades and costs "
        f"{_money(plan.residual_cash)}",
        f"- Trades: {len(sells)} sells ({_money(sells['notional'].sum())}), "
        f"{len(buys)} buys ({_money(buys['notional'].sum())}); one-way turnover "
        f"{risk['turnover']:.1%}; estimated cost {_money(risk['estimated_cost'])} "
        f"({risk['estimated_cost_bps']:.1f} bps at "
        f"{plan.config.backtest.cost_bps:g} bps of notional)",
        f"- Ex-ante volatility (annualised): current "
        f"{risk['volatility_current']:.1%} -> target {risk['volatility_target']:.1%}",
        f"- Historical 1-day 95% VaR of the target: {risk['var_95_1d_target']:.2%} "
        f"({_money(risk['var_95_1d_target_value'])}); current "
        f"{risk['var_95_1d_current']:.2%}",
        "- Constraints: "
        + (
            "all within limits after rounding"
            if not failed
            else f"NOT within limits after rounding: {', '.join(failed)}"
        ),
        "- Largest targets: "
        + ", ".join(f"{t} {w:.1%}" for t, w in top.itertuples(index=False)),
    ]
    if plan.notes:
        lines += ["", "Notes:", *(f"- {note}" for note in plan.notes)]
    lines += [
        "",
        "Files: trades.csv, target_weights.csv, risk.csv, constraints.csv, "
        "holdings.csv, config.yaml",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- files


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    write_csv(frame, path, index=False, float_format="%.10g")


def _holdings_table(plan: RebalancePlan) -> pd.DataFrame:
    """The holdings the plan started from, priced, in the input format plus price."""
    held = plan.trades.loc[
        plan.trades["current_shares"] != 0, ["ticker", "current_shares", "price"]
    ].rename(columns={"current_shares": "shares"})
    cash = pd.DataFrame({"ticker": [CASH], "shares": [plan.cash], "price": [1.0]})
    return pd.concat([held, cash], ignore_index=True)


def write_plan(plan: RebalancePlan, out_dir: str | Path, force: bool = False) -> Path:
    """Write the plan into ``out_dir`` atomically; never replace it without force.

    Files: ``trades.csv``, ``target_weights.csv``, ``risk.csv``,
    ``constraints.csv``, ``holdings.csv`` (current shares and prices),
    ``config.yaml`` and ``summary.md``.

    Raises
    ------
    portfolio.output_folder.RunExistsError
        If ``out_dir`` exists and ``force`` is False.
    """
    out = Path(out_dir)
    with staging(out, force=force, kind="plan") as folder:
        _write_csv(plan.trades, folder / "trades.csv")
        _write_csv(plan.weights, folder / "target_weights.csv")
        _write_csv(plan.risk, folder / "risk.csv")
        _write_csv(plan.constraints, folder / "constraints.csv")
        _write_csv(_holdings_table(plan), folder / "holdings.csv")
        (folder / "config.yaml").write_text(dump_config(plan.config))
        (folder / "summary.md").write_text(plan.summary())
    return out
