"""Workers woken by the queue's ``NOTIFY`` on a real PostgreSQL server instead of polling it:
an idle worker's rounds touch no database, and an intent enqueued from another session wakes
it and is claimed at once."""

from __future__ import annotations

import asyncio
import select
from decimal import Decimal
from typing import Any

from oms_chain.engine import Engine
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.model.ids import IntentId
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.service.worker import LeaseFence, Worker
from oms_chain.store import PostgresEventStore, SqliteEventStore, open_store
from oms_chain.store.leases import Leases
from oms_chain.venues import PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
S = 1_000_000_000
WAIT_S = 60  # an upper bound on a committed notification's delivery, not a sleep


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], WAIT_S)[0])


def test_enqueue_and_release_notify_a_listener_and_a_heartbeat_does_not(
    postgres_url: str,
) -> None:
    with open_store(postgres_url) as store, open_store(postgres_url) as other:
        assert isinstance(store, PostgresEventStore)
        assert isinstance(other, PostgresEventStore)
        listener = Leases(store).listener()
        assert listener is not None
        try:
            leases = Leases(other)
            assert listener.drain() == 0
            leases.enqueue("n1", {"k": 1})
            assert _readable(listener.fileno()) and listener.drain() == 1
            (item,) = leases.claim("w", ttl_ns=60 * S)
            lease = leases.heartbeat(item.lease, ttl_ns=60 * S)  # no new work: no notification
            assert leases.release(lease)  # a released parent is claimable: notified
            assert _readable(listener.fileno()) and listener.drain() == 1
            assert not leases.enqueue("n1", {"k": 1})  # a retried enqueue adds nothing
            leases.try_acquire("account:1:0xa", "w", ttl_ns=60 * S)
            (again,) = leases.claim("w", ttl_ns=60 * S)
            leases.finish(again.lease, "filled")
            leases.enqueue("n2", {"k": 2})  # the marker: everything before it was silent
            assert _readable(listener.fileno()) and listener.drain() == 1
        finally:
            listener.close()
    with SqliteEventStore(":memory:") as lite:
        assert Leases(lite).listener() is None  # SQLite: workers poll


async def test_an_idle_listening_worker_claims_only_when_work_is_announced(
    postgres_url: str,
) -> None:
    clock = ManualClock()
    venue = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(2000)})
    with open_store(postgres_url) as store, open_store(postgres_url) as other:
        assert isinstance(store, PostgresEventStore)
        assert isinstance(other, PostgresEventStore)
        leases = Leases(store)
        claims: list[int] = []
        claim = leases.claim

        def counted(*args: Any, **kw: Any) -> Any:
            found = claim(*args, **kw)
            claims.append(len(found))
            return found

        leases.claim = counted  # type: ignore[method-assign]
        fence = LeaseFence(leases, "w", ttl_ns=600 * S)  # no heartbeat round in this test
        engine = Engine(
            store=store,
            venues=[venue],
            risk=RiskGate(RiskLimits(), clock=clock),
            clock=clock,
            fence=fence,
        )
        engine.set_reference_price(PAIR.id, Decimal(2000))
        await engine.start()
        worker = Worker(engine, leases, fence, poll_s=0.001)
        worker._open_listener()
        assert worker._listener is not None
        try:
            for _ in range(50):  # idle rounds: one claim (the first round), then none
                assert not await worker.step()
            assert claims == [0]
            intent = Intent.create(
                intent_id="n1",
                account="acct",
                instrument=PAIR,
                side="buy",
                quantity="1",
                venues=["paper"],
                now_ns=clock.now_ns(),
                max_slippage_bps=50,
            )
            Leases(other).enqueue("n1", intent.to_payload())  # another process's enqueue
            await asyncio.wait_for(worker._wake.wait(), WAIT_S)
            assert await worker.step()
            assert claims == [0, 1]
            assert engine.order(engine.projections.intents[IntentId("n1")]).filled_quantity == 1
        finally:
            worker._close_listener()
            await worker.drain()
            await engine.stop()
