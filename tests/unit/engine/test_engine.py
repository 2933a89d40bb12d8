import asyncio
from decimal import Decimal

import pytest
from engine_world import PAIR, PRICE, build_world

from oms_chain.engine import SNAPSHOT_NAME, Engine, EngineConfig, InMemoryEventLog
from oms_chain.model import (
    EngineNotReady,
    IllegalTransition,
    InvalidInput,
    InvalidIntent,
    OrderAcknowledged,
    OrderInitialized,
    OrderStatus,
    ReconciliationFailed,
    UnknownOrder,
    VenueTimeout,
    client_order_id,
    event_from_payload,
)
from oms_chain.risk import RiskGate, RiskLimits, TradingState
from oms_chain.store import open_store
from oms_chain.store.projections import Projections
from oms_chain.venues import Fault, PaperVenue


def types(store):
    return [r.event_type for r in store.read_all()]


async def test_market_intent_is_risk_checked_sent_and_filled(world):
    order = await world.engine.submit(world.intent("i1", quantity="1.5"))
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == Decimal("1.5")
    child = world.engine.order(order.children[0])
    assert child.client_order_id == client_order_id("i1", 0)
    assert world.venue.received_count(child.client_order_id) == 1
    (pos,) = world.engine.positions()
    assert (pos.quantity, pos.avg_price) == (Decimal("1.5"), PRICE)
    assert types(world.store)[-6:] == [
        "OrderInitialized",
        "OrderAccepted",
        "ChildOrderCreated",
        "OrderSubmitted",
        "OrderAcknowledged",
        "FillRecorded",
    ]


async def test_the_reference_price_at_submit_is_recorded_as_the_arrival_price(world):
    world.engine.set_reference_price(PAIR.id, Decimal(1990))
    await world.engine.submit(world.intent("arr1", quantity="1"))
    init = next(r.payload for r in world.store.read_all() if r.event_type == "OrderInitialized")
    assert (init["arrival_price"], init["arrival_source"]) == ("1990", "set by hand")


async def test_risk_reject_is_recorded_with_its_reason_and_nothing_is_sent(world):
    order = await world.engine.submit(
        world.intent("big", quantity="30.6", limit_price="2000", max_slippage_bps=None)
    )
    assert order.status is OrderStatus.REJECTED
    assert order.reason == (
        "risk: limit 'max_notional' (50,000 USDC) exceeded by order of 61,200 USDC"
    )
    assert world.venue.received() == {}
    assert types(world.store)[-2:] == ["OrderInitialized", "OrderRejected"]


async def test_submit_is_idempotent_on_intent_id(world):
    it = world.intent("same")
    a = await world.engine.submit(it)
    n = len(world.store)
    b = await world.engine.submit(it)
    assert a == b
    assert len(world.store) == n
    assert sum(world.venue.received().values()) == 1


async def test_bad_submissions_write_nothing(world):
    n = len(world.store)
    with pytest.raises(InvalidIntent, match="none of the intent's venues"):
        await world.engine.submit(world.intent("x", venues=["elsewhere"]))
    with pytest.raises(InvalidIntent, match="takes an Intent"):
        await world.engine.submit({"side": "buy"})  # type: ignore[arg-type]
    with pytest.raises(UnknownOrder):
        await world.engine.cancel("o-nope")
    assert len(world.store) == n


async def test_venue_reject_marks_child_rejected_and_parent_failed(world):
    world.venue.inject(Fault.REJECT)
    order = await world.engine.submit(world.intent("r"))
    child = world.engine.order(order.children[0])
    assert child.status is OrderStatus.REJECTED
    assert order.status is OrderStatus.FAILED
    assert "rejected (injected)" in (order.reason or "")


async def test_unavailable_venue_is_a_proven_non_send(world):
    world.venue.inject(Fault.UNAVAILABLE)
    order = await world.engine.submit(world.intent("u"))
    assert world.engine.order(order.children[0]).status is OrderStatus.FAILED
    assert world.venue.received() == {}


async def test_lost_response_leaves_the_order_in_flight_until_reconciled(world):
    world.venue.inject(Fault.LOSE_RESPONSE)
    order = await world.engine.submit(world.intent("amb", limit_price="1900"))
    child = world.engine.order(order.children[0])
    assert child.status is OrderStatus.IN_FLIGHT  # never "failed"
    assert order.status is OrderStatus.WORKING
    # the next intent for the venue reconciles first and learns the truth
    await world.engine.submit(world.intent("next", limit_price="1900"))
    child = world.engine.order(order.children[0])
    assert child.status is OrderStatus.WORKING
    assert child.venue_order_id is not None
    assert world.venue.received_count(child.client_order_id) == 1  # not re-sent
    ts = types(world.store)
    assert ts.index("OrderOutcomeUnknown") < ts.index("VenueReconciled", 1)


