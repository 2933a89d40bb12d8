"""Configuration of one ccxt venue: which exchange, which account, which URLs, how fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from oms_chain.model.errors import ConfigError

__all__ = ["BINANCE_PROTOCOL_EXCHANGES", "CcxtVenueConfig"]

#: ccxt exchange ids whose spot market streams speak Binance's diff-depth protocol, served by
#: our own :class:`~oms_chain.venues.cex.book.DepthBook` when ``book_source`` is ``"auto"``.
BINANCE_PROTOCOL_EXCHANGES = frozenset({"binance", "binanceus"})
_BOOK_SOURCES = ("auto", "native", "ccxt")


@dataclass(frozen=True, slots=True, kw_only=True)
class CcxtVenueConfig:
    """Settings of one :class:`~oms_chain.venues.cex.CcxtVenue`. Keyword-only and frozen.

    ``exchange`` is a ccxt exchange id (``binance``); ``venue_id`` our name for the venue
    (default: the exchange id). ``options`` are ccxt's public ``options``; ``urls`` replaces
    ccxt's ``urls['api']`` (how a local simulator is reached — nothing else changes).
    ``sandbox`` switches ccxt to the exchange's testnet with ``set_sandbox_mode(True)`` (its
    ``urls['test']``; an exchange without one is refused), never combined with ``urls``.
    ``rate_per_s`` / ``burst`` size our own token bucket in front of every REST call (ccxt's
    ``enableRateLimit`` stays on as well). ``timeout_s`` bounds each REST call.
    ``poll_interval_s`` is the REST polling period while the user stream is down;
    ``backoff_*`` shape reconnection delays (exponential, capped, with seeded jitter).
    ``symbols`` (ccxt symbols, e.g. ``ETH/USDC``) are the markets this venue trades: where
    :meth:`reconcile` looks for open orders and where an order of unknown market (placed before a
    restart) is searched, together with every market used since start. Empty: all markets when
    nothing was used yet — fine for a simulator, too many requests on a real exchange.
    ``book_source`` picks who keeps local order books: ``"native"`` is our
    :class:`~oms_chain.venues.cex.book.DepthBook` fed from the exchange's raw diff-depth
    websocket (Binance protocol only, see :data:`BINANCE_PROTOCOL_EXCHANGES`), ``"ccxt"`` is
    ccxt.pro's ``watch_order_book``; ``"auto"`` (default) means native for Binance-protocol
    exchanges and ccxt otherwise. ``book_depth`` is the REST snapshot depth (default: ccxt's
    ``watchOrderBookLimit`` option, else 1000) and, when set, the depth :meth:`book` returns; a
    level beyond the snapshot's depth is unknown until the stream changes it, so keep the
    snapshot deeper than what routing reads.
    ``receive_window_s``: how long after its signed timestamp the exchange may still accept a
    request (``None``: ccxt's ``options['recvWindow']`` when the exchange has one — Binance's
    ccxt default is 10 s — else 60 s, the longest Binance allows). ``clock_skew_margin_s`` is
    added for the difference between our clock and the exchange's. Until both have passed since
    a send whose answer was lost, an order the exchange does not show is "not yet", never "never
    received".
    """

    exchange: str
    venue_id: str | None = None
    api_key: str | None = None
    secret: str | None = None
    password: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    urls: Mapping[str, Any] | None = None
    sandbox: bool = False
    symbols: tuple[str, ...] = ()
    enable_rate_limit: bool = True
    rate_per_s: float = 20.0
    burst: int = 20
    timeout_s: float = 10.0
    poll_interval_s: float = 1.0
    book_depth: int | None = None
    book_source: str = "auto"
    book_timeout_s: float = 5.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    receive_window_s: float | None = None
    clock_skew_margin_s: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.exchange or not isinstance(self.exchange, str):
            raise ConfigError("cex venue key 'exchange' must be a ccxt exchange id, e.g. 'binance'")
        for name in ("rate_per_s", "timeout_s", "poll_interval_s", "book_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"cex venue key {name!r} must be positive")
        if self.book_source not in _BOOK_SOURCES:
            raise ConfigError(
                f"cex venue key 'book_source' must be one of {list(_BOOK_SOURCES)}, "
                f"got {self.book_source!r}"
            )
        if self.book_source == "native" and self.exchange not in BINANCE_PROTOCOL_EXCHANGES:
            raise ConfigError(
                f"cex venue key 'book_source': 'native' reads Binance's diff-depth stream, which "
                f"{self.exchange!r} does not speak; use 'ccxt' or 'auto'"
            )
        if self.receive_window_s is not None and not 0 < self.receive_window_s <= 3600:
            raise ConfigError("cex venue key 'receive_window_s' must be in (0, 3600] seconds")
        if not 0 <= self.clock_skew_margin_s <= 600:
            raise ConfigError("cex venue key 'clock_skew_margin_s' must be in [0, 600] seconds")
        if self.book_depth is not None and self.book_depth < 1:
            raise ConfigError("cex venue key 'book_depth' must be at least 1")
        if self.burst < 1:
            raise ConfigError("cex venue key 'burst' must be at least 1")
        if self.sandbox and self.urls is not None:
            raise ConfigError(
                "cex venue key 'sandbox': the exchange's testnet URLs and 'urls' (a local "
                "server) exclude each other; pick one"
            )
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ConfigError(
                "cex venue keys 'backoff_initial_s' / 'backoff_max_s' need 0 < initial <= max"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CcxtVenueConfig:
        """Build from a TOML table; unknown keys raise :class:`ConfigError` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown cex venue key(s) {unknown}; known: {sorted(known)}")
        settings = dict(data)
        if "symbols" in settings:
            settings["symbols"] = tuple(settings["symbols"])
        return cls(**settings)

    @property
    def native_book(self) -> bool:
        """True when local books come from our own diff-depth book, not ccxt.pro."""
        return self.book_source == "native" or (
            self.book_source == "auto" and self.exchange in BINANCE_PROTOCOL_EXCHANGES
        )

    @property
    def name(self) -> str:
        """The venue id we report under."""
        return self.venue_id or self.exchange
