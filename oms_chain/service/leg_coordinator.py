"""The leg-risk coordinator: a structure whose legs are on different venues, worked leg by leg
under ``all-or-unwind`` or ``hedge-residual``, its unintended exposure measured and recorded.

:class:`LegCoordinator` sends the legs one at a time, the riskiest to fill first
(:func:`~oms_chain.strategies.legrisk.order_by_liquidity_risk`), in the structure's stream (the
events of :mod:`oms_chain.service.structures`, so ``oms strategy list / show`` read it too). A
leg must fill within ``time_limit_ns`` of its send (the injected clock): a refusal, a timeout
whose order the venue cannot show filled by then (it is cancelled), or a fill short of the
quantity is a miss (``StructureLegMissed``; what it did fill is its ``StructureLegFilled``). On a
miss, every leg holding something is unwound at market, no worse than ``slippage_bps`` off the
venue's price (an opposite market order with that bound): ``StructureLegsReversed`` and
``StructureCompleted(unwound)``; if an unwind itself misses, ``StructureCompleted(exposed)``
says so and names the leg left open.

Under ``hedge-residual`` a miss does not unwind at once: the open delta is hedged on a
:class:`HedgeRoute` to within its ``band_usd`` (``StructureHedged``), the missing leg is re-sent
for what it still lacks (a new client order id per attempt) every ``retry_s`` until
``work_limit_ns`` after the first miss, the hedge following the delta after every fill; once
every leg is complete the hedge is closed and the structure completes, otherwise the hedge is
closed and the legs are unwound as above.

Exposure: while the structure is partial, the open delta in USD (each leg's signed quantity held
x its ``delta_usd`` per unit, plus the hedge) is integrated over time
(:class:`~oms_chain.strategies.legrisk.ExposureMeter`), replayed from the recorded events, and
recorded in ``StructureCompleted``.

Crash safety: every order (leg attempt, hedge, unwind) is recorded before it is sent
(``StructureSendStarted`` with its side and quantity) and its outcome after; all decisions are
taken from the recorded stream. A restart with the same request continues where the stream
ends: an order started but not recorded is asked for by its client order id first — found, it
is followed, never sent again; a hedge the venue does not know was never executed and is
recorded so. A leg attempt the venue does not know is placed under the same id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from oms_chain.engine.eventlog import EventLog, append_event
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput, OmsError, VenueRejected, VenueTimeout
from oms_chain.model.events import (
    Event,
    StructureCompleted,
    StructureHedged,
    StructureLegFilled,
    StructureLegMissed,
    StructureLegsReversed,
    StructureLegsSubmitted,
    StructureSendStarted,
    StructureSubmitted,
)
from oms_chain.model.ids import ClientOrderId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.service import _leg_state as st
from oms_chain.service.structures import (
    StructureRecord,
    check_store_and_clock,
    envelope,
    read_structure,
    require_structure,
    structure_stream,
)
from oms_chain.strategies.legrisk import order_by_liquidity_risk
from oms_chain.venues.base import OrderStatusReport, PlaceOrder, Venue

__all__ = ["HedgeRoute", "LegCoordinator", "LegRoute"]

log = logging.getLogger(__name__)
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
    there writes the series; it runs again after a restart, so it must be idempotent)."""

    venue: Venue
    order: PlaceOrder
    liquidity_risk: Decimal = Decimal(0)
    delta_usd: Decimal = Decimal(0)
    after_unwind: Callable[[], Awaitable[object]] | None = None


@dataclass(frozen=True, slots=True)
class _Work:
    """One run's fixed inputs."""

    sid: str
    legs: tuple[LegRoute, ...]
    order: tuple[int, ...]
    policy: str
    limit_ns: int
    slippage_bps: Decimal
    hedge: HedgeRoute | None

    def unwind_id(self, i: int) -> ClientOrderId:
        return ClientOrderId(f"{self.legs[i].order.client_order_id}-u"[:64])


