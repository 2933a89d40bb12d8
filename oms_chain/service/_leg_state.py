"""What the leg-risk coordinator reads back from a structure's stream: the quantity each leg
holds, the hedge held, the orders started and how each ended, and the exposure replayed from
the recorded events. Pure: a :class:`~oms_chain.service.structures.StructureRecord` in, values
out; the coordinator decides from these after every step and after a restart alike."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from oms_chain.model.events import (
    StructureHedged,
    StructureLegFilled,
    StructureLegMissed,
    StructureLegsReversed,
    StructureLegsSubmitted,
    StructureSendStarted,
)
from oms_chain.model.intent import Side
from oms_chain.service.structures import StructureRecord
from oms_chain.strategies.legrisk import ExposureMeter
from oms_chain.venues.base import OrderStatusReport

__all__ = [
    "attempts",
    "avg_price",
    "done",
    "first_miss",
    "hedge_held",
    "hedge_orders",
    "held",
    "leg_delta",
    "missed",
    "replayed_exposure",
    "sent_at",
    "started",
    "submitted",
    "unrecorded_hedges",
]


def held(rec: StructureRecord, leg: int) -> Decimal:
    """What leg ``leg`` holds now (the sum over its attempts)."""
    return rec.filled[leg][0] if leg in rec.filled else Decimal(0)


def started(rec: StructureRecord, reference: str) -> StructureSendStarted | None:
    """The write-ahead record of order ``reference`` (``None``: never started)."""
    for e in rec.events:
        if isinstance(e, StructureSendStarted) and e.reference == reference:
            return e
    return None


def submitted(rec: StructureRecord, reference: str) -> bool:
    """Order ``reference`` was recorded as sent."""
    return any(
        isinstance(e, StructureLegsSubmitted) and e.reference == reference for e in rec.events
    )


def sent_at(rec: StructureRecord, reference: str) -> int | None:
    """When order ``reference`` was recorded as sent (``None``: not recorded)."""
    for e in rec.events:
        if isinstance(e, StructureLegsSubmitted) and e.reference == reference:
            return e.ts_event
    return None


def missed(rec: StructureRecord, reference: str) -> StructureLegMissed | None:
    """The miss recorded for attempt ``reference`` (``None``: it did not miss, or not yet)."""
    for e in rec.events:
        if isinstance(e, StructureLegMissed) and e.reference == reference:
            return e
    return None


def first_miss(rec: StructureRecord) -> StructureLegMissed | None:
    """The structure's first recorded miss (hedge-residual's work limit runs from it)."""
    return next((e for e in rec.events if isinstance(e, StructureLegMissed)), None)


def attempts(rec: StructureRecord, leg: int, unwind_reference: str) -> list[str]:
    """References of the attempts started for ``leg``, in order (its unwind is not one)."""
    return [
        e.reference
        for e in rec.events
        if isinstance(e, StructureSendStarted)
        and e.legs == (leg,)
        and e.reference != unwind_reference
    ]


def hedge_held(rec: StructureRecord) -> Decimal:
    """The hedge held (signed: positive long), from the recorded hedge fills."""
    total = Decimal(0)
    for e in rec.events:
        if isinstance(e, StructureHedged):
            total += e.quantity if e.side == Side.BUY.value else -e.quantity
    return total


def hedge_orders(rec: StructureRecord) -> list[StructureSendStarted]:
    """Every hedge order started (write-ahead records with no legs)."""
    return [e for e in rec.events if isinstance(e, StructureSendStarted) and not e.legs]


def unrecorded_hedges(rec: StructureRecord) -> list[StructureSendStarted]:
    """Hedge orders started whose outcome was never recorded (the process stopped between the
    send and its record): a restart asks the venue for them before hedging again."""
    done = {e.reference for e in rec.events if isinstance(e, StructureHedged)}
    return [e for e in hedge_orders(rec) if e.reference not in done]


def leg_delta(
    sides: Sequence[Side], deltas: Sequence[Decimal], holding: dict[int, Decimal]
) -> Decimal:
    """Open delta in USD of the legs held (``deltas[i]`` per unit of leg ``i``)."""
    total = Decimal(0)
    for i, qty in holding.items():
        total += deltas[i] * qty * (1 if sides[i] is Side.BUY else -1)
    return total


def replayed_exposure(
    rec: StructureRecord,
    sides: Sequence[Side],
    deltas: Sequence[Decimal],
    quantities: Sequence[Decimal],
    hedge_delta_usd: Decimal,
    now_ns: int,
) -> ExposureMeter:
    """The unintended exposure of the structure from its recorded fills, hedges and unwinds up
    to ``now_ns``: the same after a restart as without one (the time a restart took counts, as
    the position was open meanwhile). Partial: some leg holds something and not every leg is
    complete."""
    meter = ExposureMeter()
    fills: dict[int, dict[str, Decimal]] = {}
    hedge = Decimal(0)
    last = [0]

    def observe(ts: int) -> None:
        ts = last[0] = max(ts, last[0])  # a restart on a clock behind the first: no time back
        holding = {i: sum(parts.values(), Decimal(0)) for i, parts in fills.items()}
        complete = all(holding.get(i, Decimal(0)) >= q for i, q in enumerate(quantities))
        any_held = any(q > 0 for q in holding.values())
        delta = leg_delta(sides, deltas, holding) + hedge * hedge_delta_usd
        meter.observe(ts, delta, partial=any_held and not complete)

    for e in rec.events:
        if isinstance(e, StructureLegFilled):
            fills.setdefault(e.leg, {})[e.reference] = e.quantity
        elif isinstance(e, StructureHedged):
            hedge += e.quantity if e.side == Side.BUY.value else -e.quantity
        elif isinstance(e, StructureLegsReversed):
            for i in e.legs:
                fills.pop(i, None)
        else:
            continue
        observe(e.ts_event)
    observe(max(now_ns, rec.ts_last))
    return meter


def done(report: OrderStatusReport | None) -> bool:
    """The venue's last word on an order: it will not fill more."""
    return report is not None and report.status.is_terminal


def avg_price(report: OrderStatusReport) -> Decimal:
    """The order's average fill price (its limit, or 0, when the venue lists no fills)."""
    qty = sum((f.quantity for f in report.fills), Decimal(0))
    if qty == 0:
        return report.limit_price or Decimal(0)
    return sum((f.quantity * f.price for f in report.fills), Decimal(0)) / qty
