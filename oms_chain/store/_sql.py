"""The backend-independent half of the SQL event stores.

Subclasses provide a DB-API connection and a few dialect hooks (how to open a write transaction
that serializes appenders, placeholder style, how to look up many event ids); everything about
versions, idempotency, the hash chain and validation lives here once.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from hashlib import sha256
from types import TracebackType
from typing import Any, Self

from oms_chain.store._appends import _payload, _replayed, _stale_ids, _validate_requests
from oms_chain.store._schema import SCHEMA_VERSION
from oms_chain.store._seals import chain_hash_at, read_snapshot, seal_unsealed
from oms_chain.store.base import AppendRequest, AuditRow, ChainHead
from oms_chain.store.errors import (
    ConcurrencyConflict,
    DuplicateClientOrderId,
    DuplicateEvent,
    InvalidEvent,
    StoreClosed,
    StoreReadOnly,
    StoreTampered,
)
from oms_chain.store.events import (
    GENESIS_HASH,
    NewEvent,
    RecordedEvent,
    check_id,
    check_int,
    json_text,
    quoted,
    snapshot_seal,
)

__all__: list[str] = []

_INT64_MAX = 2**63 - 1
PAGE_SIZE = 5000

# Column order matches RecordedEvent's fields, so rows map onto it positionally.
_RECORDED_COLUMNS = (
    "event_id, event_type, version, payload, ts_event, ts_init, causation_id, correlation_id, "
    "position, stream_id, stream_version, hash, prev_hash"
)
AUDIT_COLUMNS = (
    "position, stream_id, stream_version, event_id, event_type, version, payload, ts_event, "
    "ts_init, causation_id, correlation_id, prev_hash, hash"
)
_INSERT_EVENT = (
    f"INSERT INTO events ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

Cursor = Any  # a DB-API cursor of the backend's driver


class SqlEventStore:
    """Shared implementation of :class:`~oms_chain.store.base.EventStore` over DB-API."""

    url: str
    _placeholder = "?"
    _integrity_errors: tuple[type[Exception], ...] = ()
    """The driver's unique-violation exceptions."""
    has_seals = True
    """False only for a store opened read-only that predates snapshot seals."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        #: Opened with ``read_only=True``: every write raises :class:`StoreReadOnly`.
        self.read_only = read_only
        self._lock = threading.RLock()
        self._closed = False
        self._sql_cache: dict[str, str] = {}
        #: (name prefix, check) pairs: see :meth:`fence_snapshots`.
        self._snapshot_fences: list[tuple[str, Callable[[Cursor, str], None]]] = []

    # -- dialect hooks -----------------------------------------------------------------------

    def _write_tx(self) -> AbstractContextManager[Cursor]:
        """A transaction that excludes every other writer (of any process) until it ends."""
        raise NotImplementedError

    def _read_cursor(self) -> AbstractContextManager[Cursor]:
        """A cursor for reads outside any long-lived transaction."""
        raise NotImplementedError

    def _lock_head(self, cur: Cursor) -> tuple[int, str]:
        """Inside ``_write_tx``: read (and lock, where the dialect needs it) the chain head."""
        raise NotImplementedError

    def _rows_for_event_ids(self, cur: Cursor, event_ids: list[str]) -> list[Sequence[Any]]:
        """``_RECORDED_COLUMNS`` rows (payload as text) for the given event ids."""
        raise NotImplementedError

    def _close_connection(self) -> None:
        raise NotImplementedError

    def _insert_events(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``events`` rows (columns in ``AUDIT_COLUMNS`` order)."""
        cur.executemany(self._q(_INSERT_EVENT), rows)

    # -- helpers -----------------------------------------------------------------------------

    def _q(self, sql: str) -> str:
        if self._placeholder == "?":
            return sql
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = self._sql_cache[sql] = sql.replace("?", self._placeholder)
        return cached

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"event store {self.url} is closed")

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnly(
                f"event store {self.url} is open read-only (for auditing); open it without "
                f"read_only to write"
            )

    def _chain_hash_at(self, cur: Cursor, position: int) -> str | None:
        return chain_hash_at(self._q, cur, position)

    def _init_rows(self, cur: Cursor) -> str:
        """Inside the writer's setup: the head row, schema version and store id if missing, and
        seals for old snapshots; returns the stored schema version."""
        cur.execute(
            self._q(
                "INSERT INTO chain_head (id, position, hash) VALUES (1, 0, ?) "
                "ON CONFLICT (id) DO NOTHING"
            ),
            (GENESIS_HASH,),
        )
        for key, value in (("schema_version", SCHEMA_VERSION), ("store_id", uuid.uuid4().hex)):
            cur.execute(
                self._q(
                    "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
                ),
                (key, value),
            )
        cur.execute("SELECT value FROM store_meta WHERE key = 'schema_version'")
        found = str(cur.fetchone()[0])
        cur.execute("SELECT value FROM store_meta WHERE key = 'snapshot_seals'")
        if found == SCHEMA_VERSION and cur.fetchone() is None:
            # Once, for a store written before seals existed; afterwards an unsealed snapshot
            # is an intruder's, reported and never blessed.
            seal_unsealed(self._q, cur)
            cur.execute(
                self._q(
                    "INSERT INTO store_meta (key, value) VALUES ('snapshot_seals', '1') "
                    "ON CONFLICT (key) DO NOTHING"
                )
            )
        return found

    def _fetch_recorded(self, sql: str, params: Sequence[Any]) -> list[RecordedEvent]:
        with self._lock:
            self._check_open()
            with self._read_cursor() as cur:
                cur.execute(self._q(sql), params)
                rows = cur.fetchall()
        make, payload = RecordedEvent, _payload
        return [
            make(r[0], r[1], r[2], payload(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                 r[11], r[12])
            for r in rows
        ]  # fmt: skip

    # -- appends -----------------------------------------------------------------------------

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> list[RecordedEvent]:
        return self.append_batch([(stream_id, events, expected_version)])[0]

    def append_batch(self, requests: Sequence[AppendRequest]) -> list[list[RecordedEvent]]:
        items = _validate_requests(requests)
        self._check_writable()
        with self._lock:
            self._check_open()
            # Fast path: assume every event id is new (the normal case) and let the unique index
            # say otherwise. A duplicate id or a version conflict may be a retried append, so
            # the transaction is rolled back and redone looking up the ids first.
            redo: tuple[type[Exception], ...] = (ConcurrencyConflict, *self._integrity_errors)
            try:
                return self._fast_append(items)
            except redo:
                pass
            with self._write_tx() as cur:
                return self._append_locked(cur, items, look_up_ids=True)

    def _fast_append(
        self, items: list[tuple[str, list[NewEvent], int | None]]
    ) -> list[list[RecordedEvent]]:
        """The append of (presumably) new event ids; raises ConcurrencyConflict or a unique
        violation of the driver to have the caller redo it looking the ids up."""
        with self._write_tx() as cur:
            return self._append_locked(cur, items, look_up_ids=False)

    def _append_locked(
        self,
        cur: Cursor,
        items: list[tuple[str, list[NewEvent], int | None]],
        *,
        look_up_ids: bool,
    ) -> list[list[RecordedEvent]]:
        position, prev_hash = self._lock_head(cur)
        existing: dict[str, Sequence[Any]] = {}
        all_ids = [e.event_id for _, events, _ in items for e in events]
        if all_ids and look_up_ids:
            existing = {row[0]: row for row in self._rows_for_event_ids(cur, all_ids)}
        versions: dict[str, int] = {}
        rows: list[tuple[Any, ...]] = []
        results: list[list[RecordedEvent]] = []
        for stream_id, events, expected in items:
            current = versions.get(stream_id)
            if current is None:
                cur.execute(
                    self._q("SELECT MAX(stream_version) FROM events WHERE stream_id = ?"),
                    (stream_id,),
                )
                current = cur.fetchone()[0] or 0
            if existing and events:
                known = [e for e in events if e.event_id in existing]
                if known:
                    try:
                        results.append(_replayed(stream_id, events, known, existing))
                    except DuplicateEvent:
                        if _stale_ids(stream_id, expected, current, known, existing):
                            # Ids derived from a stale view of this stream (e.g. "stream#n"):
                            # another writer got there first, which is a conflict, not reuse.
                            raise ConcurrencyConflict(stream_id, expected or 0, current) from None
                        raise
                    continue
            if expected is not None and max(expected, 0) != current:
                raise ConcurrencyConflict(stream_id, expected, current)
            recorded = []
            quoted_stream = quoted(stream_id)
            for e in events:
                position += 1
                current += 1
                record = (
                    f'{e._head}"position":{position},"stream_id":{quoted_stream},'
                    f'"stream_version":{current},{e._tail}'
                )
                digest = sha256((prev_hash + record).encode()).hexdigest()
                rows.append(
                    (position, stream_id, current, e.event_id, e.event_type, e.version,
                     e.payload_json, e.ts_event, e.ts_init, e.causation_id, e.correlation_id,
                     prev_hash, digest)
                )  # fmt: skip
                recorded.append(
                    RecordedEvent(
                        e.event_id, e.event_type, e.version, e.payload, e.ts_event, e.ts_init,
                        e.causation_id, e.correlation_id, position, stream_id, current, digest,
                        prev_hash,
                    )
                )  # fmt: skip
                prev_hash = digest
            versions[stream_id] = current
            results.append(recorded)
        if rows:
            self._insert_events(cur, rows)
            cur.execute(
                self._q("UPDATE chain_head SET position = ?, hash = ? WHERE id = 1"),
                (position, prev_hash),
            )
        return results

    # -- reads -------------------------------------------------------------------------------

    def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        check_id(stream_id, "stream_id")
        check_int(from_version, "from_version", 0, _INT64_MAX)
        return self._fetch_recorded(
            f"SELECT {_RECORDED_COLUMNS} FROM events WHERE stream_id = ? AND stream_version > ? "
            "ORDER BY stream_version",
            (stream_id, from_version),
        )

    _binary_order = ""
    """How the dialect compares ``stream_id`` by code point (SQLite's default collation does;
    PostgreSQL's follows the database's locale unless told ``COLLATE "C"``)."""

    def read_prefix(self, prefix: str) -> list[RecordedEvent]:
        check_id(prefix, "prefix")
        # a range over the (stream_id, stream_version) index, by code point: from ``prefix`` up
        # to the first string after every id that starts with it
        head = prefix.rstrip(chr(0x10FFFF))
        col = f"stream_id{self._binary_order}"
        if head:
            after = ord(head[-1]) + 1
            upper = head[:-1] + chr(0xE000 if 0xD800 <= after <= 0xDFFF else after)
            sql = f"SELECT {_RECORDED_COLUMNS} FROM events WHERE {col} >= ? AND {col} < ? "
            params: tuple[str, ...] = (prefix, upper)
        else:
            sql, params = f"SELECT {_RECORDED_COLUMNS} FROM events WHERE {col} >= ? ", (prefix,)
        rows = self._fetch_recorded(sql + "ORDER BY position", params)
        return [r for r in rows if r.stream_id.startswith(prefix)]

    def read_all(self, from_position: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]:
        check_int(from_position, "from_position", 0, _INT64_MAX)
        if limit is not None:
            check_int(limit, "limit", 0, _INT64_MAX)
        return self._read_all(from_position, limit)

    def _read_all(self, after: int, limit: int | None) -> Iterator[RecordedEvent]:
        remaining = _INT64_MAX if limit is None else limit
        sql = f"SELECT {_RECORDED_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        while remaining > 0:
            page = self._fetch_recorded(sql, (after, min(PAGE_SIZE, remaining)))
            if not page:
                return
            yield from page
            after = page[-1].position
            remaining -= len(page)

    def read_audit_rows(self, from_position: int = 0) -> Iterator[AuditRow]:
        check_int(from_position, "from_position", 0, _INT64_MAX)
        return self._read_audit_rows(from_position)

    def _read_audit_rows(self, after: int) -> Iterator[AuditRow]:
        sql = self._q(
            f"SELECT {AUDIT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        )
        while True:
            with self._lock:
                self._check_open()
                with self._read_cursor() as cur:
                    cur.execute(sql, (after, PAGE_SIZE))
                    rows = cur.fetchall()
            if not rows:
                return
            for row in rows:
                yield AuditRow(*row)
            after = rows[-1][0]

    def read_by_correlation(self, correlation_id: str) -> list[RecordedEvent]:
        check_id(correlation_id, "correlation_id")
        return self._fetch_recorded(
            f"SELECT {_RECORDED_COLUMNS} FROM events WHERE correlation_id = ? ORDER BY position",
            (correlation_id,),
        )

    def read_between(self, ts_from: int, ts_to: int) -> list[RecordedEvent]:
        check_int(ts_from, "ts_from", 0, _INT64_MAX)
        check_int(ts_to, "ts_to", 0, _INT64_MAX)
        return self._fetch_recorded(
            f"SELECT {_RECORDED_COLUMNS} FROM events WHERE ts_event >= ? AND ts_event < ? "
            "ORDER BY position",
            (ts_from, ts_to),
        )

    def _scalar(self, sql: str, params: Sequence[Any]) -> Any:
        with self._lock:
            self._check_open()
            with self._read_cursor() as cur:
                cur.execute(self._q(sql), params)
                row = cur.fetchone()
        return None if row is None else row[0]

    def last_position(self) -> int:
        return int(self._scalar("SELECT position FROM chain_head WHERE id = 1", ()))

    def stream_version(self, stream_id: str) -> int:
        check_id(stream_id, "stream_id")
        found = self._scalar(
            "SELECT MAX(stream_version) FROM events WHERE stream_id = ?", (stream_id,)
        )
        return int(found or 0)

    def head(self) -> ChainHead:
        with self._lock:
            self._check_open()
            with self._read_cursor() as cur:
                cur.execute("SELECT position, hash FROM chain_head WHERE id = 1")
                position, digest = cur.fetchone()
        return ChainHead(int(position), digest)

    # -- client order ids --------------------------------------------------------------------

    def reserve_client_order_id(self, client_order_id: str, order_id: str) -> None:
        check_id(client_order_id, "client_order_id")
        check_id(order_id, "order_id")
        self._check_writable()
        with self._lock:
            self._check_open()
            with self._write_tx() as cur:
                cur.execute(
                    self._q(
                        "INSERT INTO client_order_ids (client_order_id, order_id) VALUES (?, ?) "
                        "ON CONFLICT (client_order_id) DO NOTHING"
                    ),
                    (client_order_id, order_id),
                )
                cur.execute(
                    self._q("SELECT order_id FROM client_order_ids WHERE client_order_id = ?"),
                    (client_order_id,),
                )
                owner = cur.fetchone()[0]
        if owner != order_id:
            raise DuplicateClientOrderId(client_order_id, order_id, owner)

    def client_order_id_owner(self, client_order_id: str) -> str | None:
        check_id(client_order_id, "client_order_id")
        owner = self._scalar(
            "SELECT order_id FROM client_order_ids WHERE client_order_id = ?", (client_order_id,)
        )
        return None if owner is None else str(owner)

    # -- snapshots ---------------------------------------------------------------------------

    def fence_snapshots(self, prefix: str, check: Callable[[Cursor, str], None]) -> None:
        """Run ``check(cursor, name)`` inside the transaction of every later write or delete
        of a snapshot whose name starts with ``prefix``; a raise aborts that write (nothing
        changes). Workers fence their signer's journals with the account lease this way
        (:meth:`oms_chain.store.Leases.fence_snapshots`)."""
        self._snapshot_fences.append((prefix, check))

    def _check_fences(self, cur: Cursor, names: Sequence[str]) -> None:
        for prefix, check in self._snapshot_fences:
            for name in names:
                if name.startswith(prefix):
                    check(cur, name)

    def save_snapshot(self, name: str, position: int, state: dict[str, Any]) -> None:
        check_id(name, "snapshot name")
        check_int(position, "snapshot position", 0, _INT64_MAX)
        text = json_text(state, f"state of snapshot {name!r}")
        self._check_writable()
        with self._lock:
            self._check_open()
            with self._write_tx() as cur:
                self._check_fences(cur, [name])
                cur.execute("SELECT position FROM chain_head WHERE id = 1")
                last = cur.fetchone()[0]
                if position > last:
                    raise InvalidEvent(
                        f"snapshot {name!r} claims position {position}, but the store's last "
                        f"position is {last}"
                    )
                cur.execute(
                    self._q(
                        "INSERT INTO snapshots (name, position, state) VALUES (?, ?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                        "state = excluded.state"
                    ),
                    (name, position, text),
                )
                seal = snapshot_seal(name, position, text, self._chain_hash_at(cur, position) or "")
                cur.execute(
                    self._q(
                        "INSERT INTO snapshot_seals (name, seal) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET seal = excluded.seal"
                    ),
                    (name, seal),
                )

    def delete_snapshots(self, names: Sequence[str]) -> None:
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise InvalidEvent(f"names must be a sequence of snapshot names, not {names!r}")
        for name in names:
            check_id(name, "snapshot name")
        rows = [(name,) for name in names]
        self._check_writable()
        with self._lock:
            self._check_open()
            with self._write_tx() as cur:
                self._check_fences(cur, names)
                cur.executemany(self._q("DELETE FROM snapshots WHERE name = ?"), rows)
                cur.executemany(self._q("DELETE FROM snapshot_seals WHERE name = ?"), rows)

    def load_snapshot(self, name: str) -> tuple[int, dict[str, Any]] | None:
        check_id(name, "snapshot name")
        with self._lock:
            self._check_open()
            with self._read_cursor() as cur:
                row, problem = read_snapshot(self._q, cur, name, sealed=self.has_seals)
        if problem is not None:
            raise StoreTampered("snapshots", name, problem)
        if row is None:
            return None
        return int(row[0]), json.loads(row[1])

    def snapshot_problems(self) -> list[tuple[str, str]]:
        """``(name, problem)`` for every snapshot row or seal that does not check out.

        Used by :func:`oms_chain.store.integrity.check_restart_state` and ``oms audit verify``;
        an empty list means every snapshot is sealed, bound to the chain and unedited.
        """
        if not self.has_seals:
            return [
                (
                    "*",
                    "this store has no snapshot seals (written by an older oms-chain): its "
                    "snapshots cannot be checked; open it once with a writer to seal them",
                )
            ]
        with self._lock:
            self._check_open()
            with self._read_cursor() as cur:
                cur.execute("SELECT name FROM snapshots UNION SELECT name FROM snapshot_seals")
                names = sorted(str(r[0]) for r in cur.fetchall())
                problems = []
                for name in names:
                    _row, problem = read_snapshot(self._q, cur, name)
                    if problem is not None:
                        problems.append((name, problem))
        return problems

    def client_order_ids(self) -> dict[str, str]:
        """Every reserved client order id and the order holding it."""
        with self._lock:
            self._check_open()
            with self._read_cursor() as cur:
                cur.execute("SELECT client_order_id, order_id FROM client_order_ids")
                rows = cur.fetchall()
        return {str(c): str(o) for c, o in rows}

    def store_id(self) -> str | None:
        """The store's identity (``store_meta.store_id``), ``None`` for a store written before
        identities existed and not opened by a writer since."""
        found = self._scalar("SELECT value FROM store_meta WHERE key = 'store_id'", ())
        return None if found is None else str(found)

    def head_row(self) -> ChainHead | None:
        """The chain-head row as stored, ``None`` when the row is missing (deleted)."""
        with self._lock:
            self._check_open()
            with self._read_cursor() as cur:
                cur.execute("SELECT position, hash FROM chain_head WHERE id = 1")
                row = cur.fetchone()
        return None if row is None else ChainHead(int(row[0]), str(row[1]))

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_connection()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"{type(self).__name__}({self.url!r}, {state})"
