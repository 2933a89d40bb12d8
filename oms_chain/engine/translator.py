"""Venue reports -> events: pure functions, no I/O, no engine state.

Given an order as the projections hold it and what its venue reports (an
:class:`~oms_chain.venues.base.OrderStatusReport` or :class:`~oms_chain.venues.base.FillReport`),
:func:`events_from_report` returns the events that bring the order to the reported state —
idempotently: a report seen twice gives nothing the second time. It also builds the events of a
parent's start (:func:`parent_events`) and of a child's write-ahead send (:func:`child_events`).

Every event carries ``ts_init = now`` (when we learned it) and a placeholder event id that
:meth:`~oms_chain.engine.journal.Journal.commit` replaces by the stream position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from oms_chain.compliance.screening import match_events
from oms_chain.model.events import (
    ChildOrderCreated,
    Event,
    FillRecorded,
    FillReversed,
    OrderAccepted,
    OrderAcknowledged,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFailed,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
    SettlementUpdated,
)
from oms_chain.model.fills import Fill
from oms_chain.model.ids import ClientOrderId, EventId, IntentId, OrderId, VenueId
from oms_chain.model.intent import Intent
from oms_chain.model.orders import Order, OrderStatus, SettlementStatus, settlement_moves
from oms_chain.venues.base import FillReport, OrderStatusReport, VenueOrderStatus

__all__ = [
    "NOT_SENT",
    "Translation",
    "child_events",
    "events_from_report",
    "fill_events",
    "not_sent",
    "order_envelope",
    "parent_events",
]

#: Reason prefix of a child whose request provably never left (VenueUnavailable): retryable.
NOT_SENT = "not sent: "
_UNSETTLED = (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)
_PENDING = EventId("pending")


def not_sent(order: Order) -> bool:
    """A child that failed because its request provably never left (retryable)."""
    return order.status is OrderStatus.FAILED and (order.reason or "").startswith(NOT_SENT)


def order_envelope(order: Order, *, now: int, ts_event: int | None = None) -> dict[str, Any]:
    """The fields every event about ``order`` carries; learned ``now``, happened at
    ``ts_event`` (default: now)."""
    return {
        "event_id": _PENDING,
        "ts_event": now if ts_event is None else ts_event,
        "ts_init": now,
        "correlation_id": order.intent_id,
        "order_id": order.order_id,
    }


@dataclass(frozen=True, slots=True)
class Translation:
    """The events a report gives, and whether the venue must be reconciled (it ended the
    order with more filled than the fills it reported so far)."""

    events: list[Event]
    reconcile: bool = False


def parent_events(
    intent: Intent,
    decision: Any,
    pid: OrderId,
    *,
    now: int,
    arrival: tuple[Decimal, str] | None = None,
) -> list[Event]:
    """The parent's first events: initialized (with the ``arrival`` reference price and its
    source, when the engine has a fresh one), then accepted or rejected by the risk gate's
    ``decision`` (a :class:`~oms_chain.risk.RiskDecision`)."""
    qty = decision.quantity if decision.quantity is not None else (intent.quantity or Decimal(0))
    init = OrderInitialized(
        event_id=_PENDING,
        ts_event=now,
        ts_init=intent.ts_init,
        correlation_id=intent.intent_id,
        order_id=pid,
        intent=intent,
        quantity=qty,
        limit_price=intent.limit_price,
        arrival_price=None if arrival is None else arrival[0],
        arrival_source=None if arrival is None else arrival[1],
    )
    env: dict[str, Any] = {
        "event_id": _PENDING,
        "ts_event": now,
        "ts_init": now,
        "correlation_id": intent.intent_id,
        "order_id": pid,
    }
    if not decision.accepted:
        rejected = OrderRejected(**env, reason=decision.reason, source="risk")
        # the audit trail names every block-list entry the intent's addresses hit
        matches = match_events(decision.screening, intent.account, now, _PENDING)
        return [init, rejected, *(replace(m, correlation_id=intent.intent_id) for m in matches)]
    return [init, OrderAccepted(**env, checks=tuple(str(c) for c in decision.checks))]


def child_events(
    parent: tuple[OrderId, IntentId],
    seq: int,
    child_id: OrderId,
    coid: ClientOrderId,
    venue_id: VenueId,
    quantity: Decimal,
    limit_price: Decimal | None,
    *,
    now: int,
) -> list[Event]:
    """A child's write-ahead events: created, then submitted (before the venue is called).
    ``parent`` is ``(parent order id, intent id)``."""
    env: dict[str, Any] = {
        "event_id": _PENDING,
        "ts_event": now,
        "ts_init": now,
        "correlation_id": parent[1],
        "order_id": child_id,
    }
    return [
        ChildOrderCreated(
            **env,
            parent_id=parent[0],
            seq=seq,
            client_order_id=coid,
            venue=venue_id,
            quantity=quantity,
            limit_price=limit_price,
        ),
        OrderSubmitted(**env, client_order_id=coid, venue=venue_id),
    ]


def fill_events(
    order: Order, fills: Sequence[FillReport], *, known: Mapping[str, Fill], now: int
) -> list[Event]:
    """A :class:`FillRecorded` for each of ``fills`` not ``known`` yet (by fill key)."""
    out: list[Event] = []
    for f in fills:
        if Fill.key_for(f.venue, f.trade_id, f.client_order_id) in known:
            continue
        fill = Fill(
            trade_id=f.trade_id,
            order_id=order.order_id,
            client_order_id=f.client_order_id,
            venue=f.venue,
            account=order.account,
            instrument_id=order.instrument.id,
            side=order.side,
            quantity=f.quantity,
            price=f.price,
            fee=f.fee,
            fee_currency=f.fee_currency,
            ts_event=f.ts_event,
        )
        out.append(
            FillRecorded(
                event_id=_PENDING,
                ts_event=f.ts_event,
                ts_init=now,
                correlation_id=order.intent_id,
                fill=fill,
            )
        )
    return out


def events_from_report(
    order: Order,
    report: OrderStatusReport,
    *,
    current: Order,
    fills: Mapping[str, Fill],
    now: int,
    amended: bool = False,
) -> Translation:
    """Events that bring ``order`` to the state the venue reports (idempotent).

    ``current`` is the order as the projections hold it now (``order`` may be the one the
    request was made for); ``fills`` every fill recorded, by key.

    ``amended``: the report answers our amend. Otherwise a limit price the venue reports for
    an order we sent without one (a market order it bounded by the slippage, e.g. an IOC limit
    at the touch) is not an amendment: recording it as one would resize a split or algo parent
    to the children allocated so far.

    Raises:
        IllegalTransition: the report's settlement contradicts the settlement table.
    """
    out: list[Event] = []

    def kw() -> dict[str, Any]:
        return order_envelope(order, now=now, ts_event=report.ts_event)

    changed = report.quantity != order.quantity or (
        report.limit_price != order.limit_price and (amended or order.limit_price is not None)
    )
    if changed and not order.is_terminal and report.quantity >= order.filled_quantity:
        out.append(OrderAmended(**kw(), quantity=report.quantity, limit_price=report.limit_price))
    if order.venue_order_id is None and not order.is_terminal:
        out.append(OrderAcknowledged(**kw(), venue_order_id=report.venue_order_id))
    reversed_any = False
    if report.settlement is not None:
        out.extend(
            SettlementUpdated(**kw(), settlement=st)
            for st in settlement_moves(order.settlement, report.settlement)
        )
        final = order.settlement is not None and order.settlement.status is SettlementStatus.FINAL
        if order.filled_quantity and not final:
            canonical = {Fill.key_for(f.venue, f.trade_id, f.client_order_id) for f in report.fills}
            for key, f in list(fills.items()):
                if f.order_id == order.order_id and key not in canonical:
                    reversed_any = True
                    out.append(
                        FillReversed(
                            **kw(),
                            fill_key=key,
                            reason=f"not on the canonical chain any more "
                            f"(settlement {report.settlement.status.value})",
                        )
                    )
    new_fills = fill_events(order, report.fills, known=fills, now=now)
    out.extend(new_fills)
    terminal = current.is_terminal and not reversed_any
    reason = report.reason or f"venue reports {report.status.value}"
    backed = order.filled_quantity + sum(
        (e.fill.quantity for e in new_fills if isinstance(e, FillRecorded)), Decimal(0)
    )
    if (
        not terminal
        and report.settlement is None
        and report.status.is_terminal
        and report.filled_quantity > backed
        and order.venue is not None
    ):
        # The venue ended it with more filled than the fills we hold (a cancel crossed a
        # fill whose trade is not reported yet). Ending it now would let a schedule send
        # the missing part again: it stays open until reconciliation brings the fills.
        return Translation(out, reconcile=True)
    if not terminal:
        if report.status is VenueOrderStatus.CANCELLED:
            out.append(OrderCancelled(reason=reason, **kw()))
        elif report.status is VenueOrderStatus.EXPIRED:
            out.append(OrderExpired(reason=reason, **kw()))
        elif report.status is VenueOrderStatus.REJECTED:
            if order.status in _UNSETTLED:
                out.append(OrderRejected(reason=reason, source="venue", **kw()))
            else:
                out.append(OrderFailed(reason=reason, **kw()))
    return Translation(out)
