"""One OMS worker among several on one PostgreSQL store: claim parents, work them, hand over.

:class:`Worker` runs an :class:`~oms_chain.engine.Engine` built with the worker's
:class:`LeaseFence` (so the engine works only the parents this worker holds, and every send is
recorded under the parent's lease with its fencing token before it leaves). Its loop:

1. claims queued intents (:meth:`oms_chain.store.Leases.claim`, ``SKIP LOCKED``), up to
   ``max_parents`` held at once;
2. for each one reads the store (other workers' events), then submits the intent, or, when its
   parent is in the store already (a take-over after the last holder's lease expired, or a
   restart), takes the parent over: reconciles its children with the venues and runs its
   algorithm again from what the store and the venues say;
3. heartbeats its leases about three times per ttl; a lease found lost (another worker took
   it: this one was paused past its expiry) stops that parent's work here at once;
4. finishes the intent (``work_intents.outcome``) when its parent has ended;
5. on :meth:`stop` (SIGTERM in ``oms worker``) claims nothing more, stops the engine's runners
   and releases every lease, so other workers take the parents over at once.

Safety never rests on the heartbeat timing: a send whose token is stale is refused by the store
in the transaction that records it (:class:`~oms_chain.store.StaleFencingToken`), and the
request does not leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.engine import Engine
from oms_chain.model import Intent, InvalidIntent, OmsError
from oms_chain.model.errors import InvalidInput, ReconciliationFailed
from oms_chain.model.ids import IntentId, OrderId, parent_order_id
from oms_chain.model.orders import Order
from oms_chain.store.leases import (
    PARENT_PREFIX,
    ClaimedIntent,
    Lease,
    LeaseExpired,
    LeaseLost,
    Leases,
    QueueListener,
)
from oms_chain.venues.base import Venue

__all__ = ["LeaseFence", "Worker", "WorkerStats", "account_resource"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000


def account_resource(chain_id: int, address: str) -> str:
    """The lease resource of one signer's nonce sequence on one chain."""
    return f"account:{chain_id}:{address.lower()}"


