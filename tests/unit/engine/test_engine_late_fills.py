"""Absence is not proof, and fills that come after an order ended are kept.

A venue with a receive window (here a paper venue that declares one and can hold a request back,
as a slow network does) may accept a request after a lookup found nothing: until the window has
closed the child stays in flight, reconciled in the background on the injected clock. A fill
reported after its order ended (a cancel crossing a fill) is recorded; one that takes a parent
past its intent raises an overfill alert."""

from __future__ import annotations

from decimal import Decimal

from engine_world import PAIR, PRICE

from oms_chain.algos import ManualSleeper
from oms_chain.engine import Engine, InMemoryEventLog
from oms_chain.model import Intent, ManualClock, OrderStatus, Side
from oms_chain.model.errors import VenueTimeout
from oms_chain.model.ids import TradeId, VenueOrderId
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues import FillReport, PaperVenue, PlaceOrder
from oms_chain.venues.base import BoundedAcceptance, OrderStatusReport

SECOND = 1_000_000_000
WINDOW = 5 * SECOND


class WindowedVenue(PaperVenue):
    """A paper venue with a 5 s receive window that can hold the next request back."""

    def __init__(self, name: str, clock: ManualClock) -> None:
        super().__init__(name, clock=clock, prices={PAIR.id: PRICE})
        self.hold_next = False
        self.held: list[PlaceOrder] = []

    @property
    def acceptance_window_ns(self) -> int:
        return WINDOW

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        if self.hold_next:
            self.hold_next = False
            self.held.append(order)
            raise VenueTimeout(f"{self.venue_id}: no answer (held back by the test)")
        return await super().place(order)

    async def deliver_held(self) -> None:
        """The held requests arrive now (still inside their window)."""
        held, self.held = self.held, []
        for order in held:
            await super().place(order)


class Rig:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.sleeper = ManualSleeper(self.clock)
        self.venue = WindowedVenue("pw", self.clock)
        self.store = InMemoryEventLog()
        self.engine = Engine(
            store=self.store,
            venues=[self.venue],
            risk=RiskGate(RiskLimits(), clock=self.clock),
            clock=self.clock,
            sleeper=self.sleeper,
        )
        self.engine.set_reference_price(PAIR.id, PRICE)

    def intent(self, intent_id: str, **kw: object) -> Intent:
        args: dict[str, object] = dict(
            intent_id=intent_id,
            account="acct",
            instrument=PAIR,
            side="buy",
            quantity="1",
            venues=["pw"],
            now_ns=self.clock.now_ns(),
            limit_price="2010",
        )
        args.update(kw)
        return Intent.create(**args)  # type: ignore[arg-type]

    def types(self) -> list[str]:
        return [r.event_type for r in self.store.read_all()]


def test_the_paper_test_venue_declares_its_window() -> None:
    assert isinstance(WindowedVenue("pw", ManualClock()), BoundedAcceptance)
    assert not isinstance(PaperVenue("p", clock=ManualClock()), BoundedAcceptance)


async def test_a_request_arriving_in_its_window_after_a_lookup_found_nothing_is_filled() -> None:
    rig = Rig()
    await rig.engine.start()
    try:
        rig.venue.hold_next = True
        parent = await rig.engine.submit(rig.intent("late"))
        child = rig.engine.order(parent.children[0])
        assert child.status is OrderStatus.IN_FLIGHT
        await rig.sleeper.settle()  # the background reconciler looks at once: nothing there
        assert rig.types().count("VenueReconciled") >= 2  # at start, and now
        assert rig.engine.order(child.order_id).status is OrderStatus.IN_FLIGHT
        await rig.sleeper.advance(2 * SECOND)  # more looks with backoff, window still open
        assert rig.engine.order(child.order_id).status is OrderStatus.IN_FLIGHT
        await rig.venue.deliver_held()  # the request arrives and executes
        await rig.sleeper.advance(2 * SECOND)
        child = rig.engine.order(child.order_id)
        assert child.status is OrderStatus.FILLED and child.filled_quantity == 1
        assert rig.venue.received() == {child.client_order_id: 1}  # sent once
        assert "OrderFailed" not in rig.types()
        assert rig.engine.order(parent.order_id).status is OrderStatus.FILLED
    finally:
        await rig.engine.stop()


