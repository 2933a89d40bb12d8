"""The report translator is pure: exact events for exact reports, nothing twice."""

from decimal import Decimal

from oms_chain.engine.translator import events_from_report, fill_events
from oms_chain.model import (
    Asset,
    ClientOrderId,
    Fill,
    FillRecorded,
    OrderAcknowledged,
    OrderCancelled,
    OrderId,
    OrderRejected,
    Side,
    SpotPair,
    TradeId,
    VenueId,
    VenueOrderId,
)
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.venues.base import FillReport, OrderStatusReport, VenueOrderStatus

PAIR = SpotPair(base=Asset.cex("paper", "ETH", 8), quote=Asset.cex("paper", "USDC", 6))
V = VenueId("paper")
COID = ClientOrderId("oms-abc-0")


def sending_child() -> Order:
    return (
        Order(
            order_id=OrderId("p/0"),
            intent_id="i",
            account="a",
            instrument=PAIR,
            side=Side.BUY,
            quantity=Decimal(2),
            limit_price=Decimal(100),
            parent_id=OrderId("p"),
            client_order_id=COID,
            venue=V,
        )
        .transition(OrderStatus.RISK_ACCEPTED, ts=0)
        .transition(OrderStatus.SENDING, ts=0)
    )


def fill(trade: str, qty: str) -> FillReport:
    return FillReport(
        venue=V,
        trade_id=TradeId(trade),
        client_order_id=COID,
        venue_order_id=VenueOrderId("v1"),
        side=Side.BUY,
        quantity=Decimal(qty),
        price=Decimal(100),
        fee=Decimal(0),
        fee_currency="USDC",
        ts_event=5,
    )


def report(status: VenueOrderStatus, filled: str, *fills: FillReport) -> OrderStatusReport:
    return OrderStatusReport(
        venue=V,
        client_order_id=COID,
        venue_order_id=VenueOrderId("v1"),
        status=status,
        quantity=Decimal(2),
        filled_quantity=Decimal(filled),
        limit_price=Decimal(100),
        fills=fills,
        ts_event=5,
    )


def test_an_open_report_acknowledges_once():
    child = sending_child()
    t = events_from_report(
        child, report(VenueOrderStatus.OPEN, "0"), current=child, fills={}, now=9
    )
    (ack,) = t.events
    assert isinstance(ack, OrderAcknowledged) and not t.reconcile
    assert (ack.venue_order_id, ack.ts_event, ack.ts_init) == ("v1", 5, 9)
    acked = child.acknowledged(VenueOrderId("v1"), ts=5)
    again = events_from_report(
        acked, report(VenueOrderStatus.OPEN, "0"), current=acked, fills={}, now=9
    )
    assert again.events == []


def test_known_fills_are_not_recorded_twice():
    child = sending_child()
    f = fill("t1", "0.5")
    (rec,) = fill_events(child, [f], known={}, now=9)
    assert isinstance(rec, FillRecorded) and rec.fill.quantity == Decimal("0.5")
    known: dict[str, Fill] = {rec.fill.key: rec.fill}
    assert fill_events(child, [f], known=known, now=9) == []


def test_an_end_with_fills_not_reported_yet_asks_for_reconciliation_and_keeps_the_order_open():
    child = sending_child().acknowledged(VenueOrderId("v1"), ts=1)
    t = events_from_report(
        child,
        report(VenueOrderStatus.CANCELLED, "1", fill("t1", "0.5")),
        current=child,
        fills={},
        now=9,
    )
    assert t.reconcile
    assert [type(e) for e in t.events] == [FillRecorded]  # no OrderCancelled yet


def test_a_rejection_of_a_send_is_a_rejection_and_a_cancel_ends_it():
    child = sending_child()
    rejected = events_from_report(
        child, report(VenueOrderStatus.REJECTED, "0"), current=child, fills={}, now=9
    )
    assert [type(e) for e in rejected.events] == [OrderAcknowledged, OrderRejected]
    acked = child.acknowledged(VenueOrderId("v1"), ts=1)
    cancelled = events_from_report(
        acked, report(VenueOrderStatus.CANCELLED, "0"), current=acked, fills={}, now=9
    )
    (end,) = cancelled.events
    assert isinstance(end, OrderCancelled) and end.reason == "venue reports cancelled"