class LegCoordinator:
    """Works cross-venue structures under ``all-or-unwind`` or ``hedge-residual`` (see the
    module doc). ``sleep`` waits between status polls (tests pass one that advances their
    clock); ``on_step`` is called with each recorded event's type (progress; fault injection in
    tests).

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
        ``hedge`` (required by ``hedge-residual``) is where the open delta is hedged. Called
        again with the same arguments after a restart, it continues the structure.

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
                StructureSubmitted(
                    **envelope(self._clock),
                    structure_id=structure_id,
                    kind=kind,
                    account=account,
                    policy=policy,
                    legs=payload,
                    limits={"time_limit_ns": time_limit_ns, "slippage_bps": str(slippage_bps)},
                ),
                version=0,
            )
        elif rec.legs != payload or rec.policy != policy:
            raise InvalidInput(f"structure {structure_id} is known with other legs or policy")
        if self._record(structure_id).is_terminal:
            return self._record(structure_id)
        w = _Work(
            sid=structure_id,
            legs=legs,
            order=order_by_liquidity_risk([r.liquidity_risk for r in legs]),
            policy=policy,
            limit_ns=time_limit_ns,
            slippage_bps=slippage_bps,
            hedge=hedge if policy == "hedge-residual" else None,
        )
        if w.hedge is not None:
            await self._reconcile_hedges(w)
        rec = self._record(structure_id)
        first = st.first_miss(rec)  # a miss recorded before a restart stands
        miss = await self._legs_in_order(w) if first is None else first.reason
        held_hedge = st.hedge_held(self._record(structure_id)) != 0
        if miss is not None and w.hedge is not None and (self._holds_any(w) or held_hedge):
            miss = await self._hedge_and_work(w)
        if miss is None:
            return self._complete(w, "open")
        return await self._unwind(w, miss)

    # --- the legs in order -------------------------------------------------------------------

    async def _legs_in_order(self, w: _Work) -> str | None:
        """Send every leg not yet complete, riskiest first, until one misses; returns why it
        missed (``None``: every leg complete)."""
        for i in w.order:
            rec = self._record(w.sid)
            if self._complete_leg(w, rec, i):
                continue
            tried = st.attempts(rec, i, w.unwind_id(i))
            route = w.legs[i]
            order = route.order
            if tried:  # an attempt in flight when the process stopped: followed, not re-sent
                order = replace(order, client_order_id=ClientOrderId(tried[-1]))
            why = await self._attempt(w, i, order)
            if why is not None:
                return why
        return None

    async def _attempt(self, w: _Work, i: int, order: PlaceOrder) -> str | None:
        """Send attempt ``order`` of leg ``i`` (or find it after a restart) and wait for its
        fill within the time limit (from its recorded start); records what it filled and, if
        it fell short, the miss. Returns why it missed (``None``: it filled)."""
        coid = order.client_order_id
        venue = w.legs[i].venue
        rec = self._record(w.sid)
        begun = st.started(rec, coid)
        report: OrderStatusReport | None = None
        why = ""
        asked = order.quantity
        if begun is not None:  # a restart: ask first; the limit runs from the recorded send
            t0 = st.sent_at(rec, coid) or begun.ts_event
            asked = begun.quantity if begun.quantity is not None else asked
            order = replace(order, quantity=asked)
            report = await self._status(venue, coid)
        else:
            self._start(w, (i,), venue, order)
            t0 = self._clock.now_ns()
        if report is None:
            try:
                report = await venue.place(order)
            except VenueTimeout as exc:
                why = f"leg {i} at {venue.venue_id}: {exc}"
            except VenueRejected as exc:
                report = await self._status(venue, coid) if begun is not None else None
                if report is None:
                    return self._miss(w, i, coid, f"leg {i} refused by {venue.venue_id}: {exc}")
            except OmsError as exc:
                return self._miss(w, i, coid, f"leg {i} refused by {venue.venue_id}: {exc}")
        if not st.submitted(self._record(w.sid), coid):
            self._append(
                w.sid,
                StructureLegsSubmitted(
                    **envelope(self._clock),
                    structure_id=w.sid,
                    legs=(i,),
                    venue=str(venue.venue_id),
                    reference=coid,
                ),
            )
        deadline = t0 + w.limit_ns
        polls = int(w.limit_ns / 1e9 / self._poll_s) + 1  # ends even if the clock stands still
        while not st.done(report) and self._clock.now_ns() < deadline and polls > 0:
            polls -= 1
            await self._sleep(self._poll_s)
            report = await self._status(venue, coid) or report
        if not st.done(report):
            try:  # its time is up: take it off the book, then believe what the venue says
                await venue.cancel(coid)
            except OmsError as exc:
                log.info("structure %s: cancel of leg %d: %s", w.sid, i, exc)
            report = await self._status(venue, coid) or report
        got = Decimal(0) if report is None else report.filled_quantity
        if got > 0:
            assert report is not None
            self._append(
                w.sid,
                StructureLegFilled(
                    **envelope(self._clock),
                    structure_id=w.sid,
                    leg=i,
                    quantity=got,
                    price=st.avg_price(report),
                    reference=coid,
                ),
            )
        if got < asked:
            return self._miss(
                w,
                i,
                coid,
                why
                or (
                    f"leg {i} at {venue.venue_id} filled {got if got else 'nothing'} of "
                    f"{asked} within {w.limit_ns / 1e9:g} s"
                ),
            )
        return None

    def _miss(self, w: _Work, i: int, coid: str, reason: str) -> str:
        self._append(
            w.sid,
            StructureLegMissed(
                **envelope(self._clock), structure_id=w.sid, leg=i, reference=coid, reason=reason
            ),
        )
        return reason

    # --- hedge-residual ----------------------------------------------------------------------

    async def _hedge_and_work(self, w: _Work) -> str | None:
        """Hedge the open delta within ``band_usd`` and re-send what the missing legs lack until
        ``work_limit_ns`` after the first miss, re-hedging after every fill; then close the
        hedge. Returns why a leg is still missing (then the legs are unwound) or ``None``."""
        hedge = w.hedge
        assert hedge is not None
        first = st.first_miss(self._record(w.sid))
        assert first is not None
        deadline = first.ts_event + hedge.work_limit_ns
        why: str | None = first.reason
        await self._rehedge(w)
        while self._clock.now_ns() < deadline:
            rec = self._record(w.sid)
            todo = [i for i in w.order if not self._complete_leg(w, rec, i)]
            if not todo:
                why = None
                break
            i = todo[0]
            route = w.legs[i]
            tried = st.attempts(rec, i, w.unwind_id(i))
            last = tried[-1] if tried else None
            if last is not None and st.missed(rec, last) is None:  # in flight at a restart
                coid = ClientOrderId(last)
            else:
                coid = (
                    route.order.client_order_id
                    if not tried
                    else ClientOrderId(f"{route.order.client_order_id}-r{len(tried)}"[:64])
                )
                if tried:
                    await self._sleep(hedge.retry_s)
            lacking = route.order.quantity - st.held(rec, i)
            why = await self._attempt(
                w, i, replace(route.order, client_order_id=coid, quantity=lacking)
            )
            await self._rehedge(w)
        else:
            rec = self._record(w.sid)
            if all(self._complete_leg(w, rec, i) for i in w.order):
                why = None
        await self._rehedge(w, close=True)  # complete or about to be unwound: the hedge goes
        return why

    async def _rehedge(self, w: _Work, *, close: bool = False) -> None:
        """Trade the hedge to offset the open delta (``close``: back to none)."""
        hedge = w.hedge
        assert hedge is not None
        rec = self._record(w.sid)
        held = st.hedge_held(rec)
        delta = self._delta(w, rec) + held * hedge.delta_usd
        if close:
            target = Decimal(0)
        elif abs(delta) <= hedge.band_usd:
            return
        else:
            unit = Decimal(1).scaleb(-hedge.size_decimals)
            target = held - (delta / hedge.delta_usd).quantize(unit)
        change = target - held
        if change == 0:
            return
        n = len(st.hedge_orders(rec)) + 1
        order = PlaceOrder(
            client_order_id=ClientOrderId(f"{hedge.client_order_id}-h{n}"[:64]),
            instrument=hedge.instrument,
            side=Side.BUY if change > 0 else Side.SELL,
            quantity=abs(change),
            max_slippage_bps=hedge.slippage_bps,
        )
        self._start(w, (), hedge.venue, order)
        try:
            report: OrderStatusReport | None = await hedge.venue.place(order)
        except OmsError as exc:
            log.warning("structure %s: hedge %s failed: %s", w.sid, order.client_order_id, exc)
            report = await self._status(hedge.venue, order.client_order_id)
        if report is not None and not report.status.is_terminal:
            report = await self._settled(hedge.venue, order.client_order_id, report)
        self._hedged(w, order.client_order_id, order.side, report, delta)

    async def _reconcile_hedges(self, w: _Work) -> None:
        """After a restart: a hedge order started but not recorded is asked for by its id;
        what it filled is recorded (nothing, when the venue never saw it)."""
        hedge = w.hedge
        assert hedge is not None
        for e in st.unrecorded_hedges(self._record(w.sid)):
            coid = ClientOrderId(e.reference)
            report = await self._status(hedge.venue, coid)
            if report is not None and not report.status.is_terminal:
                report = await self._settled(hedge.venue, coid, report)
            rec = self._record(w.sid)
            delta = self._delta(w, rec) + st.hedge_held(rec) * hedge.delta_usd
            self._hedged(w, coid, Side(e.side or Side.BUY.value), report, delta)

    def _hedged(
        self,
        w: _Work,
        coid: ClientOrderId,
        side: Side,
        report: OrderStatusReport | None,
        delta_before: Decimal,
    ) -> None:
        hedge = w.hedge
        assert hedge is not None
        done = Decimal(0) if report is None else report.filled_quantity
        held = st.hedge_held(self._record(w.sid)) + (done if side is Side.BUY else -done)
        self._append(
            w.sid,
            StructureHedged(
                **envelope(self._clock),
                structure_id=w.sid,
                venue=str(hedge.venue.venue_id),
                instrument_id=str(hedge.instrument.id),
                side=side.value,
                quantity=done,
                delta_before_usd=delta_before,
                delta_after_usd=self._delta(w, self._record(w.sid)) + held * hedge.delta_usd,
                reference=coid,
            ),
        )

    # --- unwinding ---------------------------------------------------------------------------

    async def _unwind(self, w: _Work, why: str) -> StructureRecord:
        """Every leg holding something is sold (or bought) back at market within the slippage
        bound, under its own id; after a restart an unwind already sent is followed, not
        re-sent."""
        rec = self._record(w.sid)
        holding = {i: st.held(rec, i) for i in range(len(w.legs)) if st.held(rec, i) > 0}
        left: list[int] = []
        for i, qty in sorted(holding.items()):
            route = w.legs[i]
            coid = w.unwind_id(i)
            order = PlaceOrder(  # at market, no worse than the venue's price by the bound
                client_order_id=coid,
                instrument=route.order.instrument,
                side=Side.BUY if route.order.side is Side.SELL else Side.SELL,
                quantity=qty,
                max_slippage_bps=w.slippage_bps,
            )
            report: OrderStatusReport | None = None
            if st.started(self._record(w.sid), coid) is not None:
                report = await self._status(route.venue, coid)
            else:
                self._start(w, (i,), route.venue, order)
            if report is None:
                try:
                    report = await route.venue.place(order)
                except OmsError as exc:
                    log.warning("structure %s: unwind of leg %d failed: %s", w.sid, i, exc)
                    report = await self._status(route.venue, coid)
            if report is not None and report.filled_quantity < qty:
                report = await self._settled(route.venue, coid, report)
            if report is None or report.filled_quantity < qty:
                left.append(i)
            elif route.after_unwind is not None:
                await route.after_unwind()
        unwound = tuple(i for i in sorted(holding) if i not in left)
        if unwound:
            self._append(
                w.sid,
                StructureLegsReversed(
                    **envelope(self._clock),
                    structure_id=w.sid,
                    legs=unwound,
                    reason=f"{why}; unwound at market within {w.slippage_bps} bps",
                ),
            )
        return self._complete(w, "exposed" if left else "unwound")

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

    # --- helpers -----------------------------------------------------------------------------

    async def _status(self, venue: Venue, coid: ClientOrderId) -> OrderStatusReport | None:
        try:
            return await venue.status(coid)
        except OmsError:
            return None

    def _complete_leg(self, w: _Work, rec: StructureRecord, i: int) -> bool:
        return st.held(rec, i) >= w.legs[i].order.quantity

    def _holds_any(self, w: _Work) -> bool:
        rec = self._record(w.sid)
        return any(st.held(rec, i) > 0 for i in range(len(w.legs)))

    def _delta(self, w: _Work, rec: StructureRecord) -> Decimal:
        holding = {i: st.held(rec, i) for i in range(len(w.legs))}
        return st.leg_delta([r.order.side for r in w.legs], [r.delta_usd for r in w.legs], holding)

    def _start(self, w: _Work, legs: tuple[int, ...], venue: Venue, order: PlaceOrder) -> None:
        """The write-ahead record of ``order``: a restart finds it and asks the venue first."""
        self._append(
            w.sid,
            StructureSendStarted(
                **envelope(self._clock),
                structure_id=w.sid,
                legs=legs,
                venue=str(venue.venue_id),
                reference=order.client_order_id,
                side=order.side.value,
                quantity=order.quantity,
            ),
        )

    def _complete(self, w: _Work, outcome: str) -> StructureRecord:
        rec = self._record(w.sid)
        meter = st.replayed_exposure(
            rec,
            [r.order.side for r in w.legs],
            [r.delta_usd for r in w.legs],
            [r.order.quantity for r in w.legs],
            Decimal(0) if w.hedge is None else w.hedge.delta_usd,
            self._clock.now_ns(),
        )
        self._append(
            w.sid,
            StructureCompleted(
                **envelope(self._clock),
                structure_id=w.sid,
                outcome=outcome,
                exposure_usd_s=meter.exposure_usd_s,
                max_delta_usd=meter.max_delta_usd,
                legged_ns=meter.legged_ns,
            ),
        )
        return self._record(w.sid)

    def _record(self, sid: str) -> StructureRecord:
        return require_structure(self._store, sid)

    def _append(self, sid: str, event: Event, *, version: int | None = None) -> int:
        v = append_event(
            self._store,
            structure_stream(sid),
            self._record(sid).version if version is None else version,
            event,
        )
        self._on_step(event.TYPE)
        return v
