"""Per-token rate limits: a token bucket per token, on an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput

__all__ = ["RateLimiter"]

_NS = 1_000_000_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ns: int


@dataclass(slots=True)
class RateLimiter:
    """``rate`` requests per second on average and bursts of up to ``burst``, per key (a token
    id). :meth:`take` answers 0 when the request may go, else the seconds to wait."""

    rate: float
    burst: int
    clock: Clock
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r = self.rate
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0 < r < 1e9:
            raise InvalidInput(f"rate must be requests per second (> 0), got {r!r:.40}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise InvalidInput(f"burst must be a whole number >= 1, got {self.burst!r:.40}")

    def take(self, key: str) -> float:
        """Take one request from ``key``'s bucket; 0.0 if allowed, else seconds until it is."""
        now = self.clock.now_ns()
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(float(self.burst), now)
        elapsed = max(0, now - b.at_ns) / _NS
        b.tokens = min(float(self.burst), b.tokens + elapsed * self.rate)
        b.at_ns = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate
