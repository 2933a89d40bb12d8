"""Properties of anchored verification and of anchor files (SQLite in memory, hypothesis)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_conformance import ev

from oms_chain.chain.anchor import store_id_topic
from oms_chain.model import InvalidInput, OmsError
from oms_chain.store import (
    Anchor,
    InvalidEvent,
    SqliteEventStore,
    append_anchor_file,
    open_store,
    read_anchor_file,
    verify_audit,
)
from oms_chain.store.events import canonical_record, chain_hash


def _store(n: int) -> SqliteEventStore:
    store = SqliteEventStore(":memory:")
    for i in range(1, n + 1):
        store.append(f"s{i % 3}", [ev(i)], None)
    return store


def _anchor(store: SqliteEventStore, name: str = "a") -> Anchor:
    head = store.head()
    return Anchor(head.position, head.hash, store.store_id(), name)


def _rehash(store: SqliteEventStore) -> None:
    conn: Any = store._conn
    prev = "0" * 64
    rows = conn.execute(
        "SELECT position, stream_id, stream_version, event_id, event_type, version, payload, "
        "ts_event, ts_init, causation_id, correlation_id FROM events ORDER BY position"
    ).fetchall()
    for r in rows:
        record = canonical_record(
            position=r[0], stream_id=r[1], stream_version=r[2], event_id=r[3], event_type=r[4],
            version=r[5], payload_json=r[6], ts_event=r[7], ts_init=r[8], causation_id=r[9],
            correlation_id=r[10],
        )  # fmt: skip
        digest = chain_hash(prev, record)
        conn.execute(
            "UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", (prev, digest, r[0])
        )
        prev = digest
    conn.execute("UPDATE chain_head SET position = ?, hash = ? WHERE id = 1", (len(rows), prev))


@settings(max_examples=40)
@given(n=st.integers(2, 12), data=st.data())
def test_any_truncation_with_a_consistent_head_fails_against_the_anchor(n: int, data: Any) -> None:
    store = _store(n)
    anchor = _anchor(store)
    keep = data.draw(st.integers(0, n - 1), label="rows kept")
    store._conn.execute("DELETE FROM events WHERE position > ?", (keep,))
    _rehash(store)
    assert verify_audit(store).ok
    report = verify_audit(store, anchors=[anchor], store_id=store.store_id())
    assert not report.ok and report.first_bad_position == keep + 1


@settings(max_examples=40)
@given(n=st.integers(1, 12), data=st.data())
def test_any_edit_re_hashed_fails_against_an_anchor_at_or_after_it(n: int, data: Any) -> None:
    store = _store(n)
    at = data.draw(st.integers(1, n), label="anchored position")
    anchor = Anchor(
        at,
        store._conn.execute("SELECT hash FROM events WHERE position = ?", (at,)).fetchone()[0],
        store.store_id(),
        "a",
    )
    edited = data.draw(st.integers(1, n), label="edited position")
    store._conn.execute(
        "UPDATE events SET payload = ? WHERE position = ?", ('{"n":"forged"}', edited)
    )
    _rehash(store)
    report = verify_audit(store, anchors=[anchor], store_id=store.store_id())
    if edited <= at:
        assert not report.ok and report.first_bad_position == at
    else:
        assert report.ok and report.anchors_checked == 1  # after the newest anchor: unknowable


def test_an_untouched_store_matches_all_its_anchors() -> None:
    store = _store(3)
    first = _anchor(store, "first")
    store.append("s", [ev(10), ev(11)], None)
    report = verify_audit(
        store, anchors=[first, _anchor(store, "second")], store_id=store.store_id()
    )
    assert report.ok and report.checked == 5 and report.anchors_checked == 2


def test_anchor_file_round_trips_and_only_appends(tmp_path: Path) -> None:
    store = _store(2)
    path = tmp_path / "anchors.jsonl"
    a = _anchor(store)
    append_anchor_file(path, a, store.url)
    first_line = path.read_text()
    store.append("s", [ev(7)], None)
    b = _anchor(store)
    append_anchor_file(path, b, store.url)
    assert path.read_text().startswith(first_line)
    read = read_anchor_file(path)
    assert [(x.position, x.hash, x.store_id) for x in read] == [
        (2, a.hash, a.store_id),
        (3, b.hash, b.store_id),
    ]
    assert read[1].source == f"anchor file {path} line 2"


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


@given(
    line=st.one_of(
        st.text(max_size=40),
        _JSONISH.map(json.dumps),
        st.fixed_dictionaries(
            {"format": st.just("oms-audit-anchor/1")},
            optional={
                "position": _JSONISH,
                "hash": _JSONISH,
                "store_id": _JSONISH,
                "ts_ns": _JSONISH,
            },
        ).map(json.dumps),
    )
)
def test_any_damaged_anchor_line_is_an_invalid_event_naming_the_line(
    tmp_path_factory: Any, line: str
) -> None:
    path = tmp_path_factory.mktemp("anchors") / "a.jsonl"
    path.write_text(line.replace("\n", " ") + "\n", encoding="utf-8")
    try:
        anchors = read_anchor_file(path)
    except InvalidEvent as exc:
        assert "line 1" in str(exc)
        return
    except OmsError:  # pragma: no cover - any other OmsError would be a wrong category
        pytest.fail("anchor file errors must be InvalidEvent")
    assert len(anchors) <= 1  # a blank line, or a valid anchor


@given(
    position=st.one_of(st.integers(max_value=-1), st.floats(), st.booleans(), st.text()),
    digest=st.text(),
)
def test_bad_anchor_values_are_refused(position: Any, digest: str) -> None:
    with pytest.raises(InvalidEvent):
        Anchor(position, digest, None, "x")


class _AnotherWriterAppends:
    """The store as seen while another process appends: after the first row is read, three
    events are appended through a second real connection to the same file."""

    def __init__(self, path: Path) -> None:
        self.reader = SqliteEventStore(str(path))
        self.writer = SqliteEventStore(str(path))

    def head(self) -> Any:
        return self.reader.head()

    def read_audit_rows(self, from_position: int = 0) -> Any:
        for n, row in enumerate(self.reader.read_audit_rows(from_position)):
            yield row
            if n == 0 and from_position == 0:
                for i in (101, 102, 103):
                    self.writer.append("other", [ev(i)], None)


def test_appends_by_another_writer_during_verification_are_not_tampering(tmp_path: Path) -> None:
    path = tmp_path / "oms.db"
    with SqliteEventStore(str(path)) as store:
        for i in range(1, 4):
            store.append("s", [ev(i)], None)
    live = _AnotherWriterAppends(path)
    try:
        report = verify_audit(live)  # type: ignore[arg-type]
    finally:
        live.reader.close()
        live.writer.close()
    assert report.ok and report.checked == 6


@settings(max_examples=30)
@given(content=st.binary(max_size=600))
def test_read_only_open_of_any_file_is_an_oms_error_or_a_store_and_never_writes(
    tmp_path_factory: Any, content: bytes
) -> None:
    folder = tmp_path_factory.mktemp("ro")
    path = folder / "x.db"
    path.write_bytes(content)
    with contextlib.suppress(OmsError):
        open_store(f"sqlite:///{path}", read_only=True).close()
    assert [p.name for p in folder.iterdir()] == ["x.db"] and path.read_bytes() == content


@given(value=st.one_of(st.text(max_size=40), st.integers(), st.none(), st.binary(max_size=8)))
def test_store_id_topic_takes_only_32_lowercase_hex_digits(value: Any) -> None:
    try:
        topic = store_id_topic(value)
    except InvalidInput:
        return
    assert topic == "0x" + value + "0" * 32 and len(topic) == 66
