"""What the engine needs from an event store, and an in-memory implementation for tests.

:class:`EventLog` is the small subset of :class:`oms_chain.store.EventStore` the engine uses;
every store backend (``open_store("sqlite:///...")``, PostgreSQL) satisfies it, and so does
:class:`InMemoryEventLog`, which follows the same rules (1-based positions and stream versions,
optimistic concurrency, idempotent re-append, client order ids reserved for life).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from oms_chain.store.errors import ConcurrencyConflict, DuplicateClientOrderId, DuplicateEvent
from oms_chain.store.events import (
    GENESIS_HASH,
    NewEvent,
    RecordedEvent,
    canonical_record,
    chain_hash,
)

__all__ = ["EventLog", "InMemoryEventLog", "SnapshotLog", "append_event"]


@runtime_checkable
class SnapshotLog(Protocol):
    """An event log that also keeps named projection snapshots (every store backend does;
    :class:`InMemoryEventLog` does not, so the engine replays everything there)."""

    def save_snapshot(self, name: str, position: int, state: dict[str, Any]) -> None:
        """Save ``state`` as of ``position`` under ``name``."""
        ...

    def load_snapshot(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """The latest ``(position, state)`` saved under ``name``, ``None`` if none."""
        ...


@runtime_checkable
class EventLog(Protocol):
    """Append events to a stream with an expected version; read everything back in order."""

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> list[RecordedEvent]:
        """Append atomically; ``expected_version`` 0 = new stream, ``n`` = at version ``n``.

        Raises:
            ConcurrencyConflict: the stream is not at ``expected_version``.
        """
        ...

    def read_all(self, from_position: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]:
        """Events with ``position > from_position`` in position order."""
        ...

    def stream_version(self, stream_id: str) -> int:
        """Current version of ``stream_id`` (0 if empty)."""
        ...

    def reserve_client_order_id(self, client_order_id: str, order_id: str) -> None:
        """Reserve for life; same pair again is a no-op.

        Raises:
            DuplicateClientOrderId: reserved by another order.
        """
        ...


class InMemoryEventLog:
    """A thread-safe in-memory :class:`EventLog` (unit tests; nothing survives the process)."""

    url = "memory://"

    def __init__(self) -> None:
        self._events: list[RecordedEvent] = []
        self._streams: dict[str, int] = {}
        self._ids: dict[str, RecordedEvent] = {}
        self._coids: dict[str, str] = {}
        self._lock = threading.Lock()
        #: Number of append calls that wrote something (for tests).
        self.append_calls = 0

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> list[RecordedEvent]:
        with self._lock:
            if events and all(e.event_id in self._ids for e in events):
                old = [self._ids[e.event_id] for e in events]
                if all(
                    r.stream_id == stream_id
                    and r.payload == e.payload
                    and r.event_type == e.event_type
                    for r, e in zip(old, events, strict=True)
                ):
                    return old
            if any(e.event_id in self._ids for e in events):
                raise DuplicateEvent(f"event id already recorded in stream {stream_id!r}")
            if len({e.event_id for e in events}) != len(events):
                raise DuplicateEvent("an event id repeats within one append")
            current = self._streams.get(stream_id, 0)
            if expected_version is not None:
                wanted = max(expected_version, 0)
                if wanted != current:
                    raise ConcurrencyConflict(stream_id, expected_version, current)
            out: list[RecordedEvent] = []
            prev = self._events[-1].hash if self._events else GENESIS_HASH
            for i, e in enumerate(events, start=1):
                position = len(self._events) + 1
                record = canonical_record(
                    position=position,
                    stream_id=stream_id,
                    stream_version=current + i,
                    event_id=e.event_id,
                    event_type=e.event_type,
                    version=e.version,
                    payload_json=e.payload_json,
                    ts_event=e.ts_event,
                    ts_init=e.ts_init,
                    causation_id=e.causation_id,
                    correlation_id=e.correlation_id,
                )
                h = chain_hash(prev, record)
                r = RecordedEvent(
                    event_id=e.event_id,
                    event_type=e.event_type,
                    version=e.version,
                    payload=e.payload,
                    ts_event=e.ts_event,
                    ts_init=e.ts_init,
                    causation_id=e.causation_id,
                    correlation_id=e.correlation_id,
                    position=position,
                    stream_id=stream_id,
                    stream_version=current + i,
                    hash=h,
                    prev_hash=prev,
                )
                prev = h
                self._events.append(r)
                self._ids[e.event_id] = r
                out.append(r)
            self._streams[stream_id] = current + len(events)
            if events:
                self.append_calls += 1
            return out

    def read_all(self, from_position: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]:
        with self._lock:
            items = self._events[max(from_position, 0) :]
        if limit is not None:
            items = items[:limit]
        return iter(items)

    def stream_version(self, stream_id: str) -> int:
        with self._lock:
            return self._streams.get(stream_id, 0)

    def reserve_client_order_id(self, client_order_id: str, order_id: str) -> None:
        with self._lock:
            owner = self._coids.setdefault(client_order_id, order_id)
        if owner != order_id:
            raise DuplicateClientOrderId(client_order_id, order_id, owner)

    def __len__(self) -> int:
        return len(self._events)


def append_event(log: EventLog, stream_id: str, version: int, event: Any) -> int:
    """Append one domain ``event`` (an :class:`~oms_chain.model.events.Event`) to ``stream_id``
    at ``version``, its event id ``<stream>#<version + 1>``; returns the new version.

    Raises:
        ConcurrencyConflict: another writer moved the stream past ``version``.
    """
    eid = f"{stream_id}#{version + 1}"
    recs = log.append(
        stream_id,
        [
            NewEvent(
                event_id=eid,
                event_type=event.TYPE,
                version=event.VERSION,
                payload={**event.to_payload(), "event_id": eid},
                ts_event=event.ts_event,
                ts_init=event.ts_init,
                causation_id=event.causation_id,
                correlation_id=event.correlation_id,
            )
        ],
        version,
    )
    return int(recs[-1].stream_version)
