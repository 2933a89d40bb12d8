"""The pure half of an append to the SQL event stores: every argument checked before any I/O
(so a bad one writes nothing), and a retried append told apart from a reused event id. Rows
read back map onto :class:`~oms_chain.store.events.RecordedEvent` here too."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from oms_chain.store.base import AppendRequest
from oms_chain.store.errors import DuplicateEvent, InvalidEvent
from oms_chain.store.events import NewEvent, RecordedEvent, check_id, check_int

__all__: list[str] = []

_INT64_MAX = 2**63 - 1

_raw_decode = json.JSONDecoder().raw_decode


def _payload(text: str) -> Any:
    # raw_decode skips json.loads' whitespace handling; stored payloads are canonical JSON.
    value, end = _raw_decode(text)
    return value if end == len(text) else json.loads(text)


def _recorded(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(
        row[0], row[1], row[2], _payload(row[3]), row[4], row[5], row[6], row[7],
        row[8], row[9], row[10], row[11], row[12],
    )  # fmt: skip


def _validate_requests(
    requests: Sequence[AppendRequest],
) -> list[tuple[str, list[NewEvent], int | None]]:
    """Check every argument before any I/O, so a bad one writes nothing."""
    if isinstance(requests, (str, bytes)) or not isinstance(requests, Sequence):
        raise InvalidEvent(f"append_batch takes a sequence of requests, not {requests!r}")
    items = []
    seen: set[str] = set()
    for index, request in enumerate(requests):
        if not isinstance(request, tuple) or len(request) != 3:
            raise InvalidEvent(
                f"request {index} must be a (stream_id, events, expected_version) tuple, "
                f"not {request!r}"
            )
        stream_id, events, expected = request
        check_id(stream_id, "stream_id")
        if expected is not None:
            check_int(expected, f"expected_version of stream {stream_id!r}", -1, _INT64_MAX)
        if isinstance(events, (str, bytes, NewEvent)) or not isinstance(events, Sequence):
            raise InvalidEvent(
                f"events for stream {stream_id!r} must be a list of NewEvent, not {events!r}"
            )
        for event in events:
            if not isinstance(event, NewEvent):
                raise InvalidEvent(
                    f"events for stream {stream_id!r} must be NewEvent instances, got "
                    f"{type(event).__name__} {event!r}"
                )
            if event.event_id in seen:
                raise InvalidEvent(f"event_id {event.event_id!r} appears twice in one append")
            seen.add(event.event_id)
        items.append((stream_id, list(events), expected))
    return items


def _stale_ids(
    stream_id: str,
    expected: int | None,
    current: int,
    known: list[NewEvent],
    existing: dict[str, Sequence[Any]],
) -> bool:
    """True when the colliding ids all sit in ``stream_id`` and the caller's version is stale."""
    if expected is None or max(expected, 0) == current:
        return False
    return all(existing[e.event_id][9] == stream_id for e in known)


def _replayed(
    stream_id: str,
    events: list[NewEvent],
    known: list[NewEvent],
    existing: dict[str, Sequence[Any]],
) -> list[RecordedEvent]:
    """Events of a retried append, all already recorded identically; else DuplicateEvent."""
    if len(known) != len(events):
        ids = ", ".join(repr(e.event_id) for e in known)
        raise DuplicateEvent(
            f"append to stream {stream_id!r} mixes new events with already recorded ones "
            f"({ids}); re-append exactly the earlier batch, or give new events new ids"
        )
    for e in events:
        row = existing[e.event_id]
        if row[9] != stream_id:
            raise DuplicateEvent(
                f"event_id {e.event_id!r} is already recorded in stream {row[9]!r} "
                f"(position {row[8]}), not in {stream_id!r}"
            )
        stored = (row[1], row[2], row[3], row[4], row[5], row[6], row[7])
        given = (e.event_type, e.version, e.payload_json, e.ts_event, e.ts_init,
                 e.causation_id, e.correlation_id)  # fmt: skip
        if stored != given:
            raise DuplicateEvent(
                f"event_id {e.event_id!r} is already recorded (position {row[8]}) with other "
                f"content; event ids must not be reused"
            )
    return [_recorded(existing[e.event_id]) for e in events]
