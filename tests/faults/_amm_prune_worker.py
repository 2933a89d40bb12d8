"""Child process of tests/faults/test_amm_journal_kill9.py: trades on a real Anvil through the
Uniswap V3 venue with a zero journal retention, then waits to be killed with SIGKILL.

Run as ``python _amm_prune_worker.py WORKDIR`` (see :mod:`kill9_harness`); ``cfg.json`` holds
the RPC URL, chain id, address book, private key and venue id. It sells 0.1 WBTC and mines
until that swap is final (the poll that sees it final prunes it), then turns automine off,
sells 0.1 WBTC again (pending, journaled) and says it is ready with both orders' ids and
transaction hashes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kill9_harness import run_worker

from oms_chain.chain.addressbook import AddressBook
from oms_chain.custody.local import LocalSigner
from oms_chain.model import Side
from oms_chain.model.ids import client_order_id
from oms_chain.store import EventStore
from oms_chain.venues.amm import uniswap_venues
from oms_chain.venues.base import PlaceOrder


def _order(venues: object, vid: str, n: str) -> PlaceOrder:
    venue = venues.venue(vid)  # type: ignore[attr-defined]
    inst = next(i for i in venue.instruments() if i.symbol == "WBTC/USDC")
    return PlaceOrder(
        client_order_id=client_order_id(f"kill9-{n}", 0),
        instrument=inst,
        side=Side.SELL,
        quantity=Decimal("0.1"),
    )


async def prune_one_and_journal_one(cfg: dict[str, Any], store: EventStore) -> dict[str, Any]:
    venues = uniswap_venues(
        int(cfg["chain_id"]),
        str(cfg["rpc_url"]),
        LocalSigner(str(cfg["key"])),
        store,
        book=AddressBook.from_json(cfg["book"]),
    )
    account = venues.account
    account.journal_retention_s = 0.0
    vid = str(cfg["venue"])
    venue = venues.venue(vid)
    first = await venue.place(_order(venues, vid, "a"))
    tx = first.venue_order_id
    rpc = account.rpc
    while account.journal.get(first.client_order_id) is not None:
        await rpc.call("evm_mine", [])
        await account.poll()  # the poll that sees it final prunes it (retention 0)
    await rpc.call("evm_setAutomine", [False])
    second = await venue.place(_order(venues, vid, "b"))
    return {
        "pruned": [first.client_order_id, tx],
        "pending": [second.client_order_id, second.venue_order_id],
        "journal": list(account.journal.entries()),
    }


if __name__ == "__main__":
    run_worker(prune_one_and_journal_one)
