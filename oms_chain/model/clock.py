"""Injected time: a :class:`Clock` gives integer nanoseconds since the Unix epoch (UTC)."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from oms_chain.model.checks import check_int, check_ns
from oms_chain.model.errors import InvalidInput

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Source of ``ts_init`` / ``ts_event`` timestamps."""

    def now_ns(self) -> int:
        """Integer nanoseconds since the Unix epoch."""
        ...


class SystemClock:
    """Wall-clock time from the operating system."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told to (tests, replays).

    Raises:
        InvalidInput: ``start_ns`` is not an int of nanoseconds in 0..2**63-1.
    """

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self._now = check_ns(start_ns, "start_ns")

    def now_ns(self) -> int:
        return self._now

    def advance(self, ns: int) -> int:
        """Move forward by ``ns`` nanoseconds (never backwards); return the new time.

        Raises:
            InvalidInput: ``ns`` is not an int, negative, or moves the clock past 2**63-1 ns.
        """
        check_int(ns, "ns")
        if ns < 0:
            raise InvalidInput(f"a clock cannot go backwards (advance by ns={ns})")
        self._now = check_ns(self._now + ns, "the clock after advancing by ns")
        return self._now

    def set(self, now_ns: int) -> None:
        """Jump to ``now_ns`` (not earlier than the current time).

        Raises:
            InvalidInput: ``now_ns`` is not an int of nanoseconds, or earlier than now.
        """
        check_ns(now_ns, "now_ns")
        if now_ns < self._now:
            raise InvalidInput(f"a clock cannot go backwards (now_ns {now_ns} < {self._now})")
        self._now = now_ns
