"""The ccxt venue's book feed: local order books (our :class:`DepthBook` from the raw
diff-depth stream for Binance-protocol exchanges, else ccxt.pro's ``watch_order_book``), and the
liquidity curves and quotes read from them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp

from oms_chain.model.errors import (
    InvalidInput,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.venues.base import (
    LiquidityCurve,
    LiquidityLevel,
    Quote,
)
from oms_chain.venues.cex._core import _BPS, _CcxtCore, _log
from oms_chain.venues.cex.book import DepthBook, DiffResult
from oms_chain.venues.cex.normalize import (
    CcxtMarket,
    levels_from_ccxt,
)
from oms_chain.venues.cex.throttle import Backoff

__all__: list[str] = []

_WS_HEARTBEAT_S = 20.0  # ping the depth stream; no pong within half of it = connection lost
_SNAPSHOT_LIMIT = 1000  # ccxt's default ``watchOrderBookLimit``
_BOOK_READ_ATTEMPTS = 3  # reads of the local book before falling back to a REST snapshot


class _BookFeed(_CcxtCore):
    """Market data of the ccxt venue."""

    def _ensure_book(self, symbol: str) -> asyncio.Event:
        if symbol not in self._book_tasks:
            self._book_ready[symbol] = asyncio.Event()
            loop = self._native_book_loop if self._cfg.native_book else self._book_loop
            self._book_tasks[symbol] = asyncio.create_task(
                loop(symbol), name=f"{self._id}-book-{symbol}"
            )
        return self._book_ready[symbol]

    def _depth_stream_url(self, symbol: str) -> str:
        """The raw diff-depth stream of ``symbol`` under the exchange's configured spot stream
        URL, at ccxt's ``watchOrderBookRate`` (ms; 100 unless configured)."""
        market = self._ex.market(symbol)
        options = self._ex.options
        nested = options.get("watchOrderBookForSymbols")
        rate = (nested or {}).get("watchOrderBookRate") if isinstance(nested, dict) else None
        rate = str(rate or options.get("watchOrderBookRate") or "100")
        stream = market.get("lowercaseId") or str(market["id"]).lower()
        suffix = "@depth" if rate == "1000" else f"@depth@{rate}ms"
        base = str(self._ex.urls["api"]["ws"]["spot"]).rstrip("/")
        return f"{base}/{stream}{suffix}"

    def _snapshot_limit(self) -> int:
        if self._cfg.book_depth is not None:
            return self._cfg.book_depth
        return int(self._ex.options.get("watchOrderBookLimit") or _SNAPSHOT_LIMIT)

    async def _native_book_loop(self, symbol: str) -> None:
        """Keep ``self._books[symbol]`` in sync: connect, buffer, snapshot, apply; on a gap a
        new snapshot, on a lost connection a new connection (with backoff) and a new snapshot."""
        ready = self._book_ready[symbol]
        book = self._books[symbol] = DepthBook(str(self._ex.market(symbol)["id"]))
        url = self._depth_stream_url(symbol)
        backoff = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        while True:
            snapshot: asyncio.Task[None] | None = None
            try:
                if self._ws_session is None or self._ws_session.closed:
                    self._ws_session = aiohttp.ClientSession(
                        timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_s)
                    )
                async with self._ws_session.ws_connect(url, heartbeat=_WS_HEARTBEAT_S) as ws:
                    book.reset()  # buffer from the first event of this connection
                    snapshot = self._start_snapshot(symbol, book, ready, backoff)
                    async for msg in ws:
                        if msg.type is aiohttp.WSMsgType.ERROR:
                            raise ConnectionError(f"websocket error: {ws.exception()}")
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            continue
                        try:
                            result = book.on_frame(msg.data)
                        except InvalidInput as exc:
                            self.stats["book_bad_frames"] += 1
                            _log.warning("%s: book %s: %s; resyncing", self._id, symbol, exc)
                            book.reset()
                            result = DiffResult.GAP
                        if result is DiffResult.GAP:
                            ready.clear()
                            self.stats["book_resyncs"] += 1
                            _log.info("%s: book %s has a gap; new snapshot", self._id, symbol)
                            if snapshot.done():
                                snapshot = self._start_snapshot(symbol, book, ready, backoff)
                    lost: BaseException = ConnectionError(f"stream closed ({ws.close_code})")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # aiohttp / OS errors
                lost = exc
            finally:
                # a snapshot of the lost connection must not mark the book in sync
                if snapshot is not None and not snapshot.done():
                    snapshot.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await snapshot
            ready.clear()
            book.reset()
            self.stats["book_resyncs"] += 1
            _log.info("%s: book %s stream lost (%s); reconnecting", self._id, symbol, lost)
            await asyncio.sleep(backoff.next_delay())

    def _start_snapshot(
        self, symbol: str, book: DepthBook, ready: asyncio.Event, backoff: Backoff
    ) -> asyncio.Task[None]:
        return asyncio.create_task(
            self._snapshot_into(symbol, book, ready, backoff), name=f"{self._id}-depth-{symbol}"
        )

    async def _snapshot_into(
        self, symbol: str, book: DepthBook, ready: asyncio.Event, backoff: Backoff
    ) -> None:
        """Fetch REST depth snapshots until one continues the buffered stream; then the book
        is in sync. Cancelled when the connection it belongs to is lost."""
        retry = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        request = {"symbol": book.symbol, "limit": self._snapshot_limit()}
        while True:
            self.stats["book_snapshots"] += 1
            try:
                raw = await self._rest(
                    f"fetch depth snapshot {symbol}", self._ex.publicGetDepth, dict(request)
                )
                synced = book.apply_snapshot(raw["lastUpdateId"], raw["bids"], raw["asks"])
            except (VenueTimeout, VenueUnavailable, VenueRejected, InvalidInput) as exc:
                _log.warning("%s: depth snapshot %s failed: %s", self._id, symbol, exc)
            except (KeyError, TypeError) as exc:
                _log.warning("%s: depth snapshot %s malformed: %r", self._id, symbol, exc)
            else:
                if synced:
                    ready.set()
                    backoff.reset()
                    return
                _log.info("%s: depth snapshot %s older than the stream; again", self._id, symbol)
            await asyncio.sleep(retry.next_delay())

    async def _book_loop(self, symbol: str) -> None:
        ready = self._book_ready[symbol]
        backoff = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        while True:
            try:
                await self._ex.watch_order_book(symbol, self._cfg.book_depth)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ccxt: NetworkError, ChecksumError (gap), anything else
                ready.clear()
                self.stats["book_resyncs"] += 1
                _log.info("%s: book %s lost (%s); resubscribing", self._id, symbol, exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            ready.set()

    async def watch_book(self, instrument: Instrument) -> None:
        """Start (if needed) the local book of ``instrument`` and wait until it is in sync.

        Raises:
            VenueTimeout: not in sync within ``book_timeout_s``.
        """
        market = self.market(instrument)
        ready = self._ensure_book(market.symbol)
        try:
            await asyncio.wait_for(ready.wait(), self._cfg.book_timeout_s)
        except TimeoutError:
            raise VenueTimeout(f"{self._id}: order book {market.symbol} not in sync") from None

    async def ticker_mids(self, instrument: Instrument) -> AsyncIterator[Decimal]:
        """The mid of best bid and ask of each book ticker the exchange pushes for
        ``instrument`` (its real-time best bid / ask websocket, Binance's ``bookTicker``,
        through ccxt.pro's ``watch_bids_asks``; the 24 h ``ticker`` stream carries no bid and
        ask in its mini form), as it arrives; a ticker without both sides is skipped. A lost
        connection is resubscribed with backoff.

        Raises:
            VenueRejected: the exchange lists no such spot market.
        """
        market = self.market(instrument)
        backoff = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        while True:
            try:
                tickers = await self._ex.watch_bids_asks([market.symbol])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ccxt: NetworkError and the like
                _log.info("%s: ticker %s lost (%s); resubscribing", self._id, market.symbol, exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            ticker = tickers.get(market.symbol) or {}
            bid, ask = ticker.get("bid"), ticker.get("ask")
            if not bid or not ask:
                continue
            yield (Decimal(str(bid)) + Decimal(str(ask))) / 2

    def book_synced(self, instrument: Instrument) -> bool:
        """True while the websocket book of ``instrument`` is in sync."""
        event = self._book_ready.get(self.market(instrument).symbol)
        return event is not None and event.is_set()

    def book(
        self, instrument: Instrument
    ) -> tuple[int | None, tuple[LiquidityLevel, ...], tuple[LiquidityLevel, ...]]:
        """The local book as ``(nonce, bids, asks)``, best first (empty before the first sync)."""
        market = self.market(instrument)
        if self._cfg.native_book:
            native = self._books.get(market.symbol)
            if native is None or not self.book_synced(instrument) or not native.synced:
                return None, (), ()
            depth = self._cfg.book_depth
            return (
                native.last_update_id,
                tuple(LiquidityLevel(p, q) for p, q in native.bids(depth)),
                tuple(LiquidityLevel(p, q) for p, q in native.asks(depth)),
            )
        book = self._ex.orderbooks.get(market.symbol) if self.book_synced(instrument) else None
        if book is None:
            return None, (), ()
        return (
            book.get("nonce"),
            levels_from_ccxt(book["bids"], market),
            levels_from_ccxt(book["asks"], market),
        )

    async def _levels(self, market: CcxtMarket, side: Side) -> tuple[LiquidityLevel, ...]:
        try:
            # The book can fall out of sync (a gap) between the wait returning and the read:
            # then it reads empty, and we wait for the next sync.
            for _ in range(_BOOK_READ_ATTEMPTS):
                await self.watch_book(market.instrument)
                if self.book_synced(market.instrument):
                    _, bids, asks = self.book(market.instrument)
                    if bids or asks:
                        return asks if side is Side.BUY else bids
            raise VenueTimeout(f"{self._id}: order book {market.symbol} keeps losing sync")
        except VenueTimeout:  # websocket book unavailable: one REST snapshot instead
            book = await self._rest(
                f"fetch order book {market.symbol}", self._ex.fetch_order_book, market.symbol
            )
            bids = levels_from_ccxt(book["bids"], market)
            asks = levels_from_ccxt(book["asks"], market)
        return asks if side is Side.BUY else bids

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        market = self.market(instrument)
        levels = await self._levels(market, side)
        return LiquidityCurve(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            levels=levels,
            taker_fee_bps=market.taker_fee_bps,
            fixed_cost=Decimal(0),
            ts_event=self._now(),
        )

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        """Walk the local book for ``quantity``.

        Raises:
            VenueRejected: the book holds less than ``quantity``.
        """
        if quantity <= 0:
            raise InvalidInput(f"quote quantity must be positive, got {quantity}")
        market = self.market(instrument)
        levels = await self._levels(market, side)
        left, cost = quantity, Decimal(0)
        for level in levels:
            take = min(left, level.quantity)
            cost += take * level.price
            left -= take
            if left == 0:
                break
        if left > 0:
            raise VenueRejected(
                f"{self._id}: book {market.symbol} holds only {quantity - left} of {quantity}"
            )
        return Quote(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            quantity=quantity,
            avg_price=cost / quantity,
            fee=cost * market.taker_fee_bps / _BPS,
            ts_event=self._now(),
        )
