"""``oms demo``: the end-to-end demo on a fresh world."""

from __future__ import annotations

from typing import Annotated

import typer
import typer.main

from oms_chain.cli._app import app
from oms_chain.cli._output import console


@app.command()
def demo(
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Deploy afresh, ignore saved state.")
    ] = False,
) -> None:
    """Start the devnet and sell 25 ETH for USDC through the engine, end to end.

    The devnet runs with the exchange simulator; the route plan, the split across the exchange
    and the pools, settlement to final, fills, balances, the per-swap exactness check and the
    audit log are printed.
    """
    from oms_chain.demo import run_demo

    run_demo(console, fresh=fresh)
