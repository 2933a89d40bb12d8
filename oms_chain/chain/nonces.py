"""Nonce manager per (chain, account): safe for concurrent submitters, survives restarts.

Rules:

- :meth:`NonceManager.allocate` hands out the lowest free nonce under a lock; two coroutines
  never get the same one.
- A nonce whose transaction was never broadcast (simulation or signing failed) is given back with
  :meth:`NonceManager.release` and reused next, so no gap is left behind.
- A nonce whose broadcast outcome is unknown stays taken: the settlement tracker decides.
- :meth:`NonceManager.sync` reads the chain: nonces used by someone else (another wallet with the
  same key) move us forward and are reported; after a restart the journal and the chain together
  give the next nonce.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from oms_chain.chain.rpc import RpcClient
from oms_chain.model.errors import InvalidInput
from oms_chain.store.base import EventStore

__all__ = [
    "InMemoryNonceJournal",
    "NonceJournal",
    "NonceManager",
    "NonceSync",
    "StoreNonceJournal",
]


class NonceJournal(Protocol):
    """Where the manager persists its next nonce and released nonces."""

    def load(self, chain_id: int, address: str) -> tuple[int, tuple[int, ...]] | None:
        """(next nonce, released nonces) saved last, or ``None``."""
        ...

    def save(self, chain_id: int, address: str, next_nonce: int, released: tuple[int, ...]) -> None:
        """Persist the manager's state (called after every change)."""
        ...


@dataclass
class InMemoryNonceJournal:
    """A :class:`NonceJournal` in a dict (tests, throwaway scripts)."""

    data: dict[tuple[int, str], tuple[int, tuple[int, ...]]] = field(default_factory=dict)

    def load(self, chain_id: int, address: str) -> tuple[int, tuple[int, ...]] | None:
        return self.data.get((chain_id, address.lower()))

    def save(self, chain_id: int, address: str, next_nonce: int, released: tuple[int, ...]) -> None:
        self.data[(chain_id, address.lower())] = (next_nonce, released)


class StoreNonceJournal:
    """A :class:`NonceJournal` kept in the event store (SQLite or PostgreSQL), so a restarted
    process, or another process sharing the store, continues from the same nonces."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    @staticmethod
    def _name(chain_id: int, address: str) -> str:
        return f"nonces/{chain_id}/{address.lower()}"

    def load(self, chain_id: int, address: str) -> tuple[int, tuple[int, ...]] | None:
        found = self._store.load_snapshot(self._name(chain_id, address))
        if found is None:
            return None
        state = found[1]
        return int(state["next"]), tuple(int(n) for n in state.get("released", []))

    def save(self, chain_id: int, address: str, next_nonce: int, released: tuple[int, ...]) -> None:
        self._store.save_snapshot(
            self._name(chain_id, address),
            self._store.last_position(),
            {"next": next_nonce, "released": list(released)},
        )


@dataclass(frozen=True, slots=True)
class NonceSync:
    """What :meth:`NonceManager.sync` found.

    ``external`` are nonces the chain has used that we never handed out (the key is used
    elsewhere); ``gaps`` are nonces we handed out that the chain (including its mempool) has not
    seen in sequence: until each is filled, every later transaction of the account is stuck.
    """

    next_nonce: int
    chain_latest: int
    chain_pending: int
    external: tuple[int, ...]
    gaps: tuple[int, ...]


class NonceManager:
    """Allocates nonces for one account on one chain."""

    def __init__(
        self, rpc: RpcClient, chain_id: int, address: str, journal: NonceJournal | None = None
    ) -> None:
        self._rpc = rpc
        self.chain_id = chain_id
        self.address = address
        self._journal = journal or InMemoryNonceJournal()
        self._lock = asyncio.Lock()
        self._next: int | None = None
        self._released: set[int] = set()
        self._broadcast: set[int] = set()

    async def sync(self) -> NonceSync:
        """Reconcile with the chain (call on start and after a "nonce too low" error)."""
        async with self._lock:
            return await self._sync_locked()

    async def _sync_locked(self) -> NonceSync:
        latest = await self._rpc.nonce(self.address, "latest")
        pending = await self._rpc.nonce(self.address, "pending")
        saved = self._journal.load(self.chain_id, self.address)
        ours_next = self._next if self._next is not None else (saved[0] if saved else latest)
        if self._next is None and saved:
            self._released = set(saved[1])
        # Anything the chain has used that we never broadcast was sent by someone else: the
        # nonces we released, and everything past the last one we handed out.
        external = tuple(sorted(n for n in self._released if n < pending))
        external += tuple(range(ours_next, pending))
        nxt = max(ours_next, pending)
        self._released = {n for n in self._released if n >= pending}
        gaps = tuple(range(pending, nxt))
        self._next = nxt
        self._persist()
        return NonceSync(nxt, latest, pending, external, gaps)

    async def allocate(self) -> int:
        """The next nonce to use; released nonces are reused lowest first."""
        async with self._lock:
            if self._next is None:
                await self._sync_locked()
            assert self._next is not None
            if self._released:
                nonce = min(self._released)
                self._released.discard(nonce)
            else:
                nonce = self._next
                self._next += 1
            self._persist()
            return nonce

    def release(self, nonce: int) -> None:
        """Give back a nonce whose transaction was never broadcast."""
        if self._next is None or not 0 <= nonce < self._next:
            raise InvalidInput(f"nonce {nonce} was not allocated by this manager")
        if nonce in self._broadcast:
            raise InvalidInput(f"nonce {nonce} was broadcast; only the tracker can free it")
        self._released.add(nonce)
        self._persist()

    def mark_broadcast(self, nonce: int) -> None:
        """Record that a transaction with ``nonce`` went out (or may have)."""
        self._broadcast.add(nonce)

    @property
    def next_nonce(self) -> int | None:
        """The next fresh nonce (``None`` before the first sync)."""
        return self._next

    def _persist(self) -> None:
        assert self._next is not None
        self._journal.save(self.chain_id, self.address, self._next, tuple(sorted(self._released)))
