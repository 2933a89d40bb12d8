"""The route plan of the demo's sale: as JSON-ready data and as a table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from oms_chain.demo_steps._base import _usdc
from oms_chain.routing import RoutePlan


def _plan_dict(plan: RoutePlan) -> dict[str, Any]:
    return {
        "legs": [
            {"venue": str(leg.venue), "amount_in": leg.amount_in, "amount_out": leg.amount_out}
            for leg in plan.legs
        ],
        "expected_output": plan.expected_output,
        "net_output": plan.net_output,
        "best_single": None if plan.best_single is None else plan.best_single.name,
        "vs_best_single_bps": plan.vs_best_single_bps,
    }


def _print_plan(console: Console, plan: RoutePlan, amount_eth: Decimal, where: str) -> None:
    table = Table(title=f"Route plan: sell {amount_eth} ETH for USDC ({where})")
    for col in ("venue", "kind", "ETH in", "USDC out (expected)", "gas (USDC)"):
        table.add_column(col, justify="left" if col in ("venue", "kind") else "right")
    for leg in plan.legs:
        table.add_row(
            str(leg.venue),
            leg.kind,
            f"{Decimal(leg.amount_in).scaleb(-18):,.4f}",
            _usdc(leg.amount_out),
            _usdc(leg.fixed_cost),
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{Decimal(plan.amount_in).scaleb(-18):,.4f}",
        _usdc(plan.expected_output),
        _usdc(plan.gas_cost),
    )
    console.print(table)
    line = f"net output after gas: {_usdc(plan.net_output)} USDC"
    if plan.best_single is not None:
        line += f"; vs best single venue ({plan.best_single.name}): {plan.vs_best_single_bps:+} bps"
    console.print(line)
