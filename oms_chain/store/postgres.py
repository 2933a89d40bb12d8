"""PostgreSQL backend (psycopg 3): several processes, or hosts, sharing one store.

The connection runs in autocommit mode; every write is an explicit transaction. Appends lock the
single ``chain_head`` row with ``SELECT ... FOR UPDATE`` first, so all appenders of all
processes are serialized: each sees the committed head and stream versions of the previous one,
and positions, versions and the hash chain stay gap-free and unforked. Reads take no locks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from oms_chain.store._schema import SCHEMA_VERSION, TABLE_COLUMNS, schema_statements
from oms_chain.store._sql import _RECORDED_COLUMNS, AUDIT_COLUMNS, Cursor, SqlEventStore
from oms_chain.store.errors import (
    ConcurrencyConflict,
    InvalidStoreUrl,
    StoreSchemaMismatch,
    StoreUnavailable,
)
from oms_chain.store.events import NewEvent, RecordedEvent, quoted
from oms_chain.store.url import redact_url

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the installation
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresEventStore"]

# pg_advisory_xact_lock key guarding schema creation: 'oms-chn' as an integer.
_SCHEMA_LOCK_KEY = 0x6F6D_732D_6368_6E

# Appends of up to this many events run as one server-side call in one round trip (commit
# included), so the chain-head row lock is held for the server's work and the commit only, not
# for five client round trips: what lets several writers share the chain. Larger batches use
# COPY, which moves rows faster than the function inserts them.
_SERVER_APPEND_MAX_EVENTS = 64

# The same record text, hash and checks as SqlEventStore._append_locked (tests compare both).
# Canonical records are ASCII, so sha256 over convert_to(..., 'UTF8') hashes the same bytes.
_APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION oms_append_v1(
    p_streams text[], p_quoted text[], p_expected bigint[], p_counts int[],
    p_event_id text[], p_event_type text[], p_version int[], p_payload text[],
    p_ts_event bigint[], p_ts_init bigint[], p_causation text[], p_correlation text[],
    p_head text[], p_tail text[])
RETURNS TABLE (o_position bigint, o_stream_version bigint, o_hash text, o_prev_hash text)
LANGUAGE plpgsql AS $fn$
DECLARE
    pos bigint; prev text; cur bigint; rec text; digest text;
    e int := 0; k int; j int; n int;
    versions bigint[] := '{}';
BEGIN
    SELECT position, hash INTO pos, prev FROM chain_head WHERE id = 1 FOR UPDATE;
    FOR k IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
        cur := NULL;
        FOR j IN REVERSE k - 1 .. 1 LOOP
            IF p_streams[j] = p_streams[k] THEN cur := versions[j]; EXIT; END IF;
        END LOOP;
        IF cur IS NULL THEN
            SELECT coalesce(max(stream_version), 0) INTO cur FROM events
            WHERE stream_id = p_streams[k];
        END IF;
        IF p_expected[k] IS NOT NULL AND greatest(p_expected[k], 0) <> cur THEN
            RAISE EXCEPTION 'oms-conflict|%|%', k, cur USING ERRCODE = 'P0001';
        END IF;
        FOR n IN 1 .. p_counts[k] LOOP
            e := e + 1; pos := pos + 1; cur := cur + 1;
            rec := p_head[e] || '"position":' || pos || ',"stream_id":' || p_quoted[k]
                || ',"stream_version":' || cur || ',' || p_tail[e];
            digest := encode(sha256(convert_to(prev || rec, 'UTF8')), 'hex');
            INSERT INTO events (position, stream_id, stream_version, event_id, event_type,
                version, payload, ts_event, ts_init, causation_id, correlation_id, prev_hash,
                hash)
            VALUES (pos, p_streams[k], cur, p_event_id[e], p_event_type[e], p_version[e],
                p_payload[e], p_ts_event[e], p_ts_init[e], p_causation[e], p_correlation[e],
                prev, digest);
            o_position := pos; o_stream_version := cur; o_hash := digest; o_prev_hash := prev;
            RETURN NEXT;
            prev := digest;
        END LOOP;
        versions[k] := cur;
    END LOOP;
    IF e > 0 THEN
        UPDATE chain_head SET position = pos, hash = prev WHERE id = 1;
    END IF;
END
$fn$
"""
_CALL_APPEND = (
    "SELECT * FROM oms_append_v1(%s::text[], %s::text[], %s::bigint[], %s::int[], %s::text[], "
    "%s::text[], %s::int[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], "
    "%s::text[], %s::text[])"
)


