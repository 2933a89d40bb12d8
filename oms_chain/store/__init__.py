"""Event store: an append-only, hash-chained log of every state change, on SQLite or PostgreSQL.

Open one with :func:`open_store` (``create=False`` refuses to create a missing store)::

    with open_store("sqlite:///oms.db") as store:            # or postgresql://user@host/db
        recorded = store.append("order-42", [NewEvent(...)], expected_version=0)
        for event in store.read_all(from_position=snapshot_position):
            ...

Interface (the :class:`EventStore` protocol, implemented by :class:`SqliteEventStore` and
:class:`PostgresEventStore`; both use one schema, see ``_schema.py``):

``append(stream_id, events, expected_version) -> list[RecordedEvent]``
    Atomic; positions are global, 1-based and gap-free, stream versions 1-based.
    ``expected_version``: ``None`` = any, ``0``/``-1`` = stream must be new, ``n`` = stream must be
    at ``n``, else :class:`ConcurrencyConflict` (names stream, expected and actual version).
    Idempotent on ``event_id``: re-appending exactly an earlier append's events (same ids,
    stream and content) writes nothing and *returns the recorded events*, whatever
    ``expected_version`` says (a retry after a crash or a lost reply is safe). Reusing an id
    for other content, another stream, or mixed with new events raises :class:`DuplicateEvent`.
``append_batch([(stream_id, events, expected_version), ...]) -> list[list[RecordedEvent]]``
    Several appends in one transaction, all or nothing.
``read_stream(stream_id, from_version=0)`` — events with ``stream_version > from_version``.
``read_all(from_position=0, limit=None)`` — lazy iterator over ``position > from_position``
    (exclusive: pass the last position you processed, e.g. a snapshot's).
``read_by_correlation(correlation_id)``, ``read_between(ts_from, ts_to)`` (``ts_from <= ts_event <
    ts_to``, ns) — lists in position order.
``last_position()``, ``stream_version(stream_id)``, ``head() -> ChainHead(position, hash)``,
``read_audit_rows(from_position=0)`` — raw rows for auditing.
``reserve_client_order_id(client_order_id, order_id)`` — persistent, unique for the life of the
    store; the same pair again is a no-op; another order raises :class:`DuplicateClientOrderId`.
    ``client_order_id_owner(client_order_id) -> str | None``.
``save_snapshot(name, position, state)`` / ``load_snapshot(name) -> (position, state) | None``
    / ``delete_snapshots(names)`` (rows and their seals together, one transaction).
``close()``; stores are context managers and may be shared between threads.

Bad arguments raise :class:`InvalidEvent` before anything is written (a :class:`NewEvent` with a
non-JSON payload cannot even be built). A lost or locked database raises
:class:`StoreUnavailable` (retryable; the outcome of an interrupted append is unknown, so append
the same events again — idempotency makes that safe). Every error derives from
:class:`oms_chain.model.OmsError`.

URLs (see :mod:`oms_chain.store.url`): ``sqlite:///relative.db``, ``sqlite:////absolute.db``
(SQLAlchemy's convention), ``sqlite:///:memory:``, ``?synchronous=FULL``;
``postgresql://user:password@host:port/db`` (passwords never appear in messages). SQLite runs in
WAL mode with ``synchronous=NORMAL``: commits survive a crash or ``kill -9`` of the process.
Appends are serialized across processes (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a
``SELECT ... FOR UPDATE`` on the single ``chain_head`` row), so the chain never forks.

Audit: :func:`verify_audit` recomputes the chain (``hash = sha256(prev_hash || canonical JSON of
the record)``, global across streams in position order) and names the first edited, deleted,
inserted or reordered row; :func:`export_audit` writes JSONL or CSV. ``open_store(url,
read_only=True)`` opens a store for auditing without ever changing it (SQLite ``immutable=1`` /
``mode=ro``; PostgreSQL ``default_transaction_read_only``); a missing or empty store is an error.
An :class:`Anchor` (:mod:`oms_chain.store.anchors`) is a chain head published outside the store
(a JSON-lines file, :func:`append_anchor_file` / :func:`read_anchor_file`; an ``AuditAnchor``
contract event); ``verify_audit(store, anchors=...)``
detects a truncated, re-hashed or rewritten log against it.

Restart state beside the chain: every snapshot is sealed to the chain hash at its position and
checked by every ``load_snapshot`` (:class:`StoreTampered` names the table and row);
:func:`check_restart_state` (called by the engine at start) also re-derives the projections
snapshot and the client-order-id reservations from the events; :func:`state_problems` lists
every mismatch (``oms audit verify``).

Several writers (:mod:`oms_chain.store.concurrency`): :func:`new_event_id` makes UUIDv7 ids that
no two processes share; :func:`append_with_retry` re-reads a stream's version and rebuilds the
events after a :class:`ConcurrencyConflict` (:class:`RetriesExhausted` when every attempt lost).
An append whose version-derived ids (``"stream#n"``) collide because its view was stale reports
:class:`ConcurrencyConflict`, not :class:`DuplicateEvent`. On PostgreSQL, appends of up to 64
events are one server-side call, so the chain-head lock that orders all writers is held briefly.

Work distribution (:mod:`oms_chain.store.leases`): :class:`Leases` over an open SQL store holds
an intents queue (``enqueue``, ``claim`` with ``FOR UPDATE SKIP LOCKED``, ``finish``), leases with
expiry and fencing tokens on any resource (``try_acquire``, ``heartbeat``, ``release``; parents
are ``PARENT_PREFIX + intent id``), and ``record_send(resource, token, send_id, payload,
appends=...)``, which refuses a stale token (:class:`StaleFencingToken`) or an expired lease
(:class:`LeaseExpired`) in the same transaction that records the send and its events.

Projections (orders, fills, positions) live in :mod:`oms_chain.store.projections`.
"""