class LeaseFence:
    """The parents one worker holds, and the fenced record of each send (a
    :class:`~oms_chain.engine.fence.SendFence`).

    Args:
        leases: the store's leases.
        owner: the worker's id.
        ttl_ns: how long a renewed lease lasts.

    ``on_lost`` (set by :class:`Worker`) is called with a parent whose lease turned out lost
    (a refused send, a failed heartbeat), to stop its work at once.
    """

    def __init__(self, leases: Leases, owner: str, *, ttl_ns: int) -> None:
        self._leases = leases
        self.owner = owner
        self.ttl_ns = ttl_ns
        self.on_lost: Callable[[OrderId], None] | None = None
        #: Parent order id -> the lease this worker holds on it.
        self.held: dict[OrderId, Lease] = {}
        #: Account resource -> its lease (see :meth:`hold_account`).
        self.accounts: dict[str, Lease] = {}
        #: Set when an account lease was lost: the worker must stop sending at once.
        self.account_lost: str | None = None
        #: Sends refused because the lease was lost (for operators and tests).
        self.refused: list[str] = []
        #: Venue id -> the account resource whose nonces its sends use (:meth:`bind_venues`).
        self.venue_accounts: dict[str, str] = {}
        self._fenced_journals: set[str] = set()

    def hold_account(self, resource: str) -> Lease:
        """Take the lease of an account whose sends must be serial (``account:<chain id>:
        <address>``: one nonce sequence), kept by :meth:`heartbeat`, given up by the worker's
        drain. Nonces are handed out in this process's memory, so two workers on one signer
        would collide; the second one is refused here until the first one's lease is released
        or has expired (it died), and then takes it over.

        Raises:
            LeaseLost: another worker holds it (its name is in the message).
        """
        lease = self._leases.try_acquire(resource, self.owner, ttl_ns=self.ttl_ns)
        if lease is None:
            holder = next((i.owner for i in self._leases.leases() if i.resource == resource), "?")
            raise LeaseLost(
                f"{resource} is held by worker {holder!r}: one worker per signer and chain "
                f"(its nonces are handed out in memory); run this worker with another key, "
                f"or without that chain, or start it once {holder!r} has stopped",
                resource,
                0,
            )
        self._held_account(resource, lease)
        return lease

    def try_hold_account(self, resource: str) -> Lease | None:
        """Like :meth:`hold_account`, but ``None`` (instead of raising) while another worker
        holds ``resource``: a standby worker asks again at each heartbeat."""
        lease = self._leases.try_acquire(resource, self.owner, ttl_ns=self.ttl_ns)
        if lease is not None:
            self._held_account(resource, lease)
        return lease

    def _held_account(self, resource: str, lease: Lease) -> None:
        """Hold ``lease``; an ``account:<chain id>:<address>`` lease also fences that signer's
        journals in the store (nonces, settlement, AMM orders: written only while held)."""
        self.accounts[resource] = lease
        parts = resource.split(":")
        if len(parts) != 3 or parts[0] != "account" or resource in self._fenced_journals:
            return
        self._fenced_journals.add(resource)
        for journal in ("nonces", "settlement", "amm-orders"):
            self._leases.fence_snapshots(
                f"{journal}/{parts[1]}/{parts[2]}", functools.partial(self.accounts.get, resource)
            )

    def bind_venues(self, resource: str, venue_ids: Iterable[str]) -> None:
        """Fence every send, cancel and amend on ``venue_ids`` with account lease ``resource``
        (held: :meth:`hold_account`) as well as the parent's, in the same transaction: a
        worker whose account moved to another worker (it was paused past its ttl) can never
        use a nonce of that account again, even for a parent nobody has taken yet.

        Raises:
            InvalidInput: ``resource`` is not held.
        """
        if resource not in self.accounts:
            raise InvalidInput(f"bind_venues: account {resource!r} is not held by this worker")
        for venue_id in venue_ids:
            self.venue_accounts[str(venue_id)] = resource

    def hold(self, parent_id: OrderId, lease: Lease) -> None:
        """Work ``parent_id`` under ``lease`` from now on."""
        self.held[parent_id] = lease

    def drop(self, parent_id: OrderId) -> Lease | None:
        """Stop working ``parent_id``; returns the lease it was held under."""
        return self.held.pop(parent_id, None)

    def owns(self, parent_id: OrderId) -> bool:
        return parent_id in self.held

    def before_send(self, child: Order) -> None:
        """Record ``child``'s send (send id: its client order id) under its parent's lease.

        Raises:
            LeaseLost: the parent is not (or no longer) ours; nothing is recorded, and the
                caller must not send.
        """
        payload = {
            "order_id": str(child.order_id),
            "venue": str(child.venue),
            "side": child.side.value,
            "quantity": str(child.quantity),
        }
        self._record(child, "send", str(child.client_order_id), payload)

    def before_cancel(self, child: Order) -> None:
        """Record a cancel of ``child`` under its parent's lease (send id ``cancel:<client
        order id>@<epoch>``: a repeated cancel is the same record, its token checked again).

        Raises:
            LeaseLost: the parent is not (or no longer) ours; the cancel must not leave.
        """
        payload = {"order_id": str(child.order_id), "venue": str(child.venue), "kind": "cancel"}
        self._record(child, "cancel", f"cancel:{child.client_order_id}", payload, per_epoch=True)

    def before_amend(self, child: Order, quantity: Decimal, limit_price: Decimal | None) -> None:
        """Record an amend of ``child`` to ``quantity`` at ``limit_price`` under its parent's
        lease (send id ``amend:<client order id>:<quantity>:<limit>@<epoch>``).

        Raises:
            LeaseLost: the parent is not (or no longer) ours; the amend must not leave.
        """
        limit = "-" if limit_price is None else str(limit_price)
        payload = {
            "order_id": str(child.order_id),
            "venue": str(child.venue),
            "kind": "amend",
            "quantity": str(quantity),
            "limit_price": limit,
        }
        send_id = f"amend:{child.client_order_id}:{quantity}:{limit}"
        self._record(child, "amend", send_id, payload, per_epoch=True)

    def _record(
        self,
        child: Order,
        what: str,
        send_id: str,
        payload: dict[str, str],
        *,
        per_epoch: bool = False,
    ) -> None:
        """Record under the parent's lease (``per_epoch``: the send id gets ``@<epoch>``, so
        the next holder records its own cancel or amend of the same child)."""
        pid = child.parent_id or child.order_id
        lease = self.held.get(pid)
        if lease is None:
            raise LeaseLost(
                f"{what} of {child.client_order_id} refused: worker {self.owner!r} holds no "
                f"lease on parent {pid}",
                PARENT_PREFIX + pid,
                0,
            )
        account = self.venue_accounts.get(str(child.venue))
        for attempt in range(2):
            also: list[tuple[str, int]] = []
            if account is not None:
                held = self.accounts.get(account)
                if held is None:
                    gone = LeaseLost(
                        f"{what} of {child.client_order_id} refused: worker {self.owner!r} "
                        f"lost account {account!r} ({self.account_lost})",
                        account,
                        0,
                    )
                    self._lose(pid, gone)
                    raise gone
                also.append((account, held.token))
            try:
                sid = f"{send_id}@{lease.token}" if per_epoch else send_id
                self._leases.record_send(
                    lease.resource, lease.token, sid, payload, also_fenced=also
                )
                return
            except LeaseExpired:
                if attempt:
                    raise
                # nobody took them yet: renewing keeps the tokens (raises if someone did)
                lease = self._renew(pid, lease)
                if account is not None:
                    self._renew_account(account)
            except LeaseLost as exc:
                if exc.resource == account:  # the worker stops (account_lost)
                    self._account_gone(account, exc)
                self._lose(pid, exc)  # this parent's work stops now
                raise

    def _lose(self, pid: OrderId, exc: LeaseLost) -> None:
        if self.held.pop(pid, None) is None:
            return
        self.refused.append(str(exc))
        log.error("%s", exc)
        if self.on_lost is not None:
            self.on_lost(pid)

    def _renew(self, pid: OrderId, lease: Lease) -> Lease:
        try:
            lease = self._leases.heartbeat(lease, ttl_ns=self.ttl_ns)
        except LeaseLost as exc:
            self._lose(pid, exc)
            raise
        self.held[pid] = lease
        return lease

    def _renew_account(self, resource: str) -> None:
        try:
            self.accounts[resource] = self._leases.heartbeat(
                self.accounts[resource], ttl_ns=self.ttl_ns
            )
        except LeaseLost as exc:
            self._account_gone(resource, exc)
            raise

    def _account_gone(self, resource: str, exc: LeaseLost) -> None:
        if self.accounts.pop(resource, None) is None:
            return
        self.account_lost = str(exc)
        self.refused.append(str(exc))
        log.error("account lease lost, stopping: %s", exc)

    def heartbeat(self) -> list[OrderId]:
        """Renew every held lease; returns the parents whose lease was lost (dropped). A lost
        account lease sets :attr:`account_lost`."""
        for resource in list(self.accounts):
            with contextlib.suppress(LeaseLost):
                self._renew_account(resource)
        lost = []
        for pid, lease in list(self.held.items()):
            try:
                self._renew(pid, lease)
            except LeaseLost:
                lost.append(pid)
        return lost


