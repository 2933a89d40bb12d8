"""Workers on one SQLite store: claims, fenced sends, a paused worker refused after a take-over,
the new holder finishing the parent, and the journal reading other writers' events.

Time is injected: the engines run on a manual clock and sleeper, the leases on a clock of their
own, so a lease can expire while the algorithm's schedule stands still.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oms_chain.algos import ManualSleeper
from oms_chain.engine import Engine
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import OrderId
from oms_chain.risk import RiskGate, RiskLimits, TradingState
from oms_chain.service.worker import LeaseFence, Worker
from oms_chain.store import Leases, SqliteEventStore, open_store, verify_audit
from oms_chain.store.errors import ConcurrencyConflict, InvalidEvent
from oms_chain.store.leases import LeaseLost
from oms_chain.venues import PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
PRICE = Decimal(2000)
S = 1_000_000_000
TTL = 15 * S


class Node:
    """One worker: its own store handle, leases, fence, engine and worker loop."""

    def __init__(
        self,
        name: str,
        path: Path,
        clock: ManualClock,
        sleeper: ManualSleeper,
        lease_clock: ManualClock,
        venue: PaperVenue,
    ) -> None:
        store = open_store(f"sqlite:///{path}")
        assert isinstance(store, SqliteEventStore)
        self.store = store
        self.leases = Leases(store, clock=lease_clock.now_ns)
        self.fence = LeaseFence(self.leases, name, ttl_ns=TTL)
        self.engine = Engine(
            store=store,
            venues=[venue],
            risk=RiskGate(RiskLimits(), clock=clock),
            clock=clock,
            sleeper=sleeper,
            fence=self.fence,
        )
        self.engine.set_reference_price(PAIR.id, PRICE)
        self.worker = Worker(self.engine, self.leases, self.fence)

    async def close(self) -> None:
        await self.engine.stop()
        self.store.close()


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "oms.db"
        self.clock = ManualClock()
        self.lease_clock = ManualClock()
        self.sleeper = ManualSleeper(self.clock)
        self.venue = PaperVenue("paper", clock=self.clock, prices={PAIR.id: PRICE})

    def node(self, name: str) -> Node:
        return Node(name, self.path, self.clock, self.sleeper, self.lease_clock, self.venue)

    def intent(self, intent_id: str, **kw: object) -> Intent:
        args: dict[str, object] = dict(
            intent_id=intent_id,
            account="acct",
            instrument=PAIR,
            side="buy",
            quantity="1",
            venues=["paper"],
            now_ns=self.clock.now_ns(),
            max_slippage_bps=50,
        )
        return Intent.create(**(args | kw))  # type: ignore[arg-type]

    def twap(self, intent_id: str) -> Intent:
        return self.intent(
            intent_id, quantity="4", algo="twap", algo_params={"duration": "40s", "slices": 4}
        )


async def test_a_paused_worker_is_refused_on_its_next_send_and_the_taker_finishes(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a = rig.node("a")
    await a.engine.start()
    intent = rig.twap("t1")
    assert a.leases.enqueue("t1", intent.to_payload())
    assert await a.worker.step()
    await rig.sleeper.settle()
    pid = OrderId("o-t1")
    assert a.fence.owns(pid) and a.engine.runs_parent(pid)
    assert sum(rig.venue.received().values()) == 1  # the first slice, sent under epoch 1

    # a stops heartbeating (SIGSTOP) past its lease; b takes the parent over
    rig.lease_clock.advance(TTL + S)
    b = rig.node("b")
    (claimed,) = b.leases.claim("b", ttl_ns=TTL)
    assert claimed.lease.taken_over_from == "a" and claimed.lease.token == 2

    # a wakes up for its second slice: the store refuses the send, nothing leaves
    await rig.sleeper.advance_to(rig.clock.now_ns() + 10 * S)
    await rig.sleeper.settle()
    assert sum(rig.venue.received().values()) == 1
    (refusal,) = a.fence.refused
    assert "fencing token 1 for 'parent:t1' is stale" in refusal
    assert "held by 'b'" in refusal
    assert not a.fence.owns(pid) and not a.engine.runs_parent(pid)
    assert [s.token for s in b.leases.sends("parent:t1")] == [1]
    await a.close()

    # b works it from what the store and the venue say, and finishes it
    b.leases.release(claimed.lease)
    await b.engine.start()
    assert await b.worker.step()
    assert b.worker.stats.taken_over == 1
    for _ in range(8):
        await rig.sleeper.advance_to(rig.clock.now_ns() + 10 * S)
        await rig.sleeper.settle()
    await b.worker.step()
    parent = b.engine.order(pid)
    assert parent.filled_quantity == Decimal(4)
    assert b.leases.open_intents() == 0
    assert all(n == 1 for n in rig.venue.received().values())  # no client order id sent twice
    sends = b.leases.sends("parent:t1")
    assert len(sends) == sum(rig.venue.received().values())
    assert {s.token for s in sends[1:]} == {3}
    assert verify_audit(b.store).ok
    await b.close()


async def test_two_engines_on_one_store_read_each_other_and_share_the_engine_stream(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a, b = rig.node("a"), rig.node("b")
    await a.engine.start()
    await b.engine.start()
    a.leases.enqueue("t1", rig.twap("t1").to_payload())
    await a.worker.step()
    await rig.sleeper.settle()
    pid = OrderId("o-t1")
    assert pid not in b.engine.projections.orders
    assert b.engine.catch_up() > 0
    assert b.engine.order(pid).quantity == Decimal(4)
    assert not b.engine.runs_parent(pid)  # another worker's parent: read, never worked
    # both write the engine-wide stream from stale versions: each is recorded once
    a.engine.set_trading_state(TradingState.REDUCING, "a says")
    b.engine.set_trading_state(TradingState.ACTIVE, "b says")
    states = [
        r.payload["reason"]
        for r in a.store.read_stream("engine")
        if r.event_type == "TradingStateChanged"
    ]
    assert states == ["a says", "b says"]
    assert a.engine.save_snapshot()  # a's commits are contiguous: a fold of a store prefix
    a.engine.set_trading_state(TradingState.ACTIVE, "a again")
    assert not a.engine.save_snapshot()  # b's event lies unread between a's own: none
    assert a.engine.catch_up() == 1
    assert a.engine.save_snapshot()
    assert verify_audit(a.store).ok
    await a.close()
    await b.close()


def test_bad_worker_arguments_name_them(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    a = rig.node("a")
    with pytest.raises(InvalidInput, match="max_parents"):
        Worker(a.engine, a.leases, a.fence, max_parents=0)
    with pytest.raises(InvalidInput, match="poll_s"):
        Worker(a.engine, a.leases, a.fence, poll_s=-1)
    with pytest.raises(InvalidInput, match="fence"):
        Engine(
            store=a.store,
            venues=[rig.venue],
            risk=RiskGate(RiskLimits(), clock=rig.clock),
            clock=rig.clock,
            fence=object(),  # type: ignore[arg-type]
        )
    a.store.close()


async def test_one_worker_per_signer_and_chain_the_account_moves_when_its_holder_dies(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a, b = rig.node("a"), rig.node("b")
    account = "account:31337:0xabc"
    a.fence.hold_account(account)
    with pytest.raises(LeaseLost, match="held by worker 'a'"):
        b.fence.hold_account(account)
    rig.lease_clock.advance(TTL + S)  # a died: its lease ran out unrenewed
    assert b.fence.hold_account(account).token == 2
    await a.engine.start()
    assert not await a.worker.step()  # its heartbeat finds the account gone: it stops
    assert a.fence.account_lost is not None and "held by 'b'" in a.fence.account_lost
    await a.worker.run()  # drains at once (stop was asked)
    await a.close()
    b.store.close()


async def test_a_worker_paused_before_recording_its_parent_cannot_create_it_twice(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a, b = rig.node("a"), rig.node("b")
    await a.engine.start()
    await b.engine.start()
    intent = rig.intent("d1")
    a.leases.enqueue("d1", intent.to_payload())
    (claimed,) = a.leases.claim("a", ttl_ns=TTL)  # a claims, then pauses before submitting
    a.fence.hold(OrderId("o-d1"), claimed.lease)
    rig.lease_clock.advance(TTL + S)
    assert await b.worker.step()  # b takes the lease and submits: the order fills
    assert b.engine.order(OrderId("o-d1")).filled_quantity == Decimal(1)
    rig.clock.advance(S)  # (the same events at the same instant would be an idempotent retry)
    with pytest.raises(ConcurrencyConflict):  # a wakes up and submits from its stale view
        await a.engine.submit(intent)
    assert a.engine.catch_up() > 0  # and reads b's events without a second initialization
    assert sum(rig.venue.received().values()) == 1
    assert verify_audit(a.store).ok
    await a.close()
    await b.close()


async def test_a_paused_workers_cancel_and_amend_are_refused_and_never_reach_the_venue(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a, b = rig.node("a"), rig.node("b")
    await a.engine.start()
    await b.engine.start()
    a.leases.enqueue("r1", rig.intent("r1", limit_price="1900").to_payload())  # rests
    assert await a.worker.step()
    pid = OrderId("o-r1")
    (child,) = a.engine.projections.children(a.engine.order(pid))
    coid = child.client_order_id
    assert coid is not None and not child.is_terminal
    await a.engine.amend(pid, limit_price=Decimal(1950))  # a holds the parent: it goes out
    assert (await rig.venue.status(coid)).limit_price == Decimal(1950)  # type: ignore[union-attr]

    # a pauses past its lease; b takes the parent over
    rig.lease_clock.advance(TTL + S)
    assert await b.worker.step()
    assert b.fence.held[pid].token == 2

    # a wakes up: its amend and its cancel are refused by the store, nothing leaves
    with pytest.raises(LeaseLost, match="fencing token 1 for 'parent:r1' is stale"):
        await a.engine.amend(pid, limit_price=Decimal(1960))
    assert "held by 'b'" in a.fence.refused[0]
    assert not a.fence.owns(pid)
    with pytest.raises(LeaseLost, match="holds no lease on parent o-r1"):
        await a.engine.cancel(pid)
    status = await rig.venue.status(coid)
    assert status is not None and not status.status.is_terminal
    assert status.limit_price == Decimal(1950)

    # the holder's cancel is recorded under its own epoch and goes out
    b.engine.catch_up()
    assert (await b.engine.cancel(pid)).is_terminal
    sends = [(s.send_id, s.token) for s in b.leases.sends("parent:r1")]
    assert sorted(sends) == [(f"amend:{coid}:1:1950@1", 1), (f"cancel:{coid}@2", 2), (coid, 1)]
    assert verify_audit(b.store).ok
    await a.close()
    await b.close()


async def test_a_send_is_fenced_by_its_account_lease_too_when_nobody_took_the_parent(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a, b = rig.node("a"), rig.node("b")
    account = "account:31337:0xabc"
    a.fence.hold_account(account)
    a.fence.bind_venues(account, ["paper"])  # its sends use that account's nonces
    with pytest.raises(InvalidInput, match="not held"):
        b.fence.bind_venues(account, ["paper"])
    await a.engine.start()
    a.leases.enqueue("t1", rig.twap("t1").to_payload())
    assert await a.worker.step()
    await rig.sleeper.settle()
    assert sum(rig.venue.received().values()) == 1
    (first,) = a.leases.sends("parent:t1")
    assert first.token == 1

    # a pauses past its ttl; b starts on the same signer and takes the account, not the parent
    rig.lease_clock.advance(TTL + S)
    assert b.fence.hold_account(account).token == 2

    # a wakes for its next slice: the account lease (checked with the parent's) refuses it
    await rig.sleeper.advance_to(rig.clock.now_ns() + 10 * S)
    await rig.sleeper.settle()
    assert sum(rig.venue.received().values()) == 1  # nothing left with the old nonce sequence
    assert a.fence.account_lost is not None
    assert f"fencing token 1 for {account!r} is stale" in a.fence.account_lost
    assert "held by 'b'" in a.fence.account_lost
    assert not a.engine.runs_parent(OrderId("o-t1"))
    assert len(a.leases.sends("parent:t1")) == 1
    assert not await a.worker.step()  # and the worker stops
    await a.worker.run()
    await a.close()
    b.store.close()


async def test_a_standby_worker_takes_the_account_and_its_intents_when_the_holder_dies(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    chain = PaperVenue("chain", clock=rig.clock, prices={PAIR.id: PRICE})  # the signer's venue
    account = "account:31337:0xabc"
    a, b = rig.node("a"), rig.node("b")
    a.fence.hold_account(account)
    a.fence.bind_venues(account, ["chain"])
    await a.engine.start()
    await a.engine.add_venues([chain])
    opened: list[str] = []

    async def open_chain() -> list[PaperVenue]:
        opened.append(b.fence.accounts[account].resource)  # held before anything is opened
        return [chain]

    b.worker.stand_by(account, open_chain)
    with pytest.raises(InvalidInput, match="waits for"):
        b.worker.stand_by(account, open_chain)
    await b.engine.start()
    swap = rig.intent("n1", venues=["chain"])
    assert a.leases.enqueue("n1", swap.to_payload(), needs=[account])
    assert a.leases.enqueue("p1", rig.intent("p1").to_payload())
    assert await b.worker.step()  # b cannot have the account: it claims only p1
    assert set(b.fence.held) == {OrderId("o-p1")} and not opened
    assert b.worker.standby and account not in b.fence.accounts

    rig.lease_clock.advance(TTL + S)  # a died: its account lease ran out unrenewed
    b.worker._next_beat = 0.0  # its next heartbeat is due (a real-time schedule)
    assert await b.worker.step()  # takes the account, opens its venue, claims n1
    assert opened == [account] and not b.worker.standby
    assert b.fence.accounts[account].token == 2 and b.fence.venue_accounts == {"chain": account}
    assert b.worker.stats.accounts_joined == 1
    assert b.engine.order(OrderId("o-n1")).filled_quantity == Decimal(1)
    (send,) = b.leases.sends("parent:n1")
    assert send.owner == "b"
    with pytest.raises(InvalidInput, match="registered already"):
        await b.engine.add_venues([chain])
    assert not await a.worker.step()  # a, back, finds the account gone and stops
    assert a.fence.account_lost is not None
    await a.close()
    await b.close()


def test_an_intent_enqueued_with_needs_is_claimed_only_by_a_worker_holding_them(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a = rig.node("a")
    needs = ["account:1:0xabc", "api-key:binance:k1"]
    assert a.leases.enqueue("n1", rig.intent("n1").to_payload(), needs=needs)
    assert a.leases.claim("a", ttl_ns=TTL, holding=needs[:1]) == []
    assert a.leases.claim("a", ttl_ns=TTL, limit=5, holding=[]) == []
    (got,) = a.leases.claim("a", ttl_ns=TTL, holding=needs)
    assert got.intent_id == "n1"
    with pytest.raises(InvalidEvent, match="needs must be a collection"):
        a.leases.enqueue("n2", rig.intent("n2").to_payload(), needs="account:1:0xabc")
    with pytest.raises(InvalidEvent):
        a.leases.enqueue("n3", rig.intent("n3").to_payload(), needs=[""])
    assert a.leases.open_intents() == 1  # nothing recorded for the refused ones
    a.store.close()


def test_a_signers_journals_are_written_only_while_its_account_lease_is_held(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    a, b = rig.node("a"), rig.node("b")
    account = "account:31337:0xabc"
    a.fence.hold_account(account)
    a.store.save_snapshot("nonces/31337/0xabc", 0, {"next": 1})  # a holds it: written
    rig.lease_clock.advance(TTL + S)  # a pauses past its ttl; b takes the account
    assert b.fence.try_hold_account(account) is not None
    with pytest.raises(LeaseLost, match="fencing token 1 for 'account:31337:0xabc' is stale"):
        a.store.save_snapshot("amm-orders/31337/0xabc/oms-1", 0, {"tx": "0x01"})
    with pytest.raises(LeaseLost):
        a.store.delete_snapshots(["nonces/31337/0xabc"])
    assert a.store.load_snapshot("amm-orders/31337/0xabc/oms-1") is None  # nothing landed
    assert a.store.load_snapshot("nonces/31337/0xabc") == (0, {"next": 1})
    a.store.save_snapshot("nonces/31337/0xdef", 0, {"next": 7})  # another signer: not fenced
    b.store.save_snapshot("nonces/31337/0xabc", 0, {"next": 2})  # the holder writes
    assert a.store.load_snapshot("nonces/31337/0xabc") == (0, {"next": 2})
    a.store.close()
    b.store.close()