async def test_timeout_before_arrival_is_proven_not_executed_by_reconciliation(world):
    world.venue.inject(Fault.TIMEOUT_BEFORE)
    order = await world.engine.submit(world.intent("lost"))
    child = world.engine.order(order.children[0])
    assert child.status is OrderStatus.IN_FLIGHT
    await world.engine.reconcile("paper")
    child = world.engine.order(order.children[0])
    assert child.status is OrderStatus.FAILED
    assert "never received" in (child.reason or "")
    assert world.venue.received() == {}


async def test_new_intents_wait_while_the_venue_cannot_be_reconciled(world):
    world.venue.inject(Fault.LOSE_RESPONSE)
    await world.engine.submit(world.intent("a1"))
    world.venue.inject(Fault.UNAVAILABLE, op="reconcile")
    n = len(world.store)
    with pytest.raises(Exception, match="connection refused"):
        await world.engine.submit(world.intent("a2"))
    assert "a2" not in world.engine.projections.intents
    assert types(world.store)[n:] == ["VenueReconciliationFailed"]
    order = await world.engine.submit(world.intent("a2"))  # venue back: reconcile, then send
    assert order.status is OrderStatus.FILLED


async def test_concurrent_intents_for_one_venue_are_serialized_behind_reconciliation(world):
    world.venue.inject(Fault.LOSE_RESPONSE)
    await world.engine.submit(world.intent("c0"))
    orders = await asyncio.gather(
        *(world.engine.submit(world.intent(f"c{i}")) for i in range(1, 6))
    )
    assert all(o.status is OrderStatus.FILLED for o in orders)
    assert all(n == 1 for n in world.venue.received().values())


async def test_fills_arriving_later_through_the_event_stream_update_orders(world):
    order = await world.engine.submit(world.intent("lim", limit_price="1990"))
    assert order.status is OrderStatus.WORKING
    world.venue.set_price(PAIR.id, Decimal(1985))
    await world.venue.flush()
    order = world.engine.order(order.order_id)
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == Decimal(1985)


