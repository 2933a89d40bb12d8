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
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="After the story, keep the devnet, the API and the dashboard up on a loopback "
            "port (URL and a devnet trading token printed) until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Start the devnet and tell the story end to end, every step checked.

    1. sell 25 ETH for USDC through the engine, split across the exchange simulator and the
    pools (plan, saving vs the best single venue, settlement to final, fills, balances, every
    swap equal to the protocol's quote to the wei); an iron condor priced, then opened
    atomically on the OptionsMarket (one BatchExecutor transaction, legs and Greeks); a put
    bought by an EIP-712 quote, settled and redeemed to the base unit; one option on the
    Deribit-protocol exchange through ccxt; the portfolio's Greeks, VaR / ES, margin and
    liquidation prices; a Safe 2-of-3 MultiSend and one engine trade from the Safe (``safe``
    extra); a FROST 2-of-3 transfer and one engine trade from the group (``threshold``
    extra); a TWAP on the L2; the hedger on a price jump; an injected reorg; the dashboard;
    the HTML report; the audit log verified. A failed check ends the demo with an error
    naming the step; ``--serve`` then keeps the dashboard up.
    """
    from oms_chain.demo import run_demo

    result = run_demo(
        err_console if as_json else console,
        fresh=fresh,
        with_deribit=not no_deribit,
        serve=serve,
    )
    if as_json:
        print_json({**dataclasses.asdict(result), "exact": result.exact})
