"""The engine's EventLog contract, run against the in-memory log and the SQLite store."""

import pytest

from oms_chain.engine import EventLog, InMemoryEventLog
from oms_chain.store import ConcurrencyConflict, DuplicateClientOrderId, NewEvent, open_store


@pytest.fixture(params=["memory", "sqlite"])
def log(request, tmp_path):
    if request.param == "memory":
        yield InMemoryEventLog()
    else:
        store = open_store(f"sqlite:///{tmp_path}/events.db")
        yield store
        store.close()


def ev(n: int) -> NewEvent:
    return NewEvent(
        event_id=f"e{n}", event_type="T", version=1, payload={"n": n}, ts_event=n, ts_init=n
    )


def test_both_implementations_satisfy_the_protocol(log):
    assert isinstance(log, EventLog)


def test_append_reads_back_in_position_order_with_stream_versions(log):
    log.append("a", [ev(1), ev(2)], 0)
    log.append("b", [ev(3)], 0)
    log.append("a", [ev(4)], 2)
    got = [(r.stream_id, r.stream_version, r.position, r.event_id) for r in log.read_all()]
    assert got == [("a", 1, 1, "e1"), ("a", 2, 2, "e2"), ("b", 1, 3, "e3"), ("a", 3, 4, "e4")]
    assert [r.event_id for r in log.read_all(2)] == ["e3", "e4"]
    assert log.stream_version("a") == 3


def test_wrong_expected_version_conflicts_and_writes_nothing(log):
    log.append("a", [ev(1)], 0)
    with pytest.raises(ConcurrencyConflict, match="expected it at version 5"):
        log.append("a", [ev(2)], 5)
    assert [r.event_id for r in log.read_all()] == ["e1"]


def test_re_appending_the_same_events_is_idempotent(log):
    first = log.append("a", [ev(1), ev(2)], 0)
    again = log.append("a", [ev(1), ev(2)], 0)
    assert [r.position for r in again] == [r.position for r in first]
    assert len(list(log.read_all())) == 2


def test_client_order_ids_are_reserved_for_life(log):
    log.reserve_client_order_id("oms-1", "o-1")
    log.reserve_client_order_id("oms-1", "o-1")  # same pair: no-op
    with pytest.raises(DuplicateClientOrderId, match="already reserved by order 'o-1'"):
        log.reserve_client_order_id("oms-1", "o-2")
