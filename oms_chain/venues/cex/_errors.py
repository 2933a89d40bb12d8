"""How ccxt's exceptions map onto ours (retryable / ambiguous / final) for the ccxt venue.

``ccxt.OperationFailed`` and timeouts after a write are *ambiguous* (the exchange may have acted:
reconcile, never resend blindly); rate limits are refused before processing and are waited out;
every other ``ccxt.ExchangeError`` is a final refusal.
"""

from __future__ import annotations

import ccxt

from oms_chain.model.errors import OmsError, VenueRejected, VenueTimeout, VenueUnavailable

__all__ = ["AMBIGUOUS", "RATE_LIMITED", "RATE_LIMIT_RETRIES", "place_refusal", "read_error"]

#: A write that raised one of these may have been executed.
AMBIGUOUS = (ccxt.OperationFailed, TimeoutError)
#: Refused before processing: safe to wait and ask again.
RATE_LIMITED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)
#: How many times a rate-limited call is retried before giving up.
RATE_LIMIT_RETRIES = 5


def read_error(venue: str, what: str, exc: BaseException) -> OmsError | None:
    """Our error for a failed read-only call ``what`` (``None``: not a ccxt / timeout error)."""
    if isinstance(exc, RATE_LIMITED):
        return VenueUnavailable(f"{venue}: {what} rate limited: {exc}")
    if isinstance(exc, TimeoutError | ccxt.RequestTimeout):
        return VenueTimeout(f"{venue}: {what} timed out: {exc}")
    if isinstance(exc, ccxt.OperationFailed):
        return VenueUnavailable(f"{venue}: {what} failed: {exc}")
    if isinstance(exc, ccxt.ExchangeError):
        return VenueRejected(f"{venue}: {what} refused: {exc}")
    return None


def place_refusal(venue: str, coid: str, exc: ccxt.ExchangeError) -> VenueRejected:
    """Our error for an order the exchange refused (a duplicate client id says so)."""
    text = str(exc)
    if isinstance(exc, ccxt.DuplicateOrderId) or "duplicate" in text.lower():
        return VenueRejected(f"{venue}: duplicate client order id {coid}: {text}")
    return VenueRejected(f"{venue}: order {coid} rejected: {text}")
