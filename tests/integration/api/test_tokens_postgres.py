"""The token table beside a PostgreSQL event store: the same rules as on SQLite."""

from __future__ import annotations

from oms_chain.model import ManualClock
from oms_chain.service.api import Scope, TokenStore
from oms_chain.store import open_store


def test_tokens_on_postgres(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        assert store.last_position() == 0
    clock = ManualClock(1_800_000_000_000_000_000)
    with TokenStore(postgres_url, clock=clock) as tokens:
        token, info = tokens.create("pg bot", "trade")
        assert tokens.authenticate(token) == info and info.scope is Scope.TRADE
        clock.advance(7)
        assert tokens.revoke(info.token_id).revoked_ns == 1_800_000_000_000_000_007
        assert tokens.authenticate(token) is None
    with TokenStore(postgres_url) as again:
        assert [(t.name, t.active) for t in again.list()] == [("pg bot", False)]
    with open_store(postgres_url) as store:  # the event store is untouched
        assert store.last_position() == 0
