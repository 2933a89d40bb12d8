"""API keys, HMAC-SHA256 request signatures, timestamp windows and request-weight limits.

Signature rules follow Binance's "SIGNED endpoint security": the signature is the hex HMAC-SHA256
(secret as key) of ``totalParams`` = the raw query string concatenated with the raw request body,
each without its ``signature`` parameter. A request is in time when
``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow`` (default 5000,
at most 60000).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from oms_chain.devnet.exchange.errors import (
    ExchangeApiError,
    invalid_signature,
    invalid_timestamp,
    mandatory_param,
)

__all__ = [
    "ApiKey",
    "KeyRing",
    "OrderCounter",
    "WeightLimiter",
    "check_timestamp",
    "hmac_hex",
    "strip_signature",
    "verify",
]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key, its secret and the account it trades for."""

    api_key: str
    secret: str
    account_id: str


class KeyRing:
    """API keys by key string."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def add(self, key: ApiKey) -> None:
        """Register a key; raises ValueError if the key string is taken."""
        if key.api_key in self._keys:
            raise ValueError(f"API key {key.api_key!r} already registered")
        self._keys[key.api_key] = key

    def lookup(self, api_key: str | None) -> ApiKey:
        """The key for an ``X-MBX-APIKEY`` value; -2014 when missing, -2015 when unknown."""
        if not api_key:
            raise ExchangeApiError(-2014, "API-key format invalid.", http_status=401)
        key = self._keys.get(api_key)
        if key is None:
            raise ExchangeApiError(
                -2015, "Invalid API-key, IP, or permissions for action.", http_status=401
            )
        return key


def hmac_hex(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed by ``secret``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split ``a=1&b=2&signature=ff`` into (``a=1&b=2``, ``ff``); the raw text is kept as sent."""
    if not raw:
        return "", None
    parts = raw.split("&")
    kept: list[str] = []
    signature: str | None = None
    for part in parts:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def verify(secret: str, payload: str, signature: str | None) -> None:
    """Raise -1022 unless ``signature`` is the HMAC of ``payload`` (case-insensitive hex)."""
    if not signature:
        raise mandatory_param("signature")
    if not hmac.compare_digest(hmac_hex(secret, payload), signature.lower()):
        raise invalid_signature()


def check_timestamp(
    timestamp: str | int | None, recv_window: str | int | None, now_ms: int
) -> None:
    """Binance's timing security; raises -1102 (missing), -1131 (bad window) or -1021."""
    if timestamp is None or timestamp == "":
        raise mandatory_param("timestamp")
    try:
        ts = int(timestamp)
    except ValueError:
        raise mandatory_param("timestamp") from None
    window = 5000
    if recv_window is not None and recv_window != "":
        try:
            window = int(recv_window)
        except ValueError:
            raise mandatory_param("recvWindow") from None
        if window <= 0 or window > 60000:
            raise ExchangeApiError(-1131, "recvWindow must be less than 60000")
    if ts >= now_ms + 1000:
        raise invalid_timestamp(ahead=True)
    if now_ms - ts > window:
        raise invalid_timestamp(ahead=False)


class WeightLimiter:
    """Request weight per IP in fixed one-minute windows, as ``X-MBX-USED-WEIGHT-1M`` counts it.

    With ``ban_after_429s`` set, an IP that collects that many 429 answers within one window is
    banned (HTTP 418) for ``ban_ms``."""

    def __init__(
        self,
        limit: int,
        now_ms: Callable[[], int],
        *,
        ban_after_429s: int | None = None,
        ban_ms: int = 120_000,
    ) -> None:
        self.limit = limit
        self.ban_after_429s = ban_after_429s
        self.ban_ms = ban_ms
        self._now_ms = now_ms
        self._window = -1
        self._used: dict[str, int] = {}
        self._rejected: dict[str, int] = {}
        self._banned_until: dict[str, int] = {}

    def _roll(self) -> int:
        now = self._now_ms()
        window = now // 60_000
        if window != self._window:
            self._window = window
            self._used = {}
            self._rejected = {}
        return now

    def used(self, ip: str) -> int:
        """Weight used by ``ip`` in the current minute."""
        self._roll()
        return self._used.get(ip, 0)

    def consume(self, ip: str, weight: int) -> int | None:
        """Add ``weight`` for ``ip``; returns None when allowed, else the seconds to wait
        (``Retry-After``) until the next window."""
        now = self._roll()
        used = self._used.get(ip, 0)
        if used + weight > self.limit:
            rejected = self._rejected[ip] = self._rejected.get(ip, 0) + 1
            if self.ban_after_429s is not None and rejected >= self.ban_after_429s:
                self._banned_until[ip] = now + self.ban_ms
            return max(1, -(-(60_000 - now % 60_000) // 1000))
        self._used[ip] = used + weight
        return None

    def banned_for(self, ip: str) -> int | None:
        """Seconds left of ``ip``'s ban (HTTP 418), or None when it is not banned."""
        until = self._banned_until.get(ip)
        if until is None:
            return None
        left = until - self._now_ms()
        if left <= 0:
            del self._banned_until[ip]
            return None
        return max(1, -(-left // 1000))


class OrderCounter:
    """New orders per account in fixed 10-second windows (Binance's ``ORDERS`` / ``10 SECOND``
    limiter, reported as ``X-MBX-ORDER-COUNT-10S``)."""

    WINDOW_MS = 10_000

    def __init__(self, limit: int, now_ms: Callable[[], int]) -> None:
        self.limit = limit
        self._now_ms = now_ms
        self._window = -1
        self._counts: dict[str, int] = {}

    def count(self, account_id: str) -> int:
        """Orders counted for ``account_id`` in the current window."""
        window = self._now_ms() // self.WINDOW_MS
        if window != self._window:
            self._window = window
            self._counts = {}
        return self._counts.get(account_id, 0)

    def check(self, account_id: str) -> None:
        """Raise -1015 (HTTP 429, no Retry-After) when the account used up its window."""
        if self.count(account_id) >= self.limit:
            raise ExchangeApiError(
                -1015,
                f"Too many new orders; current limit is {self.limit} orders per 10 SECOND.",
                http_status=429,
            )

    def add(self, account_id: str) -> int:
        """Count one accepted order; returns the count in the current window."""
        used = self.count(account_id) + 1
        self._counts[account_id] = used
        return used
