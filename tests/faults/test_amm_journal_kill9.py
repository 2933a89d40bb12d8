"""Journals bounded, and a kill -9: an AMM order pruned after it became final stays gone, the
pending one the process journaled just before it was killed comes back and lands once, and the
store's seals say nothing was tampered with."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))

from amm_chain_helpers import erc20, transact
from kill9_harness import kill_when_ready
from test_amm_venue import balance, devnet_venues, settle, store_at

from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.amm_orders import AmmOrderState
from oms_chain.store import state_problems
from oms_chain.venues.amm.approvals import MAX_UINT256

WORKER = Path(__file__).with_name("_amm_prune_worker.py")


async def test_a_kill_9_after_pruning_keeps_only_the_pending_order_and_it_lands_once(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], tmp_path: Path
) -> None:
    trader = devnet_accounts[8]
    router = l1.book.address("SwapRouter")
    transact(l1, erc20(l1, "WBTC").functions.approve(router, MAX_UINT256), trader.address)
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    cfg = {
        "rpc_url": l1.rpc_url,
        "chain_id": l1.chain_id,
        "book": l1.book.to_json(),
        "key": trader.private_key,
        "venue": vid,
    }
    before = balance(l1, "WBTC", trader.address)
    try:
        ready = kill_when_ready(WORKER, tmp_path, cfg, seconds=60.0)
        pruned_coid, pruned_tx = ready["pruned"]
        coid, tx = ready["pending"]
        assert ready["journal"] == [coid]  # the worker had pruned the final order

        store = store_at(tmp_path)
        assert state_problems(store) == []  # deltas and deleted rows: every seal holds
        async with devnet_venues(l1, trader.private_key, store) as venues:
            account = venues.account
            assert list(account.journal.entries()) == [coid]
            assert account.journal.state(coid) is AmmOrderState.PENDING
            assert account.tracker.open == [tx]
            assert not account.is_tracked(pruned_tx)
            assert await venues.venue(vid).status(pruned_coid) is None
            l1.process.mine(1)
            landed = await settle(venues, vid, coid)
            assert landed.fills[0].quantity == Decimal("0.1")
        store.close()
    finally:
        l1.process.rpc("evm_setAutomine", [True])
    assert before - balance(l1, "WBTC", trader.address) == 2 * 10**7  # each swap exactly once
