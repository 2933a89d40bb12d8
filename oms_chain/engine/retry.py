"""One retry policy for the engine's background work: exponential backoff, capped.

Used wherever the engine tries again on its own after a *retryable* error
(:class:`~oms_chain.model.errors.RetryableError`: ``VenueUnavailable``, ``VenueTimeout``, rate
limits): split rounds whose legs could not be sent, and reconciliation of children whose send's
outcome is unknown. Final errors (``VenueRejected``, ``IllegalTransition``, bad input) are never
retried; they end the order. No randomness: the delays are a pure function of the attempt, so
runs on an injected clock are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

from oms_chain.model.errors import InvalidInput, RetryableError

__all__ = ["RetryPolicy", "is_retryable"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Wait ``initial_s * factor ** (attempt - 1)`` seconds before attempt ``attempt + 1``, never
    more than ``max_s``.

    Raises:
        InvalidInput: a non-positive delay, a factor below 1, or ``max_s < initial_s``.
    """

    initial_s: float = 0.25
    factor: float = 2.0
    max_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("initial_s", "factor", "max_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise InvalidInput(f"retry policy {name!r} must be a number, got {value!r}")
        if not 0 < self.initial_s <= self.max_s or self.max_s == float("inf"):
            raise InvalidInput(
                f"retry policy needs 0 < initial_s <= max_s < inf, got initial_s="
                f"{self.initial_s}, max_s={self.max_s}"
            )
        if not 1 <= self.factor < float("inf"):
            raise InvalidInput(f"retry policy 'factor' must be >= 1, got {self.factor}")

    def delay_ns(self, attempt: int) -> int:
        """Nanoseconds to wait after failed attempt number ``attempt`` (1 = the first)."""
        exponent = max(attempt, 1) - 1
        delay = self.initial_s
        for _ in range(exponent):
            delay *= self.factor
            if delay >= self.max_s:
                break
        return int(min(delay, self.max_s) * _NS)


def is_retryable(exc: BaseException) -> bool:
    """True for errors that pass (venue unavailable / timed out, rate limited)."""
    return isinstance(exc, RetryableError | TimeoutError | ConnectionError)
