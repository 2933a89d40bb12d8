"""Write-ahead requests to venues: place, cancel and amend, each recorded before it leaves.

The events describing a send (child created, submitted) are committed *before* the venue is
called, under a client order id reserved in the store for life. The venue's answer is recorded
after; if none comes (timeout, lost response, crash) the child stays ``IN_FLIGHT`` — never
failed — and the venue is marked for reconciliation. A request that provably never left
(:class:`~oms_chain.model.errors.VenueUnavailable`) fails the child as retryable. Nothing is
ever re-sent blindly.

The caller (the engine's command surface) validates input, holds the venue's lock and runs the
risk gate; :class:`Placement` talks to the venue and records what happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from oms_chain.engine.config import EngineConfig
from oms_chain.engine.eventlog import EventLog
from oms_chain.engine.fence import SendFence
from oms_chain.engine.journal import Journal
from oms_chain.engine.reconciler import send_budget_s
from oms_chain.engine.translator import NOT_SENT, child_events, order_envelope
from oms_chain.model.errors import InvalidInput, VenueRejected, VenueTimeout, VenueUnavailable
from oms_chain.model.events import (
    Event,
    OrderCancelRequested,
    OrderFailed,
    OrderOutcomeUnknown,
    OrderRejected,
)
from oms_chain.model.ids import (
    ClientOrderId,
    OrderId,
    VenueId,
    child_order_id,
    client_order_id,
)
from oms_chain.model.intent import Intent
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.store.errors import DuplicateClientOrderId
from oms_chain.venues.base import AmendOrder, OrderStatusReport, PlaceOrder, Venue

__all__ = ["Placement"]

log = logging.getLogger(__name__)

_UNSETTLED = (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)

#: ``translate(order, report, amended=...)``: the events of a venue's report on ``order``.
Translate = Callable[..., list[Event]]


class Placement:
    """Sends, cancels and amends children at their venues, write-ahead.

    Args:
        journal: where events are committed (and the projections read).
        store: reserves client order ids.
        venues: the engine's venues by id.
        config: send timeout and client order id prefix.
        now_ns: the engine's clock.
        lock: the lock of a venue (held around a cancel; callers hold it for the rest).
        want_reconcile: marks a venue for reconciliation before it is used again.
        reconcile_locked: reconciles a venue now (its lock held).
        translate: the events of a venue's report (the engine's report translator).
        sending: where the children whose send is under way are kept (shared with the
            reconciliation, which leaves them alone).
        fence: checks each send just before it leaves (several workers on one store);
            ``None``: no check.
    """

    def __init__(
        self,
        *,
        journal: Journal,
        store: EventLog,
        venues: Mapping[VenueId, Venue],
        config: EngineConfig,
        now_ns: Callable[[], int],
        lock: Callable[[VenueId], asyncio.Lock],
        want_reconcile: Callable[[VenueId], None],
        reconcile_locked: Callable[[VenueId], Awaitable[None]],
        translate: Translate,
        sending: set[OrderId],
        fence: SendFence | None = None,
    ) -> None:
        self._journal = journal
        self._fence = fence
        self._store = store
        self._venues = venues
        self._config = config
        self._now = now_ns
        self._lock = lock
        self._want_reconcile = want_reconcile
        self._reconcile_locked = reconcile_locked
        self._translate = translate
        #: Children whose send is under way in this process (not yet ambiguous).
        self.sending = sending

    def _kw(self, order: Order) -> dict[str, Any]:
        return order_envelope(order, now=self._now())

    def _coid(self, intent: Intent, seq: int) -> ClientOrderId:
        return client_order_id(intent.intent_id, seq, prefix=self._config.client_order_id_prefix)

    async def open_direct(
        self, intent: Intent, venue_id: VenueId, pid: OrderId, parent_events: list[Event]
    ) -> None:
        """Commit an accepted direct parent's ``parent_events`` with its one child (under the
        first free client order id), then send the child."""
        seq = 0
        child_id = child_order_id(pid, seq)
        coid = self._coid(intent, seq)
        while True:
            try:
                self._store.reserve_client_order_id(coid, child_id)
                break
            except DuplicateClientOrderId:
                # Held by another order: a different intent hashed to it (or was reserved by a
                # crashed process under another id). Never reuse; take the next sequence.
                seq += 1
                child_id = child_order_id(pid, seq)
                coid = self._coid(intent, seq)
        qty = parent_events[0].quantity  # type: ignore[attr-defined]
        children = child_events(
            (pid, intent.intent_id),
            seq,
            child_id,
            coid,
            venue_id,
            qty,
            intent.limit_price,
            now=self._now(),
        )
        self._journal.commit(pid, parent_events + children)
        await self.send(self._journal.proj.order(child_id), intent)

    async def open_child(
        self,
        parent: Order,
        intent: Intent,
        *,
        seq: int,
        venue: VenueId,
        quantity: Decimal,
        limit_price: Decimal | None,
    ) -> Order:
        """Reserve child ``seq``'s client order id, commit the child, send it; return it.

        Raises:
            InvalidInput: the client order id is held by another order.
        """
        child_id = child_order_id(parent.order_id, seq)
        coid = self._coid(intent, seq)
        try:
            self._store.reserve_client_order_id(coid, child_id)
        except DuplicateClientOrderId as exc:
            raise InvalidInput(
                f"client order id {coid} for child {seq} of {parent.order_id} is held by "
                f"another order; use another seq"
            ) from exc
        events = child_events(
            (parent.order_id, parent.intent_id),
            seq,
            child_id,
            coid,
            venue,
            quantity,
            limit_price,
            now=self._now(),
        )
        self._journal.commit(parent.order_id, events)
        await self.send(self._journal.proj.order(child_id), intent)
        return self._journal.proj.order(child_id)

    async def send(self, child: Order, intent: Intent) -> None:
        """Place ``child`` (already recorded as submitted) and record the venue's answer."""
        assert child.venue is not None and child.client_order_id is not None
        venue = self._venues[child.venue]
        request = PlaceOrder(
            client_order_id=child.client_order_id,
            instrument=child.instrument,
            side=child.side,
            quantity=child.quantity,
            limit_price=child.limit_price,
            max_slippage_bps=intent.max_slippage_bps,
            deadline_ns=intent.deadline_ns,
        )
        pid = child.parent_id or child.order_id
        commit = self._journal.commit
        # A venue may need longer than the engine's default (an on-chain venue waits for an
        # approval or a wrap to be mined before it sends the swap).
        budget = send_budget_s(venue, self._config.send_timeout_s)
        if self._fence is not None:
            # raises LeaseLost if another worker holds the parent now: nothing leaves, and
            # the child stays SENDING for the new holder to reconcile
            self._fence.before_send(child)
        self.sending.add(child.order_id)
        try:
            report = await asyncio.wait_for(venue.place(request), budget)
        except asyncio.CancelledError:
            # Stopped mid-send (engine stop, task cancelled): the child stays SENDING and the
            # venue is reconciled before it is used again.
            self._want_reconcile(child.venue)
            raise
        except VenueRejected as exc:
            commit(pid, [OrderRejected(**self._kw(child), reason=str(exc), source="venue")])
            return
        except VenueUnavailable as exc:
            failed = OrderFailed(**self._kw(child), reason=f"{NOT_SENT}{exc}", retryable=True)
            commit(pid, [failed])
            return
        except Exception as exc:
            self._want_reconcile(child.venue)
            log.warning("send of %s to %s ambiguous: %r", child.order_id, child.venue, exc)
            unknown = OrderOutcomeUnknown(**self._kw(child), reason=f"outcome unknown: {exc!r}")
            commit(pid, [unknown])
            return
        finally:
            self.sending.discard(child.order_id)
        commit(pid, self._translate(child, report))

    async def cancel(self, parent: Order, targets: Sequence[Order]) -> None:
        """Cancel each of ``targets`` (children of ``parent``) at its venue, recording what the
        venue answers; an unsettled child is reconciled first.

        Raises:
            VenueTimeout: a venue did not answer; that child stays open until reconciled.
        """
        proj = self._journal.proj
        for child in targets:
            assert child.venue is not None and child.client_order_id is not None
            async with self._lock(child.venue):
                requested = OrderCancelRequested(**self._kw(child), requested_by="user")
                self._journal.commit(parent.order_id, [requested])
                current = proj.order(child.order_id)
                if current.status in _UNSETTLED:
                    self._want_reconcile(child.venue)
                    await self._reconcile_locked(child.venue)
                    proj = self._journal.proj
                    current = proj.order(child.order_id)
                if current.is_terminal:
                    continue
                venue = self._venues[child.venue]
                if self._fence is not None:
                    # raises LeaseLost if another worker holds the parent now: the cancel
                    # does not leave (the new holder decides)
                    self._fence.before_cancel(current)
                try:
                    report = await asyncio.wait_for(
                        venue.cancel(current.client_order_id),  # type: ignore[arg-type]
                        self._config.send_timeout_s,
                    )
                except VenueRejected:
                    self._want_reconcile(child.venue)
                    await self._reconcile_locked(child.venue)
                    continue
                except Exception as exc:
                    self._want_reconcile(child.venue)
                    raise VenueTimeout(
                        f"cancel of {child.order_id} on {child.venue}: no answer ({exc!r}); "
                        f"the order stays open until reconciled"
                    ) from exc
                self._journal.commit(parent.order_id, self._translate(current, report))

    async def amend(
        self, parent: Order, child: Order, quantity: Decimal, limit_price: Decimal | None
    ) -> None:
        """Ask ``child``'s venue (its lock held) to amend it to ``quantity`` at
        ``limit_price`` and record the answer.

        Raises:
            VenueRejected: the venue refused; nothing changed.
            VenueTimeout: no answer; the venue is reconciled before it is used again.
        """
        assert child.venue is not None and child.client_order_id is not None
        request = AmendOrder(
            client_order_id=child.client_order_id, quantity=quantity, limit_price=limit_price
        )
        if self._fence is not None:
            self._fence.before_amend(child, quantity, limit_price)  # LeaseLost: nothing leaves
        try:
            report: OrderStatusReport = await asyncio.wait_for(
                self._venues[child.venue].amend(request), self._config.send_timeout_s
            )
        except VenueRejected:
            raise
        except Exception as exc:
            self._want_reconcile(child.venue)
            raise VenueTimeout(
                f"amend of {child.order_id} on {child.venue}: no answer ({exc!r}); "
                f"it will be reconciled before the venue is used again"
            ) from exc
        self._journal.commit(parent.order_id, self._translate(child, report, amended=True))
