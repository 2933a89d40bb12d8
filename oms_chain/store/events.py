"""Event records as the store sees them, their canonical JSON form and their chain hash.

A :class:`NewEvent` is validated and its payload serialized to canonical JSON once, when it is
constructed; the store writes that text and hashes it. A :class:`RecordedEvent` is what the store
returns: the event plus where it landed (global ``position``, ``stream_id``, ``stream_version``)
and its link in the audit chain (``prev_hash``, ``hash``).

Canonical JSON: ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
allow_nan=False)``. The hash of a recorded event is
``sha256(prev_hash_hex_ascii || canonical_json(record))`` where *record* is the object with keys
``position, stream_id, stream_version, event_id, event_type, version, payload, ts_event,
ts_init, causation_id, correlation_id``; the first event's ``prev_hash`` is :data:`GENESIS_HASH`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from oms_chain.store.errors import InvalidEvent

__all__ = [
    "GENESIS_HASH",
    "NewEvent",
    "RecordedEvent",
    "canonical_json",
    "canonical_record",
    "chain_hash",
    "snapshot_seal",
]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the event at position 1."""

_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a JSON-safe value (sorted keys, no spaces, ASCII only)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def quoted(value: str | None) -> str:
    """JSON string literal of ``value`` (ASCII), or ``null``."""
    return "null" if value is None else encode_basestring_ascii(value)


def record_head(
    *,
    event_id: str,
    event_type: str,
    payload_json: str,
    causation_id: str | None,
    correlation_id: str | None,
) -> str:
    """The part of a record's canonical JSON before ``"position"`` (keys sort before it)."""
    return (
        f'{{"causation_id":{quoted(causation_id)},"correlation_id":{quoted(correlation_id)},'
        f'"event_id":{quoted(event_id)},"event_type":{quoted(event_type)},'
        f'"payload":{payload_json},'
    )


def record_tail(*, ts_event: int, ts_init: int, version: int) -> str:
    """The part of a record's canonical JSON after ``"stream_version"``."""
    return f'"ts_event":{int(ts_event)},"ts_init":{int(ts_init)},"version":{int(version)}}}'


def record_middle(position: int, quoted_stream_id: str, stream_version: int) -> str:
    """The placement part of a record's canonical JSON (``quoted_stream_id`` already quoted)."""
    return (
        f'"position":{int(position)},"stream_id":{quoted_stream_id},'
        f'"stream_version":{int(stream_version)},'
    )


def canonical_record(
    *,
    position: int,
    stream_id: str,
    stream_version: int,
    event_id: str,
    event_type: str,
    version: int,
    payload_json: str,
    ts_event: int,
    ts_init: int,
    causation_id: str | None,
    correlation_id: str | None,
) -> str:
    """Canonical JSON of one record, with ``payload_json`` (already canonical) embedded as is.

    Equal to ``canonical_json`` of the record object (keys in sorted order); built by hand from
    three parts because it runs once per appended and per verified event, and the first and
    last parts are computed once per :class:`NewEvent`.
    """
    return (
        record_head(
            event_id=event_id,
            event_type=event_type,
            payload_json=payload_json,
            causation_id=causation_id,
            correlation_id=correlation_id,
        )
        + record_middle(position, quoted(stream_id), stream_version)
        + record_tail(ts_event=ts_event, ts_init=ts_init, version=version)
    )


def chain_hash(prev_hash: str, record_json: str) -> str:
    """``sha256(prev_hash || record_json)`` as 64 lowercase hex digits."""
    return hashlib.sha256((prev_hash + record_json).encode("utf-8")).hexdigest()


#: Deepest nesting of dicts and lists a payload may have (checked explicitly, not by relying on
#: the interpreter's recursion limit, which test runners and plugins change).
MAX_PAYLOAD_DEPTH = 64


