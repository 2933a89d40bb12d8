"""The worker wiring of a :class:`~oms_chain.service.session.TradingSession` run as one worker
of several sharing the store (``oms worker``): the leases and the fence that holds the signer's
account on every chain it can (one nonce sequence: one worker per signer and chain), and the
chains it stands by for."""

from __future__ import annotations

from collections.abc import Sequence

from oms_chain.model.errors import InvalidInput
from oms_chain.service.endpoints import ChainEndpoint
from oms_chain.service.worker import LeaseFence, account_resource
from oms_chain.store import EventStore, Leases, PostgresEventStore, SqliteEventStore

__all__ = ["worker_fence"]


def worker_fence(
    store: EventStore,
    store_url: str,
    worker_id: str,
    ttl_ns: int,
    chains: Sequence[ChainEndpoint],
    address: str,
) -> tuple[Leases, LeaseFence, list[ChainEndpoint]]:
    """The leases of ``store``, worker ``worker_id``'s fence holding ``address``'s account on
    every chain of ``chains`` it can have now, and the chains whose account another worker
    holds (one nonce sequence: one worker per signer and chain; this one stands by for them).
    Raises :class:`InvalidInput` for a store without leases."""
    if not isinstance(store, SqliteEventStore | PostgresEventStore):
        raise InvalidInput(f"a worker needs a SQLite or PostgreSQL store, not {store_url}")
    leases = Leases(store)
    fence = LeaseFence(leases, worker_id, ttl_ns=ttl_ns)
    standby = [
        c for c in chains if fence.try_hold_account(account_resource(c.chain_id, address)) is None
    ]
    return leases, fence, standby
