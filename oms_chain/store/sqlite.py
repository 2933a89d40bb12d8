"""SQLite backend: the embedded default.

WAL journal (readers never block the writer), ``synchronous=NORMAL`` by default: a committed
append survives a crash or ``kill -9`` of the process; on power loss the last few commits may be
lost but the database is never corrupted. Use ``synchronous=FULL`` for power-loss durability.
Appends take ``BEGIN IMMEDIATE``, so writers in several processes are serialized and the hash
chain cannot fork; they wait up to ``busy_timeout_ms`` for each other.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import quote

from oms_chain.store._schema import SCHEMA_VERSION, TABLE_COLUMNS, schema_statements
from oms_chain.store._sql import _RECORDED_COLUMNS, Cursor, SqlEventStore
from oms_chain.store.errors import InvalidStoreUrl, StoreSchemaMismatch, StoreUnavailable

__all__ = ["SqliteEventStore"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_IN_CHUNK = 500


def _read_only_uri(path: str) -> str:
    """SQLite URI opening ``path`` without ever writing the database or its WAL.

    A fully checkpointed store (no ``-wal`` file: no writer is open, none crashed) is opened
    ``immutable=1``: no lock, no side file is created. Otherwise ``mode=ro``, which reads the
    WAL's committed transactions; SQLite then keeps its wal-index in the ``-shm`` file (shared
    memory, no data), and neither the database nor the WAL is written.
    """
    absolute = os.path.abspath(path)
    option = "mode=ro" if os.path.exists(absolute + "-wal") else "immutable=1"
    return f"file:{quote(absolute)}?{option}"


class SqliteEventStore(SqlEventStore):
    """Event store in one SQLite file (or in memory, for tests).

    Args:
        path: database file, or ``":memory:"``. The directory must exist.
        synchronous: SQLite ``synchronous`` pragma (see module docstring).
        busy_timeout_ms: how long a writer waits for another process's write transaction.
        create: create the file if it does not exist (else :class:`InvalidStoreUrl`).
        read_only: open for auditing: the file must hold a store already, and neither the
            database nor its WAL is ever written (see :func:`_read_only_uri`); every write
            raises :class:`~oms_chain.store.errors.StoreReadOnly`.

    Raises:
        InvalidStoreUrl: the directory does not exist or the file is not a database.
        StoreSchemaMismatch: the file holds another schema version.
    """

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 30_000,
        url: str | None = None,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        super().__init__(url or f"sqlite:///{path}", read_only=read_only)
        self.path = path
        if (read_only or not create) and path != ":memory:" and not os.path.isfile(path):
            raise InvalidStoreUrl(f"no event store at {path!r} (check the store URL)")
        if read_only and path == ":memory:":
            raise InvalidStoreUrl("an in-memory SQLite store cannot be opened read-only")
        try:
            self._conn = sqlite3.connect(
                _read_only_uri(path) if read_only else path,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock
                timeout=busy_timeout_ms / 1000,
                uri=read_only,
            )
        except sqlite3.OperationalError as exc:
            raise InvalidStoreUrl(f"cannot open SQLite store {path!r}: {exc}") from exc
        try:
            if read_only:
                self._check_read_only()
            else:
                self._setup(synchronous)
        except BaseException:
            self._conn.close()
            raise

    _integrity_errors = (sqlite3.IntegrityError,)

    def _setup(self, synchronous: Synchronous) -> None:
        try:
            if self.path != ":memory:":
                mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise InvalidStoreUrl(f"SQLite store {self.path!r} cannot use WAL ({mode})")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            with self._write_tx() as cur:
                for statement in schema_statements("sqlite"):
                    cur.execute(statement)
                found = self._init_rows(cur)
        except sqlite3.DatabaseError as exc:
            raise InvalidStoreUrl(f"{self.path!r} is not a usable SQLite store: {exc}") from exc
        self._check_version(found)

    def _check_version(self, found: str) -> None:
        if found != SCHEMA_VERSION:
            raise StoreSchemaMismatch(
                f"SQLite store {self.path!r} has schema version {found}; this oms-chain "
                f"understands version {SCHEMA_VERSION}"
            )

    def _check_read_only(self) -> None:
        """Read-only open: the tables must be there already; nothing is created or changed."""
        try:
            tables = {
                str(r[0])
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if "store_meta" not in tables or "events" not in tables:
                raise InvalidStoreUrl(
                    f"no event store in {self.path!r}: the file has no oms-chain tables (empty "
                    f"or another database); check the store URL"
                )
            row = self._conn.execute(
                "SELECT value FROM store_meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise InvalidStoreUrl(f"{self.path!r} is not a usable SQLite store: {exc}") from exc
        if row is None:
            raise InvalidStoreUrl(
                f"SQLite store {self.path!r} has no schema_version in store_meta: "
                f"not an oms-chain store, or store_meta was edited"
            )
        self._check_version(str(row[0]))
        missing = sorted(t for t in TABLE_COLUMNS if t not in tables and t != "snapshot_seals")
        if missing:
            raise InvalidStoreUrl(
                f"SQLite store {self.path!r} lacks table(s) {', '.join(missing)}: not a complete "
                f"oms-chain store (dropped tables?)"
            )
        self.has_seals = "snapshot_seals" in tables

    @contextmanager
    def _write_tx(self) -> Iterator[Cursor]:
        self._check_writable()
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            cur.close()
            raise StoreUnavailable(f"SQLite store {self.path!r} is busy: {exc}") from exc
        try:
            yield cur
        except sqlite3.OperationalError as exc:
            self._conn.rollback()
            cur.close()
            raise StoreUnavailable(f"SQLite store {self.path!r}: {exc}") from exc
        except BaseException:
            self._conn.rollback()
            cur.close()
            raise
        try:
            cur.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._conn.rollback()
            raise StoreUnavailable(f"SQLite store {self.path!r} could not commit: {exc}") from exc
        finally:
            cur.close()

    @contextmanager
    def _read_cursor(self) -> Iterator[Cursor]:
        cur = self._conn.cursor()
        try:
            yield cur
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite store {self.path!r}: {exc}") from exc
        finally:
            cur.close()

    def _lock_head(self, cur: Cursor) -> tuple[int, str]:
        # BEGIN IMMEDIATE already holds the database's write lock.
        cur.execute("SELECT position, hash FROM chain_head WHERE id = 1")
        position, digest = cur.fetchone()
        return int(position), str(digest)

    def _rows_for_event_ids(self, cur: Cursor, event_ids: list[str]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = []
        for start in range(0, len(event_ids), _IN_CHUNK):
            chunk = event_ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            cur.execute(
                f"SELECT {_RECORDED_COLUMNS} FROM events WHERE event_id IN ({marks})", chunk
            )
            rows.extend(cur.fetchall())
        return rows

    def _close_connection(self) -> None:
        self._conn.close()