@dataclass(slots=True)
class WorkerStats:
    """What one worker did (``oms worker --json`` prints it on exit)."""

    claimed: int = 0
    taken_over: int = 0
    finished: int = 0
    lost: int = 0
    released: int = 0
    #: Accounts a standby worker took (:meth:`Worker.stand_by`).
    accounts_joined: int = 0


class Worker:
    """Claims parents from the store's queue and works them in ``engine`` (see the module
    docstring).

    Args:
        engine: an engine built with ``fence=`` this worker's ``fence``, started.
        leases: the store's leases (the same store as the engine's).
        fence: the engine's fence.
        max_parents: most parents held at once.
        poll_s: pause between rounds when there is nothing new.
        listen: on PostgreSQL, wait for the queue's ``NOTIFY`` (:meth:`Leases.listener`)
            instead of claiming every round: an idle round then touches no database, and the
            queue is claimed when work was announced, when the last claim filled the room
            (more may wait), and at each heartbeat (leases of dead workers expire silently).
            Without it, or on SQLite, every round claims.

    Raises:
        InvalidInput: a bad ``max_parents`` or ``poll_s``.
    """

    def __init__(
        self,
        engine: Engine,
        leases: Leases,
        fence: LeaseFence,
        *,
        max_parents: int = 64,
        poll_s: float = 0.1,
        listen: bool = True,
    ) -> None:
        if isinstance(max_parents, bool) or not isinstance(max_parents, int) or max_parents < 1:
            raise InvalidInput(f"max_parents must be a positive int, got {max_parents!r}")
        if isinstance(poll_s, bool) or not isinstance(poll_s, int | float) or not poll_s > 0:
            raise InvalidInput(f"poll_s must be a positive number of seconds, got {poll_s!r}")
        self.engine = engine
        self.leases = leases
        self.fence = fence
        self.max_parents = max_parents
        self.poll_s = float(poll_s)
        self.stats = WorkerStats()
        #: Held parents whose take-over failed (a venue could not be reconciled): retried.
        self.retrying: set[OrderId] = set()
        self._payloads: dict[OrderId, dict[str, Any]] = {}
        fence.on_lost = self._lost
        self._stop = asyncio.Event()
        self._next_beat = 0.0
        self.listen = listen
        self._listener: QueueListener | None = None
        #: Set by a notification or :meth:`stop`: ends the idle wait of :meth:`run`.
        self._wake = asyncio.Event()
        self._claim_due = True
        #: Account resource -> opens its venues once this worker holds it (:meth:`stand_by`).
        self.standby: dict[str, Callable[[], Awaitable[Sequence[Venue]]]] = {}

    @property
    def worker_id(self) -> str:
        return self.fence.owner

    def stand_by(
        self, resource: str, open_venues: Callable[[], Awaitable[Sequence[Venue]]]
    ) -> None:
        """Wait for account lease ``resource`` (``account:<chain id>:<address>``: a signer
        another worker sends for now) and take it when it is free: at each heartbeat the worker
        tries to acquire it; once it holds it (the owner drained, or died and its lease
        expired), ``open_venues()`` builds that signer's venues (reading its journals and
        nonces from the store *now*, after the last owner's writes), their sends are fenced
        by the account lease (:meth:`LeaseFence.bind_venues`) and the engine trades on them
        (:meth:`~oms_chain.engine.Engine.add_venues`). Until then the worker claims no intent
        that needs the account (enqueued with ``needs``, or sent under it).

        Raises:
            InvalidInput: this worker holds ``resource`` already, or waits for it.
        """
        if resource in self.fence.accounts or resource in self.standby:
            raise InvalidInput(f"worker {self.worker_id!r} holds or waits for {resource} already")
        self.standby[resource] = open_venues

    async def _join_accounts(self) -> None:
        for resource, open_venues in list(self.standby.items()):
            lease = self.fence.try_hold_account(resource)
            if lease is None:
                continue
            try:
                venues = list(await open_venues())
            except Exception as exc:  # a node down: give the account back, ask again later
                log.warning("could not open the venues of %s: %r; releasing it", resource, exc)
                del self.fence.accounts[resource]
                with contextlib.suppress(OmsError):
                    self.leases.release(lease)
                continue
            del self.standby[resource]
            self.fence.heartbeat()  # opening took a while: keep what this worker holds
            self.fence.bind_venues(resource, [v.venue_id for v in venues])
            self.stats.accounts_joined += 1
            self._claim_due = True  # the intents that need it are claimable now
            log.info(
                "holds %s now (epoch %d, after %s)",
                resource,
                lease.token,
                lease.taken_over_from or "a release",
            )
            try:
                await self.engine.add_venues(venues)
            except ReconciliationFailed as exc:  # added; the background reconciler retries
                log.warning("%s: %s", resource, exc)

    def stop(self) -> None:
        """Ask :meth:`run` to drain: claim nothing more, release every lease, return."""
        self._stop.set()
        self._wake.set()

    async def run(self) -> WorkerStats:
        """Work until :meth:`stop`; then release every lease held and return the stats."""
        if self.listen:
            self._open_listener()
        try:
            while not self._stop.is_set():
                busy = await self.step()
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_s)
                    self._wake.clear()
        finally:
            self._close_listener()
            await self.drain()
        return self.stats

    def _open_listener(self) -> None:
        try:
            listener = self.leases.listener()
        except OmsError as exc:
            log.warning("no queue notifications (%s): polling", exc)
            return
        if listener is None:
            return
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._on_notify)

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(listener.fileno())
            listener.close()

    def _on_notify(self) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            got = listener.drain()
        except OmsError as exc:
            log.warning("%s: polling from now on", exc)
            self._close_listener()
            got = 1
        if got:
            self._claim_due = True
            self._wake.set()

    async def step(self) -> bool:
        """One round: heartbeat if due, finish ended parents, claim and start new ones.
        Returns whether anything was claimed."""
        now = time.monotonic()
        if now >= self._next_beat:
            self._claim_due = True  # leases of dead workers expire without a notification
            self._next_beat = now + self.fence.ttl_ns / _NS / 3
            self.fence.heartbeat()  # a lost lease stops its parent's work (on_lost)
            if self.fence.account_lost is not None:  # another worker sends for the signer
                self.stop()
                return False
            if self.standby and not self._stop.is_set():
                await self._join_accounts()
            # other workers' events (each claim reads them too): a parent taken over from a
            # paused worker may have gained late events from it after we read it
            self.engine.catch_up()
            for pid in sorted(self.retrying):
                await self._take_over(pid)
        if self.fence.account_lost is not None:  # a send found the account lost
            self.stop()
            return False
        self._finish_ended()
        room = self.max_parents - len(self.fence.held)
        if room <= 0 or self._stop.is_set():
            return False
        if self._listener is not None and not self._claim_due:
            return False  # nothing announced since the last claim
        self._claim_due = False  # a notification during the claim sets it again
        claimed = self.leases.claim(
            self.worker_id, ttl_ns=self.fence.ttl_ns, limit=room, holding=self.fence.accounts
        )
        if len(claimed) == room:
            self._claim_due = True  # the room was the limit: more may be waiting
        for item in claimed:
            await self._start(item)
        return bool(claimed)

    async def drain(self) -> None:
        """Stop every runner and release every lease (other workers may take them at once)."""
        for pid in list(self.fence.held):
            self.engine.hand_over(pid)
            lease = self.fence.drop(pid)
            if lease is not None:
                with contextlib.suppress(OmsError):
                    if self.leases.release(lease):
                        self.stats.released += 1
        for resource, lease in list(self.fence.accounts.items()):
            del self.fence.accounts[resource]
            with contextlib.suppress(OmsError):
                self.leases.release(lease)

    async def _start(self, item: ClaimedIntent) -> None:
        pid = parent_order_id(IntentId(item.intent_id))
        self.fence.hold(pid, item.lease)
        self.stats.claimed += 1
        self._payloads[pid] = item.payload
        self.engine.catch_up()
        if pid in self.engine.projections.orders:
            self.stats.taken_over += 1
            log.info("taking over %s (last held by %s)", pid, item.lease.taken_over_from or "-")
        await self._take_over(pid)

    async def _take_over(self, pid: OrderId) -> None:
        """Work held parent ``pid``: take it over when the store has it, else submit its
        intent. A retryable failure (a venue that cannot be reconciled now) keeps it held and
        tries again next heartbeat; an invalid intent is finished as ``invalid``."""
        self.retrying.discard(pid)
        if not self.fence.owns(pid):
            return
        engine = self.engine
        try:
            engine.catch_up()
            if pid in engine.projections.orders:
                await engine.take_over(pid)
            else:
                await engine.submit(Intent.from_payload(self._payloads[pid]))
        except LeaseLost:
            pass  # the fence stopped it (on_lost)
        except InvalidIntent as exc:
            log.error("intent of %s refused: %s", pid, exc)
            if pid not in engine.projections.orders:  # never recorded: end it
                self._finish(pid, "invalid")
        except OmsError as exc:
            log.warning("%s: %s; trying again next heartbeat", pid, exc)
            self.retrying.add(pid)

    def _finish_ended(self) -> None:
        orders = self.engine.projections.orders
        for pid in list(self.fence.held):
            parent = orders.get(pid)
            if parent is None or not parent.is_terminal or self.engine.runs_parent(pid):
                continue
            if any(c in orders and not orders[c].is_terminal for c in parent.children):
                continue
            self._finish(pid, parent.status.value)

    def _finish(self, pid: OrderId, outcome: str) -> None:
        self._payloads.pop(pid, None)
        lease = self.fence.drop(pid)
        if lease is None:
            return
        try:
            self.leases.finish(lease, outcome)
            self.stats.finished += 1
        except LeaseLost:
            self._lost(pid)

    def _lost(self, pid: OrderId) -> None:
        self.retrying.discard(pid)
        self._payloads.pop(pid, None)
        self.fence.drop(pid)
        self.engine.hand_over(pid)
        self.stats.lost += 1
