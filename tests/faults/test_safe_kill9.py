"""A Safe order killed with SIGKILL between the owners' signatures and the execution is sent at
most once: killed before the relayer signed, nothing went out and the order placed again takes
the same Safe nonce; killed after the relayer's bytes were journaled, the restarted account
broadcasts those same bytes once and the next order takes the next Safe nonce."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "safe"))

from safe_rig import OWNERS, RELAYER, create_safe, safe_venues
from test_amm_venue import settle

from oms_chain.custody.safe.proposals import read_proposals
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.ids import client_order_id
from oms_chain.model.intent import Side
from oms_chain.store import open_store
from oms_chain.venues.base import PlaceOrder

WORKER = Path(__file__).with_name("_safe_kill9_worker.py")
TENTH = 10**17


def _run_until_ready(tmp_path: Path) -> dict[str, str]:
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", str(WORKER), str(tmp_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    ready = tmp_path / "ready.json"
    try:
        end = time.monotonic() + 120.0
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"worker not ready: {(tmp_path / 'worker.log').read_text()}")
            time.sleep(0.05)  # waiting on another process's file, not synchronising our own code
    finally:
        log.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return json.loads(ready.read_text())  # type: ignore[no-any-return]


def _order(venues: object, vid: str, n: str) -> PlaceOrder:
    venue = venues.venue(vid)  # type: ignore[attr-defined]
    inst = next(i for i in venue.instruments() if i.symbol == "ETH/USDC")
    return PlaceOrder(
        client_order_id=client_order_id(n, 0),
        instrument=inst,
        side=Side.SELL,
        quantity=Decimal("0.1"),
    )


@pytest.mark.parametrize("stage", ["owners", "relayer"])
async def test_a_safe_order_killed_between_signing_and_execution_is_sent_once(
    l1: DevnetChain, tmp_path: Path, stage: str
) -> None:
    safe = await create_safe(l1, salt=1500 + len(stage), eth=10**18)
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    cfg = {
        "rpc_url": l1.rpc_url,
        "chain_id": l1.chain_id,
        "book": l1.book.to_json(),
        "relayer": l1.accounts[RELAYER].private_key,
        "owners": [l1.accounts[i].private_key for i in OWNERS[:2]],
        "safe": safe,
        "venue": vid,
        "stage": stage,
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    relayer = l1.accounts[RELAYER].address
    relayer_nonce = l1.w3.eth.get_transaction_count(relayer)
    before = l1.w3.eth.get_balance(safe)
    ready = _run_until_ready(tmp_path)
    # the worker stopped before any broadcast: the chain has seen nothing
    assert l1.w3.eth.get_transaction_count(relayer) == relayer_nonce
    assert l1.w3.eth.get_balance(safe) == before

    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    venues, rpc = safe_venues(l1, safe, store)
    coid = client_order_id("safe-kill9", 0)
    try:
        venue = venues.venue(vid)
        executor = venues.account.executor
        await executor.reconcile()
        if stage == "owners":
            (abandoned,) = read_proposals(store, safe=safe)
            assert abandoned.safe_tx_hash == ready["safe_tx_hash"]
            assert abandoned.execution is None and len(abandoned.signers) == 2
            assert await venue.status(coid) is None  # provably never sent
            await venue.place(_order(venues, vid, "safe-kill9"))
            await settle(venues, vid, coid)
            proposals = read_proposals(store, safe=safe)
            assert [p.nonce for p in proposals] == [0, 0]  # the unsent nonce was reused
            assert proposals[0].execution is None and proposals[1].execution is not None
            spent = TENTH
        else:
            (journaled,) = read_proposals(store, safe=safe)
            assert journaled.execution is not None
            assert journaled.execution.tx_hash == ready["tx_hash"]
            landed = await settle(venues, vid, coid)  # the tracker broadcasts the journaled bytes
            assert landed.settlement is not None
            assert landed.settlement.tx_hash == ready["tx_hash"]
            await venue.place(_order(venues, vid, "safe-kill9-next"))
            await settle(venues, vid, client_order_id("safe-kill9-next", 0))
            proposals = read_proposals(store, safe=safe)
            assert [p.nonce for p in proposals] == [0, 1]
            spent = 2 * TENTH
    finally:
        await venues.close()
        await rpc.close()
        store.close()
    assert before - l1.w3.eth.get_balance(safe) == spent  # each order exactly once
    n_sent = 1 if stage == "owners" else 2
    assert l1.w3.eth.get_transaction_count(relayer) == relayer_nonce + n_sent


async def test_a_pending_safe_order_cancelled_by_the_relayer_frees_its_safe_nonce(
    l1: DevnetChain, tmp_path: Path
) -> None:
    import asyncio

    from oms_chain.model.orders import SettlementStatus
    from oms_chain.venues.base import VenueOrderStatus

    safe = await create_safe(l1, salt=1510, eth=10**18)
    before = l1.w3.eth.get_balance(safe)
    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    venues, rpc = safe_venues(l1, safe, store)
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    l1.process.rpc("evm_setAutomine", [False])
    try:
        venue = venues.venue(vid)
        placed = await venue.place(_order(venues, vid, "safe-cancelled"))
        cancelling = asyncio.create_task(venue.cancel(placed.client_order_id))
        for _ in range(100):  # the cancellation is in the pool
            entry = venues.account.journal.get(placed.client_order_id)
            if entry and entry.get("cancel"):
                break
            await asyncio.sleep(0.02)
        l1.process.mine(1)
        done = await cancelling
        assert done.status is VenueOrderStatus.CANCELLED
        assert done.settlement is not None and done.settlement.status is SettlementStatus.REPLACED
        assert await venues.account.executor.account_nonce() == 0  # the Safe ran nothing
        l1.process.rpc("evm_setAutomine", [True])
        await venue.place(_order(venues, vid, "safe-after-cancel"))
        await settle(venues, vid, client_order_id("safe-after-cancel", 0))
        assert [p.nonce for p in read_proposals(store, safe=safe)] == [0, 0]  # nonce reused
        assert await venues.account.executor.account_nonce() == 1
    finally:
        l1.process.rpc("evm_setAutomine", [True])
        await venues.close()
        await rpc.close()
        store.close()
    assert before - l1.w3.eth.get_balance(safe) == TENTH  # only the second order ran