from oms_chain.store.anchors import Anchor, append_anchor_file, read_anchor_file
from oms_chain.store.audit import AuditReport, export_audit, verify_audit
from oms_chain.store.base import AppendRequest, AuditRow, ChainHead, EventStore
from oms_chain.store.concurrency import RetriesExhausted, append_with_retry, new_event_id
from oms_chain.store.errors import (
    ConcurrencyConflict,
    DuplicateClientOrderId,
    DuplicateEvent,
    InvalidEvent,
    InvalidStoreUrl,
    StoreClosed,
    StoreError,
    StoreReadOnly,
    StoreSchemaMismatch,
    StoreTampered,
    StoreUnavailable,
)
from oms_chain.store.events import GENESIS_HASH, NewEvent, RecordedEvent
from oms_chain.store.integrity import StateProblem, check_restart_state, state_problems
from oms_chain.store.leases import (
    PARENT_PREFIX,
    ClaimedIntent,
    DuplicateIntent,
    DuplicateSend,
    Lease,
    LeaseError,
    LeaseExpired,
    LeaseInfo,
    LeaseLost,
    Leases,
    SendRecord,
    StaleFencingToken,
)
from oms_chain.store.postgres import PostgresEventStore
from oms_chain.store.sqlite import SqliteEventStore
from oms_chain.store.url import open_store

__all__ = [
    "GENESIS_HASH",
    "PARENT_PREFIX",
    "Anchor",
    "AppendRequest",
    "AuditReport",
    "AuditRow",
    "ChainHead",
    "ClaimedIntent",
    "ConcurrencyConflict",
    "DuplicateClientOrderId",
    "DuplicateEvent",
    "DuplicateIntent",
    "DuplicateSend",
    "EventStore",
    "InvalidEvent",
    "InvalidStoreUrl",
    "Lease",
    "LeaseError",
    "LeaseExpired",
    "LeaseInfo",
    "LeaseLost",
    "Leases",
    "NewEvent",
    "PostgresEventStore",
    "RecordedEvent",
    "RetriesExhausted",
    "SendRecord",
    "SqliteEventStore",
    "StaleFencingToken",
    "StateProblem",
    "StoreClosed",
    "StoreError",
    "StoreReadOnly",
    "StoreSchemaMismatch",
    "StoreTampered",
    "StoreUnavailable",
    "append_anchor_file",
    "append_with_retry",
    "check_restart_state",
    "export_audit",
    "new_event_id",
    "open_store",
    "read_anchor_file",
    "state_problems",
    "verify_audit",
]
