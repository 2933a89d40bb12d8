"""Request pacing: a token bucket in front of REST calls and reconnection backoff.

Written by hand: a few lines on the event loop's clock; a library would add a dependency for
less than it saves. ccxt's own ``enableRateLimit`` still applies underneath (per-endpoint cost).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

__all__ = ["Backoff", "TokenBucket"]


class TokenBucket:
    """``rate_per_s`` tokens per second, at most ``burst`` saved; :meth:`acquire` waits for one.

    ``monotonic`` (seconds) is injectable for tests.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("token bucket needs rate_per_s > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._monotonic = monotonic
        self._last = monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens if there are enough and return 0, else the seconds to wait."""
        self._refill()
        if self._tokens >= cost - 1e-9:  # float dust from the refill
            self._tokens = max(0.0, self._tokens - cost)
            return 0.0
        return (cost - self._tokens) / self.rate

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` tokens are available and take them (callers queue in order)."""
        async with self._lock:
            while (wait := self.try_acquire(cost)) > 0:
                await asyncio.sleep(wait)


class Backoff:
    """Exponential delays ``initial * 2**n`` capped at ``maximum``, with seeded full jitter
    in the upper half (``[d/2, d]``), so reconnecting clients do not stampede."""

    def __init__(self, initial_s: float, maximum_s: float, *, rng: random.Random) -> None:
        self.initial = initial_s
        self.maximum = maximum_s
        self._rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        ceiling = min(self.maximum, self.initial * (2**self.attempts))
        self.attempts += 1
        return ceiling / 2 + self._rng.random() * ceiling / 2

    def reset(self) -> None:
        """Back to the initial delay (after a success)."""
        self.attempts = 0