async def test_partial_fill_then_cancel(world):
    world.venue.inject(Fault.PARTIAL)
    order = await world.engine.submit(world.intent("p", quantity="4"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order = await world.engine.cancel(order.order_id)
    assert order.status is OrderStatus.CANCELLED
    assert Decimal(0) < order.filled_quantity < Decimal(4)
    assert world.engine.positions()[0].quantity == order.filled_quantity


async def test_cancel_passes_when_halted_and_new_intents_do_not(world):
    order = await world.engine.submit(world.intent("h", limit_price="1900"))
    world.engine.set_trading_state(TradingState.HALTED, "kill switch")
    rejected = await world.engine.submit(world.intent("h2"))
    assert rejected.status is OrderStatus.REJECTED
    assert "halted (kill switch)" in (rejected.reason or "")
    cancelled = await world.engine.cancel(order.order_id)
    assert cancelled.status is OrderStatus.CANCELLED


async def test_cancel_timeout_keeps_the_order_open_and_reconciles_later(world):
    order = await world.engine.submit(world.intent("ct", limit_price="1900"))
    world.venue.inject(Fault.LOSE_RESPONSE, op="cancel")
    with pytest.raises(VenueTimeout, match="stays open until reconciled"):
        await world.engine.cancel(order.order_id)
    assert world.engine.order(order.order_id).status is OrderStatus.WORKING
    await world.engine.reconcile("paper")
    assert world.engine.order(order.order_id).status is OrderStatus.CANCELLED


async def test_amend_changes_quantity_and_price_at_the_venue(world):
    order = await world.engine.submit(world.intent("am", quantity="2", limit_price="1900"))
    order = await world.engine.amend(
        order.order_id, quantity=Decimal(3), limit_price=Decimal("1950")
    )
    child = world.engine.order(order.children[0])
    assert (order.quantity, child.quantity, child.limit_price) == (3, 3, Decimal("1950"))
    world.venue.set_price(PAIR.id, Decimal(1940))
    await world.venue.flush()
    assert world.engine.order(order.order_id).filled_quantity == 3


async def test_amend_increase_goes_through_the_risk_gate(world):
    order = await world.engine.submit(world.intent("am2", quantity="2", limit_price="1900"))
    with pytest.raises(ValueError, match="amend rejected by risk: limit 'max_notional'"):
        await world.engine.amend(order.order_id, quantity=Decimal(40))
    assert world.engine.order(order.order_id).quantity == 2


async def test_subscribers_see_every_committed_event_in_order(world):
    events = world.engine.subscribe()
    await world.engine.submit(world.intent("s"))
    got = [await asyncio.wait_for(anext(events), 1) for _ in range(6)]
    assert [e.TYPE for e in got] == [
        "OrderInitialized",
        "OrderAccepted",
        "ChildOrderCreated",
        "OrderSubmitted",
        "OrderAcknowledged",
        "FillRecorded",
    ]
    assert len({e.event_id for e in got}) == 6
    assert all(e.correlation_id == "s" for e in got)
    assert got[1].causation_id == got[0].event_id


async def test_restart_replays_to_the_same_state(world):
    await world.engine.submit(world.intent("r1", quantity="2"))
    await world.engine.submit(world.intent("r2", side="sell", quantity="0.5"))
    before = world.engine.projections.summary()
    await world.engine.stop()
    fresh = world.restart()
    await fresh.start()
    after = fresh.projections.summary()
    assert after == before
    assert fresh.trading_state is TradingState.ACTIVE


async def test_trading_state_survives_restart(world):
    world.engine.set_trading_state(TradingState.REDUCING, "drawdown")
    await world.engine.stop()
    fresh = world.restart()
    await fresh.start()
    assert fresh.trading_state is TradingState.REDUCING


async def test_engine_refuses_to_trade_when_reconciliation_fails_and_says_why():
    w = build_world()
    w.venue.inject(Fault.TIMEOUT_BEFORE, op="reconcile")
    with pytest.raises(ReconciliationFailed, match=r"venue 'paper'.*timed out"):
        await w.engine.start()
    assert w.engine.refusal and "reconciliation failed, not trading" in w.engine.refusal
    with pytest.raises(EngineNotReady, match="reconciliation failed"):
        await w.engine.submit(w.intent("nope"))
    await w.engine.reconcile("paper")  # the venue answers now: the engine may trade
    assert w.engine.refusal is None
    assert (await w.engine.submit(w.intent("yes"))).status is OrderStatus.FILLED
    await w.engine.stop()


async def test_engine_refuses_when_the_venue_holds_an_order_we_never_recorded():
    w = build_world()
    from oms_chain.venues import PlaceOrder

    await w.venue.place(
        PlaceOrder(
            client_order_id=client_order_id("ghost", 0),
            instrument=PAIR,
            side=w.intent("g").side,
            quantity=Decimal(1),
            limit_price=Decimal(1),
        )
    )
    with pytest.raises(ReconciliationFailed, match="not in our event log"):
        await w.engine.start()
    await w.engine.stop()


async def test_submit_and_kill_switch_before_start_are_refused():
    w = build_world()
    with pytest.raises(EngineNotReady, match="call start"):
        await w.engine.submit(w.intent("early"))
    with pytest.raises(EngineNotReady, match="start it before switching"):
        w.engine.set_trading_state(TradingState.HALTED, "too early")
    assert len(w.store) == 0


async def test_crash_between_write_ahead_and_send_is_recovered_without_resending():
    """Events say SENDING but the process died: restart reconciles, proves it never arrived."""
    w = build_world()
    await w.engine.start()

    async def hang(order):  # the process "dies" while the request is on its way
        raise asyncio.CancelledError

    w.venue.place = hang  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await w.engine.submit(w.intent("crash"))
    child = w.engine.order(w.engine.order("o-crash").children[0])
    assert child.status is OrderStatus.SENDING
    del w.venue.place
    await w.engine.stop()
    fresh = w.restart()
    await fresh.start()
    assert fresh.order(child.order_id).status is OrderStatus.FAILED
    # resubmitting the same intent returns the recorded order: nothing is sent twice
    again = await fresh.submit(w.intent("crash"))
    assert again.status is OrderStatus.FAILED
    assert w.venue.received() == {}
    await fresh.stop()


async def test_client_order_ids_are_reserved_for_the_life_of_the_store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/oms.db")
    clock_world = build_world(store=store)
    # another order already holds the id this intent would derive
    store.reserve_client_order_id(client_order_id("dup", 0), "someone-else")
    await clock_world.engine.start()
    order = await clock_world.engine.submit(clock_world.intent("dup"))
    child = clock_world.engine.order(order.children[0])
    assert child.client_order_id == client_order_id("dup", 1)
    assert store.client_order_id_owner(child.client_order_id) == child.order_id
    await clock_world.engine.stop()
    store.close()


async def test_engine_runs_on_the_sqlite_store_and_replays_from_it(tmp_path):
    url = f"sqlite:///{tmp_path}/oms.db"
    store = open_store(url)
    w = build_world(store=store, max_order_notional=Decimal(50_000))
    await w.engine.start()
    for i in range(5):
        await w.engine.submit(w.intent(f"q{i}", quantity="0.1", side="buy" if i % 2 else "sell"))
    before = w.engine.projections.summary()
    await w.engine.stop()
    store.close()
    store2 = open_store(url)
    w.store = store2
    fresh = w.restart()
    await fresh.start()
    assert fresh.projections.summary() == before
    await fresh.stop()
    store2.close()


def test_duplicate_venue_names_are_refused():
    from oms_chain.model import InvalidInput, ManualClock

    clock = ManualClock()
    v = PaperVenue("paper", clock=clock)
    with pytest.raises(InvalidInput, match="registered twice"):
        Engine(
            store=InMemoryEventLog(),
            venues=[v, v],
            risk=RiskGate(RiskLimits(), clock=clock),
            clock=clock,
        )


async def test_restart_from_a_snapshot_replays_only_the_tail_and_matches_a_full_replay(tmp_path):
    url = f"sqlite:///{tmp_path}/oms.db"
    store = open_store(url)
    w = build_world(store=store, config=EngineConfig(snapshot_every=7))
    await w.engine.start()
    for i in range(10):
        await w.engine.submit(w.intent(f"s{i}", quantity="0.3", side="sell" if i % 3 else "buy"))
    await w.engine.submit(w.intent("rest", limit_price="1900"))
    before = w.engine.projections.summary()
    await w.engine.stop()
    snap_position, _ = store.load_snapshot(SNAPSHOT_NAME)
    assert 0 < snap_position <= store.last_position()
    fresh = w.restart(EngineConfig(snapshot_every=7))
    await fresh.start()
    assert fresh.projections.summary() == before
    assert 0 < fresh.replayed_at_start < 7 + 1  # only the tail after the snapshot
    # streams last written before the snapshot still append at the right version
    await fresh.cancel("o-rest")
    assert fresh.order("o-rest").status is OrderStatus.CANCELLED
    full = Projections()
    for r in store.read_all():
        full.apply(event_from_payload(r.event_type, r.version, r.payload))
    assert full.summary() == fresh.projections.summary()
    await fresh.stop()
    store.close()


def test_a_snapshot_of_another_format_is_refused():
    with pytest.raises(InvalidInput, match="replay from the start"):
        Projections.from_snapshot({"format": 99})


async def test_an_illegal_event_is_neither_applied_nor_stored(world):
    order = await world.engine.submit(world.intent("ill"))
    n, before = len(world.store), world.engine.projections.summary()
    bogus = OrderAcknowledged(  # legal alone: the child learns another venue order id
        event_id="x", ts_event=1, ts_init=1, order_id=order.children[0], venue_order_id="v"
    )
    again = OrderInitialized(
        event_id="y",
        ts_event=1,
        ts_init=1,
        order_id=order.order_id,
        intent=world.intent("ill"),
        quantity=Decimal(1),
        limit_price=None,
    )
    with pytest.raises(IllegalTransition, match="initialized twice"):
        world.engine._commit(order.order_id, [bogus, again])
    assert len(world.store) == n
    assert world.engine.projections.summary() == before


async def test_deadline_expiry_at_the_venue_expires_the_order(world):
    order = await world.engine.submit(
        world.intent("dl", limit_price="1900", deadline_ns=world.clock.now_ns() + 10**9)
    )
    assert order.status is OrderStatus.WORKING
    world.clock.advance(2 * 10**9)
    world.venue.tick()
    await world.venue.flush()
    assert world.engine.order(order.order_id).status is OrderStatus.EXPIRED


async def test_a_venue_fill_without_its_fill_reports_stops_trading_there_and_says_why(world):
    import dataclasses

    from oms_chain.model.errors import ReconciliationFailed

    world.venue.inject(Fault.LOSE_RESPONSE)
    order = await world.engine.submit(world.intent("hidden"))  # fills at the venue, reply lost
    child = world.engine.order(order.children[0])
    assert child.status is OrderStatus.IN_FLIGHT
    honest = world.venue.reconcile

    async def without_fills(ids):  # a venue that says "filled" but shows no fills
        report = await honest(ids)
        return dataclasses.replace(
            report, orders=tuple(dataclasses.replace(r, fills=()) for r in report.orders)
        )

    world.venue.reconcile = without_fills
    with pytest.raises(ReconciliationFailed, match="backed by fills"):
        await world.engine.reconcile("paper")
    assert world.engine.order(order.children[0]).filled_quantity == 0
    world.venue.reconcile = honest  # the fills become visible: reconciliation recovers them
    await world.engine.reconcile("paper")
    child = world.engine.order(order.children[0])
    assert child.status is OrderStatus.FILLED and child.filled_quantity == child.quantity
