"""Execution quality and risk timeline folded from the event store's events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from oms_chain.model.errors import InvalidInput, UnknownEventType
from oms_chain.model.events import (
    ChildOrderCreated,
    Event,
    FillRecorded,
    HedgeDecided,
    HedgeSkipped,
    OrderInitialized,
    PortfolioAlertCleared,
    PortfolioAlertRaised,
    SettlementUpdated,
    event_from_payload,
)
from oms_chain.model.fills import Fill
from oms_chain.model.orders import SettlementStatus
from oms_chain.store.projections import Projections

__all__ = [
    "ExecutionReport",
    "FillPoint",
    "ParentExecution",
    "RiskEvent",
    "VenueShare",
    "build_report",
    "report_from_store",
]

_BPS = Decimal(10_000)
_CENT = Decimal("0.01")
_NS = Decimal(1_000_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueShare:
    """How much of a parent one venue filled: base ``quantity``, ``share`` of the filled
    quantity (0-1) and the venue's average price."""

    venue: str
    quantity: Decimal
    share: Decimal
    avg_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class FillPoint:
    """One fill of a parent (through any child), for the price-with-fills plot."""

    ts_ns: int
    venue: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentExecution:
    """Execution quality of one parent order.

    ``arrival_price`` is the benchmark: a price given by the caller (``arrival_source`` =
    ``"given"``), else the reference price the engine recorded at submit (``"arrival"``: the
    fresh mid of the venues that did not execute it, or a price set by hand), else, for orders
    submitted without one (or by an engine before it recorded them), the parent's first fill
    (``"first_fill"``); ``None`` without any of these. ``slippage_bps`` is the
    average price against it, positive when it cost (paid more on a buy, got less on a sell).
    ``shortfall`` (quote currency) is ``side * (filled notional - arrival * filled)`` plus the
    fees charged in the quote currency; fees in other currencies (gas in the chain's native
    asset) are listed in ``fees`` and not converted. Times are seconds from the parent's
    acceptance to its last fill and to the last child transaction reaching ``final``.
    """

    order_id: str
    instrument: str
    quote: str
    side: str
    algo: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal
    arrival_price: Decimal | None
    arrival_source: str
    avg_price: Decimal | None
    slippage_bps: Decimal | None
    shortfall: Decimal | None
    fees: tuple[tuple[str, Decimal], ...]
    venues: tuple[VenueShare, ...]
    children: int
    ts_submit_ns: int
    time_to_fill_s: Decimal | None
    time_to_settle_s: Decimal | None
    fills: tuple[FillPoint, ...]

    def to_row(self) -> dict[str, Any]:
        """A flat JSON/CSV-friendly row (decimals as strings, None as null)."""

        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "order_id": self.order_id,
            "instrument": self.instrument,
            "side": self.side,
            "algo": self.algo,
            "status": self.status,
            "quantity": str(self.quantity),
            "filled_quantity": str(self.filled_quantity),
            "arrival_price": s(self.arrival_price),
            "arrival_source": self.arrival_source,
            "avg_price": s(self.avg_price),
            "slippage_bps": s(self.slippage_bps),
            "shortfall": s(self.shortfall),
            "shortfall_currency": self.quote,
            "fees": {c: str(v) for c, v in self.fees},
            "venues": [
                {
                    "venue": v.venue,
                    "quantity": str(v.quantity),
                    "share": str(v.share),
                    "avg_price": str(v.avg_price),
                }
                for v in self.venues
            ],
            "children": self.children,
            "ts_submit_ns": self.ts_submit_ns,
            "time_to_fill_s": s(self.time_to_fill_s),
            "time_to_settle_s": s(self.time_to_settle_s),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskEvent:
    """One risk event in time: a hedge decided or skipped, a portfolio alert raised or cleared."""

    ts_ns: int
    kind: str
    subject: str
    value: Decimal | None
    threshold: Decimal | None
    detail: str

    def to_row(self) -> dict[str, Any]:
        return {
            "ts_ns": self.ts_ns,
            "kind": self.kind,
            "subject": self.subject,
            "value": None if self.value is None else str(self.value),
            "threshold": None if self.threshold is None else str(self.threshold),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionReport:
    """Everything ``oms report`` shows: parents (in submit order) and the risk timeline."""

    parents: tuple[ParentExecution, ...]
    risk: tuple[RiskEvent, ...]
    events_read: int

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready document (what ``oms report --json`` prints)."""
        return {
            "events_read": self.events_read,
            "parents": [p.to_row() for p in self.parents],
            "risk": [r.to_row() for r in self.risk],
        }


def _risk_event(e: Event) -> RiskEvent | None:
    if isinstance(e, HedgeDecided):
        return RiskEvent(
            ts_ns=e.ts_event,
            kind="hedge",
            subject=e.policy,
            value=e.delta,
            threshold=e.band,
            detail=f"{e.side} {e.quantity} {e.instrument_id} at spot {e.spot}: {e.reason}",
        )
    if isinstance(e, HedgeSkipped):
        return RiskEvent(
            ts_ns=e.ts_event,
            kind="hedge skipped",
            subject=e.policy,
            value=e.delta,
            threshold=None,
            detail=e.reason,
        )
    if isinstance(e, PortfolioAlertRaised):
        return RiskEvent(
            ts_ns=e.ts_event,
            kind="alert raised",
            subject=f"{e.rule} ({e.metric})",
            value=e.value,
            threshold=e.threshold,
            detail=e.message,
        )
    if isinstance(e, PortfolioAlertCleared):
        return RiskEvent(
            ts_ns=e.ts_event,
            kind="alert cleared",
            subject=f"{e.rule} ({e.metric})",
            value=e.value,
            threshold=e.clear_at,
            detail=e.message,
        )
    return None


def _seconds(ns: int) -> Decimal:
    return (Decimal(ns) / _NS).quantize(Decimal("0.001"))


def build_report(
    events: Iterable[Event],
    *,
    parents: Iterable[str] | None = None,
    since_ns: int | None = None,
    arrival_prices: Mapping[str, Decimal] | None = None,
) -> ExecutionReport:
    """Fold ``events`` (in store order) into an :class:`ExecutionReport`.

    ``parents`` keeps only those parent order ids (an unknown id is an error); ``since_ns``
    keeps parents accepted and risk events at or after that time; ``arrival_prices`` gives
    the benchmark price of some parents (else the arrival price the engine recorded at submit,
    else their first fill).

    Raises:
        InvalidInput: an argument is malformed or a named parent is not in the events.
    """
    wanted = None if parents is None else list(parents)
    if wanted is not None and not all(isinstance(p, str) and p for p in wanted):
        raise InvalidInput("parents must be non-empty order id strings")
    if since_ns is not None and (
        isinstance(since_ns, bool) or not isinstance(since_ns, int) or since_ns < 0
    ):
        raise InvalidInput(f"since_ns must be a non-negative int of nanoseconds, got {since_ns!r}")
    given = dict(arrival_prices or {})
    for k, v in given.items():
        if not isinstance(v, Decimal) or not v.is_finite() or v <= 0:
            raise InvalidInput(f"arrival price of {k!r} must be a positive Decimal, got {v!r}")

    proj = Projections()
    fill_order: list[str] = []  # fill keys in store order
    final_ts: dict[str, int] = {}
    accepted_ts: dict[str, int] = {}
    recorded: dict[str, Decimal] = {}  # arrival (reference) price recorded at submit
    risk: list[RiskEvent] = []
    count = 0
    for e in events:
        count += 1
        try:
            proj.apply(e)
        except Exception as exc:  # events that do not fold (a foreign or damaged store)
            raise InvalidInput(
                f"event {count} ({type(e).__name__}) does not fit the orders before it: {exc}"
            ) from None
        if isinstance(e, OrderInitialized):
            accepted_ts.setdefault(e.order_id, e.ts_event)
            if e.arrival_price is not None:
                recorded.setdefault(e.order_id, e.arrival_price)
        elif isinstance(e, FillRecorded):
            fill_order.append(e.fill.key)
        elif isinstance(e, SettlementUpdated):
            if e.settlement.status is SettlementStatus.FINAL:
                final_ts[e.order_id] = e.ts_event
            else:
                final_ts.pop(e.order_id, None)
        elif isinstance(e, ChildOrderCreated):
            pass
        else:
            r = _risk_event(e)
            if r is not None and (since_ns is None or r.ts_ns >= since_ns):
                risk.append(r)

    all_parents = [o for o in proj.orders.values() if o.parent_id is None]
    if wanted is not None:
        known = {o.order_id for o in all_parents}
        missing = [p for p in wanted if p not in known]
        if missing:
            raise InvalidInput(f"no parent order {missing[0]!r} in the store (see `oms orders`)")
        keep = set(wanted)
        all_parents = [o for o in all_parents if o.order_id in keep]
    if since_ns is not None:
        all_parents = [o for o in all_parents if accepted_ts.get(o.order_id, 0) >= since_ns]

    position = {k: i for i, k in enumerate(fill_order)}
    fills_of: dict[str, list[Fill]] = {}
    for f in proj.fills.values():
        fills_of.setdefault(f.order_id, []).append(f)
    out: list[ParentExecution] = []
    for p in all_parents:
        kids = [proj.orders[c] for c in p.children if c in proj.orders]
        ids = {p.order_id, *(k.order_id for k in kids)}
        fills = sorted(
            (f for i in ids for f in fills_of.get(i, ())),
            key=lambda f: position.get(f.key, 0),
        )
        intent = proj.intent_data.get(p.intent_id)
        sign = Decimal(p.side.sign)
        filled = sum((f.quantity for f in fills), Decimal(0))
        notional = sum((f.quantity * f.price for f in fills), Decimal(0))
        quote = p.instrument.quote.symbol
        fees: dict[str, Decimal] = {}
        for f in fills:
            fees[f.fee_currency] = fees.get(f.fee_currency, Decimal(0)) + f.fee
        avg = notional / filled if filled else None
        if p.order_id in given:
            arrival, source = given[p.order_id], "given"
        elif p.order_id in recorded:
            arrival, source = recorded[p.order_id], "arrival"
        elif fills:
            arrival, source = fills[0].price, "first_fill"
        else:
            arrival, source = None, "none"
        slippage = shortfall = None
        if avg is not None and arrival is not None:
            slippage = (sign * (avg - arrival) / arrival * _BPS).quantize(
                _CENT, rounding=ROUND_HALF_EVEN
            )
            slippage = abs(slippage) if slippage == 0 else slippage  # no "-0.00"
            shortfall = sign * (notional - arrival * filled) + fees.get(quote, Decimal(0))
        by_venue: dict[str, tuple[Decimal, Decimal]] = {}
        for f in fills:
            q, n = by_venue.get(f.venue, (Decimal(0), Decimal(0)))
            by_venue[f.venue] = (q + f.quantity, n + f.quantity * f.price)
        venues = tuple(
            VenueShare(venue=v, quantity=q, share=q / filled, avg_price=n / q)
            for v, (q, n) in sorted(by_venue.items())
        )
        t0 = accepted_ts.get(p.order_id, p.ts_init)
        to_fill = (
            _seconds(max(f.ts_event for f in fills) - t0)
            if fills and p.status.value == "filled"
            else None
        )
        chain_kids = [k for k in kids if k.settlement is not None]
        to_settle = None
        if chain_kids and all(k.order_id in final_ts for k in chain_kids):
            to_settle = _seconds(max(final_ts[k.order_id] for k in chain_kids) - t0)
        out.append(
            ParentExecution(
                order_id=p.order_id,
                instrument=p.instrument.symbol,
                quote=quote,
                side=p.side.value,
                algo=intent.algo if intent is not None else "",
                status=p.status.value,
                quantity=p.quantity,
                filled_quantity=filled,
                arrival_price=arrival,
                arrival_source=source,
                avg_price=avg,
                slippage_bps=slippage,
                shortfall=shortfall,
                fees=tuple(sorted(fees.items())),
                venues=venues,
                children=len(kids),
                ts_submit_ns=t0,
                time_to_fill_s=to_fill,
                time_to_settle_s=to_settle,
                fills=tuple(
                    FillPoint(ts_ns=f.ts_event, venue=f.venue, quantity=f.quantity, price=f.price)
                    for f in fills
                ),
            )
        )
    risk.sort(key=lambda r: r.ts_ns)
    return ExecutionReport(parents=tuple(out), risk=tuple(risk), events_read=count)


def report_from_store(
    store: Any,
    *,
    parents: Iterable[str] | None = None,
    since_ns: int | None = None,
    arrival_prices: Mapping[str, Decimal] | None = None,
) -> ExecutionReport:
    """:func:`build_report` over every event of an open event store (``read_all``).

    Raises:
        InvalidInput: as :func:`build_report`, or a recorded event cannot be decoded (the
            message gives its position).
    """

    def decoded() -> Iterable[Event]:
        for rec in store.read_all():
            try:
                yield event_from_payload(rec.event_type, rec.version, rec.payload)
            except UnknownEventType:
                continue  # written by a newer release or another tool: not part of the report
            except Exception as exc:  # a malformed or foreign row: say where
                raise InvalidInput(
                    f"event at position {rec.position} ({rec.event_type} v{rec.version}) "
                    f"cannot be read: {exc}; is this an oms-chain store?"
                ) from None

    return build_report(
        decoded(), parents=parents, since_ns=since_ns, arrival_prices=arrival_prices
    )
