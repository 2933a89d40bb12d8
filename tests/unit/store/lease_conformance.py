"""Behaviour every backend's :class:`~oms_chain.store.leases.Leases` must show (subclassed by
the SQLite unit tests and the PostgreSQL integration tests; a ``store`` fixture provides an
open, empty event store)."""

from __future__ import annotations

import pytest

from oms_chain.store import (
    ConcurrencyConflict,
    InvalidEvent,
    NewEvent,
    SqliteEventStore,
    verify_audit,
)
from oms_chain.store.leases import (
    PARENT_PREFIX,
    DuplicateIntent,
    DuplicateSend,
    Lease,
    LeaseExpired,
    Leases,
    StaleFencingToken,
)

S = 1_000_000_000
TTL = 10 * S


class ManualClock:
    """An injected clock: nanoseconds, moved by the test."""

    def __init__(self, start: int = 1_000 * S) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def ev(n: int) -> NewEvent:
    return NewEvent(f"send-ev-{n}", "OrderSent", 1, {"n": n}, n, n)


class LeaseConformance:
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def leases(self, store: SqliteEventStore, clock: ManualClock) -> Leases:
        return Leases(store, clock=clock)

    def test_each_queued_intent_is_claimed_once_oldest_first(
        self, leases: Leases, clock: ManualClock
    ) -> None:
        for k in range(5):
            clock.now += 1
            assert leases.enqueue(f"i{k}", {"k": k}) is True
        assert leases.enqueue("i0", {"k": 0}) is False  # a retried enqueue
        a = leases.claim("a", ttl_ns=TTL, limit=2)
        b = leases.claim("b", ttl_ns=TTL, limit=10)
        assert [c.intent_id for c in a] == ["i0", "i1"]
        assert [c.intent_id for c in b] == ["i2", "i3", "i4"]
        assert a[0].payload == {"k": 0}
        assert a[0].lease == Lease(PARENT_PREFIX + "i0", "a", 1, clock.now + TTL, None)
        assert leases.claim("c", ttl_ns=TTL) == []
        assert leases.open_intents() == 5

    def test_enqueue_with_another_payload_is_refused(self, leases: Leases) -> None:
        leases.enqueue("i0", {"k": 0})
        with pytest.raises(DuplicateIntent, match="another payload"):
            leases.enqueue("i0", {"k": 1})

    def test_expired_parent_is_taken_over_with_a_new_token_and_the_old_one_is_fenced(
        self, leases: Leases, clock: ManualClock
    ) -> None:
        leases.enqueue("p", {})
        (old,) = leases.claim("a", ttl_ns=TTL)
        leases.record_send(old.lease.resource, old.lease.token, "s1", {"to": "cex"})
        clock.now += TTL - 1
        assert leases.claim("b", ttl_ns=TTL) == []  # still a's
        clock.now += 1
        (new,) = leases.claim("b", ttl_ns=TTL)
        assert new.lease.token == old.lease.token + 1 == 2
        assert new.lease.taken_over_from == "a"
        with pytest.raises(StaleFencingToken, match=r"token 1 .* epoch 2, held by 'b'") as err:
            leases.record_send(old.lease.resource, old.lease.token, "s2", {"to": "cex"})
        assert (err.value.current, err.value.holder) == (2, "b")
        with pytest.raises(StaleFencingToken):
            leases.heartbeat(old.lease, ttl_ns=TTL)
        with pytest.raises(StaleFencingToken):
            leases.finish(old.lease, "filled")
        assert [s.send_id for s in leases.sends(new.lease.resource)] == ["s1"]
        leases.record_send(new.lease.resource, new.lease.token, "s2", {"to": "cex"})
        sends = leases.sends(new.lease.resource)
        assert [(s.send_id, s.token, s.owner) for s in sends] == [("s1", 1, "a"), ("s2", 2, "b")]

    def test_heartbeat_keeps_the_lease_and_renews_after_expiry_while_nobody_took_it(
        self, leases: Leases, clock: ManualClock
    ) -> None:
        leases.enqueue("p", {})
        (c,) = leases.claim("a", ttl_ns=TTL)
        clock.now += TTL - 1
        lease = leases.heartbeat(c.lease, ttl_ns=TTL)
        assert lease.expires_at_ns == clock.now + TTL
        clock.now += TTL - 1
        assert leases.claim("b", ttl_ns=TTL) == []
        clock.now += 5
        with pytest.raises(LeaseExpired, match="heartbeat before sending"):
            leases.record_send(lease.resource, lease.token, "s1", {})
        lease = leases.heartbeat(lease, ttl_ns=TTL)  # nobody took it: same token
        assert lease.token == 1
        leases.record_send(lease.resource, lease.token, "s1", {})

    def test_finish_releases_and_the_intent_is_never_claimed_again(
        self, leases: Leases, clock: ManualClock
    ) -> None:
        leases.enqueue("p", {})
        (c,) = leases.claim("a", ttl_ns=TTL)
        leases.finish(c.lease, "filled")
        clock.now += 2 * TTL
        assert leases.claim("b", ttl_ns=TTL) == []
        assert leases.open_intents() == 0
        with pytest.raises(StaleFencingToken, match="released"):
            leases.record_send(c.lease.resource, c.lease.token, "late", {})

    def test_released_parent_is_claimable_at_once_without_take_over(self, leases: Leases) -> None:
        leases.enqueue("p", {})
        (c,) = leases.claim("a", ttl_ns=TTL)
        assert leases.release(c.lease) is True
        assert leases.release(c.lease) is False
        (again,) = leases.claim("b", ttl_ns=TTL)
        assert (again.lease.token, again.lease.taken_over_from) == (2, None)

    def test_account_lease_has_one_holder_and_moves_after_expiry(
        self, leases: Leases, clock: ManualClock
    ) -> None:
        account = "account:31337:0xabc"
        a = leases.try_acquire(account, "a", ttl_ns=TTL)
        assert a is not None and a.token == 1
        assert leases.try_acquire(account, "b", ttl_ns=TTL) is None
        assert leases.try_acquire(account, "a", ttl_ns=TTL) is None  # extend with heartbeat
        clock.now += TTL
        b = leases.try_acquire(account, "b", ttl_ns=TTL)
        assert b is not None and (b.token, b.taken_over_from) == (2, "a")
        (info,) = leases.leases()
        assert (info.resource, info.owner, info.token, info.live) == (account, "b", 2, True)

    def test_a_send_and_its_events_are_one_transaction_and_idempotent(
        self, leases: Leases, store: SqliteEventStore
    ) -> None:
        lease = leases.try_acquire("parent:x", "a", ttl_ns=TTL)
        assert lease is not None
        record, recorded = leases.record_send(
            "parent:x", lease.token, "s1", {"n": 1}, appends=[("parent-x", [ev(1)], 0)]
        )
        assert record.owner == "a" and record.token == 1
        assert [[e.stream_version for e in r] for r in recorded] == [[1]]
        again, none = leases.record_send(
            "parent:x", lease.token, "s1", {"n": 1}, appends=[("parent-x", [ev(1)], 0)]
        )
        assert (again, none) == (record, [])
        with pytest.raises(DuplicateSend, match="new id"):
            leases.record_send("parent:x", lease.token, "s1", {"n": 2})
        with pytest.raises(ConcurrencyConflict):
            leases.record_send(
                "parent:x", lease.token, "s2", {}, appends=[("parent-x", [ev(2)], 0)]
            )
        assert [s.send_id for s in leases.sends("parent:x")] == ["s1"]  # s2 rolled back
        assert store.stream_version("parent-x") == 1
        assert verify_audit(store).ok

    def test_a_fenced_send_writes_no_events(
        self, leases: Leases, clock: ManualClock, store: SqliteEventStore
    ) -> None:
        old = leases.try_acquire("parent:x", "a", ttl_ns=TTL)
        assert old is not None
        clock.now += TTL
        assert leases.try_acquire("parent:x", "b", ttl_ns=TTL) is not None
        with pytest.raises(StaleFencingToken):
            leases.record_send("parent:x", old.token, "s1", {}, appends=[("parent-x", [ev(1)], 0)])
        assert store.last_position() == 0
        assert leases.sends("parent:x") == []

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (("", 1, "s", {}), "resource"),
            (("r", 0, "s", {}), "token"),
            (("r", True, "s", {}), "token"),
            (("r", 1, "", {}), "send_id"),
            (("r", 1, "s", {"x": object()}), "JSON-safe"),
        ],
    )
    def test_record_send_validates_before_opening_anything(
        self, leases: Leases, args: tuple[object, ...], match: str
    ) -> None:
        from oms_chain.store import InvalidEvent

        with pytest.raises(InvalidEvent, match=match):
            leases.record_send(*args)  # type: ignore[arg-type]

    def test_a_send_can_need_its_account_lease_too(
        self, leases: Leases, clock: ManualClock
    ) -> None:
        leases.enqueue("p", {})
        (parent,) = leases.claim("a", ttl_ns=TTL)
        account = leases.try_acquire("account:1:0xa", "a", ttl_ns=TTL // 2)
        assert account is not None
        fences = [(account.resource, account.token)]
        leases.record_send(parent.lease.resource, parent.lease.token, "s1", {}, also_fenced=fences)
        clock.now += TTL // 2
        assert leases.try_acquire("account:1:0xa", "b", ttl_ns=TTL) is not None
        with pytest.raises(StaleFencingToken, match="'account:1:0xa'"):
            leases.record_send(
                parent.lease.resource, parent.lease.token, "s2", {}, also_fenced=fences
            )
        assert [s.send_id for s in leases.sends(parent.lease.resource)] == ["s1"]

    def test_a_parent_sent_under_an_account_is_claimed_only_by_a_holder_of_that_account(
        self, leases: Leases, clock: ManualClock
    ) -> None:
        leases.enqueue("chain", {})
        clock.now += 1
        leases.enqueue("cex", {})
        (parent,) = leases.claim("a", ttl_ns=TTL, holding=["account:1:0xa"])
        account = leases.try_acquire("account:1:0xa", "a", ttl_ns=TTL)
        assert account is not None
        fences = [(account.resource, account.token)]
        leases.record_send(parent.lease.resource, parent.lease.token, "s1", {}, also_fenced=fences)
        clock.now += TTL + 1  # a died: both its leases expire
        # a worker without that signer (another key, or exchange venues only) cannot reconcile
        # the child: it never gets the parent, and takes the other intent
        (cex,) = leases.claim("b", ttl_ns=TTL, limit=5, holding=[])
        assert cex.intent_id == "cex"
        assert leases.claim("c", ttl_ns=TTL, holding=["account:1:0xc"]) == []
        assert leases.try_acquire("account:1:0xa", "d", ttl_ns=TTL) is not None
        (back,) = leases.claim("d", ttl_ns=TTL, holding=["account:1:0xc", "account:1:0xa"])
        assert (back.intent_id, back.lease.taken_over_from) == ("chain", "a")
        with pytest.raises(InvalidEvent, match="holding"):
            leases.claim("d", ttl_ns=TTL, holding="account:1:0xa")
