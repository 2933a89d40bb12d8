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
from oms_chain.store.errors import InvalidStoreUrl, StoreSchemaMismatch, StoreUnavailable
from oms_chain.store.url import redact_url

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the installation
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresEventStore"]

# pg_advisory_xact_lock key guarding schema creation: 'oms-chn' as an integer.
_SCHEMA_LOCK_KEY = 0x6F6D_732D_6368_6E


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
