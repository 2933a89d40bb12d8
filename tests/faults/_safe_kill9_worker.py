"""Child process of tests/faults/test_safe_kill9.py: sells ETH from a Safe through the Uniswap
V3 venue and stops dead at one step of the Safe transaction, waiting to be killed with SIGKILL.

Run as ``python _safe_kill9_worker.py WORKDIR``. Reads ``WORKDIR/cfg.json`` (RPC URL, chain id,
address book, relayer and owner keys, Safe address, venue id, ``stage``), opens the SQLite
store ``WORKDIR/oms.db`` and places one order. At ``stage`` ``owners`` it stops right after the
owners' signatures are recorded (before the relayer signs anything); at ``relayer`` right after
the venue journaled the relayer's signed ``execTransaction`` (before the broadcast). Then it
writes ``WORKDIR/ready.json`` and waits.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from oms_chain.chain.addressbook import AddressBook
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.safe_executor import SafeExecutor
from oms_chain.chain.sender import OnSigned, SentTransaction
from oms_chain.custody.calls import Call
from oms_chain.custody.local import LocalSigner
from oms_chain.custody.safe import SafeAccount, SafeAddresses
from oms_chain.model import Side
from oms_chain.model.ids import client_order_id
from oms_chain.store import open_store
from oms_chain.venues.amm import uniswap_venues
from oms_chain.venues.base import PlaceOrder


async def _stop(workdir: Path, **facts: Any) -> None:
    (workdir / "ready.json").write_text(json.dumps(facts))
    await asyncio.Event().wait()  # until SIGKILL


def _executor_class(workdir: Path, stage: str) -> type[SafeExecutor]:
    class Stopping(SafeExecutor):
        async def execute_calls(
            self,
            calls: Sequence[Call],
            *,
            what: str,
            on_signed: OnSigned | None = None,
            gas_margin: int = 0,
        ) -> SentTransaction:
            if stage == "owners":
                signed = self.log.signed

                def then_stop(tx: Any, signatures: Any) -> None:
                    signed(tx, signatures)
                    raise _Stop("0x" + tx.safe_tx_hash.hex())

                self.log.signed = then_stop  # type: ignore[method-assign]
                try:
                    return await super().execute_calls(calls, what=what, on_signed=on_signed)
                except _Stop as stop:
                    await _stop(workdir, safe_tx_hash=stop.args[0])
                raise AssertionError("unreachable")

            async def journal_then_stop(sent: SentTransaction) -> None:
                assert on_signed is not None
                await on_signed(sent)
                await _stop(workdir, tx_hash=sent.tx_hash)

            return await super().execute_calls(
                calls, what=what, on_signed=journal_then_stop, gas_margin=gas_margin
            )

    return Stopping


class _Stop(Exception):
    pass


async def main(workdir: Path) -> None:
    cfg = json.loads((workdir / "cfg.json").read_text())
    store = open_store(f"sqlite:///{workdir / 'oms.db'}")
    book = AddressBook.from_json(cfg["book"])
    rpc = RpcClient([cfg["rpc_url"]])
    addresses = SafeAddresses(
        singleton=book.address("SafeL2"),
        proxy_factory=book.address("SafeProxyFactory"),
        fallback_handler=book.address("CompatibilityFallbackHandler"),
        multisend_call_only=book.address("MultiSendCallOnly"),
    )
    safe = SafeAccount(rpc, cfg["safe"], int(cfg["chain_id"]), addresses)
    owners = [LocalSigner(k) for k in cfg["owners"]]
    cls = _executor_class(workdir, cfg["stage"])
    venues = uniswap_venues(
        int(cfg["chain_id"]),
        str(cfg["rpc_url"]),
        LocalSigner(cfg["relayer"]),
        store,
        book=book,
        executor=lambda sender: cls(safe, owners, sender, store, rpc=rpc),
    )
    venue = venues.venue(cfg["venue"])
    inst = next(i for i in venue.instruments() if i.symbol == "ETH/USDC")
    await venue.place(
        PlaceOrder(
            client_order_id=client_order_id("safe-kill9", 0),
            instrument=inst,
            side=Side.SELL,
            quantity=Decimal("0.1"),
        )
    )
    raise AssertionError("the worker should have stopped before the broadcast")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
