"""``TradingSession(worker_id=...)`` on the devnet (real Anvil, Uniswap pools): the worker
holds its signer's account lease, so a second worker on the same key is refused naming the
first; a queued swap intent is claimed, sent under the parent's lease and finished."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain
from oms_chain.model.ids import OrderId
from oms_chain.service import TradingSession
from oms_chain.store import Leases, SqliteEventStore
from oms_chain.store.leases import LeaseLost


def _session(devnet: Devnet, chain: DevnetChain, key: str, url: str, name: str) -> TradingSession:
    return TradingSession.from_devnet_runtime(
        devnet.describe(),
        url,
        key,
        chain_ids=[chain.chain_id],
        with_exchange=False,
        poll_interval=0.05,
        worker_id=name,
        lease_ttl_s=30.0,
    )


@pytest.mark.timeout(120)
async def test_a_worker_session_owns_its_signer_and_works_a_queued_swap(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    key = devnet_accounts[6].private_key
    async with _session(oms_devnet, l1, key, url, "a") as a:
        with pytest.raises(LeaseLost, match="held by worker 'a'"):
            async with _session(oms_devnet, l1, key, url, "b"):
                pass
        store = a.store
        assert isinstance(store, SqliteEventStore)
        leases = Leases(store)
        intent = a.intent("WETH/USDC", "buy", "0.01")
        assert leases.enqueue(intent.intent_id, intent.to_payload())
        deadline = time.monotonic() + 60
        while leases.open_intents():
            assert time.monotonic() < deadline, "the queued swap did not finish"
            await a.worker.step()
            await asyncio.sleep(0.05)
        parent = a.engine.order(OrderId(f"o-{intent.intent_id}"))
        kids = [(c.order_id, c.status.value, c.venue) for c in a.children(parent.order_id)]
        events = [
            (r.event_type, r.payload.get("reason")) for r in store.read_stream(parent.order_id)
        ]
        assert parent.status.value == "filled", (kids, events)
        (send,) = leases.sends(f"parent:{intent.intent_id}")
        assert send.owner == "a" and send.token == 1
        fence = a.worker.fence  # the pools' sends were fenced by the signer's account too
        assert fence.venue_accounts and set(fence.venue_accounts.values()) == set(fence.accounts)
        assert a.worker.stats.finished == 1
