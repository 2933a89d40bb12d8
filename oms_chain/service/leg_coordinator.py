"""The leg-risk coordinator: a structure whose legs are on different venues, worked leg by leg
under ``all-or-unwind`` or ``hedge-residual``, its unintended exposure measured and recorded.

:class:`LegCoordinator` sends the legs one at a time, the riskiest to fill first
(:func:`~oms_chain.strategies.legrisk.order_by_liquidity_risk`), each recorded before it is sent
(``StructureSendStarted``) and after (``StructureLegsSubmitted``), in the structure's stream (the
events of :mod:`oms_chain.service.structures`, so ``oms strategy list / show`` read it too). A
leg must fill within ``time_limit_ns`` of its send (the injected clock): a refusal, a timeout
whose order the venue cannot show filled by then (it is cancelled), or a fill short of the
quantity is a miss. On a miss, every leg already filled is unwound at market, no worse
than ``slippage_bps`` off the venue's price (an opposite market order with that bound):
``StructureLegsReversed`` and ``StructureCompleted(unwound)``; if an unwind itself misses,
``StructureCompleted(exposed)`` says so and names the leg left open.

Under ``hedge-residual`` a miss does not unwind at once: the open delta is hedged on a
:class:`HedgeRoute` to within its ``band_usd`` (``StructureHedged``), the missing leg is re-sent
(a new client order id per attempt) every ``retry_s`` for up to ``work_limit_ns``; once it
fills the hedge is closed and the structure completes, otherwise the hedge is closed and the
filled legs are unwound as above.

Exposure: from the first fill until the structure is complete or unwound, the open delta in USD
(each filled leg's signed quantity x its ``delta_usd`` per unit) is integrated over time
(:class:`~oms_chain.strategies.legrisk.ExposureMeter`) and recorded in ``StructureCompleted``.

A restart with the same request continues: a leg recorded as filled is not sent again; a leg
whose send was started is asked for by its client order id first, and placed only when the venue
does not know it (the venue itself refuses a client order id it has seen), so no leg is sent
twice and none is forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.engine.eventlog import EventLog, append_event
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput, OmsError, VenueRejected, VenueTimeout
from oms_chain.model.events import (
    Event,
    StructureCompleted,
    StructureHedged,
    StructureLegFilled,
    StructureLegsReversed,
    StructureLegsSubmitted,
    StructureSendStarted,
    StructureSubmitted,
)
from oms_chain.model.ids import ClientOrderId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.service.structures import (
    StructureRecord,
    check_store_and_clock,
    envelope,
    read_structure,
    require_structure,
    structure_stream,
)
from oms_chain.strategies.legrisk import ExposureMeter, order_by_liquidity_risk
from oms_chain.venues.base import OrderStatusReport, PlaceOrder, Venue, VenueOrderStatus

__all__ = ["HedgeRoute", "LegCoordinator", "LegRoute"]

log = logging.getLogger(__name__)
_F = VenueOrderStatus
_UNWIND_POLLS = 400


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeRoute:
    """Where ``hedge-residual`` hedges: ``instrument`` at ``venue`` (``delta_usd`` per unit,
    quantities to ``size_decimals``), keeping |open delta| within ``band_usd`` while the missing
    legs are re-sent every ``retry_s`` for up to ``work_limit_ns``; orders at market within
    ``slippage_bps``, client order ids from ``client_order_id``."""

    venue: Venue
    instrument: Instrument
    delta_usd: Decimal
    band_usd: Decimal
    work_limit_ns: int
    client_order_id: str
    size_decimals: int = 0
    retry_s: float = 1.0
    slippage_bps: Decimal = Decimal(500)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegRoute:
    """One leg: ``order`` at ``venue``; ``liquidity_risk`` orders the legs (higher first);
    ``delta_usd`` is the leg's delta per unit of quantity in USD (delta x spot), for the
    exposure; ``after_unwind`` runs once the leg's unwind filled (on the on-chain market:
    :meth:`~oms_chain.venues.options.batch.AtomicOptionsBatch.close_pairs`, as selling back
    there writes the series)."""

    venue: Venue
    order: PlaceOrder
    liquidity_risk: Decimal = Decimal(0)
    delta_usd: Decimal = Decimal(0)
    after_unwind: Callable[[], Awaitable[object]] | None = None


class LegCoordinator:
    """Works cross-venue structures under ``all-or-unwind`` (see the module doc). ``sleep``
    waits between status polls (tests pass one that advances their clock); ``on_step`` is
    called with each recorded event's type (progress; fault injection in tests).

    Raises:
        InvalidInput: a bad argument (named).
    """

    def __init__(
        self,
        *,
        store: EventLog,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        poll_s: float = 0.05,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        check_store_and_clock(store, clock)
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._poll_s = poll_s
        self._on_step = on_step or (lambda _step: None)

    async def run(
        self,
        structure_id: str,
        *,
        kind: str,
        account: str,
        routes: Sequence[LegRoute],
        policy: str = "all-or-unwind",
        time_limit_ns: int,
        slippage_bps: Decimal,
        hedge: HedgeRoute | None = None,
    ) -> StructureRecord:
        """Work the legs of ``routes`` (see the module doc); returns the structure as recorded.
        ``hedge`` (required by ``hedge-residual``) is where the open delta is hedged.

        Raises:
            InvalidInput: bad arguments, an unknown policy, ``hedge-residual`` without a hedge,
                or a known id with other legs.
        """
        if policy not in ("all-or-unwind", "hedge-residual"):
            raise InvalidInput(
                f"policy must be 'all-or-unwind' or 'hedge-residual', got {policy!r}"
            )
        if policy == "hedge-residual" and not isinstance(hedge, HedgeRoute):
            raise InvalidInput("policy 'hedge-residual' needs hedge=HedgeRoute(...)")
        legs = tuple(routes)
        if not legs or not all(isinstance(r, LegRoute) for r in legs):
            raise InvalidInput("routes must be one LegRoute per leg (at least one)")
        if not isinstance(time_limit_ns, int) or time_limit_ns <= 0:
            raise InvalidInput(f"time_limit_ns must be a positive int, got {time_limit_ns!r}")
        if not isinstance(slippage_bps, Decimal) or not 0 <= slippage_bps <= 10_000:
            raise InvalidInput(f"slippage_bps must be a Decimal in 0..10000, got {slippage_bps!r}")
        payload = tuple(
            {
                "instrument": r.order.instrument.to_payload(),
                "symbol": r.order.instrument.symbol,
                "side": r.order.side.value,
                "quantity": str(r.order.quantity),
                "venue": str(r.venue.venue_id),
                "client_order_id": str(r.order.client_order_id),
            }
            for r in legs
        )
        rec = read_structure(self._store, structure_id)
        if rec is None:
            self._append(
                structure_id,
                0,
                StructureSubmitted(
                    **self._envelope(),
                    structure_id=structure_id,
                    kind=kind,
                    account=account,
                    policy=policy,
                    legs=payload,
                    limits={"time_limit_ns": time_limit_ns, "slippage_bps": str(slippage_bps)},
                ),
            )
        elif rec.legs != payload or rec.policy != policy:
            raise InvalidInput(f"structure {structure_id} is known with other legs or policy")
        rec = self._record(structure_id)
        if rec.is_terminal:
            return rec
        meter = ExposureMeter()
        order = order_by_liquidity_risk([r.liquidity_risk for r in legs])
        filled: dict[int, Decimal] = {}
        # what missed legs filled short of their quantity before they were cancelled: no leg
        # of the structure, still a position; unwound with the filled legs
        short: dict[int, Decimal] = {}
        missed: tuple[int, str] | None = None
        for i in order:
            rec = self._record(structure_id)
            if i in rec.filled:  # filled before a restart: not sent again, not forgotten
                filled[i] = rec.filled[i][0]
                continue
            report, why = await self._work(structure_id, i, legs[i], time_limit_ns, rec, short)
            if report is None:
                missed = (i, why)
                break
            filled[i] = report.filled_quantity
            self._observe(meter, legs, filled)
        if missed is not None and policy == "hedge-residual" and filled:
            assert hedge is not None
            missed = await self._hedge_and_work(
                structure_id, legs, filled, missed, hedge, time_limit_ns, meter, short
            )
        if missed is None:
            self._observe(meter, legs, filled, done=True)
            return self._complete(structure_id, "open", meter)
        return await self._unwind(structure_id, legs, filled, missed, slippage_bps, meter, short)

    # --- hedge-residual ------------------------------------------------------------------------

    async def _hedge_and_work(
        self,
        sid: str,
        legs: tuple[LegRoute, ...],
        filled: dict[int, Decimal],
        missed: tuple[int, str],
        hedge: HedgeRoute,
        limit_ns: int,
        meter: ExposureMeter,
        short: dict[int, Decimal],
    ) -> tuple[int, str] | None:
        """Hedge the open delta within ``hedge.band_usd``, keep working the missing legs until
        ``hedge.work_limit_ns``, then close the hedge; returns the leg still missing (then the
        filled legs are unwound) or ``None`` when every leg filled. After a restart the hedge
        already traded (the recorded ``StructureHedged``) is held, not forgotten."""
        hedged = [e for e in self._record(sid).events if isinstance(e, StructureHedged)]
        held = sum(
            (e.quantity if e.side == Side.BUY.value else -e.quantity for e in hedged), Decimal(0)
        )
        held = await self._rehedge(sid, legs, filled, hedge, held, f"h{len(hedged) + 1}", meter)
        left: tuple[int, str] | None = missed
        deadline = self._clock.now_ns() + hedge.work_limit_ns
        attempt = 0
        while left is not None and self._clock.now_ns() < deadline:
            i = left[0]
            attempt += 1
            route = legs[i]
            retry = LegRoute(
                venue=route.venue,
                order=PlaceOrder(
                    client_order_id=ClientOrderId(f"{route.order.client_order_id}-r{attempt}"),
                    instrument=route.order.instrument,
                    side=route.order.side,
                    quantity=route.order.quantity,
                    limit_price=route.order.limit_price,
                    max_slippage_bps=route.order.max_slippage_bps,
                ),
                liquidity_risk=route.liquidity_risk,
                delta_usd=route.delta_usd,
            )
            await self._sleep(hedge.retry_s)
            report, why = await self._work(sid, i, retry, limit_ns, self._record(sid), short)
            if report is None:
                left = (i, why)
                continue
            filled[i] = report.filled_quantity
            left = next(((j, "") for j in range(len(legs)) if j not in filled), None)
        if held:  # the structure is complete or about to be unwound: the hedge goes
            await self._rehedge(sid, legs, filled, hedge, held, "h0", meter, close=True)
        return left

    async def _rehedge(
        self,
        sid: str,
        legs: tuple[LegRoute, ...],
        filled: dict[int, Decimal],
        hedge: HedgeRoute,
        held: Decimal,
        tag: str,
        meter: ExposureMeter,
        *,
        close: bool = False,
    ) -> Decimal:
        """Trade the hedge to offset the open delta (``close``: back to none); returns the
        hedge quantity held afterwards (signed: positive long)."""
        delta = self._delta(legs, filled) + held * hedge.delta_usd
        if close:
            target = Decimal(0)
        elif abs(delta) <= hedge.band_usd:
            return held
        else:
            unit = Decimal(1).scaleb(-hedge.size_decimals)
            target = held - (delta / hedge.delta_usd).quantize(unit)
        change = target - held
        if change == 0:
            return held
        order = PlaceOrder(
            client_order_id=ClientOrderId(f"{hedge.client_order_id}-{tag}"[:64]),
            instrument=hedge.instrument,
            side=Side.BUY if change > 0 else Side.SELL,
            quantity=abs(change),
            max_slippage_bps=hedge.slippage_bps,
        )
        try:
            report = await hedge.venue.place(order)
        except OmsError as exc:
            log.warning("structure %s: hedge %s failed: %s", sid, tag, exc)
            return held
        done = report.filled_quantity * (1 if change > 0 else -1)
        after = held + done
        self._append(
            sid,
            self._record(sid).version,
            StructureHedged(
                **self._envelope(),
                structure_id=sid,
                venue=str(hedge.venue.venue_id),
                instrument_id=str(hedge.instrument.id),
                side=order.side.value,
                quantity=report.filled_quantity,
                delta_before_usd=delta,
                delta_after_usd=self._delta(legs, filled) + after * hedge.delta_usd,
                reference=order.client_order_id,
            ),
        )
        partial = not close and 0 < len(filled) < len(legs)
        meter.observe(
            self._clock.now_ns(),
            self._delta(legs, filled) + after * hedge.delta_usd,
            partial=partial,
        )
        return after

    def _delta(self, legs: tuple[LegRoute, ...], filled: dict[int, Decimal]) -> Decimal:
        delta = Decimal(0)
        for i, qty in filled.items():
            delta += legs[i].delta_usd * qty * (1 if legs[i].order.side is Side.BUY else -1)
        return delta

    # --- one leg -------------------------------------------------------------------------------

    async def _work(
        self,
        sid: str,
        i: int,
        route: LegRoute,
        limit_ns: int,
        rec: StructureRecord,
        short: dict[int, Decimal],
    ) -> tuple[OrderStatusReport | None, str]:
        """Send leg ``i`` (or find it after a restart) and wait for its fill: its report, or
        ``None`` and why it missed; what a missed leg did fill is added to ``short[i]``."""
        coid = route.order.client_order_id
        venue = route.venue
        started = any(
            isinstance(e, StructureSendStarted) and e.reference == coid for e in rec.events
        )
        report: OrderStatusReport | None = None
        why = ""
        if started:  # a restart: ask first; a leg the venue does not know is placed (the
            # venue refuses a client order id it has seen, so this never sends twice)
            report = await self._status(venue, coid)
        else:
            self._append(
                sid,
                rec.version,
                StructureSendStarted(
                    **self._envelope(),
                    structure_id=sid,
                    legs=(i,),
                    venue=str(venue.venue_id),
                    reference=coid,
                ),
            )
        if report is None:
            try:
                report = await venue.place(route.order)
            except VenueTimeout as exc:
                why = f"leg {i} at {venue.venue_id}: {exc}"
            except VenueRejected as exc:
                report = await self._status(venue, coid) if started else None
                if report is None:
                    return None, f"leg {i} refused by {venue.venue_id}: {exc}"
            except OmsError as exc:
                return None, f"leg {i} refused by {venue.venue_id}: {exc}"
            self._append(
                sid,
                self._record(sid).version,
                StructureLegsSubmitted(
                    **self._envelope(),
                    structure_id=sid,
                    legs=(i,),
                    venue=str(venue.venue_id),
                    reference=coid,
                ),
            )
        deadline = self._clock.now_ns() + limit_ns
        polls = int(limit_ns / 1e9 / self._poll_s) + 1  # ends even if the clock stands still
        while not _done(report) and self._clock.now_ns() < deadline and polls > 0:
            polls -= 1
            await self._sleep(self._poll_s)
            report = await self._status(venue, coid)
        if not _done(report):
            try:  # its time is up: take it off the book, then believe what the venue says
                await venue.cancel(coid)
            except OmsError as exc:
                log.info("structure %s: cancel of leg %d: %s", sid, i, exc)
            report = await self._status(venue, coid)
        if report is None or report.filled_quantity < route.order.quantity:
            got = "nothing" if report is None else f"{report.filled_quantity}"
            if report is not None and report.filled_quantity > 0:
                short[i] = short.get(i, Decimal(0)) + report.filled_quantity
            return None, why or (
                f"leg {i} at {venue.venue_id} filled {got} of {route.order.quantity} within "
                f"{limit_ns / 1e9:g} s"
            )
        price = _avg_price(report)
        self._append(
            sid,
            self._record(sid).version,
            StructureLegFilled(
                **self._envelope(),
                structure_id=sid,
                leg=i,
                quantity=report.filled_quantity,
                price=price,
                reference=coid,
            ),
        )
        return report, ""

    async def _settled(
        self, venue: Venue, coid: ClientOrderId, report: OrderStatusReport
    ) -> OrderStatusReport:
        """An unwind that was accepted but not filled yet (an on-chain fill is mined later):
        its report once terminal, or as it stands after ``_UNWIND_POLLS`` polls."""
        for _ in range(_UNWIND_POLLS):
            if report.status.is_terminal:
                break
            await self._sleep(self._poll_s)
            report = await self._status(venue, coid) or report
        return report

    async def _status(self, venue: Venue, coid: ClientOrderId) -> OrderStatusReport | None:
        try:
            return await venue.status(coid)
        except OmsError:
            return None

    # --- unwinding -----------------------------------------------------------------------------

    async def _unwind(
        self,
        sid: str,
        legs: tuple[LegRoute, ...],
        filled: dict[int, Decimal],
        missed: tuple[int, str],
        slippage_bps: Decimal,
        meter: ExposureMeter,
        short: dict[int, Decimal],
    ) -> StructureRecord:
        left: list[int] = []
        held = dict(filled)
        for i, qty in short.items():  # a missed leg's partial fill is reversed as well
            held[i] = held.get(i, Decimal(0)) + qty
        for i, qty in sorted(held.items()):
            route = legs[i]
            back = route.order.side is Side.SELL
            order = PlaceOrder(  # at market, no worse than the venue's price by the bound
                client_order_id=ClientOrderId(f"{route.order.client_order_id}-u"[:64]),
                instrument=route.order.instrument,
                side=Side.BUY if back else Side.SELL,
                quantity=qty,
                max_slippage_bps=slippage_bps,
            )
            try:
                done = await route.venue.place(order)
            except OmsError as exc:
                log.warning("structure %s: unwind of leg %d failed: %s", sid, i, exc)
                left.append(i)
                continue
            if done.filled_quantity < order.quantity:
                done = await self._settled(route.venue, order.client_order_id, done)
            if done.filled_quantity < order.quantity:
                left.append(i)
            elif route.after_unwind is not None:
                await route.after_unwind()
        unwound = tuple(i for i in sorted(held) if i not in left)
        if unwound:
            self._append(
                sid,
                self._record(sid).version,
                StructureLegsReversed(
                    **self._envelope(),
                    structure_id=sid,
                    legs=unwound,
                    reason=f"{missed[1]}; unwound at market within {slippage_bps} bps",
                ),
            )
        still = {i: held[i] for i in left}
        self._observe(meter, legs, still, done=not still)
        return self._complete(sid, "exposed" if left else "unwound", meter)

    # --- helpers -------------------------------------------------------------------------------

    def _observe(
        self,
        meter: ExposureMeter,
        legs: tuple[LegRoute, ...],
        filled: dict[int, Decimal],
        *,
        done: bool = False,
    ) -> None:
        delta = self._delta(legs, filled)
        partial = not done and 0 < len(filled) < len(legs)
        meter.observe(self._clock.now_ns(), delta, partial=partial)

    def _complete(self, sid: str, outcome: str, meter: ExposureMeter) -> StructureRecord:
        self._append(
            sid,
            self._record(sid).version,
            StructureCompleted(
                **self._envelope(),
                structure_id=sid,
                outcome=outcome,
                exposure_usd_s=meter.exposure_usd_s,
                max_delta_usd=meter.max_delta_usd,
                legged_ns=meter.legged_ns,
            ),
        )
        return self._record(sid)

    def _record(self, sid: str) -> StructureRecord:
        return require_structure(self._store, sid)

    def _envelope(self) -> dict[str, Any]:
        return envelope(self._clock)

    def _append(self, sid: str, version: int, event: Event) -> int:
        v = append_event(self._store, structure_stream(sid), version, event)
        self._on_step(event.TYPE)
        return v


def _done(report: OrderStatusReport | None) -> bool:
    return report is not None and report.status.is_terminal


def _avg_price(report: OrderStatusReport) -> Decimal:
    qty = sum((f.quantity for f in report.fills), Decimal(0))
    if qty == 0:
        return report.limit_price or Decimal(0)
    return sum((f.quantity * f.price for f in report.fills), Decimal(0)) / qty
