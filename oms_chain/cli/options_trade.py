"""``oms options buy|sell SERIES QTY``: one option order through the engine (risk gate,
events, settlement) on an on-chain market (RFQ to its makers) or a Deribit-protocol exchange,
those of the devnet or of ``--config``'s ``kind = "options"`` venues, with progress and a
result table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from oms_chain.cli._args import (
    ConfigOption,
    DryRunOption,
    JsonOption,
    KeyEnvOption,
    TradeStoreOption,
    YesOption,
    _positive_decimal,
)
from oms_chain.cli._output import _print_plan, err_console
from oms_chain.cli.options import options_app
from oms_chain.model.errors import InvalidInput

_VENUES = ("onchain", "deribit")

SeriesArg = Annotated[
    str,
    typer.Argument(
        metavar="SERIES",
        help="ETH-11DEC26-3000-P (Deribit's naming; WETH on chain) or an on-chain series id.",
    ),
]
QtyArg = Annotated[
    str, typer.Argument(metavar="QTY", help="Quantity in the underlying (e.g. 0.5 ETH).")
]
VenueOpt = Annotated[
    str | None,
    typer.Option(
        "--venue", metavar="VENUE", help="onchain or deribit (default: the first that lists it)."
    ),
]
LimitOpt = Annotated[
    str | None,
    typer.Option(
        "--limit",
        metavar="PRICE",
        help="Limit premium per 1 underlying, in the venue's premium currency (on chain: USDC; "
        "Deribit: the underlying, e.g. 0.0125 ETH).",
    ),
]


def _venue_id(session: Any, venue: str | None) -> str | None:
    """The id of the session's first options venue of kind ``venue`` (onchain / deribit)."""
    if venue is None:
        return None
    from oms_chain.venues.options import DeribitOptionsVenue, OnchainOptionsVenue

    kind = OnchainOptionsVenue if venue == "onchain" else DeribitOptionsVenue
    for vid, v in session.venues().items():
        if isinstance(v, kind):
            return str(vid)
    raise InvalidInput(f"--venue {venue}: the session has no such options venue")


def _trade(
    side: str,
    series: str,
    quantity: str,
    venue: str | None,
    limit: str | None,
    store: str | None,
    key_env: str | None,
    config: Path | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    import asyncio

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from oms_chain.cli._session import (
        _child_rows,
        _live_targets,
        _order_outcome,
        _plan_gate,
        _trading_session,
    )

    qty = _positive_decimal(quantity, "QTY")
    px = None if limit is None else _positive_decimal(limit, "--limit")
    if venue is not None:
        venue = venue.strip().lower()
        if venue not in _VENUES:
            raise InvalidInput(f"--venue must be onchain or deribit, got {venue!r}")
    live: list[str] = []
    if config is not None:
        from oms_chain.engine import load_config

        live = _live_targets(load_config(config), exchange=False, options=True)
        if not dry_run:  # a live target asks first (refused without --yes off a terminal)
            _plan_gate({"command": f"options {side}", "series": series, "live": live},
                       dry_run=False, yes=yes, as_json=as_json)  # fmt: skip
    session, url = _trading_session(
        chain=None,
        store="sqlite:///:memory:" if dry_run else store,  # a dry run writes nothing
        key_env=key_env,
        config=config,
        exchange=False,
        options=True,
    )

    async def run() -> tuple[Any, list[dict[str, Any]]] | dict[str, Any]:
        async with session:
            contract, vid = session.option(series, venue=_venue_id(session, venue))
            from oms_chain.model.intent import Side

            quote = await session.venues()[vid].quote(contract, Side(side), qty)
            plan: dict[str, Any] = {
                "command": f"options {side}",
                "series": series,
                "instrument": contract.symbol,
                "venue": vid,
                "quantity": str(qty),
                "limit_price": None if px is None else str(px),
                "quoted_price": str(quote.avg_price.normalize()),
                "quoted_premium": str((quote.avg_price * qty).normalize()),
                "store": url,
                "live": live,
            }
            if dry_run:
                return plan
            intent = session.intent(
                contract, side, qty, venues=[vid], exchange=False, limit_price=px
            )
            parent = await session.submit(intent)
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task(f"{side} {qty} {contract.symbol} on {vid}", detail="")

                def show(p: Any, kids: list[Any]) -> None:
                    states = [k.settlement.status.value for k in kids if k.settlement is not None]
                    detail = f"{p.status.value}, filled {p.filled_quantity:f}"
                    progress.update(task, detail=detail + (f" ({states[-1]})" if states else ""))

                parent = await session.wait(
                    parent.order_id, timeout=120, poll=0.2, on_progress=show
                )
            return parent, _child_rows(session, parent.order_id)

    out = asyncio.run(run())
    if isinstance(out, dict):
        _print_plan({**out, "dry_run": True}, as_json)
        return
    parent, rows = out
    _order_outcome(parent, rows, as_json, url)


@options_app.command("buy")
def buy_cmd(
    series: SeriesArg,
    quantity: QtyArg,
    venue: VenueOpt = None,
    limit: LimitOpt = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Buy an option through the engine (risk gate, events, settlement), with progress.

    --dry-run asks the venue for a price (an RFQ on chain; nothing is filled or written)."""
    _trade("buy", series, quantity, venue, limit, store, key_env, config, dry_run, yes, as_json)


@options_app.command("sell")
def sell_cmd(
    series: SeriesArg,
    quantity: QtyArg,
    venue: VenueOpt = None,
    limit: LimitOpt = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Sell (write) an option through the engine; on chain the collateral is posted with the
    fill (calls in the underlying, puts in USDC)."""
    _trade("sell", series, quantity, venue, limit, store, key_env, config, dry_run, yes, as_json)


__all__ = ["buy_cmd", "sell_cmd"]