async def test_a_request_missing_when_its_window_closes_is_never_received() -> None:
    rig = Rig()
    await rig.engine.start()
    try:
        rig.venue.hold_next = True
        parent = await rig.engine.submit(rig.intent("gone"))
        child_id = parent.children[0]
        await rig.sleeper.advance(WINDOW - SECOND)
        assert rig.engine.order(child_id).status is OrderStatus.IN_FLIGHT
        await rig.sleeper.advance(2 * SECOND)  # the reconciler looks when the window closes
        child = rig.engine.order(child_id)
        assert child.status is OrderStatus.FAILED
        assert "never received" in (child.reason or "")
        assert "within its receive window" in (child.reason or "")
        assert rig.venue.received() == {}
    finally:
        await rig.engine.stop()


def _fill(order_coid: str, trade: str, qty: str) -> FillReport:
    return FillReport(
        venue="pw",  # type: ignore[arg-type]
        trade_id=TradeId(trade),
        client_order_id=order_coid,  # type: ignore[arg-type]
        venue_order_id=VenueOrderId("pw-late"),
        side=Side.BUY,
        quantity=Decimal(qty),
        price=Decimal(1990),
        fee=Decimal(0),
        fee_currency="USDC",
        ts_event=0,
    )


async def test_a_fill_reported_after_the_cancel_is_recorded_on_the_cancelled_child() -> None:
    rig = Rig()
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent("rest", limit_price="1990"))
        after = await rig.engine.cancel(parent.order_id)
        assert after.status is OrderStatus.CANCELLED
        child = rig.engine.order(parent.children[0])
        assert child.client_order_id is not None
        # the venue's report of a trade that crossed the cancel comes in afterwards
        rig.engine._on_report(rig.venue.venue_id, _fill(child.client_order_id, "t-late", "0.4"))
        child = rig.engine.order(child.order_id)
        assert child.status is OrderStatus.CANCELLED  # stays ended
        assert child.filled_quantity == Decimal("0.4") and child.avg_fill_price == 1990
        parent = rig.engine.order(parent.order_id)
        assert parent.status is OrderStatus.CANCELLED and parent.filled_quantity == Decimal("0.4")
        (position,) = rig.engine.positions()
        assert position.quantity == Decimal("0.4")
        assert rig.engine.alerts == []  # within the intent: no overfill
    finally:
        await rig.engine.stop()


async def test_a_late_fill_taking_a_parent_past_its_intent_raises_an_overfill_alert() -> None:
    rig = Rig()
    await rig.engine.start()
    try:
        intent = rig.intent("over", algo="twap", algo_params={"duration": "1h", "slices": 2})
        parent = await rig.engine.submit(intent)
        rig.engine.pause(parent.order_id)  # we drive the children ourselves
        first = await rig.engine.spawn_child(
            parent.order_id, seq=0, venue="pw", quantity=Decimal(1), limit_price=Decimal(1990)
        )
        await rig.engine.cancel(first.order_id)
        second = await rig.engine.spawn_child(
            parent.order_id, seq=1, venue="pw", quantity=Decimal(1), limit_price=Decimal(2010)
        )
        assert rig.engine.order(second.order_id).status is OrderStatus.FILLED
        assert first.client_order_id is not None
        rig.engine._on_report("pw", _fill(first.client_order_id, "t-over", "0.25"))  # type: ignore[arg-type]
        parent = rig.engine.order(parent.order_id)
        assert parent.status is OrderStatus.FILLED
        assert parent.filled_quantity == Decimal("1.25")  # what the venue did, recorded
        assert rig.types()[-1] == "RiskAlertRaised"
        (alert,) = rig.engine.alerts
        assert "0.25 more than its intent's 1" in alert
        (position,) = rig.engine.positions()
        assert position.quantity == Decimal("1.25")
    finally:
        await rig.engine.stop()
