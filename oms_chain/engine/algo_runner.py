"""Drives an algorithm's :class:`~oms_chain.algos.Scheduler` against the engine.

The runner keeps nothing of its own worth persisting: each turn it reads the parent and its
children from the engine, asks the scheduler (a pure function of that state, the time and market
observations) and acts through the engine (:meth:`spawn_child` is idempotent on the child's
sequence number). A runner killed at any point and started again over the same engine state —
or over the state the engine replays after a restart — continues the schedule where it stands
and never spawns a child twice.

It wakes when something happens to the parent or one of its children (fills, acks, cancels,
pause / resume) and at the time the scheduler asked for.

A paused algo's schedule clock stops: the scheduler sees *schedule time* (now minus the time spent
paused, :meth:`AlgoEngine.algo_pauses`), so the rest of the schedule shifts by the pause. The
intent's ``deadline_ns`` is a hard deadline in real time: once it has passed the algo ends, with a
reason saying so, paused or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Protocol

from oms_chain.algos import needs_market, scheduler_for
from oms_chain.algos.base import (
    Decision,
    MarketData,
    MarketRequest,
    MarketSnapshot,
    ParentView,
    Scheduler,
    Sleeper,
)
from oms_chain.engine.retry import RetryPolicy
from oms_chain.model.algo_state import AlgoState
from oms_chain.model.errors import InvalidInput, InvalidIntent, OmsError
from oms_chain.model.events import Event
from oms_chain.model.ids import OrderId, VenueId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Intent, Side
from oms_chain.model.orders import Order
from oms_chain.venues.base import LiquidityCurve, Venue

__all__ = [
    "ALGO_RETRY",
    "AlgoEngine",
    "AlgoRunner",
    "VenueMarketData",
    "paused_before",
    "runner_for",
]

log = logging.getLogger(__name__)

#: Backoff of a runner built without the engine's policy: 1 s, doubling, at most 60 s.
ALGO_RETRY = RetryPolicy(initial_s=1.0, factor=2.0, max_s=60.0)
_CLOSE_ATTEMPTS = 3


class AlgoEngine(Protocol):
    """The engine calls an :class:`AlgoRunner` uses."""

    def order(self, order_id: OrderId) -> Order: ...

    def subscribe(self) -> AsyncIterator[Event]: ...

    def algo_state(self, parent_id: OrderId) -> AlgoState: ...

    async def spawn_child(
        self,
        parent_id: OrderId,
        *,
        seq: int,
        venue: VenueId,
        quantity: Decimal,
        limit_price: Decimal | None,
    ) -> Order: ...

    async def spawn_routed(
        self,
        parent_id: OrderId,
        *,
        seq: int,
        quantity: Decimal,
        limit_price: Decimal | None,
    ) -> list[Order]: ...

    async def cancel(self, order_id: OrderId) -> Order: ...

    async def stop_algo(self, parent_id: OrderId, reason: str) -> Order: ...

    def algo_pauses(self, parent_id: OrderId) -> tuple[tuple[int, int | None], ...]: ...


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")


def paused_before(pauses: Iterable[tuple[int, int | None]], ts_ns: int) -> int:
    """Nanoseconds spent paused before ``ts_ns`` (an open pause counts up to ``ts_ns``)."""
    total = 0
    for start, end in pauses:
        stop = ts_ns if end is None else min(end, ts_ns)
        if stop > start:
            total += stop - start
    return total


def _about(event: Event) -> OrderId | None:
    oid = getattr(event, "order_id", None)
    if oid is None:
        fill = getattr(event, "fill", None)
        oid = getattr(fill, "order_id", None)
    return oid


class AlgoRunner:
    """Runs one algorithmic parent until it is terminal, cancelled or its schedule ends.

    Args:
        engine: the engine (see :class:`AlgoEngine` for the calls used).
        parent_id: the parent order.
        scheduler: decides the next actions (:func:`oms_chain.algos.scheduler_for`).
        sleeper: the time source and the way to wait (manual in tests).
        market: market observations, for schedulers that ask for them.
        intent: the parent's intent (default: the scheduler's ``intent`` attribute).
        retry: backoff after a failed engine call or decision (default :data:`ALGO_RETRY`;
            the engine passes its own policy, the one its split runners and background
            reconciliation use).
    """

    def __init__(
        self,
        engine: AlgoEngine,
        parent_id: OrderId,
        *,
        scheduler: Scheduler,
        sleeper: Sleeper,
        market: MarketData | None = None,
        intent: Intent | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._engine = engine
        self._pid = parent_id
        self._scheduler = scheduler
        self._sleeper = sleeper
        self._market = market
        found = intent if intent is not None else getattr(scheduler, "intent", None)
        if not isinstance(found, Intent):
            raise InvalidIntent(f"AlgoRunner for {parent_id} needs the parent's intent")
        self._intent: Intent = found
        self._retry = retry or ALGO_RETRY
        self._failures = 0
        self._wake = asyncio.Event()
        self._closed = False
        #: The latest decisions (up to 100), for tests and diagnostics.
        self.decisions: deque[Decision] = deque(maxlen=100)
        #: The parent as it stood when :meth:`run` returned.
        self.final: Order | None = None

    @property
    def parent_id(self) -> OrderId:
        return self._pid

    async def run(self) -> None:
        """Drive the schedule until the runner stops (:attr:`final` is then the parent).

        Stops when the parent is terminal, its algo is cancelled (open children are cancelled
        first), the scheduler says it is done (open children are cancelled and the parent
        closed), or the engine's event stream ends (engine stopped).
        """
        events = self._engine.subscribe()
        pump = asyncio.create_task(self._pump(events), name=f"algo-events-{self._pid}")
        try:
            self.final = await self._loop()
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, events: AsyncIterator[Event]) -> None:
        prefix = f"{self._pid}/"
        async for event in events:
            oid = _about(event)
            if oid is not None and (oid == self._pid or oid.startswith(prefix)):
                self._wake.set()
        self._closed = True
        self._wake.set()

    async def _loop(self) -> Order:
        while True:
            self._wake.clear()
            parent = self._engine.order(self._pid)
            if parent.is_terminal or self._closed:
                return parent
            state = AlgoState(self._engine.algo_state(self._pid))
            if state is AlgoState.CANCELLED:
                return await self._close(parent, "algo cancelled")
            now = self._sleeper.now_ns()
            deadline = self._intent.deadline_ns
            if deadline is not None and now >= deadline:
                left = parent.quantity - parent.filled_quantity
                how = " while paused" if state is AlgoState.PAUSED else ""
                return await self._close(
                    parent,
                    f"hard deadline passed{how} with {_plain(left)} of "
                    f"{_plain(parent.quantity)} unfilled",
                )
            if state is AlgoState.PAUSED:
                await self._wait(deadline)
                continue
            pauses = self._engine.algo_pauses(self._pid)
            shift = paused_before(pauses, now)
            view = self._view(parent, now, pauses)
            try:
                market = await self._observe(self._scheduler.market_request(view))
                decision = self._scheduler.decide(view, market)
            except Exception:
                log.exception("algo %s: could not decide; trying again later", self._pid)
                await self._wait(self._retry_at(now))
                continue
            self.decisions.append(decision)
            ok = await self._act(view, decision)
            if decision.done and ok:
                return await self._close(self._engine.order(self._pid), decision.reason)
            wake = None if decision.wake_at_ns is None else decision.wake_at_ns + shift
            if ok:
                self._failures = 0
            else:
                retry = self._retry_at(now)
                wake = retry if wake is None else min(wake, retry)
            if deadline is not None:
                wake = deadline if wake is None else min(wake, deadline)
            await self._wait(wake)

    def _retry_at(self, now_ns: int) -> int:
        self._failures += 1
        return now_ns + self._retry.delay_ns(self._failures)

    def _view(
        self, parent: Order, now_ns: int, pauses: tuple[tuple[int, int | None], ...]
    ) -> ParentView:
        """The parent in schedule time: real times minus the time spent paused before them."""
        children = []
        for cid in parent.children:
            child = self._engine.order(cid)
            if pauses:
                child = child.in_schedule_time(paused_before(pauses, child.ts_init))
            children.append(child)
        return ParentView.of(self._intent, parent, children, now_ns - paused_before(pauses, now_ns))

    async def _observe(self, request: MarketRequest) -> MarketSnapshot:
        if request.empty or self._market is None:
            return MarketSnapshot()
        market = self._market
        intent = self._intent
        curves = []
        if request.curves:
            for venue in intent.venues:
                try:
                    curves.append(await market.liquidity(venue, intent.instrument, intent.side))
                except Exception as exc:
                    log.warning("algo %s: no liquidity from %s: %r", self._pid, venue, exc)
        volume = None
        if request.volume_since_ns is not None:
            try:
                volume = await market.traded_volume(
                    intent.instrument, request.volume_since_ns, self._sleeper.now_ns()
                )
            except Exception as exc:
                log.warning("algo %s: no traded volume: %r", self._pid, exc)
        buckets = None
        if request.buckets is not None:
            start, width, count = request.buckets
            buckets = await market.volume_buckets(intent.instrument, start, width, count)
        return MarketSnapshot(curves=tuple(curves), market_volume=volume, volume_buckets=buckets)

    async def _act(self, view: ParentView, decision: Decision) -> bool:
        by_seq = {c.seq: c for c in view.children}
        ok = True
        for c in decision.cancel:
            child = by_seq.get(c.seq)
            if child is None or not child.is_open:
                continue
            try:
                await self._engine.cancel(child.order_id)
            except OmsError as exc:
                log.warning("algo %s: cancel of child %s failed: %s", self._pid, c.seq, exc)
                ok = False
        for s in decision.spawn:
            try:
                if s.venue is not None:
                    await self._engine.spawn_child(
                        self._pid,
                        seq=s.seq,
                        venue=s.venue,
                        quantity=s.quantity,
                        limit_price=s.limit_price,
                    )
                else:  # routed at its own time over the intent's venues
                    await self._engine.spawn_routed(
                        self._pid, seq=s.seq, quantity=s.quantity, limit_price=s.limit_price
                    )
            except OmsError as exc:
                log.warning("algo %s: child %s not spawned: %s", self._pid, s.seq, exc)
                ok = False
                break
        return ok

    async def _close(self, parent: Order, reason: str) -> Order:
        """End the algo through the engine: open children cancelled, the parent closed."""
        log.info("algo %s stops: %s", self._pid, reason)
        for _ in range(_CLOSE_ATTEMPTS):
            if parent.is_terminal:
                return parent
            try:
                return await self._engine.stop_algo(self._pid, reason)
            except OmsError as exc:
                log.warning("algo %s: closing failed: %s", self._pid, exc)
                await self._wait(self._retry_at(self._sleeper.now_ns()))
                parent = self._engine.order(self._pid)
        return parent

    async def _wait(self, wake_at_ns: int | None) -> None:
        """Until something happens to the parent or ``wake_at_ns`` (if given) is reached."""
        if self._wake.is_set():
            return
        tasks: list[asyncio.Task[object]] = [asyncio.create_task(self._wake.wait())]
        if wake_at_ns is not None:
            tasks.append(asyncio.create_task(self._sleeper.sleep_until(wake_at_ns)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class VenueMarketData:
    """:class:`~oms_chain.algos.base.MarketData` from the venues' own liquidity curves.

    Venues report no market-wide traded volume, so the volume questions raise
    :class:`~oms_chain.model.errors.InvalidInput`: VWAP without a ``profile`` param and the
    participation cap need a real market data source.
    """

    def __init__(self, venues: Iterable[Venue]) -> None:
        self._venues = {v.venue_id: v for v in venues}

    async def liquidity(self, venue: VenueId, instrument: Instrument, side: Side) -> LiquidityCurve:
        found = self._venues.get(venue)
        if found is None:
            raise InvalidInput(f"no venue {venue!r} to observe (have {sorted(self._venues)})")
        return await found.liquidity(instrument, side)

    async def traded_volume(self, instrument: Instrument, start_ns: int, end_ns: int) -> Decimal:
        raise InvalidInput("venue quotes carry no traded volume; configure market data")

    async def volume_buckets(
        self, instrument: Instrument, start_ns: int, bucket_ns: int, count: int
    ) -> tuple[Decimal, ...]:
        raise InvalidInput("venue quotes carry no volume history; configure market data")


def runner_for(
    engine: AlgoEngine,
    parent: Order,
    intent: Intent,
    *,
    sleeper: Sleeper,
    market: MarketData | None,
    retry: RetryPolicy | None = None,
) -> AlgoRunner:
    """The runner for an algorithmic ``parent`` of ``intent`` (scheduler picked by
    ``intent.algo``). The engine calls it on submit and, after a restart, for every open algo
    parent.

    Raises:
        InvalidIntent: not an algo intent, a bad param, or the algo needs market data and
            ``market`` is ``None``.
    """
    scheduler = scheduler_for(intent)
    if market is None and needs_market(scheduler):
        raise InvalidIntent(
            f"algo {intent.algo!r} of intent {intent.intent_id} needs market data "
            f"(volume profile, liquidity or traded volume) and the engine has none"
        )
    return AlgoRunner(
        engine,
        parent.order_id,
        scheduler=scheduler,
        sleeper=sleeper,
        market=market,
        intent=intent,
        retry=retry,
    )