class PostgresEventStore(SqlEventStore):
    """Event store in a PostgreSQL database (``postgresql://user:password@host:port/db``).

    Tables are created on first open (in the connection's ``search_path``; pass
    ``?options=-csearch_path%3Dmyschema`` in the URL to use another schema).

    Args:
        conninfo: libpq connection URL or ``key=value`` string.
        url: the URL to show in messages (password removed); defaults to a redacted conninfo.
        connect_timeout_s: how long to wait for the server.
        create: create the tables if the database has none (else :class:`InvalidStoreUrl`).
        read_only: open for auditing: the session runs with
            ``default_transaction_read_only = on`` (the server refuses any write), the tables
            must exist already, and every write raises
            :class:`~oms_chain.store.errors.StoreReadOnly`.

    Raises:
        StoreUnavailable: the server cannot be reached or refuses the login.
        StoreSchemaMismatch: the database holds another store schema version.
    """

    _placeholder = "%s"
    _binary_order = ' COLLATE "C"'
    _integrity_errors = (psycopg.IntegrityError,) if psycopg is not None else ()

    def __init__(
        self,
        conninfo: str,
        *,
        url: str | None = None,
        connect_timeout_s: int = 10,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        if psycopg is None:
            raise StoreUnavailable(
                "the PostgreSQL store needs psycopg 3: pip install 'oms-chain[postgres]'"
            )
        super().__init__(url or redact_url(conninfo), read_only=read_only)
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._conn = self._connect()
        try:
            if read_only:
                self._check_read_only()
            else:
                self._setup(create)
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=self._connect_timeout_s
            )
            if self.read_only:
                # Every transaction of this session is read-only: the server refuses writes.
                conn.execute("SET default_transaction_read_only = on")
            return conn
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL store {self.url}: {str(exc).strip()}"
            ) from None

    def _live_connection(self) -> psycopg.Connection[Any]:
        """The connection, reopened if the server dropped it (the failed call already raised)."""
        if self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _setup(self, create: bool) -> None:
        with self._write_tx() as cur:
            if not create:
                cur.execute("SELECT to_regclass('store_meta') IS NOT NULL")
                if not cur.fetchone()[0]:
                    raise InvalidStoreUrl(f"no event store in {self.url} (check the store URL)")
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            for statement in schema_statements("postgresql"):
                cur.execute(statement)
            cur.execute(_APPEND_FUNCTION)
            found = self._init_rows(cur)
        self._check_version(found)

    def _check_read_only(self) -> None:
        """Read-only open: the tables must be there already; nothing is created or changed."""
        with self._read_cursor() as cur:
            cur.execute(
                "SELECT t, to_regclass(t) IS NOT NULL FROM unnest(%s::text[]) AS t",
                (list(TABLE_COLUMNS),),
            )
            present = {str(name): bool(ok) for name, ok in cur.fetchall()}
            if not present.get("store_meta") or not present.get("events"):
                raise InvalidStoreUrl(
                    f"no event store in {self.url}: the schema has no oms-chain tables (empty "
                    f"schema or wrong search_path); check the store URL"
                )
            cur.execute("SELECT value FROM store_meta WHERE key = 'schema_version'")
            row = cur.fetchone()
        if row is None:
            raise InvalidStoreUrl(
                f"PostgreSQL store {self.url} has no schema_version in store_meta: "
                f"not an oms-chain store, or store_meta was edited"
            )
        self._check_version(str(row[0]))
        missing = sorted(t for t, ok in present.items() if not ok and t != "snapshot_seals")
        if missing:
            raise InvalidStoreUrl(
                f"PostgreSQL store {self.url} lacks table(s) {', '.join(missing)}: not a "
                f"complete oms-chain store (dropped tables?)"
            )
        self.has_seals = present.get("snapshot_seals", False)

    def _check_version(self, found: str) -> None:
        if found != SCHEMA_VERSION:
            raise StoreSchemaMismatch(
                f"PostgreSQL store {self.url} has schema version {found}; this oms-chain "
                f"understands version {SCHEMA_VERSION}"
            )

    @contextmanager
    def _write_tx(self) -> Iterator[Cursor]:
        self._check_writable()
        conn = self._live_connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"PostgreSQL store {self.url}: {str(exc).strip()}; if this interrupted an "
                f"append its outcome is unknown: append the same events again"
            ) from exc

    @contextmanager
    def _read_cursor(self) -> Iterator[Cursor]:
        conn = self._live_connection()
        try:
            with conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL store {self.url}: {str(exc).strip()}") from exc

    def _fast_append(
        self, items: list[tuple[str, list[NewEvent], int | None]]
    ) -> list[list[RecordedEvent]]:
        events = [e for _, evs, _ in items for e in evs]
        if not events or len(events) > _SERVER_APPEND_MAX_EVENTS:
            return super()._fast_append(items)
        params = (
            [s for s, _, _ in items], [quoted(s) for s, _, _ in items],
            [x for _, _, x in items], [len(evs) for _, evs, _ in items],
            [e.event_id for e in events], [e.event_type for e in events],
            [e.version for e in events], [e.payload_json for e in events],
            [e.ts_event for e in events], [e.ts_init for e in events],
            [e.causation_id for e in events], [e.correlation_id for e in events],
            [e._head for e in events], [e._tail for e in events],
        )  # fmt: skip
        conn = self._live_connection()
        try:
            rows = conn.execute(_CALL_APPEND, params).fetchall()  # autocommit: one round trip
        except psycopg.errors.RaiseException as exc:
            text = exc.diag.message_primary or ""
            if not text.startswith("oms-conflict|"):
                raise
            _, k, actual = text.split("|")
            stream_id, _, expected = items[int(k) - 1]
            raise ConcurrencyConflict(stream_id, int(expected or 0), int(actual)) from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"PostgreSQL store {self.url}: {str(exc).strip()}; if this interrupted an "
                f"append its outcome is unknown: append the same events again"
            ) from exc
        results: list[list[RecordedEvent]] = []
        it = iter(zip(events, rows, strict=True))
        for stream_id, evs, _ in items:
            recorded = []
            for _ in evs:
                e, (position, version, digest, prev_hash) = next(it)
                recorded.append(
                    RecordedEvent(
                        e.event_id, e.event_type, e.version, e.payload, e.ts_event, e.ts_init,
                        e.causation_id, e.correlation_id, int(position), stream_id, int(version),
                        digest, prev_hash,
                    )
                )  # fmt: skip
            results.append(recorded)
        return results

    def _lock_head(self, cur: Cursor) -> tuple[int, str]:
        cur.execute("SELECT position, hash FROM chain_head WHERE id = 1 FOR UPDATE")
        position, digest = cur.fetchone()
        return int(position), str(digest)

    def _rows_for_event_ids(self, cur: Cursor, event_ids: list[str]) -> list[Sequence[Any]]:
        cur.execute(
            f"SELECT {_RECORDED_COLUMNS} FROM events WHERE event_id = ANY(%s)", (event_ids,)
        )
        rows: list[Sequence[Any]] = cur.fetchall()
        return rows

    def _insert_events(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        # COPY streams the batch in one command: several times faster than executemany here.
        with cur.copy(f"COPY events ({AUDIT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _close_connection(self) -> None:
        self._conn.close()
