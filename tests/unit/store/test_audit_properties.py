"""Property tests: random append sequences keep positions gap-free and the chain valid; any single
tampered row is detected at the right position; a bad batch writes nothing."""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_chain.store import (
    ConcurrencyConflict,
    DuplicateEvent,
    EventStore,
    InvalidEvent,
    NewEvent,
    open_store,
    verify_audit,
)

STREAMS = ["order-a", "order-b", "order-c", "fills"]
PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# an operation: (stream index, payload values of the events to append, as batch item or alone)
operations = st.lists(
    st.tuples(
        st.integers(0, len(STREAMS) - 1),
        st.lists(st.integers(-(10**6), 10**6) | st.text(max_size=5), min_size=1, max_size=3),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@contextmanager
def sqlite_store() -> Iterator[tuple[EventStore, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        with open_store(f"sqlite:///{path}") as store:
            yield store, path


def apply(store: EventStore, ops: list[tuple[int, list[Any], bool]]) -> int:
    """Append ``ops`` with correct expected versions; batch-flagged ops go in one transaction."""
    versions: dict[str, int] = {}
    counter = 0
    pending: list[tuple[str, list[NewEvent], int | None]] = []
    for stream_index, values, batched in ops:
        stream = STREAMS[stream_index]
        events = []
        for value in values:
            counter += 1
            events.append(NewEvent(f"ev-{counter}", "Happened", 1, {"v": value}, counter, counter))
        expected = versions.get(stream, 0)
        versions[stream] = expected + len(events)
        pending.append((stream, events, expected))
        if not batched:
            store.append_batch(pending)
            pending = []
    if pending:
        store.append_batch(pending)
    return counter


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(sql, params)


@PROPS
@given(ops=operations)
def test_random_appends_keep_positions_gap_free_and_the_chain_valid(
    ops: list[tuple[int, list[Any], bool]],
) -> None:
    with sqlite_store() as (store, _):
        total = apply(store, ops)
        events = list(store.read_all())
        assert [e.position for e in events] == list(range(1, total + 1))
        for stream in STREAMS:
            assert [e.stream_version for e in store.read_stream(stream)] == list(
                range(1, store.stream_version(stream) + 1)
            )
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
        report = verify_audit(store)
        assert report.ok and report.checked == total and report.head_hash == store.head().hash


EDITS = [
    ("payload", '{"v":"tampered"}'),
    ("event_type", "Forged"),
    ("ts_event", 999_999),
    ("correlation_id", "someone-else"),
    ("stream_version", 77),
    ("hash", "f" * 64),
    ("prev_hash", "e" * 64),
]


@PROPS
@given(ops=operations, data=st.data())
def test_any_single_tampered_row_is_detected_at_the_first_bad_position(
    ops: list[tuple[int, list[Any], bool]], data: st.DataObject
) -> None:
    with sqlite_store() as (store, path):
        total = apply(store, ops)
        kind = data.draw(st.sampled_from(["edit", "delete", "swap"]), label="kind")
        if kind == "swap" and total < 2:
            kind = "edit"
        if kind == "edit":
            row = data.draw(st.integers(1, total), label="row")
            column, value = data.draw(st.sampled_from(EDITS), label="edit")
            raw(path, f"UPDATE events SET {column} = ? WHERE position = ?", (value, row))
            first_bad = row
        elif kind == "delete":
            row = data.draw(st.integers(1, total), label="row")
            raw(path, "DELETE FROM events WHERE position = ?", (row,))
            first_bad = row
        else:
            i = data.draw(st.integers(1, total - 1), label="i")
            j = data.draw(st.integers(i + 1, total), label="j")
            raw(path, "UPDATE events SET position = -1 WHERE position = ?", (i,))
            raw(path, "UPDATE events SET position = ? WHERE position = ?", (i, j))
            raw(path, "UPDATE events SET position = ? WHERE position = -1", (j,))
            first_bad = i
        report = verify_audit(store)
        assert not report.ok
        assert report.first_bad_position == first_bad, report.reason
        assert report.reason
        assert str(first_bad) in str(report)


bad_items = st.sampled_from(["conflict", "reused-id", "not-an-event", "bad-stream", "dup-in-call"])


@PROPS
@given(ops=operations, bad=bad_items, data=st.data())
def test_a_batch_with_one_bad_item_writes_nothing(
    ops: list[tuple[int, list[Any], bool]], bad: str, data: st.DataObject
) -> None:
    with sqlite_store() as (store, _):
        total = apply(store, ops)
        head = store.head()
        good = [
            (f"new-{k}", [NewEvent(f"new-ev-{k}", "Happened", 1, {"k": k}, 1, 1)], 0)
            for k in range(data.draw(st.integers(0, 3), label="good items"))
        ]
        items: list[Any] = list(good)
        if bad == "conflict":
            items.append(("order-a", [NewEvent("x-1", "Happened", 1, {}, 1, 1)], 999))
            error: type[Exception] = ConcurrencyConflict
        elif bad == "reused-id":
            items.append(("order-z", [NewEvent(f"ev-{total}", "Other", 1, {}, 1, 1)], 0))
            error = DuplicateEvent
        elif bad == "not-an-event":
            items.append(("order-z", [{"event_id": "x"}], 0))
            error = InvalidEvent
        elif bad == "bad-stream":
            items.append((None, [NewEvent("x-2", "Happened", 1, {}, 1, 1)], 0))
            error = InvalidEvent
        else:
            items.append(("order-z", [NewEvent("x-3", "H", 1, {}, 1, 1)] * 2, 0))
            error = InvalidEvent
        position = data.draw(st.integers(0, len(good)), label="bad item index")
        items.insert(position, items.pop())
        try:
            store.append_batch(items)
        except error:
            pass
        else:
            raise AssertionError(f"{bad} batch was accepted")
        assert store.head() == head
        assert store.last_position() == total
        assert verify_audit(store).ok
