"""The public API of oms_chain.store and the event value types."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import oms_chain.store as store_pkg
from oms_chain.store import EventStore, InvalidEvent, NewEvent, PostgresEventStore, SqliteEventStore
from oms_chain.store.events import canonical_json, canonical_record


def test_public_api_is_exactly_what_the_package_documents() -> None:
    assert sorted(store_pkg.__all__) == sorted(
        [
            "GENESIS_HASH", "Anchor", "AppendRequest", "AuditReport", "AuditRow", "ChainHead",
            "ConcurrencyConflict", "DuplicateClientOrderId", "DuplicateEvent", "EventStore",
            "InvalidEvent", "InvalidStoreUrl", "NewEvent", "PostgresEventStore", "RecordedEvent",
            "SqliteEventStore", "StateProblem", "StoreClosed", "StoreError", "StoreReadOnly",
            "StoreSchemaMismatch", "StoreTampered", "StoreUnavailable", "append_anchor_file",
            "check_restart_state", "export_audit", "open_store", "read_anchor_file",
            "state_problems", "verify_audit",
            # several writers and leases
            "PARENT_PREFIX", "ClaimedIntent", "DuplicateIntent", "DuplicateSend", "Lease",
            "LeaseError", "LeaseExpired", "LeaseInfo", "LeaseLost", "Leases", "RetriesExhausted",
            "SendRecord", "StaleFencingToken", "append_with_retry", "new_event_id",
        ]
    )  # fmt: skip
    for name in store_pkg.__all__:
        assert getattr(store_pkg, name) is not None
        assert name in (store_pkg.__doc__ or "") or name[0].isupper()


METHODS = [
    "append", "append_batch", "read_stream", "read_all", "read_by_correlation", "read_between",
    "last_position", "stream_version", "head", "read_audit_rows", "reserve_client_order_id",
    "client_order_id_owner", "save_snapshot", "load_snapshot", "close", "__enter__", "__exit__",
]  # fmt: skip


def test_both_backends_implement_the_protocol() -> None:
    for backend in (SqliteEventStore, PostgresEventStore):
        for method in METHODS:
            assert callable(getattr(backend, method)), (backend, method)
    with SqliteEventStore(":memory:") as store:
        assert isinstance(store, EventStore)


def _event(**overrides: Any) -> NewEvent:
    fields: dict[str, Any] = dict(
        event_id="e1", event_type="T", version=1, payload={}, ts_event=1, ts_init=1
    )
    fields.update(overrides)
    return NewEvent(**fields)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"payload": {"qty": Decimal("1.5")}}, r"payload of event 'e1'\['qty'\] is a Decimal.*str"),
        ({"payload": {"x": float("nan")}}, "NaN"),
        ({"payload": {"x": float("inf")}}, "NaN or infinity"),
        ({"payload": {1: "a"}}, "keys must be str"),
        ({"payload": {"t": (1, 2)}}, "tuple"),
        ({"payload": {"s": {1}}}, "set"),
        ({"payload": {"b": b"x"}}, "bytes"),
        ({"payload": [1]}, "must be a dict"),
        ({"event_id": ""}, "event_id must be a non-empty str"),
        ({"event_id": 5}, "event_id"),
        ({"event_id": "a\x00b"}, "NUL"),
        ({"event_id": "\ud800"}, "surrogate"),
        ({"event_type": None}, "event_type"),
        ({"version": -1}, "version"),
        ({"version": True}, "version must be an int"),
        ({"ts_event": 1.5}, "ts_event must be an int"),
        ({"ts_init": 2**63}, "out of range"),
        ({"correlation_id": ""}, "correlation_id"),
    ],
)
def test_bad_events_are_rejected_with_a_message_naming_the_field(
    overrides: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidEvent, match=match) as caught:
        _event(**overrides)
    assert isinstance(caught.value, ValueError)


def test_deeply_nested_payload_is_rejected_cleanly() -> None:
    payload: dict[str, Any] = {}
    inner = payload
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        _event(payload=payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)  # fmt: skip
ids = st.text(min_size=1).filter(
    lambda s: "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
)


@given(
    payload=st.dictionaries(st.text(), json_values, max_size=5),
    event_id=ids, event_type=ids, stream_id=ids,
    causation=st.none() | ids, correlation=st.none() | ids,
    version=st.integers(0, 2**31 - 1), position=st.integers(1, 2**63 - 1),
    stream_version=st.integers(1, 2**63 - 1),
    ts_event=st.integers(0, 2**63 - 1), ts_init=st.integers(0, 2**63 - 1),
)  # fmt: skip
def test_hand_built_canonical_record_equals_canonical_json_of_the_record(
    payload: dict[str, Any], event_id: str, event_type: str, stream_id: str,
    causation: str | None, correlation: str | None, version: int, position: int,
    stream_version: int, ts_event: int, ts_init: int,
) -> None:  # fmt: skip
    event = NewEvent(
        event_id, event_type, version, payload, ts_event, ts_init, causation, correlation
    )
    record = {
        "position": position, "stream_id": stream_id, "stream_version": stream_version,
        "event_id": event_id, "event_type": event_type, "version": version, "payload": payload,
        "ts_event": ts_event, "ts_init": ts_init, "causation_id": causation,
        "correlation_id": correlation,
    }  # fmt: skip
    expected = canonical_json(record)
    assert canonical_record(
        position=position, stream_id=stream_id, stream_version=stream_version,
        event_id=event_id, event_type=event_type, version=version,
        payload_json=event.payload_json, ts_event=ts_event, ts_init=ts_init,
        causation_id=causation, correlation_id=correlation,
    ) == expected  # fmt: skip
    assert json.loads(event.payload_json) == payload or payload != payload
