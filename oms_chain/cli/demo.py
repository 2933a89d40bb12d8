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
            help="Print the outcome (plan, children, fills, balances, audit, and every step "
            "with its checks and numbers) as JSON on stdout; the walk-through goes to stderr.",
        ),
    ] = False,
    no_deribit: Annotated[
        bool,
        typer.Option(
            "--no-deribit",
            help="Do not start the Deribit-protocol exchange (its step is then skipped).",
        ),
    ] = False,
) -> None:
    """Start the devnet and tell the story end to end, every step checked.

    1. sell 25 ETH for USDC through the engine, split across the exchange simulator and the
    pools (plan, saving vs the best single venue, settlement to final, fills, balances, every
    swap equal to the protocol's quote to the wei); 2. an iron condor priced before trading;
    3. a put bought on the OptionsMarket by an EIP-712 quote, settled and redeemed to the base
    unit; 4. one option bought on the Deribit-protocol exchange through ccxt; 5. the portfolio's
    Greeks, VaR / ES, margin and liquidation prices; 6. a Safe 2-of-3 MultiSend (``safe``
    extra); 7. a FROST 2-of-3 transfer (``threshold`` extra); 8. the audit log verified.
    A failed check ends the demo with an error naming the step.
    """
    from oms_chain.demo import run_demo

    result = run_demo(err_console if as_json else console, fresh=fresh, with_deribit=not no_deribit)
    if as_json:
        print_json({**dataclasses.asdict(result), "exact": result.exact})
