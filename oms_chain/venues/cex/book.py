"""A local L2 order book kept from Binance's diff-depth stream (``<symbol>@depth[@100ms]``).

Follows Binance's documented procedure for a local book ("How to manage a local order book
correctly", spot): buffer the stream's ``depthUpdate`` events, take a REST depth snapshot
(``lastUpdateId``), drop buffered events with ``u <= lastUpdateId``, require the first applied
event to bracket ``lastUpdateId + 1`` (``U <= lastUpdateId + 1 <= u``) and every later event to
continue the previous one (``U == previous u + 1``). Any gap leaves the book out of sync: it
empties, buffers again from the offending event and waits for a newer snapshot. Quantities are
absolute; ``"0"`` removes a level (removing a level we do not hold is normal).

Written by hand because the cost sits in the update path: ccxt.pro's book parses every price and
quantity to float, and no maintained library offers this procedure. Internally a price is a
scaled integer (``price * 10**scale``, the scale growing if a price ever needs more digits) and a
quantity the exchange's own decimal string; each side is a dict of levels plus its keys sorted
ascending (``bisect``), so the best price is read in O(1) and a new or removed level costs one
binary search. What leaves the book is exact :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from oms_chain.model.errors import InvalidInput

__all__ = ["DepthBook", "DiffResult"]

_DEFAULT_SCALE = 8  # Binance writes prices and quantities with 8 decimals
_PRICE_CACHE_MAX = 200_000  # distinct price strings remembered before the cache is cleared
_ARRAYS = (list, tuple)  # what a JSON array decodes to (tuples from Python callers)


class DiffResult(enum.Enum):
    """What :meth:`DepthBook.on_event` did with one ``depthUpdate`` event."""

    APPLIED = "applied"
    """In sequence: applied to the book."""
    BUFFERED = "buffered"
    """The book waits for a snapshot: the event is kept to be replayed on top of it."""
    STALE = "stale"
    """Already covered by the book (``u`` not after the last applied id): dropped."""
    GAP = "gap"
    """Not continuous with the book: the book is now out of sync and needs a new snapshot."""


class DepthBook:
    """Local order book of one symbol from Binance ``depthUpdate`` events and REST snapshots.

    Feed every stream event, in arrival order, to :meth:`on_frame` (raw JSON text) or
    :meth:`on_event` (decoded); when the book is not :attr:`synced` (new, after :meth:`reset` or
    after a gap), fetch ``GET /api/v3/depth`` and pass it to :meth:`apply_snapshot`. Readers use
    :meth:`best_bid` / :meth:`best_ask` (O(1)) and :meth:`bids` / :meth:`asks` (best first),
    all exact decimals, and get nothing while the book is out of sync.

    Args:
        symbol: the exchange's symbol id as the stream writes it (``ETHUSDC``); events of
            another symbol are refused.
        max_buffer: events kept while waiting for a snapshot; the oldest go first (the
            snapshot that follows must then be newer, or another is asked for).
    """

    __slots__ = (
        "_ask_keys",
        "_asks",
        "_bid_keys",
        "_bids",
        "_bridging",
        "_buffer",
        "_last",
        "_prices",
        "_scale",
        "_synced",
        "symbol",
    )

    def __init__(self, symbol: str, *, max_buffer: int = 10_000) -> None:
        if not symbol:
            raise InvalidInput("depth book needs the exchange's symbol id, e.g. 'ETHUSDC'")
        if max_buffer < 1:
            raise InvalidInput(f"depth book max_buffer must be at least 1, got {max_buffer}")
        self.symbol = symbol
        self._scale = _DEFAULT_SCALE
        self._prices: dict[str, int] = {}
        self._bids: dict[int, str] = {}
        self._asks: dict[int, str] = {}
        self._bid_keys: list[int] = []  # ascending: best bid last
        self._ask_keys: list[int] = []  # ascending: best ask first
        self._buffer: deque[Mapping[str, Any]] = deque(maxlen=max_buffer)
        self._last: int | None = None
        self._synced = False
        self._bridging = False  # the next event is the first after a snapshot

    # --- state -----------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True while the book follows the stream without a gap since its snapshot."""
        return self._synced

    @property
    def last_update_id(self) -> int | None:
        """The last update id the book reflects (``u`` of the last applied event, or the
        snapshot's ``lastUpdateId``); None while out of sync."""
        return self._last if self._synced else None

    @property
    def buffered(self) -> int:
        """How many events wait for the next snapshot."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget levels and buffered events (e.g. on a new connection): out of sync until the
        next :meth:`apply_snapshot`."""
        self._desync()
        self._buffer.clear()

    def _desync(self) -> None:
        self._synced = False
        self._bridging = False
        self._last = None
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()

    # --- input -----------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes) -> DiffResult:
        """Decode one websocket text frame (a ``depthUpdate`` event) and pass it to
        :meth:`on_event`.

        Raises:
            InvalidInput: not JSON, or not a well-formed ``depthUpdate`` of this symbol.
        """
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                f"depth stream {self.symbol}: frame is not JSON ({exc}): {frame[:120]!r}"
            ) from None
        return self.on_event(message)

    def on_event(self, message: Mapping[str, Any]) -> DiffResult:
        """Apply, buffer or drop one ``depthUpdate`` event (``e, E, s, U, u, b, a``).

        Returns:
            What happened; on :attr:`DiffResult.GAP` the book is out of sync (empty) and keeps
            this event for the next snapshot: fetch one and call :meth:`apply_snapshot`.

        Raises:
            InvalidInput: a malformed event: wrong type or symbol, missing or non-integer ids or
                ``U > u`` (the book is left as it was), or levels that are not ``[price,
                quantity]`` decimal strings or a price of zero (the event may have been applied
                in part, so the book is then out of sync, as after a gap; while buffering, levels
                are checked when the event is replayed by :meth:`apply_snapshot`).
        """
        try:
            first = message["U"]
            last = message["u"]
            kind = message["e"]
            symbol = message["s"]
        except (KeyError, TypeError):
            raise InvalidInput(
                f"depth stream {self.symbol}: event lacks 'e', 's', 'U' or 'u': {message!r:.200}"
            ) from None
        if type(first) is not int or type(last) is not int or first > last or first < 0:
            raise InvalidInput(
                f"depth stream {self.symbol}: update ids must be integers with U <= u, "
                f"got U={first!r} u={last!r}"
            )
        if kind != "depthUpdate" or symbol != self.symbol:
            raise InvalidInput(
                f"depth stream {self.symbol}: expected a depthUpdate of {self.symbol}, "
                f"got {kind!r} of {symbol!r}"
            )
        if not self._synced:
            self._buffer.append(message)
            return DiffResult.BUFFERED
        return self._apply(message, first, last)

    def _apply(self, message: Mapping[str, Any], first: int, last: int) -> DiffResult:
        known = self._last
        assert known is not None
        if last <= known:
            return DiffResult.STALE
        if first != known + 1 and not (self._bridging and first <= known + 1):
            self._desync()
            self._buffer.append(message)
            return DiffResult.GAP
        try:
            self._update(message["b"], self._bids, self._bid_keys)
            self._update(message["a"], self._asks, self._ask_keys)
        except InvalidInput:
            self._desync()
            raise
        except (KeyError, TypeError, ValueError, AttributeError):
            self._desync()
            raise InvalidInput(
                f"depth stream {self.symbol}: event {first}..{last} has malformed levels "
                f"(expected 'b' and 'a' lists of [price, quantity] decimal strings): "
                f"{message!r:.300}"
            ) from None
        self._last = last
        self._bridging = False
        return DiffResult.APPLIED

    def _update(
        self, changes: Iterable[Sequence[str]], levels: dict[int, str], keys: list[int]
    ) -> None:
        if type(changes) not in _ARRAYS:
            raise TypeError("levels are not a list")
        prices = self._prices
        for level in changes:
            if type(level) not in _ARRAYS:
                raise TypeError("a level is not a list")
            price, qty = level
            key = prices.get(price)
            if key is None:
                key = self._price_key(price)
            digits = qty.replace(".", "", 1)
            if not (digits.isdigit() and digits.isascii()):
                raise InvalidInput(
                    f"depth stream {self.symbol}: quantity {qty!r} at price {price!r} is not a "
                    "non-negative decimal string"
                )
            if qty.strip("0."):
                if key not in levels:
                    insort(keys, key)
                levels[key] = qty
            elif levels.pop(key, None) is not None:
                del keys[bisect_left(keys, key)]

    def _price_key(self, price: object) -> int:
        """``price`` (a decimal string) as an integer in units of ``10**-scale``; cached."""
        if type(price) is not str:
            raise InvalidInput(
                f"depth stream {self.symbol}: price {price!r} is not a decimal string"
            )
        whole, dot, frac = price.partition(".")
        if not (
            whole.isdigit() and whole.isascii() and (not dot or (frac.isdigit() and frac.isascii()))
        ):
            raise InvalidInput(
                f"depth stream {self.symbol}: price {price!r} is not a decimal string"
            )
        scale = self._scale
        if len(frac) > scale:
            needed = len(frac.rstrip("0"))
            if needed > scale:
                self._rescale(needed)
                scale = needed
            frac = frac[:scale]
        key = int(whole + frac + "0" * (scale - len(frac)))
        if key == 0:
            raise InvalidInput(f"depth stream {self.symbol}: price {price!r} is zero")
        if len(self._prices) >= _PRICE_CACHE_MAX:
            self._prices.clear()
        self._prices[price] = key
        return key

    def _rescale(self, scale: int) -> None:
        factor = 10 ** (scale - self._scale)
        self._scale = scale
        self._prices.clear()
        for levels, keys in ((self._bids, self._bid_keys), (self._asks, self._ask_keys)):
            scaled = {k * factor: q for k, q in levels.items()}
            levels.clear()
            levels.update(scaled)
            keys[:] = [k * factor for k in keys]

    def apply_snapshot(
        self,
        last_update_id: int,
        bids: Iterable[Sequence[str]],
        asks: Iterable[Sequence[str]],
    ) -> bool:
        """Install a REST depth snapshot (``lastUpdateId``, ``bids``, ``asks`` as the exchange
        sent them: ``[price, quantity]`` decimal strings) and replay the buffered events on it.

        Returns:
            True when the book is in sync. False when the buffered stream does not continue
            the snapshot (the snapshot is older than the stream, or the buffer has a gap): the
            book stays out of sync, keeps buffering and needs a newer snapshot.

        Raises:
            InvalidInput: a malformed snapshot, or a malformed buffered event (the book is then
                out of sync and its buffer empty).
        """
        if type(last_update_id) is not int or last_update_id < 0:
            raise InvalidInput(
                f"depth snapshot {self.symbol}: lastUpdateId must be a non-negative integer, "
                f"got {last_update_id!r}"
            )
        self._desync()
        try:
            self._update(bids, self._bids, self._bid_keys)
            self._update(asks, self._asks, self._ask_keys)
        except InvalidInput:
            self._desync()
            raise
        except (TypeError, ValueError, AttributeError):
            self._desync()
            raise InvalidInput(
                f"depth snapshot {self.symbol}: bids and asks must be lists of [price, quantity] "
                "decimal strings"
            ) from None
        self._last = last_update_id
        self._synced = True
        self._bridging = True
        pending = list(self._buffer)
        self._buffer.clear()
        for i, message in enumerate(pending):
            try:
                result = self._apply(message, message["U"], message["u"])
            except InvalidInput:
                self._buffer.clear()
                raise
            if result is DiffResult.GAP:
                self._buffer.extend(pending[i + 1 :])
                return False
        return True

    # --- output ----------------------------------------------------------------------------

    def _price(self, key: int) -> Decimal:
        return Decimal(key).scaleb(-self._scale)

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        """Highest bid as ``(price, quantity)``; None when empty or out of sync."""
        if not self._bid_keys:
            return None
        key = self._bid_keys[-1]
        return self._price(key), Decimal(self._bids[key])

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        """Lowest ask as ``(price, quantity)``; None when empty or out of sync."""
        if not self._ask_keys:
            return None
        key = self._ask_keys[0]
        return self._price(key), Decimal(self._asks[key])

    def bids(self, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Bids as ``(price, quantity)``, highest first, at most ``limit`` (all if None)."""
        keys = self._bid_keys
        chosen = keys[::-1] if limit is None else keys[: -limit - 1 : -1] if limit > 0 else []
        return [(self._price(k), Decimal(self._bids[k])) for k in chosen]

    def asks(self, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Asks as ``(price, quantity)``, lowest first, at most ``limit`` (all if None)."""
        keys = self._ask_keys if limit is None else self._ask_keys[: max(limit, 0)]
        return [(self._price(k), Decimal(self._asks[k])) for k in keys]
