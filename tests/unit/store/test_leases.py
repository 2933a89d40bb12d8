"""Leases, the intents queue and fenced sends on SQLite (PostgreSQL: tests/integration/store)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lease_conformance import TTL, LeaseConformance, ManualClock

from oms_chain.store import InvalidEvent, SqliteEventStore, open_store
from oms_chain.store.leases import Lease, LeaseExpired, Leases, StaleFencingToken


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


ops = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["claim", "acquire", "heartbeat", "send", "release", "wait"]),
        st.sampled_from(["parent:p0", "parent:p1", "account:1:0xa"]),
        st.integers(0, 2 * TTL),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_only_the_latest_token_ever_records_a_send(
    steps: list[tuple[str, str, str, int]],
) -> None:
    clock = ManualClock()
    with SqliteEventStore(":memory:") as store:
        leases = Leases(store, clock=clock)
        leases.enqueue("p0", {})
        leases.enqueue("p1", {})
        held: dict[tuple[str, str], Lease] = {}
        issued: dict[str, int] = {}
        sent: list[tuple[str, int]] = []
        for n, (worker, action, resource, dt) in enumerate(steps):
            lease = held.get((worker, resource))
            if action == "wait":
                clock.now += dt
            elif action == "claim":
                for item in leases.claim(worker, ttl_ns=TTL, limit=2):
                    assert item.lease.token == issued.get(item.lease.resource, 0) + 1
                    issued[item.lease.resource] = item.lease.token
                    held[(worker, item.lease.resource)] = item.lease
            elif action == "acquire":
                got = leases.try_acquire(resource, worker, ttl_ns=TTL)
                if got is not None:
                    assert got.token == issued.get(resource, 0) + 1
                    issued[resource] = got.token
                    held[(worker, resource)] = got
            elif lease is None:
                continue
            elif action == "heartbeat":
                with contextlib.suppress(StaleFencingToken):
                    held[(worker, resource)] = leases.heartbeat(lease, ttl_ns=TTL)
            elif action == "release":
                leases.release(lease)
            else:
                try:
                    leases.record_send(resource, lease.token, f"s{n}", {})
                except (StaleFencingToken, LeaseExpired):
                    continue
                assert lease.token == issued[resource]  # never a superseded token
                sent.append((resource, lease.token))
        for resource in issued:
            tokens = [s.token for s in leases.sends(resource)]
            assert tokens == sorted(tokens)
            assert tokens == [t for r, t in sent if r == resource]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ls: ls.claim("", ttl_ns=TTL), "owner"),
        (lambda ls: ls.claim("a", ttl_ns=0), "ttl_ns"),
        (lambda ls: ls.claim("a", ttl_ns=TTL, limit=0), "limit"),
        (lambda ls: ls.try_acquire("r", "a", ttl_ns=-1), "ttl_ns"),
        (lambda ls: ls.try_acquire("", "a", ttl_ns=TTL), "resource"),
        (lambda ls: ls.enqueue("i", {"d": Decimal(1)}), "Decimal"),
        (lambda ls: ls.heartbeat("lease", ttl_ns=TTL), "Lease"),
        (lambda ls: ls.finish(Lease("account:x", "a", 1, 0), "filled"), "claimed intent"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    call: Callable[[Leases], object], match: str
) -> None:
    with SqliteEventStore(":memory:") as store:
        leases = Leases(store, clock=ManualClock())
        with pytest.raises(InvalidEvent, match=match):
            call(leases)
        assert leases.leases() == [] and leases.open_intents() == 0
