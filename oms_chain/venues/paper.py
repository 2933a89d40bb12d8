"""In-memory paper venue for engine tests and dry runs, with fault injection.

Orders match against a settable price per instrument: market orders and crossing limit orders
fill at that price (fully, or partially with the configured probability); the rest rest until
:meth:`PaperVenue.set_price` or :meth:`PaperVenue.tick`. Faults (:class:`Fault`) make the next
request fail in a chosen way, including the ambiguous case (executed, response lost).

With ``journal_path`` every request received and every state change is appended to a JSON-lines
file *before* the caller gets an answer, and reloaded on construction — the venue outlives the
process that uses it, as a real one does (crash tests count what it received).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any

from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput, VenueRejected, VenueTimeout, VenueUnavailable
from oms_chain.model.ids import ClientOrderId, InstrumentId, TradeId, VenueId, VenueOrderId
from oms_chain.model.instruments import Instrument, instrument_from_payload
from oms_chain.model.intent import Side
from oms_chain.venues.base import (
    AmendOrder,
    FillReport,
    LiquidityCurve,
    LiquidityLevel,
    OrderStatusReport,
    PlaceOrder,
    Quote,
    ReconciliationReport,
    VenueCapabilities,
    VenueOrderStatus,
    VenueReport,
)

__all__ = ["Fault", "PaperVenue"]

_BPS = Decimal(10_000)


class Fault(Enum):
    """What goes wrong with the next request of an operation."""

    REJECT = "reject"  # the venue refuses it (VenueRejected)
    TIMEOUT_BEFORE = "timeout_before"  # lost on the way in: never executed, caller sees a timeout
    LOSE_RESPONSE = "lose_response"  # executed, answer lost: caller sees a timeout
    UNAVAILABLE = "unavailable"  # connection refused: provably not sent (VenueUnavailable)
    PARTIAL = "partial"  # (place only) fills only part of a crossing order


@dataclass(slots=True)
class _PaperOrder:
    coid: ClientOrderId
    venue_order_id: VenueOrderId
    instrument: Instrument
    side: Side
    quantity: Decimal
    limit_price: Decimal | None
    deadline_ns: int | None
    status: VenueOrderStatus = VenueOrderStatus.OPEN
    reason: str | None = None
    fills: list[FillReport] = field(default_factory=list)
    ts_event: int = 0

    @property
    def filled(self) -> Decimal:
        return sum((f.quantity for f in self.fills), Decimal(0))


class PaperVenue:
    """A :class:`~oms_chain.venues.base.Venue` that trades against prices you set.

    Args:
        venue_id: name of the venue.
        clock: injected clock (nanoseconds).
        prices: initial price per instrument id (quote per base).
        rng: seeded RNG for partial fills.
        taker_fee_bps: fee charged on every fill, in the quote currency.
        partial_fill_probability: chance that a crossing order fills only partially.
        journal_path: JSON-lines file that persists the venue's state across processes.
        balances: reported free balances per asset code.
        instruments: the instruments it lists (:meth:`instruments`; what a
            :class:`~oms_chain.service.TradingSession` given this venue trades on it), each
            priced in ``prices``.

    Raises:
        InvalidInput: a listed instrument has no price.
    """

    def __init__(
        self,
        venue_id: str,
        *,
        clock: Clock,
        prices: Mapping[InstrumentId, Decimal] | None = None,
        rng: random.Random | None = None,
        taker_fee_bps: Decimal = Decimal(0),
        partial_fill_probability: float = 0.0,
        journal_path: str | Path | None = None,
        balances: Mapping[str, Decimal] | None = None,
        instruments: Sequence[Instrument] = (),
    ) -> None:
        self._id = VenueId(venue_id)
        self._clock = clock
        self._prices: dict[InstrumentId, Decimal] = dict(prices or {})
        self._listed = tuple(instruments)
        for inst in self._listed:
            if not isinstance(inst, Instrument) or inst.id not in self._prices:
                raise InvalidInput(
                    f"{venue_id}: listed instrument {inst!r:.80} must be an Instrument with a "
                    "price in prices"
                )
        self._rng = rng or random.Random(0)
        self._fee_bps = taker_fee_bps
        self._partial_p = partial_fill_probability
        self._balances = dict(balances or {})
        self._orders: dict[ClientOrderId, _PaperOrder] = {}
        self._received: dict[ClientOrderId, int] = {}
        self._trade_seq = 0
        self._faults: dict[str, deque[Fault]] = {}
        self._queue: asyncio.Queue[VenueReport] | None = None
        self._pending: list[VenueReport] = []
        self._journal: IO[str] | None = None
        if journal_path is not None:
            path = Path(journal_path)
            if path.exists():
                self._load(path)
            self._journal = path.open("a", encoding="utf-8")

    # --- test controls -------------------------------------------------------------------

    @property
    def venue_id(self) -> VenueId:
        return self._id

    @property
    def capabilities(self) -> VenueCapabilities:
        """Orders rest, amend works and fills come with the place report."""
        return VenueCapabilities()

    def instruments(self) -> tuple[Instrument, ...]:
        """The instruments given at construction (a listing; others trade too when priced)."""
        return self._listed

    def inject(self, fault: Fault, *, op: str = "place", times: int = 1) -> None:
        """Make the next ``times`` requests of ``op`` (place, cancel, amend, status,
        reconcile) fail with ``fault``."""
        if op not in ("place", "cancel", "amend", "status", "reconcile"):
            raise InvalidInput(f"unknown paper venue operation {op!r}")
        self._faults.setdefault(op, deque()).extend([fault] * times)

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_price(self, instrument_id: InstrumentId, price: Decimal) -> list[VenueReport]:
        """Move the price and match resting orders; reports go to :meth:`events` too."""
        if price <= 0:
            raise InvalidInput(f"price must be positive, got {price}")
        self._prices[instrument_id] = price
        return self.tick()

    def tick(self) -> list[VenueReport]:
        """Match every resting order against current prices and expire past-deadline ones."""
        out: list[VenueReport] = []
        now = self._clock.now_ns()
        for o in list(self._orders.values()):
            if o.status.is_terminal:
                continue
            if o.deadline_ns is not None and now >= o.deadline_ns:
                self._record(
                    {
                        "op": "status",
                        "coid": o.coid,
                        "status": "expired",
                        "reason": "deadline reached",
                        "ts": now,
                    }
                )
                out.append(self._report(o))
                continue
            before = len(o.fills)
            self._match(o, forced_partial=False)
            if len(o.fills) > before:
                out.extend(o.fills[before:])
                out.append(self._report(o))
        for r in out:
            self._emit(r)
        return out

    def received_count(self, client_order_id: ClientOrderId) -> int:
        """How many place requests with this id reached the venue (duplicates included)."""
        return self._received.get(client_order_id, 0)

    def received(self) -> dict[ClientOrderId, int]:
        return dict(self._received)

    def reports(self) -> list[OrderStatusReport]:
        """Every order the venue holds, as reports."""
        return [self._report(o) for o in self._orders.values()]

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    async def flush(self) -> None:
        """Wait until every pushed report has been taken and processed by the consumer."""
        if self._queue is not None:
            await self._queue.join()

    # --- Venue protocol --------------------------------------------------------------------

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        price = self._price(instrument)
        return LiquidityCurve(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            levels=(LiquidityLevel(price, Decimal(10) ** 9),),
            taker_fee_bps=self._fee_bps,
            fixed_cost=Decimal(0),
            ts_event=self._clock.now_ns(),
        )

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        price = self._price(instrument)
        return Quote(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            quantity=quantity,
            avg_price=price,
            fee=quantity * price * self._fee_bps / _BPS,
            ts_event=self._clock.now_ns(),
        )

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        fault = self._fault("place")
        await asyncio.sleep(0)
        if fault is Fault.UNAVAILABLE:
            raise VenueUnavailable(f"{self._id}: connection refused (injected)")
        if fault is Fault.TIMEOUT_BEFORE:
            raise VenueTimeout(f"{self._id}: place {order.client_order_id} timed out (injected)")
        now = self._clock.now_ns()
        coid = order.client_order_id
        if coid in self._received:
            self._record({"op": "duplicate", "coid": coid, "ts": now})
            raise VenueRejected(f"{self._id}: duplicate client order id {coid}")
        if fault is Fault.REJECT:
            self._record({"op": "received_rejected", "coid": coid, "ts": now})
            raise VenueRejected(f"{self._id}: order {coid} rejected (injected)")
        if order.instrument.id not in self._prices:
            self._record({"op": "received_rejected", "coid": coid, "ts": now})
            raise VenueRejected(f"{self._id}: no market for {order.instrument.symbol}")
        self._record(
            {
                "op": "place",
                "coid": coid,
                "venue_order_id": f"{self._id}-{len(self._orders) + 1}",
                "instrument": order.instrument.to_payload(),
                "side": order.side.value,
                "quantity": str(order.quantity),
                "limit_price": None if order.limit_price is None else str(order.limit_price),
                "deadline_ns": order.deadline_ns,
                "ts": now,
            }
        )
        o = self._orders[coid]
        self._match(o, forced_partial=fault is Fault.PARTIAL)
        report = self._report(o)
        if fault is Fault.LOSE_RESPONSE:
            raise VenueTimeout(f"{self._id}: response to place {coid} lost (injected)")
        return report

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        fault = self._fault("cancel")
        await asyncio.sleep(0)
        o = self._pre_request(fault, "cancel", client_order_id)
        if not o.status.is_terminal:
            self._record(
                {
                    "op": "status",
                    "coid": o.coid,
                    "status": "cancelled",
                    "reason": "cancelled by request",
                    "ts": self._clock.now_ns(),
                }
            )
        report = self._report(o)
        if fault is Fault.LOSE_RESPONSE:
            raise VenueTimeout(f"{self._id}: response to cancel {client_order_id} lost (injected)")
        return report

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        fault = self._fault("amend")
        await asyncio.sleep(0)
        o = self._pre_request(fault, "amend", request.client_order_id)
        if o.status.is_terminal:
            raise VenueRejected(f"{self._id}: order {o.coid} is {o.status.value}; cannot amend")
        if request.quantity < o.filled or request.quantity <= 0:
            raise VenueRejected(
                f"{self._id}: new quantity {request.quantity} below filled {o.filled}"
            )
        self._record(
            {
                "op": "amend",
                "coid": o.coid,
                "quantity": str(request.quantity),
                "limit_price": None if request.limit_price is None else str(request.limit_price),
                "ts": self._clock.now_ns(),
            }
        )
        if o.filled == o.quantity:
            self._record(
                {
                    "op": "status",
                    "coid": o.coid,
                    "status": "filled",
                    "reason": None,
                    "ts": self._clock.now_ns(),
                }
            )
        else:
            self._match(o, forced_partial=False)
        report = self._report(o)
        if fault is Fault.LOSE_RESPONSE:
            raise VenueTimeout(f"{self._id}: response to amend {o.coid} lost (injected)")
        return report

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        fault = self._fault("status")
        await asyncio.sleep(0)
        if fault in (Fault.TIMEOUT_BEFORE, Fault.LOSE_RESPONSE):
            raise VenueTimeout(f"{self._id}: status request timed out (injected)")
        if fault is Fault.UNAVAILABLE:
            raise VenueUnavailable(f"{self._id}: connection refused (injected)")
        o = self._orders.get(client_order_id)
        return None if o is None else self._report(o)

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        fault = self._fault("reconcile")
        await asyncio.sleep(0)
        if fault in (Fault.TIMEOUT_BEFORE, Fault.LOSE_RESPONSE):
            raise VenueTimeout(f"{self._id}: reconcile timed out (injected)")
        if fault is Fault.UNAVAILABLE:
            raise VenueUnavailable(f"{self._id}: connection refused (injected)")
        wanted = set(client_order_ids)
        orders = [
            self._report(o)
            for o in self._orders.values()
            if o.coid in wanted or not o.status.is_terminal
        ]
        unknown = tuple(sorted(c for c in wanted if c not in self._orders))
        return ReconciliationReport(
            venue=self._id,
            orders=tuple(orders),
            unknown=unknown,
            balances=dict(self._balances),
            ts_event=self._clock.now_ns(),
        )

    async def balances(self) -> Mapping[str, Decimal]:
        return dict(self._balances)

    async def events(self) -> AsyncIterator[VenueReport]:  # type: ignore[override]
        queue = self._ensure_queue()
        while True:
            item = await queue.get()
            try:
                yield item
            finally:
                queue.task_done()

    # --- internals -------------------------------------------------------------------------

    def _ensure_queue(self) -> asyncio.Queue[VenueReport]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            for r in self._pending:
                self._queue.put_nowait(r)
            self._pending.clear()
        return self._queue

    def _emit(self, report: VenueReport) -> None:
        if self._queue is None:
            self._pending.append(report)
        else:
            self._queue.put_nowait(report)

    def _fault(self, op: str) -> Fault | None:
        q = self._faults.get(op)
        return q.popleft() if q else None

    def _pre_request(self, fault: Fault | None, op: str, coid: ClientOrderId) -> _PaperOrder:
        if fault is Fault.UNAVAILABLE:
            raise VenueUnavailable(f"{self._id}: connection refused (injected)")
        if fault is Fault.TIMEOUT_BEFORE:
            raise VenueTimeout(f"{self._id}: {op} {coid} timed out (injected)")
        if fault is Fault.REJECT:
            raise VenueRejected(f"{self._id}: {op} {coid} rejected (injected)")
        o = self._orders.get(coid)
        if o is None:
            raise VenueRejected(f"{self._id}: unknown client order id {coid}")
        return o

    def _price(self, instrument: Instrument) -> Decimal:
        try:
            return self._prices[instrument.id]
        except KeyError:
            raise VenueRejected(f"{self._id}: no market for {instrument.symbol}") from None

    def _match(self, o: _PaperOrder, *, forced_partial: bool) -> None:
        if o.status.is_terminal:
            return
        price = self._prices.get(o.instrument.id)
        if price is None:
            return
        crosses = (
            o.limit_price is None
            or (o.side is Side.BUY and o.limit_price >= price)
            or (o.side is Side.SELL and o.limit_price <= price)
        )
        if not crosses:
            return
        leaves = o.quantity - o.filled
        qty = leaves
        if forced_partial or (self._partial_p > 0 and self._rng.random() < self._partial_p):
            step = Decimal(1).scaleb(-o.instrument.size_decimals)
            frac = Decimal(str(round(self._rng.uniform(0.2, 0.8), 4)))
            part = (leaves * frac).quantize(step, rounding=ROUND_DOWN)
            if 0 < part < leaves:
                qty = part
        self._trade_seq += 1
        fee = qty * price * self._fee_bps / _BPS if self._fee_bps else Decimal(0)
        self._record(
            {
                "op": "fill",
                "coid": o.coid,
                "trade_id": f"{self._id}-t{self._trade_seq}",
                "quantity": str(qty),
                "price": str(price),
                "fee": str(fee),
                "fee_currency": o.instrument.quote.symbol,
                "ts": self._clock.now_ns(),
            }
        )

    def _report(self, o: _PaperOrder) -> OrderStatusReport:
        return OrderStatusReport(
            venue=self._id,
            client_order_id=o.coid,
            venue_order_id=o.venue_order_id,
            status=o.status,
            quantity=o.quantity,
            filled_quantity=o.filled,
            limit_price=o.limit_price,
            fills=tuple(o.fills),
            ts_event=o.ts_event,
            reason=o.reason,
        )

    def _record(self, rec: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self._journal.flush()
        self._apply(rec)

    def _apply(self, rec: dict[str, Any]) -> None:
        op = rec["op"]
        coid = ClientOrderId(rec["coid"])
        ts = rec["ts"]
        if op in ("duplicate", "received_rejected", "place"):
            self._received[coid] = self._received.get(coid, 0) + 1
        if op == "place":
            self._orders[coid] = _PaperOrder(
                coid=coid,
                venue_order_id=VenueOrderId(rec["venue_order_id"]),
                instrument=instrument_from_payload(rec["instrument"]),
                side=Side(rec["side"]),
                quantity=Decimal(rec["quantity"]),
                limit_price=None if rec["limit_price"] is None else Decimal(rec["limit_price"]),
                deadline_ns=rec["deadline_ns"],
                ts_event=ts,
            )
        elif op == "fill":
            o = self._orders[coid]
            self._trade_seq = max(self._trade_seq, int(rec["trade_id"].rsplit("-t", 1)[1]))
            o.fills.append(
                FillReport(
                    venue=self._id,
                    trade_id=TradeId(rec["trade_id"]),
                    client_order_id=coid,
                    venue_order_id=o.venue_order_id,
                    side=o.side,
                    quantity=Decimal(rec["quantity"]),
                    price=Decimal(rec["price"]),
                    fee=Decimal(rec["fee"]),
                    fee_currency=rec["fee_currency"],
                    ts_event=ts,
                )
            )
            o.status = (
                VenueOrderStatus.FILLED
                if o.filled >= o.quantity
                else VenueOrderStatus.PARTIALLY_FILLED
            )
            o.ts_event = ts
        elif op == "status":
            o = self._orders[coid]
            o.status = VenueOrderStatus(rec["status"])
            o.reason = rec["reason"]
            o.ts_event = ts
        elif op == "amend":
            o = self._orders[coid]
            o.quantity = Decimal(rec["quantity"])
            o.limit_price = None if rec["limit_price"] is None else Decimal(rec["limit_price"])
            o.ts_event = ts

    def _load(self, path: Path) -> None:
        good = 0
        with path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn last line of a killed writer: never acknowledged
                self._apply(json.loads(raw))
                good += len(raw)
        if good != path.stat().st_size:
            with path.open("r+b") as fh:
                fh.truncate(good)