def _check_json_safe(value: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_PAYLOAD_DEPTH:
        raise RecursionError
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise InvalidEvent(f"{where} is {value!r}; JSON has no NaN or infinity")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidEvent(
                    f"{where} has key {key!r} of type {type(key).__name__}; JSON object keys "
                    f"must be str"
                )
            _check_json_safe(item, f"{where}[{key!r}]", depth + 1)
        return
    if kind is list:
        for index, item in enumerate(value):
            _check_json_safe(item, f"{where}[{index}]", depth + 1)
        return
    hint = " (store Decimal amounts as str)" if kind.__name__ == "Decimal" else ""
    raise InvalidEvent(
        f"{where} is a {kind.__name__}, which is not JSON-safe{hint}; use dict, list, str, int, "
        f"finite float, bool or None"
    )


def _is_json_safe(value: Any, depth: int = 0) -> bool:
    """Fast yes/no version of :func:`_check_json_safe` (which says where and why)."""
    if depth > MAX_PAYLOAD_DEPTH:
        return False
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _is_json_safe(item, depth + 1):
                return False
        return True
    if kind is list:
        return all(_is_json_safe(item, depth + 1) for item in value)
    return False


def _ok_id(value: Any) -> bool:
    return (
        type(value) is str
        and value != ""
        and "\x00" not in value
        and (value.isascii() or not _has_surrogate(value))
    )


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_text(value: Any, what: str) -> str:
    """Validate that ``value`` is a JSON-safe dict and return its canonical JSON."""
    if type(value) is not dict:
        raise InvalidEvent(f"{what} must be a dict, not {type(value).__name__}")
    try:
        _check_json_safe(value, what)
    except RecursionError:
        raise InvalidEvent(f"{what} is nested too deeply to store") from None
    return canonical_json(value)


def check_id(value: Any, name: str, *, optional: bool = False) -> None:
    """Raise :class:`InvalidEvent` unless ``value`` is a non-empty str a database can hold."""
    if value is None and optional:
        return
    if type(value) is not str or not value:
        raise InvalidEvent(f"{name} must be a non-empty str, not {value!r}")
    if "\x00" in value:
        raise InvalidEvent(f"{name} {value!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"{name} {value!r} is not valid Unicode (lone surrogate)") from None


def check_int(value: Any, name: str, low: int, high: int) -> None:
    """Raise :class:`InvalidEvent` unless ``value`` is an int (not bool) in ``[low, high]``."""
    if type(value) is not int:
        raise InvalidEvent(f"{name} must be an int, not {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise InvalidEvent(f"{name} {value} is out of range [{low}, {high}]")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: validated, with its payload's canonical JSON computed once.

    ``ts_event`` (when it happened) and ``ts_init`` (when we learned it) are integer nanoseconds
    since the Unix epoch. ``payload`` must be a JSON-safe dict (str keys; values dict, list,
    str, int, finite float, bool or None — Decimals as str) and must not be mutated after
    construction: the store records :attr:`payload_json`, computed here.

    Raises:
        InvalidEvent: a field has a bad type or value; the message names the field.
    """

    event_id: str
    event_type: str
    version: int
    payload: dict[str, Any]
    ts_event: int
    ts_init: int
    causation_id: str | None = None
    correlation_id: str | None = None
    payload_json: str = field(init=False, repr=False, compare=False)
    _head: str = field(init=False, repr=False, compare=False)
    _tail: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One cheap test of everything; the slow checks below only run to explain a failure.
        fine = False
        with contextlib.suppress(RecursionError):
            fine = (
                _ok_id(self.event_id)
                and _ok_id(self.event_type)
                and (self.causation_id is None or _ok_id(self.causation_id))
                and (self.correlation_id is None or _ok_id(self.correlation_id))
                and type(self.version) is int
                and 0 <= self.version <= _INT32_MAX
                and type(self.ts_event) is int
                and 0 <= self.ts_event <= _INT64_MAX
                and type(self.ts_init) is int
                and 0 <= self.ts_init <= _INT64_MAX
                and type(self.payload) is dict
                and _is_json_safe(self.payload)
            )
        if not fine:
            self._explain_invalid()
        text = canonical_json(self.payload)
        object.__setattr__(self, "payload_json", text)
        # Precomputed parts of the canonical record, so appending only adds the placement.
        head = record_head(
            event_id=self.event_id,
            event_type=self.event_type,
            payload_json=text,
            causation_id=self.causation_id,
            correlation_id=self.correlation_id,
        )
        object.__setattr__(self, "_head", head)
        tail = record_tail(ts_event=self.ts_event, ts_init=self.ts_init, version=self.version)
        object.__setattr__(self, "_tail", tail)

    def _explain_invalid(self) -> None:
        check_id(self.event_id, "event_id")
        check_id(self.event_type, "event_type")
        check_int(self.version, "version", 0, _INT32_MAX)
        check_int(self.ts_event, "ts_event", 0, _INT64_MAX)
        check_int(self.ts_init, "ts_init", 0, _INT64_MAX)
        check_id(self.causation_id, "causation_id", optional=True)
        check_id(self.correlation_id, "correlation_id", optional=True)
        json_text(self.payload, f"payload of event {self.event_id!r}")
        raise InvalidEvent(f"event {self.event_id!r} cannot be stored")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as recorded: the :class:`NewEvent` fields plus its place and chain link.

    ``position`` is global, gap-free and 1-based; ``stream_version`` is 1-based within
    ``stream_id``; ``hash`` chains to ``prev_hash`` as described in this module's docstring.
    """

    event_id: str
    event_type: str
    version: int
    payload: dict[str, Any]
    ts_event: int
    ts_init: int
    causation_id: str | None
    correlation_id: str | None
    position: int
    stream_id: str
    stream_version: int
    hash: str
    prev_hash: str


def snapshot_seal(name: str, position: int, state_json: str, chain_hash_at_position: str) -> str:
    """Seal of a snapshot row: ``sha256`` over a format tag, the chain hash at ``position``
    (the genesis hash for 0), the position, the quoted name and the stored state text.

    Binding the seal to the chain hash ties the snapshot to the history it was taken from: a
    snapshot edited in place, moved to another name or position, or left over from a rewritten
    chain no longer matches.
    """
    text = (
        f"oms-snapshot-seal/1\n{chain_hash_at_position}\n{int(position)}\n{quoted(name)}\n"
        f"{state_json}"
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
