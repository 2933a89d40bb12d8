"""Collision-free event ids and read-decide-append retries (oms_chain.store.concurrency)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.store import ConcurrencyConflict, InvalidEvent, NewEvent, SqliteEventStore
from oms_chain.store.concurrency import RetriesExhausted, append_with_retry, new_event_id
from oms_chain.store.events import RecordedEvent


def ev(eid: str, n: int = 0) -> NewEvent:
    return NewEvent(eid, "Happened", 1, {"n": n}, 1, 1)


def test_new_event_id_is_an_rfc_9562_uuid7_with_the_given_time_and_randomness() -> None:
    eid = new_event_id(now_ns=1_700_000_000_123_456_789, random_bytes=bytes(range(10)))
    parsed = uuid.UUID(eid)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == 1_700_000_000_123  # milliseconds
    assert eid == "018bcfe5-687b-7001-8203-040506070809"


@given(st.integers(0, 2**48 * 1_000_000 - 1), st.integers(0, 2**48 * 1_000_000 - 1))
def test_new_event_ids_sort_by_millisecond(a: int, b: int) -> None:
    ia, ib = new_event_id(now_ns=a), new_event_id(now_ns=b)
    if a // 1_000_000 < b // 1_000_000:
        assert ia < ib


def test_new_event_ids_do_not_repeat() -> None:
    assert len({new_event_id() for _ in range(10_000)}) == 10_000


@pytest.mark.parametrize(
    "kwargs", [{"now_ns": -1}, {"now_ns": 2**48 * 1_000_000}, {"random_bytes": b"short"}]
)
def test_new_event_id_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidEvent):
        new_event_id(**kwargs)  # type: ignore[arg-type]


def test_ids_derived_from_a_stale_version_report_a_conflict_not_a_duplicate() -> None:
    # Two engines both derive "engine#2" from version 1: the second one must learn it lost.
    with SqliteEventStore(":memory:") as store:
        store.append("engine", [ev("engine#1")], 0)
        store.append("engine", [ev("engine#2", 1)], 1)
        with pytest.raises(ConcurrencyConflict) as err:
            store.append("engine", [ev("engine#2", 2)], 1)
        assert (err.value.expected, err.value.actual) == (1, 2)


def test_append_with_retry_rebuilds_on_the_new_version_with_the_new_events() -> None:
    with SqliteEventStore(":memory:") as store:
        store.append("s", [ev("a")], 0)
        calls: list[tuple[int, list[str]]] = []

        def build(version: int, fresh: list[RecordedEvent]) -> list[NewEvent]:
            calls.append((version, [e.event_id for e in fresh]))
            if len(calls) == 1:  # another writer gets in between
                store.append("s", [ev("other")], version)
            return [ev(new_event_id())]

        recorded = append_with_retry(store, "s", build, known_version=0)
        assert calls == [(1, ["a"]), (2, ["other"])]
        assert recorded[0].stream_version == 3


def test_append_with_retry_stops_when_the_builder_has_nothing_left_to_do() -> None:
    with SqliteEventStore(":memory:") as store:
        assert append_with_retry(store, "s", lambda v, fresh: []) == []
        assert store.last_position() == 0


def test_append_with_retry_gives_up_after_the_attempts_with_a_typed_conflict() -> None:
    with SqliteEventStore(":memory:") as store:

        def build(version: int, fresh: list[RecordedEvent]) -> list[NewEvent]:
            store.append("s", [ev(new_event_id())], version)  # always beaten
            return [ev(new_event_id())]

        with pytest.raises(RetriesExhausted, match="lost 3 attempts") as err:
            append_with_retry(store, "s", build, attempts=3)
        assert isinstance(err.value, ConcurrencyConflict) and err.value.attempts == 3
        assert store.stream_version("s") == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"attempts": True}, {"known_version": -1}, {"stream_id": ""}, {"build": 1}],
)
def test_append_with_retry_validates_before_reading(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"stream_id": "s", "build": lambda v, f: []}
    args.update(kwargs)
    with SqliteEventStore(":memory:") as store, pytest.raises(InvalidEvent):
        append_with_retry(store, **args)  # type: ignore[arg-type]
