"""The engine's event journal and fan-out: every change is an event, applied and stored together.

:class:`Journal` owns the live :class:`~oms_chain.store.projections.Projections`, the stream
versions and the position in the store. :meth:`Journal.commit` applies events to the
projections and appends them to the store inside one projection transaction (if either fails,
neither happens), then hands them to every subscriber. It also replays the store at start
(after the projection snapshot, if the store keeps one), saves snapshots every
``snapshot_every`` events, keeps each algo parent's pause intervals, and raises a
:class:`~oms_chain.model.events.RiskAlertRaised` for every parent its fills took past its
intent (a late fill of a child already replaced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from oms_chain.engine.eventlog import EventLog, SnapshotLog
from oms_chain.model.algo_state import AlgoState
from oms_chain.model.errors import InvalidInput
from oms_chain.model.events import (
    AlgoStateChanged,
    Event,
    FillRecorded,
    RiskAlertRaised,
    event_from_payload,
)
from oms_chain.model.ids import EventId, OrderId
from oms_chain.store.errors import ConcurrencyConflict, StoreUnavailable
from oms_chain.store.events import NewEvent
from oms_chain.store.projections import Projections

__all__ = ["CLOSE", "ENGINE_STREAM", "SNAPSHOT_NAME", "Journal"]

log = logging.getLogger(__name__)

#: Stream of engine-wide events (trading state, reconciliation outcomes).
ENGINE_STREAM = "engine"
#: Name under which the engine saves its projection snapshot in the store.
SNAPSHOT_NAME = "engine-projections"
#: Put on a subscriber's queue when the journal closes (the engine stops).
CLOSE = object()


class Journal:
    """The event journal of one engine.

    Args:
        store: the event log.
        now_ns: the engine's clock.
        snapshot_every: save a projection snapshot every this many events (0: never).
        on_committed: called with the stamped events after they are applied and stored, before
            subscribers see them (the engine pokes its reconciler there).
        on_store_lost: called when the store stays unavailable after three attempts (the
            engine refuses to trade), before the error propagates.
    """

    def __init__(
        self,
        store: EventLog,
        *,
        now_ns: Callable[[], int],
        snapshot_every: int,
        on_committed: Callable[[Sequence[Event]], None],
        on_store_lost: Callable[[str], None],
    ) -> None:
        self.store = store
        self.proj = Projections()
        self._now = now_ns
        self._snapshot_every = snapshot_every
        self._on_committed = on_committed
        self._on_store_lost = on_store_lost
        self._versions: dict[str, int] = {}
        self._subscribers: list[asyncio.Queue[Any]] = []
        #: Parent id -> pause intervals ``(start_ns, end_ns or None while paused)``.
        self._pauses: dict[OrderId, list[tuple[int, int | None]]] = {}
        self._alerted: dict[OrderId, Decimal] = {}
        self.snapshot_position = 0
        #: Position of the last event folded into the projections.
        self.last_position = 0
        #: Every event up to here is folded (other writers' too); see :meth:`catch_up`.
        self.read_position = 0
        #: Positions of our own commits past :attr:`read_position` (folded already).
        self._own: set[int] = set()
        #: Alerts raised (overfills), newest last, for operators and tests.
        self.alerts: list[str] = []

    # --- start: snapshot and replay ---------------------------------------------------------

    def load_snapshot(self) -> None:
        """Start from the store's projection snapshot, if it keeps one (a bad one is ignored:
        everything is replayed)."""
        if not isinstance(self.store, SnapshotLog) or self.last_position:
            return
        found = self.store.load_snapshot(SNAPSHOT_NAME)
        if found is None:
            return
        position, state = found
        try:
            self.proj = Projections.from_snapshot(state)
        except InvalidInput as exc:
            log.warning("ignoring projection snapshot, replaying everything: %s", exc)
            return
        self.last_position = self.snapshot_position = position

    def save_snapshot(self) -> bool:
        """Save the projections at the current position (if the store keeps snapshots)."""
        if not isinstance(self.store, SnapshotLog) or self._own:
            # other writers' events lie between ours unread: the projections are no fold of a
            # prefix of the store, so they are no snapshot of any position
            return False
        self.store.save_snapshot(SNAPSHOT_NAME, self.last_position, self.proj.to_snapshot())
        self.snapshot_position = self.last_position
        return True

    def replay(self) -> int:
        """Fold every stored event after :attr:`last_position`; return how many."""
        n = 0
        for rec in self.store.read_all(self.last_position):
            event = event_from_payload(rec.event_type, rec.version, rec.payload)
            self.proj.apply(event)
            self._note_pause(event)
            self._versions[rec.stream_id] = rec.stream_version
            self.last_position = rec.position
            n += 1
        self.read_position = self.last_position
        return n

    def catch_up(self) -> int:
        """Fold the events other writers of the store appended since this journal last read
        it (several workers on one store); return how many.

        Our own commits are folded already and skipped. Streams are single-writer by lease
        (a parent's stream is written by the worker holding its lease), so folding in position
        order after our own later commits gives the same projections as a full replay.
        """
        n = 0
        for rec in self.store.read_all(self.read_position):
            self.read_position = rec.position
            if rec.position in self._own:
                self._own.discard(rec.position)
                continue
            event = event_from_payload(rec.event_type, rec.version, rec.payload)
            self.proj.apply(event)
            self._note_pause(event)
            if rec.stream_version > self._versions.get(rec.stream_id, 0):
                self._versions[rec.stream_id] = rec.stream_version
            n += 1
        self.last_position = max(self.last_position, self.read_position)
        return n

    # --- commit and fan-out ------------------------------------------------------------------

    def commit(self, stream: str, events: Sequence[Event]) -> None:
        """Apply ``events`` to the projections and append them to ``stream``, or neither.

        The engine-wide stream is shared by every worker of a store: when another one extended
        it first, the events are stamped again at its new version and appended once more
        (they are facts of this engine, true whatever the others recorded). A conflict on any
        other stream propagates: its writer is the holder of its lease.
        """
        if not events:
            return
        version = self._versions.get(stream)
        if version is None and stream != ENGINE_STREAM and stream not in self.proj.orders:
            # the stream of an order we do not know: new, as far as this engine decided. Asking
            # the store would let a paused worker re-create a parent another one created
            # meanwhile (several workers): at version 0 that is a ConcurrencyConflict instead
            version = 0
        elif version is None:  # not seen since the snapshot: ask the store
            version = self.store.stream_version(stream)
        for attempt in range(8):
            stamped, new = self._stamp(stream, events, version)
            try:
                with self.proj.transaction():
                    self.proj.apply_all(stamped)
                    recorded = self._append(stream, new, version)
                break
            except ConcurrencyConflict as exc:
                if stream != ENGINE_STREAM or attempt == 7:
                    raise
                version = exc.actual
        self._note_own(recorded)
        for e in stamped:
            self._note_pause(e)
        self._on_committed(stamped)
        self._versions[stream] = recorded[-1].stream_version
        self.last_position = max(self.last_position, recorded[-1].position)
        every = self._snapshot_every
        if every and self.last_position - self.snapshot_position >= every:
            try:
                self.save_snapshot()
            except Exception:
                log.exception("could not save a projection snapshot")
        for e in stamped:
            for q in self._subscribers:
                q.put_nowait(e)
        self._check_overfill(stamped)

    def _stamp(
        self, stream: str, events: Sequence[Event], version: int
    ) -> tuple[list[Event], list[NewEvent]]:
        first: str | None = None
        stamped: list[Event] = []
        for i, e in enumerate(events, start=1):
            eid = EventId(f"{stream}#{version + i}")
            stamped.append(replace(e, event_id=eid, causation_id=e.causation_id or first))
            first = first or eid
        new = [
            NewEvent(
                event_id=e.event_id,
                event_type=e.TYPE,
                version=e.VERSION,
                payload=e.to_payload(),
                ts_event=e.ts_event,
                ts_init=e.ts_init,
                causation_id=e.causation_id,
                correlation_id=e.correlation_id,
            )
            for e in stamped
        ]
        return stamped, new

    def _note_own(self, recorded: Sequence[Any]) -> None:
        """Advance :attr:`read_position` over our own appends while nobody wrote between."""
        for rec in recorded:
            if rec.position == self.read_position + 1 and not self._own:
                self.read_position = rec.position
            elif rec.position > self.read_position:
                self._own.add(rec.position)

    def subscribe(self) -> AsyncIterator[Event]:
        """Async iterator over every event committed from now on (ends on :meth:`close`)."""
        q = self.listen()

        async def gen() -> AsyncIterator[Event]:
            try:
                while True:
                    item = await q.get()
                    if item is CLOSE:
                        return
                    yield item
            finally:
                self.unlisten(q)

        return gen()

    def listen(self) -> asyncio.Queue[Any]:
        """A plain queue of every event committed from now on, then :data:`CLOSE`. (A wait on
        it that times out cancels only the ``get()``, where cancelling a generator's
        ``anext()`` would close the generator for good.) Give it back with :meth:`unlisten`."""
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers.append(q)
        return q

    def unlisten(self, q: asyncio.Queue[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(q)

    def close(self) -> None:
        """End every subscription."""
        for q in self._subscribers:
            q.put_nowait(CLOSE)

    # --- pauses and alerts -------------------------------------------------------------------

    def algo_pauses(self, parent_id: OrderId) -> tuple[tuple[int, int | None], ...]:
        """When algorithmic parent ``parent_id`` was paused: ``(start_ns, end_ns)`` intervals,
        the last one ending ``None`` while it is paused now."""
        if parent_id not in self._pauses and self.snapshot_position:
            # paused before the snapshot this process started from: read its stream once
            self._pauses[parent_id] = []
            for rec in self.store.read_all(0):
                if rec.stream_id == parent_id and rec.event_type == AlgoStateChanged.TYPE:
                    self._note_pause(event_from_payload(rec.event_type, rec.version, rec.payload))
        return tuple(self._pauses.get(parent_id, ()))

    def _note_pause(self, event: Event) -> None:
        """Keep each algo parent's pause intervals (its schedule clock stops while paused)."""
        if not isinstance(event, AlgoStateChanged):
            return
        spans = self._pauses.setdefault(event.order_id, [])
        open_span = bool(spans) and spans[-1][1] is None
        paused = event.state == AlgoState.PAUSED.value
        if paused and not open_span:
            spans.append((event.ts_event, None))
        elif not paused and open_span:
            spans[-1] = (spans[-1][0], event.ts_event)

    def _check_overfill(self, events: Sequence[Event]) -> None:
        """Raise a :class:`RiskAlertRaised` for every parent that ``events``' fills took past
        its quantity (a late fill of a child already replaced)."""
        parents: set[OrderId] = set()
        for e in events:
            if isinstance(e, FillRecorded):
                child = self.proj.orders.get(e.fill.order_id)
                if child is not None and child.parent_id is not None:
                    parents.add(child.parent_id)
        for pid in sorted(parents):
            parent = self.proj.order(pid)
            over = parent.filled_quantity - parent.quantity
            if over <= 0 or self._alerted.get(pid, Decimal(0)) >= over:
                continue
            self._alerted[pid] = over
            reason = (
                f"order {pid} filled {parent.filled_quantity}, {over} more than its intent's "
                f"{parent.quantity} (a late fill of a child that had ended); positions show "
                f"what the venues did — review and unwind the excess"
            )
            log.error("overfill: %s", reason)
            self.alerts.append(reason)
            now = self._now()
            alert = RiskAlertRaised(
                event_id=EventId("pending"),
                ts_event=now,
                ts_init=now,
                correlation_id=parent.intent_id,
                order_id=parent.order_id,
                kind="overfill",
                reason=reason,
                quantity=over,
            )
            self.commit(pid, [alert])

    def _append(self, stream: str, new: list[NewEvent], version: int) -> list[Any]:
        for attempt in range(3):
            try:
                return self.store.append(stream, new, version)
            except StoreUnavailable:
                if attempt == 2:
                    self._on_store_lost("event store unavailable; restart to replay and reconcile")
                    raise
        raise AssertionError("unreachable")
