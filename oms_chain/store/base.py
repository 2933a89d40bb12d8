"""The :class:`EventStore` protocol every backend implements, and the raw row types it exposes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self, runtime_checkable

from oms_chain.store.events import NewEvent, RecordedEvent

__all__ = ["AppendRequest", "AuditRow", "ChainHead", "EventStore"]


class ChainHead(NamedTuple):
    """Position and hash of the last recorded event (``0`` and the genesis hash when empty)."""

    position: int
    hash: str


class AuditRow(NamedTuple):
    """One ``events`` row exactly as stored (``payload`` is the stored JSON text)."""

    position: int
    stream_id: str
    stream_version: int
    event_id: str
    event_type: str
    version: int
    payload: str
    ts_event: int
    ts_init: int
    causation_id: str | None
    correlation_id: str | None
    prev_hash: str
    hash: str


AppendRequest = tuple[str, Sequence[NewEvent], int | None]
"""``(stream_id, events, expected_version)``, one item of :meth:`EventStore.append_batch`."""


@runtime_checkable
class EventStore(Protocol):
    """An append-only, hash-chained event log with per-stream optimistic concurrency.

    Positions are global, 1-based and gap-free; stream versions are 1-based per stream. A
    stream's version is 0 before its first event. All ``read_*`` methods return events in
    position order. Implementations are safe to share between threads.
    """

    url: str
    """The store's URL with any password removed."""

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> list[RecordedEvent]:
        """Append ``events`` to ``stream_id`` atomically and return them as recorded.

        ``expected_version``: ``None`` appends whatever the stream's version; ``0`` or ``-1``
        requires the stream to be new; ``n > 0`` requires the stream to be at version ``n``.
        Appending ``[]`` only checks the version.

        Idempotent on ``event_id``: if *every* event was already recorded in this stream with
        the same content (a retry after a crash or a lost reply), nothing is written and the
        events already recorded are returned, whatever ``expected_version`` says.

        Raises:
            ConcurrencyConflict: the stream is not at ``expected_version``.
            DuplicateEvent: some event ids are recorded already but not all of them, or in
                another stream, or with other content; or an id repeats within the call.
            InvalidEvent: a bad argument; nothing is written.
            StoreUnavailable: the database is unreachable or locked past the timeout; the
                outcome is unknown, append the same events again.
        """
        ...

    def append_batch(self, requests: Sequence[AppendRequest]) -> list[list[RecordedEvent]]:
        """Several appends in one transaction: all are recorded or none is.

        Each item is checked as by :meth:`append`, in order, seeing the effect of earlier items
        (two items for the same stream chain their expected versions). Returns one list of
        recorded events per item.
        """
        ...

    def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        """Events of ``stream_id`` with ``stream_version > from_version`` (exclusive)."""
        ...

    def read_prefix(self, prefix: str) -> list[RecordedEvent]:
        """Events of every stream whose id starts with ``prefix`` (not empty), in position
        order; reads those streams only, not the whole log."""
        ...

    def read_all(self, from_position: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]:
        """Events with ``position > from_position`` (exclusive), at most ``limit`` of them.

        Reads lazily in pages; events appended while iterating are included. Pass the position
        of the last event you processed (or of a snapshot) to continue after it.
        """
        ...

    def read_by_correlation(self, correlation_id: str) -> list[RecordedEvent]:
        """Events whose ``correlation_id`` is ``correlation_id``."""
        ...

    def read_between(self, ts_from: int, ts_to: int) -> list[RecordedEvent]:
        """Events with ``ts_from <= ts_event < ts_to`` (nanoseconds, half-open)."""
        ...

    def last_position(self) -> int:
        """Position of the last recorded event, ``0`` when the store is empty."""
        ...

    def stream_version(self, stream_id: str) -> int:
        """Current version of ``stream_id`` (``0`` if it has no events)."""
        ...

    def head(self) -> ChainHead:
        """Position and hash of the last event as recorded in the chain-head row."""
        ...

    def read_audit_rows(self, from_position: int = 0) -> Iterator[AuditRow]:
        """Raw ``events`` rows with ``position > from_position``, in position order, unparsed."""
        ...

    def reserve_client_order_id(self, client_order_id: str, order_id: str) -> None:
        """Reserve ``client_order_id`` for ``order_id`` for the life of the store.

        Reserving the same pair again is a no-op.

        Raises:
            DuplicateClientOrderId: the id is reserved by another order.
        """
        ...

    def client_order_id_owner(self, client_order_id: str) -> str | None:
        """The order id holding ``client_order_id``, or ``None`` if it is free."""
        ...

    def save_snapshot(self, name: str, position: int, state: dict[str, Any]) -> None:
        """Store ``state`` (JSON-safe dict) as snapshot ``name`` taken at ``position``.

        Replaces an earlier snapshot of that name. ``position`` must be between 0 and
        :meth:`last_position`.
        """
        ...

    def load_snapshot(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """``(position, state)`` of snapshot ``name``, or ``None`` if there is none."""
        ...

    def delete_snapshots(self, names: Sequence[str]) -> None:
        """Delete these snapshots and their seals together, in one transaction (pruned journal
        entries); names without a snapshot are skipped. A row deleted without its seal is still
        reported tampered."""
        ...

    def close(self) -> None:
        """Close the connection; further calls raise :class:`StoreClosed`. Idempotent."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
