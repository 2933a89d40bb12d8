"""``oms demo``: the end-to-end demo on a fresh world."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from oms_chain.cli._app import app
from oms_chain.cli._output import console, err_console, print_json


@app.command()
def demo(
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Deploy afresh, ignore saved state.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the outcome (plan, children, fills, balances, audit) as JSON on "
            "stdout; the walk-through goes to stderr.",
        ),
    ] = False,
) -> None:
    """Start the devnet and sell 25 ETH for USDC through the engine, end to end.

    The devnet runs with the exchange simulator; the route plan, the split across the exchange
    and the pools, settlement to final, fills, balances, the per-swap exactness check and the
    audit log are printed.
    """
    from oms_chain.demo import run_demo

    result = run_demo(err_console if as_json else console, fresh=fresh)
    if as_json:
        print_json({**dataclasses.asdict(result), "exact": result.exact})
