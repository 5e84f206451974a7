"""A rebalance plan on disk: its files.

`write_plan` saves the plan's tables, the holdings it started from, the config and
the summary (`portfolio.rebalance.record.plan_summary`) into a new folder
atomically (`portfolio.output_folder.staging`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from foliocast.data.csv_safety import write_csv
from foliocast.portfolio.config import dump_config
from foliocast.portfolio.output_folder import staging
from foliocast.portfolio.rebalance.holdings import CASH
from foliocast.portfolio.rebalance.record import RebalancePlan

__all__ = ["write_plan"]


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
