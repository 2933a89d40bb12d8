"""The risk gate's submit rate limit: a token bucket on integer-nanosecond timestamps of the
injected clock (no wall time, no floats)."""

from __future__ import annotations

from decimal import Decimal

from oms_chain.model.checks import check_decimal, check_int, check_ns

__all__ = ["MAX_BURST", "TokenBucket"]

#: The largest burst a bucket (and the ``submit_burst`` risk limit) accepts.
MAX_BURST = 10**6


class TokenBucket:
    """Token bucket on integer-nanosecond timestamps: ``rate`` tokens per second, ``burst`` max.

    Raises:
        InvalidInput: ``rate_per_s`` not a Decimal (or int) in (0, 1e9], ``burst`` not an int in
            1..1,000,000, or a timestamp not an int of nanoseconds.
    """

    __slots__ = ("_burst", "_last_ns", "_ns_per_token", "_tokens")

    def __init__(self, rate_per_s: Decimal, burst: int, now_ns: int) -> None:
        rate = check_decimal(rate_per_s, "rate_per_s", gt=0, le=10**9)
        check_int(burst, "burst", minimum=1, maximum=MAX_BURST)
        check_ns(now_ns, "now_ns")
        self._ns_per_token = int(Decimal(1_000_000_000) / rate)
        self._burst = burst * self._ns_per_token
        self._tokens = self._burst  # tokens scaled by ns_per_token to stay in integers
        self._last_ns = now_ns

    def _refill(self, now_ns: int) -> None:
        if now_ns > self._last_ns:
            self._tokens = min(self._burst, self._tokens + (now_ns - self._last_ns))
            self._last_ns = now_ns

    def available(self, now_ns: int) -> bool:
        """Whether a token could be taken at ``now_ns`` (none is taken)."""
        check_ns(now_ns, "now_ns")
        self._refill(now_ns)
        return self._tokens >= self._ns_per_token

    def take(self, now_ns: int) -> bool:
        """Take one token if available; return whether it was taken."""
        check_ns(now_ns, "now_ns")
        self._refill(now_ns)
        if self._tokens >= self._ns_per_token:
            self._tokens -= self._ns_per_token
            return True
        return False
