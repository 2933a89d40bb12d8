"""Keeping our state in line with each venue: report pumps and reconciliation.

:class:`VenueSync` applies what venues push (order status and fill reports, through the
:mod:`~oms_chain.engine.translator`), marks a venue for reconciliation whenever its outcome is
ambiguous (a send timed out, a report could not be applied, a venue ended an order with fills
it has not reported yet) and reconciles it: before the venue is used again, on demand, and in
the background (:class:`~oms_chain.engine.reconciler.Reconciler`). It holds one lock per
venue; every command that talks to a venue holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from oms_chain.engine.config import EngineConfig
from oms_chain.engine.journal import ENGINE_STREAM, Journal
from oms_chain.engine.reconciler import Reconciler, acceptance_deadline, judge, orders_to_check
from oms_chain.engine.retry import RetryPolicy
from oms_chain.engine.translator import events_from_report, fill_events
from oms_chain.model.errors import ReconciliationFailed, VenueTimeout, VenueUnavailable
from oms_chain.model.events import (
    Event,
    FillReversed,
    VenueReconciled,
    VenueReconciliationFailed,
)
from oms_chain.model.ids import EventId, OrderId, VenueId
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.venues.base import (
    BoundedAcceptance,
    FillReport,
    OrderStatusReport,
    Venue,
    VenueReport,
)

__all__ = ["VenueSync"]

log = logging.getLogger(__name__)

_UNSETTLED = (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)


class VenueSync:
    """Report pumps, per-venue locks and reconciliation of one engine.

    Args:
        journal: the engine's journal.
        venues: the engine's venues by id.
        config: reconcile timeout, send timeout, client order id prefix.
        now_ns: the engine's clock.
        sending: ids of children whose send is under way in this process (not ambiguous yet).
        retry: the background reconciler's backoff.
        sleeper: the engine's way to wait, looked up each time.
        ready: whether the engine trades (the background reconciler works only then).
        reconcile_in_background: what the background reconciler calls for a venue.
        on_fill_reversed: called with the parent id when a pushed report took a fill back.
        owns: whether this engine works a parent (``None``: every one). Reports and
            reconciliations touch only the children of parents it works; other workers of the
            store handle the rest.
    """

    def __init__(
        self,
        *,
        journal: Journal,
        venues: Mapping[VenueId, Venue],
        config: EngineConfig,
        now_ns: Callable[[], int],
        sending: Collection[OrderId],
        retry: RetryPolicy,
        sleeper: Callable[[], Any],
        ready: Callable[[], bool],
        reconcile_in_background: Callable[[VenueId], Awaitable[None]],
        on_fill_reversed: Callable[[OrderId], None],
        owns: Callable[[OrderId], bool] | None = None,
    ) -> None:
        self._journal = journal
        self._owns = owns
        self._venues = venues
        self._config = config
        self._now = now_ns
        self._sending = sending
        self._ready = ready
        self._on_fill_reversed = on_fill_reversed
        self._locks: dict[VenueId, asyncio.Lock] = {}
        self._pumps: list[asyncio.Task[None]] = []
        #: Venues to reconcile before they are used again.
        self.needs: set[VenueId] = set()
        #: When this process started (sends recorded before were made by a process now gone).
        self.started_ns = 0
        #: Set by the engine's stop(): a reconciliation that returns now records nothing.
        self.stopping = False
        self.reconciler = Reconciler(
            reconcile=reconcile_in_background,
            wanted=self.wanted,
            now_ns=now_ns,
            sleep_until=lambda ts: sleeper().sleep_until(ts),
            policy=retry,
        )

    def lock(self, venue_id: VenueId) -> asyncio.Lock:
        """The lock of ``venue_id`` (held by whoever talks to the venue)."""
        lock = self._locks.get(venue_id)
        if lock is None:
            lock = self._locks[venue_id] = asyncio.Lock()
        return lock

    def want(self, venue_id: VenueId) -> None:
        """``venue_id`` must be reconciled before it is used again; the background reconciler
        does it now, without waiting for the next order."""
        self.needs.add(venue_id)
        self.reconciler.poke(venue_id)

    def wanted(self) -> dict[VenueId, int | None]:
        """Venues the background reconciler must look at, with the earliest time a look can
        prove something (the close of a receive window), else ``None``."""
        if not self._ready():
            return {}
        out: dict[VenueId, int | None] = {v: None for v in self.needs}
        for o in self._journal.proj.orders.values():
            if o.parent_id is None or o.venue is None or o.status not in _UNSETTLED:
                continue
            if o.venue in self._venues and o.order_id in self._sending:
                continue
            if self._owns is not None and not self._owns(o.parent_id):
                continue  # another worker's child: its holder settles it
            deadline = self.acceptance_deadline(o)
            prev = out.get(o.venue)
            if o.venue not in out or (deadline is not None and (prev is None or deadline < prev)):
                out[o.venue] = deadline if o.venue not in self.needs else None
        return out

    def acceptance_deadline(self, order: Order) -> int | None:
        """When an unsettled ``order``'s request can no longer be accepted by its venue."""
        return acceptance_deadline(
            order,
            self._venues.get(order.venue) if order.venue is not None else None,
            started_ns=self.started_ns,
            send_timeout_s=self._config.send_timeout_s,
        )

    def may_still_arrive(self, order: Order) -> bool:
        """An unsettled ``order`` its venue does not show may still be accepted (its receive
        window is open): absence is not proof yet."""
        deadline = self.acceptance_deadline(order)
        return deadline is not None and self._now() < deadline

    # --- reports -----------------------------------------------------------------------------

    def translate(
        self, order: Order, report: OrderStatusReport, *, amended: bool = False
    ) -> list[Event]:
        """Events that bring ``order`` to the state the venue reports (see
        :func:`~oms_chain.engine.translator.events_from_report`); marks the venue for
        reconciliation when the report ends the order with fills not reported yet."""
        proj = self._journal.proj
        t = events_from_report(
            order,
            report,
            current=proj.order(order.order_id),
            fills=proj.fills,
            now=self._now(),
            amended=amended,
        )
        if t.reconcile and order.venue is not None:
            self.want(order.venue)
        return t.events

    def start_pumps(self) -> None:
        """Apply every venue's pushed reports from now on."""
        for vid, venue in self._venues.items():
            self.start_pump(vid, venue)

    def start_pump(self, venue_id: VenueId, venue: Venue) -> None:
        """Apply ``venue``'s pushed reports from now on (a venue added to a running engine)."""
        self._pumps.append(
            asyncio.create_task(self._pump(venue_id, venue), name=f"pump-{venue_id}")
        )

    async def stop_pumps(self) -> None:
        for t in self._pumps:
            t.cancel()
        for t in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._pumps.clear()

    async def _pump(self, venue_id: VenueId, venue: Venue) -> None:
        async for report in venue.events():
            try:
                async with self.lock(venue_id):
                    self.on_report(venue_id, report)
            except Exception:
                log.exception("report from %s could not be applied; will reconcile", venue_id)
                self.want(venue_id)

    def on_report(self, venue_id: VenueId, report: VenueReport) -> None:
        """Apply one pushed report (its venue's lock held)."""
        proj = self._journal.proj
        oid = proj.by_client_order_id.get(report.client_order_id)
        if oid is None:
            return
        order = proj.order(oid)
        stream = order.parent_id or order.order_id
        if self._owns is not None and not self._owns(OrderId(stream)):
            return  # another worker's parent: its holder applies the report
        if isinstance(report, FillReport):
            evs = fill_events(order, [report], known=proj.fills, now=self._now())
        else:
            evs = self.translate(order, report)
        if evs:
            self._journal.commit(stream, evs)
            if any(isinstance(e, FillReversed) for e in evs):
                self._on_fill_reversed(OrderId(stream))

    # --- reconciliation ----------------------------------------------------------------------

    async def reconcile_locked(self, venue_id: VenueId) -> None:
        """Reconcile ``venue_id``; caller holds its lock. Records the outcome as an event.

        Raises:
            ReconciliationFailed / VenueTimeout / VenueUnavailable: the venue's answer
                contradicts our state, or it did not answer.
        """
        venue = self._venues[venue_id]
        now = self._now()
        commit = self._journal.commit
        ours = orders_to_check(self._journal.proj.orders.values(), venue_id, venue, now)
        if self._owns is not None:
            owns = self._owns
            ours = [o for o in ours if o.parent_id is not None and owns(o.parent_id)]
        coids = [o.client_order_id for o in ours if o.client_order_id is not None]
        try:
            report = await asyncio.wait_for(
                venue.reconcile(coids), self._config.reconcile_timeout_s
            )
            if self.stopping:  # stop() cancelled us and wait_for swallowed it: record nothing
                raise asyncio.CancelledError
            # several workers: other workers' children the venue shows were recorded before
            # they were sent (write-ahead): read them now, so the venue shows nothing our
            # store lacks; our own children may have gained events from their last holder
            if self._owns is not None and self._journal.catch_up():
                ours = [self._journal.proj.order(o.order_id) for o in ours]
            verdict = judge(
                ours,
                report,
                venue_id=venue_id,
                bounded=isinstance(venue, BoundedAcceptance),
                now=now,
                translate=self.translate,
                may_still_arrive=self.may_still_arrive,
                known_client_order_ids=self._journal.proj.by_client_order_id,
                prefix=self._config.client_order_id_prefix + "-",
            )
            if verdict.problems:
                raise ReconciliationFailed("; ".join(verdict.problems))
            for stream, evs in verdict.per_stream.items():
                if evs:
                    commit(stream, evs)
        except Exception as exc:
            reason = str(exc) or repr(exc)
            failed = VenueReconciliationFailed(
                event_id=EventId("pending"),
                ts_event=now,
                ts_init=now,
                venue=venue_id,
                reason=reason,
            )
            commit(ENGINE_STREAM, [failed])
            if isinstance(exc, ReconciliationFailed | VenueTimeout | VenueUnavailable):
                raise
            raise ReconciliationFailed(f"venue {venue_id}: {reason}") from exc
        done = VenueReconciled(
            event_id=EventId("pending"),
            ts_event=report.ts_event,
            ts_init=now,
            venue=venue_id,
            orders_checked=len(ours),
            fills_recovered=verdict.recovered,
        )
        commit(ENGINE_STREAM, [done])
        self.needs.discard(venue_id)
