"""Work distribution for several workers on one store: an intents queue, leases with fencing
tokens, and sends recorded under the lease that allows them.

Tables (created on first use, beside the event store's own; old stores gain them on open)::

    work_intents  intent_id, payload (canonical JSON), enqueued_at, finished_at, outcome
    leases        resource, owner, epoch, acquired_at, heartbeat_at, expires_at, released_at
    lease_sends   send_id, resource, epoch, owner, recorded_at, payload
    intent_needs  intent_id, resource  (needs that lease: enqueued with it, or sent under it)

A *resource* is any string: ``parent:<intent id>`` for a parent order claimed from the queue
(:data:`PARENT_PREFIX`), ``account:<chain id>:<address>`` for a nonce sequence, or
``api-key:<venue>:<key id>`` for an exchange key's rate limit, by convention.

**Fencing.** Every time a lease changes hands (first claim, take-over after expiry, claim after
release) its ``epoch`` grows by one; the :class:`Lease` carries it as ``token``.
:meth:`Leases.record_send` locks the lease row, refuses a token that is not the current epoch
(or a lease past its expiry) and records the send (plus any events) *in that same
transaction*. So once another worker holds the lease, the old holder can never record a send
again, however long it was paused; safety does not depend on any clock, only liveness does.

**Which clock.** Expiry is judged by one clock for all workers: by default the database
server's (``clock_timestamp()`` on PostgreSQL, read inside the transaction that decides), so
workers on hosts with skewed clocks agree on who holds what. SQLite stores live on one host and
use its wall clock. Tests inject a clock (``clock=lambda: ns``) to move time without sleeping.

**Why leases and not advisory locks for accounts.** A PostgreSQL advisory lock lives as long as
its session: a SIGSTOP'd or partitioned worker keeps its TCP session, and so the lock, for as
long as the kernel keeps the socket; it carries no token a send can be checked against, is
invisible to ``oms workers`` (no owner, no expiry), and has no SQLite equivalent. A lease row
expires on its own, fences its holder, and is one mechanism for parents and accounts alike.

**Waking workers.** On PostgreSQL, :meth:`Leases.enqueue` and :meth:`Leases.release` send a
``NOTIFY`` on :data:`WORK_CHANNEL` in their transaction (delivered when it commits), and
:meth:`Leases.listener` opens a session listening on it (``LISTEN``): an idle worker waits on
that session's socket instead of polling the queue. SQLite has no notifications
(``listener()`` returns ``None``): workers poll.

Queue claims use ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers never wait on each
other's candidates); the lease upsert's ``WHERE`` clause (free, released or expired) is the
final arbiter, so a parent is held by one worker at a time. SQLite serializes every claim
(``BEGIN IMMEDIATE``): single host, same API, same semantics.

(A little over 600 lines: the queue, the leases and every fenced write share one transaction
helper and one token check; split, each half would re-export the other's.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from oms_chain.store._appends import _validate_requests
from oms_chain.store._sql import Cursor, SqlEventStore
from oms_chain.store.base import AppendRequest
from oms_chain.store.errors import InvalidEvent, StoreUnavailable
from oms_chain.store.events import RecordedEvent, check_id, check_int, json_text
from oms_chain.store.lease_types import (
    ClaimedIntent,
    DuplicateIntent,
    DuplicateSend,
    Lease,
    LeaseError,
    LeaseExpired,
    LeaseInfo,
    LeaseLost,
    SendRecord,
    StaleFencingToken,
)
from oms_chain.store.postgres import PostgresEventStore

__all__ = [
    "PARENT_PREFIX",
    "WORK_CHANNEL",
    "ClaimedIntent",
    "DuplicateIntent",
    "DuplicateSend",
    "Lease",
    "LeaseError",
    "LeaseExpired",
    "LeaseInfo",
    "LeaseLost",
    "Leases",
    "QueueListener",
    "SendRecord",
    "StaleFencingToken",
]

PARENT_PREFIX = "parent:"
"""Resource name prefix of a parent order claimed from the intents queue."""

WORK_CHANNEL = "oms_work"
"""PostgreSQL ``NOTIFY`` channel: new work in the queue (an intent enqueued, a lease released)."""

_INT64_MAX = 2**63 - 1
_LEASE_SCHEMA_LOCK_KEY = 0x6F6D_732D_6C65_61  # 'oms-lea'

_TABLES = {
    "work_intents": (
        "intent_id TEXT PRIMARY KEY, payload TEXT NOT NULL, enqueued_at {i64} NOT NULL, "
        "finished_at {i64}, outcome TEXT"
    ),
    "leases": (
        "resource TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch {i64} NOT NULL, "
        "acquired_at {i64} NOT NULL, heartbeat_at {i64} NOT NULL, expires_at {i64} NOT NULL, "
        "released_at {i64}"
    ),
    "lease_sends": (
        "send_id TEXT PRIMARY KEY, resource TEXT NOT NULL, epoch {i64} NOT NULL, "
        "owner TEXT NOT NULL, recorded_at {i64} NOT NULL, payload TEXT NOT NULL"
    ),
    "intent_needs": "intent_id TEXT NOT NULL, resource TEXT NOT NULL, "
    "PRIMARY KEY (intent_id, resource)",
}
_INDEXES = [
    "CREATE INDEX IF NOT EXISTS work_intents_open ON work_intents (enqueued_at, intent_id) "
    "WHERE finished_at IS NULL",
    "CREATE INDEX IF NOT EXISTS lease_sends_resource ON lease_sends (resource, epoch)",
]
_PG_NOW = "(extract(epoch from clock_timestamp()) * 1000000)::bigint * 1000"


# -- the API -----------------------------------------------------------------------------------


class Leases:
    """Intents queue, leases and fenced sends over an open SQLite or PostgreSQL event store.

    Shares the store's connection and lock, so a send and its events are one transaction.

    Args:
        store: an open :class:`~oms_chain.store.SqliteEventStore` or
            :class:`~oms_chain.store.PostgresEventStore` (not read-only).
        clock: nanoseconds since the Unix epoch; ``None`` (default) uses the database server's
            clock on PostgreSQL and the local wall clock on SQLite.

    Raises:
        InvalidEvent: ``store`` is not a SQL event store or is read-only.
    """

    def __init__(self, store: SqlEventStore, *, clock: Callable[[], int] | None = None) -> None:
        if not isinstance(store, SqlEventStore):
            raise InvalidEvent(f"Leases needs a SQLite or PostgreSQL event store, not {store!r}")
        if store.read_only:
            raise InvalidEvent(f"Leases cannot run on {store.url}: it is open read-only")
        if clock is not None and not callable(clock):
            raise InvalidEvent(f"clock must be a callable returning nanoseconds, not {clock!r}")
        self._store = store
        self._clock = clock
        self._pg = isinstance(store, PostgresEventStore)
        self._create_tables()

    # -- plumbing ------------------------------------------------------------------------------

    def _create_tables(self) -> None:
        i64 = "BIGINT" if self._pg else "INTEGER"
        with self._tx() as cur:
            if self._pg:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LEASE_SCHEMA_LOCK_KEY,))
            for table, columns in _TABLES.items():
                cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns.format(i64=i64)})")
            for statement in _INDEXES:
                cur.execute(statement)

    @contextmanager
    def _tx(self) -> Iterator[Cursor]:
        store = self._store
        with store._lock:
            store._check_open()
            with store._write_tx() as cur:
                yield cur

    def _x(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cur.execute(self._store._q(sql), params)
        return cur

    def _now(self, cur: Cursor) -> int:
        if self._clock is not None:
            now = self._clock()
            check_int(now, "clock()", 0, _INT64_MAX)
            return now
        if self._pg:
            return int(self._x(cur, f"SELECT {_PG_NOW}").fetchone()[0])
        return time.time_ns()

    def _notify(self, cur: Cursor) -> None:
        if self._pg:
            cur.execute(f"NOTIFY {WORK_CHANNEL}")

    def listener(self) -> QueueListener | None:
        """A new session listening for new work (PostgreSQL); ``None`` on SQLite, where
        workers poll. Close it when done.

        Raises:
            StoreUnavailable: the server cannot be reached.
        """
        if not self._pg:
            return None
        assert isinstance(self._store, PostgresEventStore)
        return QueueListener(self._store._connect())

    def _lock_lease(self, cur: Cursor, resource: str) -> tuple[Any, ...] | None:
        lock = " FOR UPDATE" if self._pg else ""
        row: tuple[Any, ...] | None = self._x(
            cur,
            "SELECT owner, epoch, expires_at, released_at FROM leases WHERE resource = ?" + lock,
            (resource,),
        ).fetchone()
        return row

    def _fenced(
        self, cur: Cursor, lease: Lease, what: str, *, renewing: bool = False
    ) -> tuple[int, str]:
        """Lock ``lease``'s row and check its token; returns the clock's now and the owner."""
        row = self._lock_lease(cur, lease.resource)
        now = self._now(cur)
        if row is None or int(row[1]) != lease.token or row[3] is not None:
            current = None if row is None else int(row[1])
            holder = None if row is None or row[3] is not None else str(row[0])
            raise StaleFencingToken(lease.resource, lease.token, current, holder, what)
        if not renewing and now >= int(row[2]):
            raise LeaseExpired(
                f"{what} refused: the lease on {lease.resource!r} (token {lease.token}) expired "
                f"{(now - int(row[2])) / 1e9:.3f} s ago and has not been renewed; heartbeat "
                f"before sending (it renews while nobody else took the lease)",
                lease.resource,
                lease.token,
            )
        return now, str(row[0])

    def _take(self, cur: Cursor, resource: str, owner: str, ttl_ns: int, now: int) -> Lease | None:
        """Upsert the lease if it is free, released or expired; ``None`` when someone holds it."""
        before = self._lock_lease(cur, resource)
        row = self._x(
            cur,
            "INSERT INTO leases (resource, owner, epoch, acquired_at, heartbeat_at, expires_at, "
            "released_at) VALUES (?, ?, 1, ?, ?, ?, NULL) ON CONFLICT (resource) DO UPDATE SET "
            "owner = excluded.owner, epoch = leases.epoch + 1, acquired_at = excluded.acquired_at, "
            "heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, "
            "released_at = NULL WHERE leases.released_at IS NOT NULL OR leases.expires_at <= ? "
            "RETURNING epoch, expires_at",
            (resource, owner, now, now, now + ttl_ns, now),
        ).fetchone()
        if row is None:
            return None
        taken_from = None
        if before is not None and before[3] is None:
            taken_from = str(before[0])
        return Lease(resource, owner, int(row[0]), int(row[1]), taken_from)

    # -- the queue -----------------------------------------------------------------------------

    def enqueue(
        self, intent_id: str, payload: dict[str, Any], *, needs: Collection[str] = ()
    ) -> bool:
        """Put an intent in the queue; from any process. Returns ``False`` if it was queued
        before with the same payload (a retried enqueue).

        ``needs``: leases a worker must hold to claim it (``account:<chain id>:<address>`` of
        the signer its on-chain venues send with; see :meth:`claim`'s ``holding``).

        Raises:
            DuplicateIntent: ``intent_id`` is queued already with another payload.
            InvalidEvent: a bad id, a payload that is not a JSON-safe dict, or bad needs.
        """
        check_id(intent_id, "intent_id")
        text = json_text(payload, f"payload of intent {intent_id!r}")
        if isinstance(needs, (str, bytes)):
            raise InvalidEvent(f"needs must be a collection of resources, not {needs!r}")
        for resource in needs:
            check_id(resource, "resource in needs")
        with self._tx() as cur:
            now = self._now(cur)
            inserted = self._x(
                cur,
                "INSERT INTO work_intents (intent_id, payload, enqueued_at) VALUES (?, ?, ?) "
                "ON CONFLICT (intent_id) DO NOTHING RETURNING intent_id",
                (intent_id, text, now),
            ).fetchone()
            if inserted is not None:
                for resource in sorted(set(needs)):
                    self._x(
                        cur,
                        "INSERT INTO intent_needs (intent_id, resource) VALUES (?, ?)",
                        (intent_id, resource),
                    )
                self._notify(cur)
                return True
            stored = self._x(
                cur, "SELECT payload FROM work_intents WHERE intent_id = ?", (intent_id,)
            ).fetchone()[0]
        if stored != text:
            raise DuplicateIntent(
                f"intent {intent_id!r} is queued already with another payload; intent ids are "
                f"unique: give the new intent a new id"
            )
        return False

    def claim(
        self,
        owner: str,
        *,
        ttl_ns: int,
        limit: int = 1,
        holding: Collection[str] | None = None,
    ) -> list[ClaimedIntent]:
        """Take up to ``limit`` unfinished intents nobody holds (never claimed, released, or
        whose holder's lease expired: a take-over) and lease their parents to ``owner``.

        Oldest first. Each returned lease has a new fencing token; ``taken_over_from`` is set
        for a take-over. Never blocks on other workers' claims (PostgreSQL: ``SKIP LOCKED``).

        ``holding``: the leases ``owner`` holds besides parents (its accounts). A parent that
        has sent under another lease too (``record_send(also_fenced=...)``: an on-chain child
        under its signer's account) is then claimed only by a worker holding every such lease:
        only that signer's journal and nonces can tell what the last holder sent. ``None``
        claims regardless.

        Raises:
            InvalidEvent: a bad owner, ttl, limit or holding.
        """
        check_id(owner, "owner")
        check_int(ttl_ns, "ttl_ns", 1, _INT64_MAX // 2)
        check_int(limit, "limit", 1, 10_000)
        needs = ""
        held: list[str] = []
        if holding is not None:
            if isinstance(holding, (str, bytes)):
                raise InvalidEvent(f"holding must be a collection of resources, not {holding!r}")
            held = sorted(holding)
            for resource in held:
                check_id(resource, "resource in holding")
            other = f" AND n.resource NOT IN ({', '.join('?' * len(held))})" if held else ""
            needs = (
                " AND NOT EXISTS (SELECT 1 FROM intent_needs n WHERE n.intent_id = i.intent_id"
                + other
                + ")"
            )
        skip = " FOR UPDATE OF i SKIP LOCKED" if self._pg else ""
        claimed = []
        with self._tx() as cur:
            now = self._now(cur)
            rows = self._x(
                cur,
                "SELECT i.intent_id, i.payload FROM work_intents i LEFT JOIN leases l "
                "ON l.resource = CAST(? AS TEXT) || i.intent_id WHERE i.finished_at IS NULL AND "
                "(l.resource IS NULL OR l.released_at IS NOT NULL OR l.expires_at <= ?)"
                + needs
                + " ORDER BY i.enqueued_at, i.intent_id LIMIT ?"
                + skip,
                (PARENT_PREFIX, now, *held, limit),
            ).fetchall()
            for intent_id, payload in rows:
                lease = self._take(cur, PARENT_PREFIX + intent_id, owner, ttl_ns, now)
                if lease is not None:
                    claimed.append(ClaimedIntent(str(intent_id), json.loads(payload), lease))
        return claimed

    def finish(self, lease: Lease, outcome: str) -> None:
        """Mark the intent of parent ``lease`` finished (``outcome``: e.g. ``filled``,
        ``cancelled``, ``rejected``) and release the lease, fenced like a send.

        Raises:
            StaleFencingToken: another worker holds the parent now.
            InvalidEvent: ``lease`` is not a parent lease, or a bad outcome.
        """
        check_id(outcome, "outcome")
        if not isinstance(lease, Lease) or not lease.resource.startswith(PARENT_PREFIX):
            raise InvalidEvent(f"finish takes the Lease of a claimed intent, not {lease!r}")
        with self._tx() as cur:
            if self._pg:  # lock order intent -> lease, as claim takes them (no deadlock)
                self._x(
                    cur,
                    "SELECT 1 FROM work_intents WHERE intent_id = ? FOR UPDATE",
                    (lease.resource[len(PARENT_PREFIX) :],),
                )
            now, _ = self._fenced(cur, lease, f"finishing {lease.resource!r}", renewing=True)
            self._x(
                cur,
                "UPDATE work_intents SET finished_at = ?, outcome = ? WHERE intent_id = ?",
                (now, outcome, lease.resource[len(PARENT_PREFIX) :]),
            )
            self._x(
                cur, "UPDATE leases SET released_at = ? WHERE resource = ?", (now, lease.resource)
            )

    # -- leases --------------------------------------------------------------------------------

    def try_acquire(self, resource: str, owner: str, *, ttl_ns: int) -> Lease | None:
        """Lease ``resource`` (an account, an API key) to ``owner`` if it is free, released or
        expired; ``None`` while someone else (or ``owner`` itself: extend with
        :meth:`heartbeat`) holds it. A successful acquire has a new fencing token."""
        check_id(resource, "resource")
        check_id(owner, "owner")
        check_int(ttl_ns, "ttl_ns", 1, _INT64_MAX // 2)
        with self._tx() as cur:
            return self._take(cur, resource, owner, ttl_ns, self._now(cur))

    def heartbeat(self, lease: Lease, *, ttl_ns: int) -> Lease:
        """Extend ``lease`` to ``now + ttl_ns``. Works after expiry too, as long as nobody else
        took the lease (the token is then still current, so nobody else can have sent).

        Raises:
            StaleFencingToken: another worker holds the resource now, or it was released.
        """
        if not isinstance(lease, Lease):
            raise InvalidEvent(f"heartbeat takes a Lease, not {lease!r}")
        check_int(ttl_ns, "ttl_ns", 1, _INT64_MAX // 2)
        with self._tx() as cur:
            now, _ = self._fenced(cur, lease, f"heartbeat of {lease.resource!r}", renewing=True)
            self._x(
                cur,
                "UPDATE leases SET heartbeat_at = ?, expires_at = ? WHERE resource = ?",
                (now, now + ttl_ns, lease.resource),
            )
        return Lease(lease.resource, lease.owner, lease.token, now + ttl_ns, lease.taken_over_from)

    def release(self, lease: Lease) -> bool:
        """Give ``lease`` up now (graceful drain): the next claim or acquire may take it at
        once. Returns ``False`` if it was no longer ours (nothing changed)."""
        if not isinstance(lease, Lease):
            raise InvalidEvent(f"release takes a Lease, not {lease!r}")
        with self._tx() as cur:
            now = self._now(cur)
            done = self._x(
                cur,
                "UPDATE leases SET released_at = ? WHERE resource = ? AND epoch = ? AND "
                "released_at IS NULL RETURNING epoch",
                (now, lease.resource, lease.token),
            ).fetchone()
            if done is not None and lease.resource.startswith(PARENT_PREFIX):
                self._notify(cur)  # its intent can be claimed at once
        return done is not None

    def fence_snapshots(self, prefix: str, lease: Callable[[], Lease | None]) -> None:
        """Fence every later write of this store's snapshots named ``prefix…`` (a signer's
        nonce, settlement and AMM order journals) by the lease ``lease()`` returns, checked
        in the write's own transaction: once another worker took the lease (or ``lease()``
        is ``None``: it was lost) the write is refused with :class:`StaleFencingToken` /
        :class:`LeaseLost`, so a paused worker's late journal entry (a signed transaction it
        would broadcast next) never lands, and the new holder's view of the journals, read
        when it took the lease, stays complete."""
        check_id(prefix, "prefix")

        def check(cur: Cursor, name: str) -> None:
            held = lease()
            if held is None:
                raise LeaseLost(f"writing {name!r} refused: its lease is not held", prefix, 0)
            self._fenced(cur, held, f"writing {name!r}", renewing=True)

        self._store.fence_snapshots(prefix, check)

    # -- fenced sends --------------------------------------------------------------------------

    def record_send(
        self,
        resource: str,
        token: int,
        send_id: str,
        payload: dict[str, Any],
        *,
        appends: Sequence[AppendRequest] = (),
        also_fenced: Sequence[tuple[str, int]] = (),
    ) -> tuple[SendRecord, list[list[RecordedEvent]]]:
        """Record that the holder of ``resource`` at epoch ``token`` is about to send
        ``send_id`` (an order, a transaction), and append ``appends`` — in one transaction that
        first checks the token against the lease. Call it *before* the request leaves.

        ``also_fenced``: more ``(resource, token)`` leases the send needs, checked in the same
        transaction (an on-chain child needs its parent's lease *and* its account's, whose
        nonce sequence it uses). Rows are locked in resource order, so concurrent sends cannot
        deadlock. The send is recorded under ``resource``.

        Idempotent on ``send_id``: recording the same send again (same resource, token and
        payload) returns the first record and appends nothing.

        Returns the send record and, per append request, the recorded events.

        Raises:
            StaleFencingToken: another worker holds ``resource`` now (or it was released):
                nothing is recorded, and the caller must not send.
            LeaseExpired: the lease ran out unrenewed: heartbeat, then try again.
            DuplicateSend: ``send_id`` was recorded for another resource, epoch or payload.
            ConcurrencyConflict, DuplicateEvent: as :meth:`EventStore.append_batch`; nothing
                is recorded.
            InvalidEvent: a bad argument, before anything is opened.
        """
        check_id(resource, "resource")
        check_int(token, "token", 1, _INT64_MAX)
        check_id(send_id, "send_id")
        text = json_text(payload, f"payload of send {send_id!r}")
        items = _validate_requests(appends) if appends else []
        fences = {resource: token}
        if isinstance(also_fenced, (str, bytes)) or not isinstance(also_fenced, Sequence):
            raise InvalidEvent(f"also_fenced must be (resource, token) pairs, not {also_fenced!r}")
        for pair in also_fenced:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise InvalidEvent(f"also_fenced items are (resource, token) pairs, not {pair!r}")
            check_id(pair[0], "resource in also_fenced")
            check_int(pair[1], f"token for {pair[0]!r}", 1, _INT64_MAX)
            if fences.setdefault(pair[0], pair[1]) != pair[1]:
                raise InvalidEvent(f"resource {pair[0]!r} is fenced twice with other tokens")
        with self._tx() as cur:
            owners = {
                r: self._fenced(cur, Lease(r, "", t, 0), f"send {send_id!r}")
                for r, t in sorted(fences.items())
            }
            now, owner = owners[resource]
            inserted = self._x(
                cur,
                "INSERT INTO lease_sends (send_id, resource, epoch, owner, recorded_at, payload) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (send_id) DO NOTHING RETURNING send_id",
                (send_id, resource, token, owner, now, text),
            ).fetchone()
            if inserted is None:
                row = self._x(
                    cur,
                    "SELECT resource, epoch, owner, recorded_at, payload FROM lease_sends "
                    "WHERE send_id = ?",
                    (send_id,),
                ).fetchone()
                if (row[0], int(row[1]), row[4]) != (resource, token, text):
                    raise DuplicateSend(
                        f"send {send_id!r} is recorded already for {row[0]!r} at epoch {row[1]} "
                        f"with its own payload; a send id names one send: use a new id"
                    )
                return SendRecord(send_id, resource, token, str(row[2]), int(row[3]), payload), []
            if resource.startswith(PARENT_PREFIX):
                for other in sorted(fences.keys() - {resource}):  # claimable only with it
                    self._x(
                        cur,
                        "INSERT INTO intent_needs (intent_id, resource) VALUES (?, ?) "
                        "ON CONFLICT DO NOTHING",
                        (resource[len(PARENT_PREFIX) :], other),
                    )
            recorded = self._store._append_locked(cur, items, look_up_ids=True) if items else []
        return SendRecord(send_id, resource, token, owner, now, payload), recorded

    # -- reads ---------------------------------------------------------------------------------

    def sends(self, resource: str) -> list[SendRecord]:
        """Every send recorded for ``resource``, oldest first (what a new holder reconciles)."""
        check_id(resource, "resource")
        with self._tx() as cur:
            rows = self._x(
                cur,
                "SELECT send_id, resource, epoch, owner, recorded_at, payload FROM lease_sends "
                "WHERE resource = ? ORDER BY recorded_at, send_id",
                (resource,),
            ).fetchall()
        return [
            SendRecord(str(r[0]), str(r[1]), int(r[2]), str(r[3]), int(r[4]), json.loads(r[5]))
            for r in rows
        ]

    def leases(self) -> list[LeaseInfo]:
        """Every lease row, by resource (live or not), judged on the leases' clock."""
        with self._tx() as cur:
            now = self._now(cur)
            rows = self._x(
                cur,
                "SELECT resource, owner, epoch, acquired_at, heartbeat_at, expires_at, "
                "released_at FROM leases ORDER BY resource",
            ).fetchall()
        return [
            LeaseInfo(
                str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]),
                None if r[6] is None else int(r[6]), r[6] is None and now < int(r[5]),
            )
            for r in rows
        ]  # fmt: skip

    def open_intents(self) -> int:
        """How many queued intents are not finished (claimed or not)."""
        with self._tx() as cur:
            row = self._x(cur, "SELECT COUNT(*) FROM work_intents WHERE finished_at IS NULL")
            return int(row.fetchone()[0])


class QueueListener:
    """A PostgreSQL session ``LISTEN``-ing on :data:`WORK_CHANNEL` (from
    :meth:`Leases.listener`). Wait until :meth:`fileno` is readable (``loop.add_reader``),
    then call :meth:`drain`.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        try:
            conn.execute(f"LISTEN {WORK_CHANNEL}")
        except Exception:
            conn.close()
            raise

    def fileno(self) -> int:
        """The session's socket: readable when a notification (or anything) arrived."""
        return int(self._conn.pgconn.socket)

    def drain(self) -> int:
        """Read what arrived without blocking; returns how many notifications it held.

        Raises:
            StoreUnavailable: the session broke (the caller falls back to polling).
        """
        pgconn = self._conn.pgconn
        try:
            pgconn.consume_input()
        except Exception as exc:
            raise StoreUnavailable(f"the queue listener's session broke: {exc}") from None
        count = 0
        while pgconn.notifies() is not None:
            count += 1
        return count

    def close(self) -> None:
        """Close the session (idempotent)."""
        self._conn.close()
