"""The conformance suite every EventStore backend passes; subclassed once per backend.

A subclass provides the ``store_url`` fixture (an empty store per test) and ``raw_sql`` (runs SQL
with ``?`` placeholders straight on the database, bypassing the store: for tampering and schema
introspection).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oms_chain.model import OmsError
from oms_chain.store import (
    GENESIS_HASH,
    ConcurrencyConflict,
    DuplicateClientOrderId,
    DuplicateEvent,
    EventStore,
    InvalidEvent,
    InvalidStoreUrl,
    NewEvent,
    StoreClosed,
    _sql,
    export_audit,
    open_store,
    verify_audit,
)
from oms_chain.store._schema import TABLE_COLUMNS
from oms_chain.store.events import canonical_json, chain_hash


def ev(n: int | str, *, ts: int | None = None, corr: str | None = None, **payload: Any) -> NewEvent:
    """A small event with id ``e<n>``; ``ts_event`` defaults to ``n`` seconds in ns."""
    ts_event = ts if ts is not None else (int(n) if str(n).isdigit() else 1) * 1_000_000_000
    return NewEvent(
        event_id=f"e{n}",
        event_type="ThingHappened",
        version=1,
        payload=payload or {"n": str(n)},
        ts_event=ts_event,
        ts_init=ts_event + 5,
        causation_id=None,
        correlation_id=corr,
    )


class EventStoreConformance:
    """Behaviour shared by every backend; see the module docstring for the hooks."""

    @pytest.fixture
    def store_url(self) -> str:
        raise NotImplementedError

    def raw_sql(self, url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[EventStore]:
        with open_store(store_url) as store:
            yield store

    # -- appending ---------------------------------------------------------------------------

    def test_first_append_gets_position_and_version_one_chained_to_genesis(
        self, store: EventStore
    ) -> None:
        [recorded] = store.append("order-1", [ev(1)], expected_version=0)
        assert (recorded.position, recorded.stream_id, recorded.stream_version) == (1, "order-1", 1)
        assert recorded.prev_hash == GENESIS_HASH
        assert len(recorded.hash) == 64
        assert store.last_position() == 1
        assert store.stream_version("order-1") == 1
        assert store.head() == (1, recorded.hash)

    def test_positions_are_global_and_gap_free_while_versions_count_per_stream(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(1), ev(2)], 0)
        store.append("b", [ev(3)], 0)
        store.append("a", [ev(4)], 2)
        events = list(store.read_all())
        assert [e.position for e in events] == [1, 2, 3, 4]
        assert [(e.stream_id, e.stream_version) for e in events] == [
            ("a", 1), ("a", 2), ("b", 1), ("a", 3)
        ]  # fmt: skip
        assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(events))

    def test_append_returns_exactly_what_reads_return(self, store: EventStore) -> None:
        recorded = store.append("a", [ev(1, corr="c"), ev(2)], 0)
        assert store.read_stream("a") == recorded
        assert list(store.read_all()) == recorded

    def test_stale_expected_version_raises_conflict_naming_stream_and_versions(
        self, store: EventStore
    ) -> None:
        store.append("order-7", [ev(1), ev(2)], 0)
        with pytest.raises(ConcurrencyConflict) as caught:
            store.append("order-7", [ev(3)], expected_version=1)
        assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (
            "order-7", 1, 2
        )  # fmt: skip
        message = str(caught.value)
        assert "order-7" in message and "version 1" in message and "version 2" in message
        assert isinstance(caught.value, OmsError)
        assert store.last_position() == 2

    @pytest.mark.parametrize("new", [0, -1])
    def test_zero_and_minus_one_both_require_a_new_stream(
        self, store: EventStore, new: int
    ) -> None:
        store.append("a", [ev(1)], new)
        with pytest.raises(ConcurrencyConflict):
            store.append("a", [ev(2)], new)

    def test_none_appends_at_any_version(self, store: EventStore) -> None:
        store.append("a", [ev(1)], None)
        store.append("a", [ev(2)], None)
        assert store.stream_version("a") == 2

    def test_empty_append_only_checks_the_version(self, store: EventStore) -> None:
        assert store.append("a", [], 0) == []
        store.append("a", [ev(1)], 0)
        with pytest.raises(ConcurrencyConflict):
            store.append("a", [], 0)
        assert store.last_position() == 1

    def test_reappending_the_same_events_returns_the_recorded_ones_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        first = store.append("a", [ev(1), ev(2)], 0)
        store.append("b", [ev(3)], 0)
        again = store.append("a", [ev(1), ev(2)], 0)  # stale expected version on purpose
        assert again == first
        assert store.last_position() == 3

    def test_event_id_reused_with_other_content_raises_duplicate_event(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(1)], 0)
        with pytest.raises(DuplicateEvent, match="other content"):
            store.append("a", [ev(1, changed="yes")], None)

    def test_event_id_reused_in_another_stream_raises_duplicate_event(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(1)], 0)
        with pytest.raises(DuplicateEvent, match="'a'"):
            store.append("b", [ev(1)], 0)

    def test_new_events_mixed_with_recorded_ones_raise_and_write_nothing(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(1)], 0)
        with pytest.raises(DuplicateEvent, match="mixes"):
            store.append("a", [ev(1), ev(2)], None)
        assert store.last_position() == 1

    def test_event_id_repeated_within_one_call_is_rejected(self, store: EventStore) -> None:
        with pytest.raises(InvalidEvent, match="twice"):
            store.append_batch([("a", [ev(1)], 0), ("b", [ev(1)], 0)])
        assert store.last_position() == 0

    def test_append_batch_chains_versions_of_one_stream_across_items(
        self, store: EventStore
    ) -> None:
        results = store.append_batch([("a", [ev(1)], 0), ("b", [ev(2)], 0), ("a", [ev(3)], 1)])
        assert [[e.position for e in r] for r in results] == [[1], [2], [3]]
        assert store.stream_version("a") == 2

    def test_append_batch_is_all_or_nothing_when_one_item_conflicts(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(1)], 0)
        head = store.head()
        with pytest.raises(ConcurrencyConflict):
            store.append_batch([("b", [ev(2)], 0), ("c", [ev(3)], 0), ("a", [ev(4)], 0)])
        assert store.head() == head
        assert store.read_stream("b") == []
        # and the store keeps working afterwards
        store.append("b", [ev(2)], 0)
        assert verify_audit(store).ok

    def test_bad_argument_anywhere_in_a_batch_writes_nothing(self, store: EventStore) -> None:
        bad_requests: list[Any] = [
            [("a", [ev(1)], 0), ("b", [{"not": "an event"}], 0)],
            [("a", [ev(1)], 0), ("", [ev(2)], 0)],
            [("a", [ev(1)], 0), ("b", [ev(2)], -2)],
            [("a", [ev(1)], 0), ("b", [ev(2)])],
            [("a", [ev(1)], 0), ("b", ev(2), 0)],
            [("a", [ev(1)], 0), ("b", [ev(2)], True)],
        ]
        for requests in bad_requests:
            with pytest.raises(InvalidEvent):
                store.append_batch(requests)
        assert store.last_position() == 0

    # -- reading -----------------------------------------------------------------------------

    def test_read_stream_is_exclusive_of_from_version(self, store: EventStore) -> None:
        store.append("a", [ev(1), ev(2), ev(3)], 0)
        assert [e.stream_version for e in store.read_stream("a", from_version=1)] == [2, 3]
        assert store.read_stream("a", from_version=3) == []
        assert store.read_stream("missing") == []

    def test_read_prefix_reads_exactly_the_streams_whose_id_starts_with_it(
        self, store: EventStore
    ) -> None:
        # ids a locale's collation orders around the prefix (punctuation ignored, case folded)
        ids = [
            "safe-proposals/10/0xab",
            "safeproposals/1",
            "safe-proposals0",
            "Safe-proposals/1/0xab",
            "safe-proposals/1/0xab",
            "safe-proposals",
            "safe-proposals/" + chr(0x10FFFF),
            "safe-proposals/1/0xab",
            "safe-proposals.1",
            "x" + chr(0xD7FF) + "a",
            "x" + chr(0xE000),
        ]
        versions: dict[str, int] = {}
        for n, sid in enumerate(ids, start=1):
            store.append(sid, [ev(n)], versions.get(sid, 0))
            versions[sid] = versions.get(sid, 0) + 1
        for prefix in ("safe-proposals/", "safe-proposals/1/", "safe", "x" + chr(0xD7FF)):
            got = store.read_prefix(prefix)
            want = [p for p, sid in enumerate(ids, start=1) if sid.startswith(prefix)]
            assert [r.position for r in got] == want, prefix
        assert store.read_prefix("nothing/") == []
        with pytest.raises(InvalidEvent):
            store.read_prefix("")

    def test_read_all_is_exclusive_of_from_position_and_honours_limit(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(i) for i in range(1, 8)], 0)
        assert [e.position for e in store.read_all(from_position=5)] == [6, 7]
        assert [e.position for e in store.read_all(2, limit=3)] == [3, 4, 5]
        assert list(store.read_all(limit=0)) == []

    def test_read_all_pages_through_many_events(
        self, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_sql, "PAGE_SIZE", 3)
        store.append_batch([(f"s{i}", [ev(i)], 0) for i in range(1, 11)])
        assert [e.position for e in store.read_all()] == list(range(1, 11))
        assert [e.position for e in store.read_all(limit=7)] == list(range(1, 8))
        assert [r.position for r in store.read_audit_rows(4)] == list(range(5, 11))

    def test_read_by_correlation_returns_the_correlated_events_in_order(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(1, corr="intent-1"), ev(2, corr="intent-2")], 0)
        store.append("b", [ev(3, corr="intent-1"), ev(4)], 0)
        assert [e.event_id for e in store.read_by_correlation("intent-1")] == ["e1", "e3"]
        assert store.read_by_correlation("nobody") == []

    def test_read_between_is_half_open_on_ts_event(self, store: EventStore) -> None:
        store.append("a", [ev(1, ts=100), ev(2, ts=200), ev(3, ts=300)], 0)
        store.append("b", [ev(4, ts=150)], 0)
        assert [e.event_id for e in store.read_between(100, 300)] == ["e1", "e2", "e4"]
        assert store.read_between(301, 400) == []

    def test_payload_round_trips_exactly(self, store: EventStore) -> None:
        payload: dict[str, Any] = {
            "qty": "1.000000000000000001",
            "big": 2**80,
            "neg": -3,
            "ratio": 0.1,
            "flag": True,
            "none": None,
            "nested": {"list": [1, "two", {"three": [3.5]}], "empty": {}},
            "unicode": "ΔΞ ✓ 東京 \u0000 end",
        }
        store.append("a", [NewEvent("e1", "T", 1, payload, 1, 1)], 0)
        assert store.read_stream("a")[0].payload == payload
        assert next(store.read_audit_rows()).payload == canonical_json(payload)

    def test_hash_is_sha256_of_prev_hash_and_canonical_record(self, store: EventStore) -> None:
        store.append("a", [ev(1)], 0)
        [second] = store.append("b", [ev(2, corr="c")], 0)
        record = {
            "position": 2, "stream_id": "b", "stream_version": 1, "event_id": "e2",
            "event_type": "ThingHappened", "version": 1, "payload": {"n": "2"},
            "ts_event": 2_000_000_000, "ts_init": 2_000_000_005, "causation_id": None,
            "correlation_id": "c",
        }  # fmt: skip
        assert second.hash == chain_hash(second.prev_hash, canonical_json(record))

    # -- client order ids --------------------------------------------------------------------

    def test_client_order_ids_are_unique_for_the_life_of_the_store(self, store_url: str) -> None:
        with open_store(store_url) as store:
            store.reserve_client_order_id("oms-abc-0", "o-1/0")
            store.reserve_client_order_id("oms-abc-0", "o-1/0")  # same pair: no-op
            assert store.client_order_id_owner("oms-abc-0") == "o-1/0"
            assert store.client_order_id_owner("oms-zzz-0") is None
        with open_store(store_url) as store:
            with pytest.raises(DuplicateClientOrderId, match="oms-abc-0") as caught:
                store.reserve_client_order_id("oms-abc-0", "o-2/0")
            assert isinstance(caught.value, ValueError) and isinstance(caught.value, OmsError)
            assert store.client_order_id_owner("oms-abc-0") == "o-1/0"

    # -- snapshots ---------------------------------------------------------------------------

    def test_snapshots_are_saved_replaced_and_loaded(self, store: EventStore) -> None:
        assert store.load_snapshot("orders") is None
        store.append("a", [ev(1), ev(2)], 0)
        store.save_snapshot("orders", 1, {"open": ["o-1"]})
        store.save_snapshot("orders", 2, {"open": [], "qty": "1.5"})
        assert store.load_snapshot("orders") == (2, {"open": [], "qty": "1.5"})

    def test_snapshot_beyond_the_last_position_or_with_bad_state_is_rejected(
        self, store: EventStore
    ) -> None:
        store.append("a", [ev(1)], 0)
        with pytest.raises(InvalidEvent, match="position 5"):
            store.save_snapshot("orders", 5, {})
        with pytest.raises(InvalidEvent, match=r"a set, which is not JSON-safe"):
            store.save_snapshot("orders", 1, {"x": {1, 2}})
        assert store.load_snapshot("orders") is None

    # -- lifecycle and schema ----------------------------------------------------------------

    def test_events_survive_closing_and_reopening(self, store_url: str) -> None:
        with open_store(store_url) as store:
            recorded = store.append("a", [ev(1), ev(2)], 0)
        with open_store(store_url) as store:
            assert list(store.read_all()) == recorded
            store.append("a", [ev(3)], 2)
            assert verify_audit(store).ok

    def test_opening_without_create_refuses_a_missing_store(self, store_url: str) -> None:
        with pytest.raises(InvalidStoreUrl, match="no event store"):
            open_store(store_url, create=False)
        open_store(store_url).close()
        with open_store(store_url, create=False) as store:
            assert store.last_position() == 0

    def test_closed_store_refuses_calls_and_close_is_idempotent(self, store_url: str) -> None:
        store = open_store(store_url)
        store.close()
        store.close()
        with pytest.raises(StoreClosed):
            store.append("a", [ev(1)], 0)
        with pytest.raises(StoreClosed):
            list(store.read_all())

    def test_schema_has_the_shared_tables_and_columns(
        self, store: EventStore, store_url: str
    ) -> None:
        assert self.table_columns(store_url) == TABLE_COLUMNS

    def table_columns(self, url: str) -> dict[str, list[str]]:
        raise NotImplementedError

    # -- audit -------------------------------------------------------------------------------

    def _five_events(self, store: EventStore) -> None:
        store.append("a", [ev(1), ev(2)], 0)
        store.append("b", [ev(3)], 0)
        store.append("a", [ev(4), ev(5)], 2)

    def test_untouched_chain_verifies(self, store: EventStore) -> None:
        self._five_events(store)
        report = verify_audit(store)
        assert report.ok and report.checked == 5 and report.head_hash == store.head().hash
        assert verify_audit(store, anchor=(3, store.read_stream("b")[0].hash)).ok

    def test_edited_payload_is_detected_at_its_position(
        self, store: EventStore, store_url: str
    ) -> None:
        self._five_events(store)
        self.raw_sql(store_url, "UPDATE events SET payload = ? WHERE position = 3", ('{"n":"9"}',))
        report = verify_audit(store)
        assert (report.ok, report.first_bad_position) == (False, 3)
        assert "hash" in (report.reason or "")

    def test_deleted_row_is_detected_at_its_position(
        self, store: EventStore, store_url: str
    ) -> None:
        self._five_events(store)
        self.raw_sql(store_url, "DELETE FROM events WHERE position = 2")
        report = verify_audit(store)
        assert (report.ok, report.first_bad_position) == (False, 2)
        assert "missing" in (report.reason or "")

    def test_deleted_last_row_is_detected_against_the_chain_head(
        self, store: EventStore, store_url: str
    ) -> None:
        self._five_events(store)
        self.raw_sql(store_url, "DELETE FROM events WHERE position = 5")
        assert verify_audit(store).first_bad_position == 5

    def test_swapped_rows_are_detected_at_the_first_of_them(
        self, store: EventStore, store_url: str
    ) -> None:
        self._five_events(store)
        self.raw_sql(store_url, "UPDATE events SET position = -1 WHERE position = 2")
        self.raw_sql(store_url, "UPDATE events SET position = 2 WHERE position = 4")
        self.raw_sql(store_url, "UPDATE events SET position = 4 WHERE position = -1")
        report = verify_audit(store)
        assert (report.ok, report.first_bad_position) == (False, 2)

    def test_row_inserted_after_the_head_is_detected(
        self, store: EventStore, store_url: str
    ) -> None:
        self._five_events(store)
        self.raw_sql(
            store_url,
            "INSERT INTO events (position, stream_id, stream_version, event_id, event_type, "
            "version, payload, ts_event, ts_init, prev_hash, hash) "
            "SELECT 6, stream_id, 9, 'forged', event_type, version, payload, ts_event, ts_init, "
            "hash, hash FROM events WHERE position = 5",
        )
        assert verify_audit(store).first_bad_position == 6

    def test_anchor_mismatch_is_reported(self, store: EventStore) -> None:
        self._five_events(store)
        report = verify_audit(store, anchor=(2, "0" * 64))
        assert (report.ok, report.first_bad_position) == (False, 2)

    def test_export_writes_every_row_as_jsonl_and_csv(
        self, store: EventStore, tmp_path: Path
    ) -> None:
        self._five_events(store)
        tmp_path = tmp_path / "export"
        tmp_path.mkdir()
        assert export_audit(store, tmp_path / "audit.jsonl") == 5
        lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        assert [line["position"] for line in lines] == [1, 2, 3, 4, 5]
        assert lines[2]["payload"] == {"n": "3"} and lines[4]["hash"] == store.head().hash
        assert export_audit(store, tmp_path / "audit.csv", fmt="csv") == 5
        with (tmp_path / "audit.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["position"]) for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0]["prev_hash"] == GENESIS_HASH and rows[0]["payload"] == '{"n":"1"}'
        with pytest.raises(InvalidEvent, match="xml"):
            export_audit(store, tmp_path / "audit.xml", fmt="xml")  # type: ignore[arg-type]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.csv", "audit.jsonl"]
