"""Reconciliation: what a venue's answer proves, and ambiguity resolved in the background.

:func:`orders_to_check` picks the children a reconciliation asks a venue about;
:func:`judge` turns the venue's :class:`~oms_chain.venues.base.ReconciliationReport` into
events (per stream), the fills it recovered, and the contradictions that stop trading on the
venue. Absence is not proof: a child the venue does not show stays in flight until its request
can no longer be accepted (:func:`acceptance_deadline`), then it is proven never received.

Background reconciliation:

As soon as a send's outcome is unknown (a timeout, a 503 after the request may have left, a lost
answer) or a venue's report cannot be applied, the engine pokes the :class:`Reconciler`. It
reconciles each venue that needs it at once, then again with backoff
(:class:`~oms_chain.engine.retry.RetryPolicy`) until nothing of that venue is unsettled — and, for
a venue with a receive window, exactly when the window of a still-missing order closes, so that
"never received" is declared as early as it is true and no earlier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from oms_chain.engine.retry import RetryPolicy
from oms_chain.engine.translator import NOT_SENT
from oms_chain.model.events import Event, FillRecorded, OrderFailed
from oms_chain.model.ids import ClientOrderId, EventId, OrderId, VenueId
from oms_chain.model.orders import LATE_FILL_STATUSES, Order, OrderStatus, SettlementStatus
from oms_chain.venues.base import (
    BoundedAcceptance,
    OrderStatusReport,
    ReconciliationReport,
    SendBudget,
    Venue,
)

__all__ = [
    "LATE_FILL_HORIZON_NS",
    "Judgement",
    "Reconciler",
    "acceptance_deadline",
    "judge",
    "orders_to_check",
    "send_budget_s",
]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_UNSETTLED = (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)
_SETTLED = (SettlementStatus.FINAL, SettlementStatus.DROPPED, SettlementStatus.REPLACED)
#: How long after a child ended its venue is still asked for late fills (venues with a
#: receive window; at least the window itself).
LATE_FILL_HORIZON_NS = 60 * _NS


def send_budget_s(venue: Venue, default_s: float) -> float:
    """How long a send to ``venue`` may take: the engine's ``default_s``, or longer if the
    venue needs it (an on-chain venue waits for an approval or a wrap to be mined first)."""
    return max(default_s, venue.send_timeout_s if isinstance(venue, SendBudget) else 0.0)


def acceptance_deadline(
    order: Order, venue: Venue | None, *, started_ns: int, send_timeout_s: float
) -> int | None:
    """When an unsettled ``order``'s request can no longer be accepted by its venue (the
    latest moment it can have been signed + the venue's window), or ``None`` when the
    venue's "unknown" is proof at once. ``started_ns``: when this process started (a send
    recorded before it was made by a process that is gone)."""
    if venue is None or not isinstance(venue, BoundedAcceptance):
        return None
    if order.status is OrderStatus.IN_FLIGHT:
        signed_by = order.ts_last  # when the send was given up: it was signed before
    else:  # SENDING after a crash or a cancelled send: bounded by the send budget
        signed_by = order.ts_last + int(send_budget_s(venue, send_timeout_s) * _NS)
        if order.ts_last < started_ns:  # sent by a process that is gone
            signed_by = min(signed_by, started_ns)
    return signed_by + int(venue.acceptance_window_ns)


def _recently_ended(order: Order, now: int, horizon: int) -> bool:
    return (
        order.status in LATE_FILL_STATUSES
        and order.filled_quantity < order.quantity
        and now - order.ts_last < horizon
        and not (order.reason or "").startswith(NOT_SENT)
    )


def orders_to_check(
    orders: Iterable[Order], venue_id: VenueId, venue: Venue, now: int
) -> list[Order]:
    """The children a reconciliation of ``venue_id`` asks about: open ones, on-chain ones whose
    transaction is not settled yet (a filled swap can still be reorged out) and, at a venue
    with a receive window, ones that ended lately without filling completely (a fill may have
    crossed their end)."""
    horizon = 0
    if isinstance(venue, BoundedAcceptance):
        horizon = max(LATE_FILL_HORIZON_NS, int(venue.acceptance_window_ns))
    return [
        o
        for o in orders
        if o.venue == venue_id
        and o.parent_id is not None
        and (
            not o.is_terminal
            or (o.settlement is not None and o.settlement.status not in _SETTLED)
            or _recently_ended(o, now, horizon)
        )
    ]


@dataclass(slots=True)
class Judgement:
    """What a venue's reconciliation report proves: events per stream (parent order id),
    fills recovered, and contradictions (non-empty: the venue is not in line)."""

    per_stream: dict[OrderId, list[Event]] = field(default_factory=dict)
    recovered: int = 0
    problems: list[str] = field(default_factory=list)


def judge(
    ours: Sequence[Order],
    report: ReconciliationReport,
    *,
    venue_id: VenueId,
    bounded: bool,
    now: int,
    translate: Callable[[Order, OrderStatusReport], list[Event]],
    may_still_arrive: Callable[[Order], bool],
    known_client_order_ids: Mapping[ClientOrderId, OrderId],
    prefix: str,
) -> Judgement:
    """Judge ``report`` against ``ours`` (from :func:`orders_to_check`).

    ``translate`` gives the events of one order's report
    (:func:`~oms_chain.engine.translator.events_from_report`); ``may_still_arrive`` whether
    an unsettled order's request may still be accepted; ``known_client_order_ids`` every
    client order id in our log; ``prefix`` ours (a venue order with it that our log lacks is a
    contradiction).
    """
    out = Judgement()
    by_coid = {r.client_order_id: r for r in report.orders}
    unknown = set(report.unknown)
    for o in ours:
        coid = o.client_order_id
        assert coid is not None
        stream = o.parent_id or o.order_id
        r = by_coid.get(coid)
        if r is not None:
            evs = translate(o, r)
            new_fills = [e.fill for e in evs if isinstance(e, FillRecorded)]
            out.recovered += len(new_fills)
            backed = o.filled_quantity + sum((f.quantity for f in new_fills), Decimal(0))
            if r.filled_quantity > backed:
                out.problems.append(
                    f"venue reports {r.filled_quantity} filled for order {coid} but only "
                    f"{backed} is backed by fills it reported; not trading on "
                    f"{venue_id} until the fills are accounted for"
                )
            out.per_stream.setdefault(stream, []).extend(evs)
        elif o.is_terminal:
            pass  # ended lately and not (or no longer) shown: nothing came late
        elif coid in unknown and o.status in _UNSETTLED and may_still_arrive(o):
            log.info(
                "venue %s does not show %s yet; its request may still be accepted "
                "until its receive window closes: it stays in flight",
                venue_id,
                coid,
            )
        elif coid in unknown and o.status in _UNSETTLED:
            out.per_stream.setdefault(stream, []).append(
                OrderFailed(
                    event_id=EventId("pending"),
                    ts_event=report.ts_event,
                    ts_init=now,
                    correlation_id=o.intent_id,
                    order_id=o.order_id,
                    reason=f"venue {venue_id} never received client order id {coid}"
                    + (" within its receive window" if bounded else "")
                    + "; proven not executed, not re-sent",
                )
            )
        elif coid in unknown:
            out.problems.append(f"venue has no record of {o.status.value} order {coid}")
        else:
            out.problems.append(f"venue did not report order {coid}")
    for r in report.orders:
        if r.client_order_id not in known_client_order_ids and r.client_order_id.startswith(prefix):
            out.problems.append(
                f"venue holds order {r.client_order_id} that is not in our event log"
            )
    return out


class Reconciler:
    """Reconciles venues in the background.

    Args:
        reconcile: reconciles one venue now (raises on failure).
        wanted: venue -> earliest time (ns) a reconciliation is useful, for every venue that
            needs one (``None``: no deadline, backoff only).
        now_ns: the engine's clock.
        sleep_until: waits until a time of that clock (an algos ``Sleeper.sleep_until``).
        policy: the backoff between attempts on one venue.
    """

    def __init__(
        self,
        *,
        reconcile: Callable[[VenueId], Awaitable[None]],
        wanted: Callable[[], Mapping[VenueId, int | None]],
        now_ns: Callable[[], int],
        sleep_until: Callable[[int], Awaitable[None]],
        policy: RetryPolicy,
    ) -> None:
        self._reconcile = reconcile
        self._wanted = wanted
        self._now = now_ns
        self._sleep_until = sleep_until
        self._policy = policy
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._attempts: dict[VenueId, int] = {}
        self._next: dict[VenueId, int] = {}
        #: Reconciliations run (for tests and operators).
        self.runs = 0

    def poke(self, venue_id: VenueId | None = None) -> None:
        """Something became ambiguous (at ``venue_id``): look now, backoff from scratch.
        Starts the background task on the running event loop if it is not running there."""
        if venue_id is not None:
            self._attempts.pop(venue_id, None)
            self._next.pop(venue_id, None)
        if self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            if task is not None and not task.done():
                task.cancel()
            self._wake = asyncio.Event()
            self._task = loop.create_task(self.run(), name="reconciler")
        self._wake.set()

    async def stop(self) -> None:
        """Stop the background task (for good)."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            if task.get_loop() is asyncio.get_running_loop():
                await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """Run until cancelled (normally started by :meth:`poke`)."""
        # A cancellation can be swallowed by a venue call finishing at the same moment
        # (asyncio.wait_for), so the loop also checks the stop flag.
        while not self._stopped:
            self._wake.clear()
            wanted = self._wanted()
            for vid in list(self._attempts):
                if vid not in wanted:  # settled: the next ambiguity starts from scratch
                    del self._attempts[vid]
                    self._next.pop(vid, None)
            now = self._now()
            for vid, deadline in wanted.items():
                if self._stopped:
                    return
                if self._next.get(vid, now) > now:
                    continue
                try:
                    self.runs += 1
                    await self._reconcile(vid)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.info("background reconciliation of %s failed: %s", vid, exc)
                attempt = self._attempts[vid] = self._attempts.get(vid, 0) + 1
                after = self._now()
                at = after + self._policy.delay_ns(attempt)
                if deadline is not None and after < deadline < at:
                    at = deadline
                self._next[vid] = at
            wanted = self._wanted()
            if self._stopped:
                return
            if not wanted:
                await self._wake.wait()
                continue
            wake_at = min(self._next.get(v, self._now()) for v in wanted)
            await self._wait(wake_at)

    async def _wait(self, wake_at_ns: int) -> None:
        if self._wake.is_set() or wake_at_ns <= self._now():
            return
        tasks: list[asyncio.Task[object]] = [
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(self._sleep_until(wake_at_ns)),  # type: ignore[arg-type]
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
