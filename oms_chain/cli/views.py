"""``oms orders`` and ``oms tx status``: what the event store and the chain say."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.table import Table

from oms_chain.cli._app import _devnet_url, app, tx_app
from oms_chain.cli._args import (
    JsonOption,
    RpcUrlOption,
    StoreOption,
    _bounded_int,
    _parser,
    _tx_hash,
)
from oms_chain.cli._output import _short_price, console, print_fields, print_json
from oms_chain.model.errors import InvalidInput


def _open_existing_store(url: str) -> Any:
    from oms_chain.store import open_store
    from oms_chain.store.url import redact_url

    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InvalidInput(f"no event store at {path} (check --store)")
    import sqlite3

    try:
        return open_store(url)
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{redact_url(url)} is not an event store ({exc})") from None


def _order_row(o: Any, algo: str | None = None) -> dict[str, Any]:
    st = o.settlement
    return {
        "order_id": o.order_id,
        "instrument": o.instrument.symbol,
        "side": o.side.value,
        "quantity": str(o.quantity),
        "filled": str(o.filled_quantity),
        "avg_price": None if o.avg_fill_price is None else str(o.avg_fill_price),
        "status": o.status.value,
        "venue": o.venue,
        "client_order_id": o.client_order_id,
        "settlement": None
        if st is None
        else {
            "status": st.status.value,
            "tx_hash": st.tx_hash,
            "block": st.block_number,
            "confirmations": st.confirmations,
        },
        "algo": algo,
        "reason": o.reason,
    }


@app.command()
def orders(
    store: StoreOption,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only parents that are still working.")
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help="Show the last N parents (1-100000).",
            metavar="N",
            parser=_parser(_bounded_int, "--limit", 1, 100_000),
        ),
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """Parent orders with their children (venue, fills, settlement), from the event store."""
    from oms_chain.model.events import event_from_payload
    from oms_chain.store.projections import Projections

    if limit <= 0:
        raise InvalidInput(f"--limit must be positive, got {limit}")
    proj = Projections()
    with _open_existing_store(store) as es:
        for rec in es.read_all():
            proj.apply(event_from_payload(rec.event_type, rec.version, rec.payload))
    parents = [o for o in proj.orders.values() if o.parent_id is None]
    if open_only:
        parents = [o for o in parents if not o.is_terminal]
    parents = parents[-limit:]
    rows = []
    for p in parents:
        intent = proj.intent_data.get(p.intent_id)
        algo = intent.algo if intent is not None else None
        row = _order_row(p, algo)
        row["algo_state"] = proj.algo_states.get(p.order_id)
        row["children"] = [_order_row(proj.orders[c]) for c in p.children]
        rows.append(row)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} parent orders" + (" (open)" if open_only else ""))
    for col in ("order", "side", "instrument", "qty", "filled", "avg px", "status", "venue / algo"):
        table.add_column(col, justify="right" if col in ("qty", "filled", "avg px") else "left")
    for row in rows:
        algo = row["algo"] or ""
        if row["algo_state"] and algo != "direct":
            algo += f" ({row['algo_state']})"
        table.add_row(
            f"[bold]{row['order_id']}[/]",
            row["side"],
            row["instrument"],
            row["quantity"],
            row["filled"],
            _short_price(row["avg_price"]),
            row["status"],
            algo,
        )
        for child in row["children"]:
            st = child["settlement"]
            where = child["venue"] or ""
            if st is not None:
                where += f" tx {st['status']}"
                if st["confirmations"]:
                    where += f"({st['confirmations']})"
            table.add_row(
                f"  └ {child['order_id']}",
                "",
                "",
                child["quantity"],
                child["filled"],
                _short_price(child["avg_price"]),
                child["status"],
                where,
            )
    console.print(table)


@tx_app.command("status")
def tx_status(
    tx_hash: Annotated[
        str, typer.Argument(metavar="TX_HASH", help="Transaction hash (0x + 64 hex).")
    ],
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Settlement state of a transaction: pending, included, confirmed(n) or final."""
    import asyncio

    from oms_chain.chain.registry import ChainInfo, chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.tracker import lookup_settlement
    from oms_chain.model.ids import TxHash

    tx_hash = _tx_hash(tx_hash)
    url = rpc_url or _devnet_url(None)

    async def lookup() -> Any:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            try:
                info = chain_info(chain_id)
            except InvalidInput:
                info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
            return info, await lookup_settlement(rpc, info, TxHash(tx_hash))

    info, report = asyncio.run(lookup())
    row = {
        "tx_hash": report.tx_hash,
        "chain": f"{info.name} ({info.chain_id})",
        "status": report.status.value,
        "confirmations": report.confirmations,
        "final_after": info.final_confirmations,
        "block": report.block_number,
        "succeeded": report.succeeded,
        "detail": report.detail,
    }
    if as_json:
        print_json(row)
        return
    print_fields("transaction settlement", row)
