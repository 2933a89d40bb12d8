"""Leases, the intents queue and fenced sends on SQLite (PostgreSQL: tests/integration/store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lease_conformance import TTL, LeaseConformance, ManualClock

from oms_chain.store import InvalidEvent, SqliteEventStore, open_store
from oms_chain.store.leases import Leases


class TestSqliteLeases(LeaseConformance):
    @pytest.fixture
    def store(self) -> Iterator[SqliteEventStore]:
        with SqliteEventStore(":memory:") as store:
            yield store


def test_leases_refuse_a_read_only_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_store(f"sqlite:///{path}").close()
    with (
        open_store(f"sqlite:///{path}", read_only=True) as ro,
        pytest.raises(InvalidEvent, match="read-only"),
    ):
        Leases(ro)  # type: ignore[arg-type]


def test_lease_tables_survive_reopening_and_an_old_store_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    with open_store(url) as old:  # a store written before leases existed
        assert "leases" not in {r[0] for r in old._conn.execute("SELECT name FROM sqlite_master")}  # type: ignore[attr-defined]
    clock = ManualClock()
    with open_store(url) as store:
        leases = Leases(store, clock=clock)  # type: ignore[arg-type]
        leases.enqueue("i", {})
        (claimed,) = leases.claim("a", ttl_ns=TTL)
    with open_store(url) as store:
        leases = Leases(store, clock=clock)  # type: ignore[arg-type]
        assert leases.claim("b", ttl_ns=TTL) == []
        clock.now += TTL
        (again,) = leases.claim("b", ttl_ns=TTL)
        assert again.lease.token == claimed.lease.token + 1
