"""``TradingSession(worker_id=...)`` on the devnet (real Anvil, Uniswap pools): the worker
holds its signer's account lease, so a second worker on the same key opens without the chain
and stands by; a queued swap intent is claimed by the holder, sent under the parent's lease
and finished; when the holder drains, the standby takes the account, opens the chain's venues
and works the next swap."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain
from oms_chain.model.ids import OrderId
from oms_chain.service import TradingSession
from oms_chain.service.worker import account_resource
from oms_chain.store import Leases, SqliteEventStore


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
async def test_a_worker_session_owns_its_signer_and_a_standby_on_the_same_key_takes_it_over(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    key = devnet_accounts[6].private_key
    async with (
        _session(oms_devnet, l1, key, url, "a") as a,
        _session(oms_devnet, l1, key, url, "b") as b,
    ):
        account = account_resource(l1.chain_id, a.signer.address)
        assert set(a.worker.fence.accounts) == {account}
        assert set(b.worker.standby) == {account} and not b.worker.fence.accounts
        assert not b.engine.projections.orders and b.chain_ids == a.chain_ids
        store = a.store
        assert isinstance(store, SqliteEventStore)
        leases = Leases(store)
        intent = a.intent("WETH/USDC", "buy", "0.01")
        assert leases.enqueue(intent.intent_id, intent.to_payload(), needs=[account])
        assert not await b.worker.step()  # the account is a's: b claims nothing
        await _work(a, leases)
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

        await a.worker.drain()  # a hands over: b takes the account at its next heartbeat
        second = a.intent("WETH/USDC", "buy", "0.01")
        assert leases.enqueue(second.intent_id, second.to_payload(), needs=[account])
        b.worker._next_beat = 0.0  # its heartbeat is due now (a real-time schedule)
        await _work(b, leases)
        assert b.worker.stats.accounts_joined == 1 and not b.worker.standby
        assert b.worker.fence.accounts[account].token == 2
        assert b.engine.order(OrderId(f"o-{second.intent_id}")).status.value == "filled"
        (send,) = leases.sends(f"parent:{second.intent_id}")
        assert send.owner == "b" and send.token == 1


async def _work(session: TradingSession, leases: Leases) -> None:
    deadline = time.monotonic() + 60
    while leases.open_intents():
        assert time.monotonic() < deadline, "the queued swap did not finish"
        await session.worker.step()
        await asyncio.sleep(0.05)  # polling a real chain, not synchronising the test
