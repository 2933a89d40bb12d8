"""Child process of tests/faults/test_options_fill_kill9.py: buys a put through the on-chain
options venue on a real Anvil whose automine is off, so the fill is signed, journaled and
broadcast but not mined; writes ``WORKDIR/ready.json`` and waits to be killed with SIGKILL.

Run as ``python _options_fill_worker.py WORKDIR`` (see :mod:`kill9_harness`); ``cfg.json`` holds
the RPC URL, chain id, market address, maker URL, private key and series id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kill9_harness import run_worker

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.local import LocalSigner
from oms_chain.model import Side
from oms_chain.model.ids import client_order_id
from oms_chain.store import EventStore
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.options import OnchainOptionsConfig, OnchainOptionsVenue


async def buy_a_put(cfg: dict[str, Any], store: EventStore) -> dict[str, Any]:
    rpc = RpcClient([str(cfg["rpc_url"])])
    account = ChainAccount(rpc, chain_info(int(cfg["chain_id"])), LocalSigner(cfg["key"]), store)
    venue = OnchainOptionsVenue(
        account, OnchainOptionsConfig(market=cfg["market"], makers=(cfg["maker"],))
    )
    await venue.start()
    put = venue.contract(int(cfg["series_id"]))
    report = await venue.place(
        PlaceOrder(
            client_order_id=client_order_id("kill9-put", 0),
            instrument=put,
            side=Side.BUY,
            quantity=Decimal(1),
        )
    )
    return {
        "coid": report.client_order_id,
        "tx": report.venue_order_id,
        "journal": list(account.journal.entries()),
    }


if __name__ == "__main__":
    run_worker(buy_a_put)
