"""Several writers on one store: collision-free event ids and read-decide-append retries.

Every append already checks ``expected_version`` inside the transaction that serializes all
appenders (see :mod:`oms_chain.store.postgres`), so two writers can never both extend a stream
from the same version: the loser gets :class:`~oms_chain.store.errors.ConcurrencyConflict`.
This module gives writers the two pieces they need on top of that:

:func:`new_event_id`
    A UUIDv7 string (RFC 9562: 48-bit Unix milliseconds, then 74 random bits). Ids made by
    different processes or hosts do not collide, and they sort roughly by creation time. Ids
    derived from a cached stream version (``"stream#7"``) collide as soon as a second process
    writes the stream; the store reports that as a conflict, but fresh ids avoid the question.
:func:`append_with_retry`
    Re-reads the stream's version, asks the caller to build the events again for it, and
    appends with that ``expected_version``, until an append wins or the attempts run out. Use it
    only where deciding again is safe (the builder reads the stream's new events and may return
    ``[]`` to give up, e.g. when another writer already recorded the same decision).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence

from oms_chain.store.base import EventStore
from oms_chain.store.errors import ConcurrencyConflict, InvalidEvent
from oms_chain.store.events import NewEvent, RecordedEvent, check_id

__all__ = ["RetriesExhausted", "append_with_retry", "new_event_id"]

BuildEvents = Callable[[int, list[RecordedEvent]], Sequence[NewEvent]]
"""``build(version, new_events) -> events``: the events to append at stream ``version``.

``new_events`` are the stream's events recorded since the previous attempt (on the first
attempt: since ``known_version``), so the builder can fold them into its state and decide again.
"""


class RetriesExhausted(ConcurrencyConflict):
    """:func:`append_with_retry` lost every attempt to other writers of the stream.

    The stream is hot: back off, or give it a single writer (a lease, see
    :mod:`oms_chain.store.leases`). ``attempts`` says how many appends were tried.
    """

    def __init__(self, stream_id: str, expected: int, actual: int, attempts: int) -> None:
        super().__init__(stream_id, expected, actual)
        self.attempts = attempts
        self.args = (
            f"append to stream {stream_id!r} lost {attempts} attempts in a row to other "
            f"writers (last tried at version {expected}, stream now at {actual}); back off "
            f"and retry, or give the stream one writer with a lease",
        )


def new_event_id(*, now_ns: int | None = None, random_bytes: bytes | None = None) -> str:
    """A UUIDv7 (RFC 9562) as a 36-character string, unique across processes and hosts.

    ``now_ns`` (Unix nanoseconds) and ``random_bytes`` (10 bytes) are for deterministic tests;
    by default the wall clock and ``os.urandom`` are used. Only the millisecond part of the time
    is encoded; the 74 random bits make a collision within one millisecond negligible.

    Raises:
        InvalidEvent: ``now_ns`` is negative or past the year 10889, or ``random_bytes`` is not
            exactly 10 bytes.
    """
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    if type(ms) is not int or not 0 <= ms < 2**48:
        raise InvalidEvent(f"now_ns {now_ns!r} is outside the 48-bit millisecond range of UUIDv7")
    rand = os.urandom(10) if random_bytes is None else random_bytes
    if type(rand) is not bytes or len(rand) != 10:
        raise InvalidEvent(f"random_bytes must be exactly 10 bytes, not {random_bytes!r}")
    tail = int.from_bytes(rand, "big")  # 80 bits, 74 of them used
    rand_a = (tail >> 64) & 0xFFF
    rand_b = tail & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def append_with_retry(
    store: EventStore,
    stream_id: str,
    build: BuildEvents,
    *,
    known_version: int | None = None,
    attempts: int = 8,
) -> list[RecordedEvent]:
    """Append ``build(version, new_events)`` to ``stream_id`` at its current version, retrying.

    Each attempt reads the events recorded since the last one (the first attempt reads from
    ``known_version``, by default the stream's whole history is *not* read: only its version),
    calls ``build`` with the version and those events, and appends the result with
    ``expected_version=version``. A :class:`ConcurrencyConflict` (another writer won) starts
    the next attempt; any other error propagates. Returns what was recorded (``[]`` when
    ``build`` returned no events: nothing to do any more).

    Event ids must be fresh on every attempt (e.g. :func:`new_event_id`) unless the events are
    meant to be idempotent retries of one decision.

    Raises:
        RetriesExhausted: ``attempts`` appends in a row lost to other writers.
        InvalidEvent: a bad argument, before anything is read or written.
    """
    check_id(stream_id, "stream_id")
    if not callable(build):
        raise InvalidEvent(f"build must be callable(version, new_events), not {build!r}")
    if type(attempts) is not int or attempts < 1:
        raise InvalidEvent(f"attempts must be a positive int, not {attempts!r}")
    if known_version is not None and (type(known_version) is not int or known_version < 0):
        raise InvalidEvent(f"known_version must be an int >= 0 or None, not {known_version!r}")
    if known_version is None:
        version, fresh = store.stream_version(stream_id), []
    else:
        fresh = store.read_stream(stream_id, known_version)
        version = fresh[-1].stream_version if fresh else known_version
    last: ConcurrencyConflict | None = None
    for _ in range(attempts):
        events = list(build(version, fresh))
        if not events:
            return []
        try:
            return store.append(stream_id, events, version)
        except ConcurrencyConflict as exc:
            last = exc
            fresh = store.read_stream(stream_id, version)
            version = fresh[-1].stream_version if fresh else exc.actual
    assert last is not None
    raise RetriesExhausted(stream_id, last.expected, last.actual, attempts)
