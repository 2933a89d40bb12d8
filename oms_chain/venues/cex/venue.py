"""The ccxt venue: any ccxt exchange behind the :class:`~oms_chain.venues.base.Venue` protocol.

REST calls go through ccxt's async classes (``ccxt.pro`` instances, which also speak websockets),
paced by our token bucket on top of ccxt's ``enableRateLimit``. Local order books of
Binance-protocol exchanges are our own :class:`~oms_chain.venues.cex.book.DepthBook`, fed from
the raw diff-depth websocket (``<symbol>@depth@100ms`` under the exchange's configured stream
URL) and resynced from ``GET /api/v3/depth`` (the endpoint ccxt's ``fetch_order_book`` calls)
after every connect and every gap; a dropped connection is reopened with backoff. Other
exchanges (or ``book_source="ccxt"``) use ccxt.pro's ``watch_order_book`` (ccxt performs the
synchronization and raises on a gap; our watcher then resubscribes with backoff). Fills come
from ``watch_orders``; while that stream is down, tracked orders are polled over REST, and every
reconnect is followed by a REST pass, because private streams lose events across reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import ccxt
import ccxt.pro as ccxt_pro

from oms_chain.model.clock import Clock, SystemClock
from oms_chain.model.errors import (
    ConfigError,
    InvalidInput,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from oms_chain.model.ids import ClientOrderId, TradeId, VenueId, VenueOrderId
from oms_chain.model.instruments import Instrument, SpotPair
from oms_chain.model.intent import Side
from oms_chain.venues.base import (
    AmendOrder,
    FillReport,
    LiquidityCurve,
    LiquidityLevel,
    OrderStatusReport,
    PlaceOrder,
    Quote,
    ReconciliationReport,
    VenueCapabilities,
    VenueReport,
)
from oms_chain.venues.cex.book import DepthBook, DiffResult
from oms_chain.venues.cex.config import CcxtVenueConfig
from oms_chain.venues.cex.normalize import (
    CcxtMarket,
    balances_from_ccxt,
    fill_report_from_ccxt,
    levels_from_ccxt,
    order_report_from_ccxt,
    to_ccxt_number,
)
from oms_chain.venues.cex.throttle import Backoff, TokenBucket

__all__ = ["CcxtVenue"]

_log = logging.getLogger(__name__)
_BPS = Decimal(10_000)
_T = TypeVar("_T")
#: ccxt errors meaning "the request may or may not have reached the exchange".
_AMBIGUOUS = (ccxt.OperationFailed, TimeoutError)
_RATE_LIMITED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)
_RATE_LIMIT_RETRIES = 5
_WS_HEARTBEAT_S = 20.0  # ping the depth stream; no pong within half of it = connection lost
_SNAPSHOT_LIMIT = 1000  # ccxt's default ``watchOrderBookLimit``
_BOOK_READ_ATTEMPTS = 3  # reads of the local book before falling back to a REST snapshot


def _make_exchange(config: CcxtVenueConfig) -> Any:
    try:
        cls = getattr(ccxt_pro, config.exchange)
    except AttributeError:
        raise InvalidInput(
            f"cex venue key 'exchange': {config.exchange!r} is not a ccxt.pro exchange id"
        ) from None
    settings: dict[str, Any] = {
        "enableRateLimit": config.enable_rate_limit,
        "timeout": int(config.timeout_s * 1000),
        "options": dict(config.options),
    }
    for key, value in (
        ("apiKey", config.api_key),
        ("secret", config.secret),
        ("password", config.password),
    ):
        if value is not None:
            settings[key] = value
    exchange = cls(settings)
    if config.urls is not None:
        exchange.urls["api"] = dict(config.urls)
    if config.sandbox:
        _enter_sandbox(exchange)
    return exchange


def _url_hosts(urls: Any) -> set[str]:
    """Hosts of every URL in a (nested) ccxt ``urls`` entry."""
    if isinstance(urls, Mapping):
        return set().union(*(_url_hosts(v) for v in urls.values())) if urls else set()
    if isinstance(urls, list | tuple):
        return set().union(*(_url_hosts(v) for v in urls)) if urls else set()
    if isinstance(urls, str) and "://" in urls:
        return {(urlsplit(urls).hostname or "").lower()}
    return set()


def _enter_sandbox(exchange: Any) -> None:
    """ccxt's ``set_sandbox_mode(True)`` (``urls['api']`` becomes ``urls['test']``), refusing an
    exchange without a testnet or one whose testnet shares a host with production."""
    production = _url_hosts(exchange.urls.get("api"))
    try:
        if not exchange.urls.get("test"):  # some list the key with no URLs in it
            raise ccxt.NotSupported(exchange.id)
        exchange.set_sandbox_mode(True)
    except ccxt.NotSupported:
        raise ConfigError(
            f"cex venue key 'sandbox': ccxt's {exchange.id!r} has no sandbox (testnet) URLs; "
            "trade it live (set live = true) or not at all"
        ) from None
    shared = _url_hosts(exchange.urls["api"]) & production
    if shared:
        raise ConfigError(
            f"cex venue key 'sandbox': ccxt's {exchange.id!r} testnet URLs use production "
            f"host(s) {sorted(shared)}; refusing to call them in sandbox mode"
        )


class CcxtVenue:
    """A centralized exchange reached through ccxt (REST + ccxt.pro websockets).

    Call :meth:`start` (loads markets, starts the user stream) before trading and
    :meth:`close` at the end; or use ``async with``. Client order ids are sent as the exchange's
    client order id (ccxt ``clientOrderId``, Binance ``newClientOrderId``) and are idempotency
    keys: a second ``place`` with a known id is refused locally and by the exchange.

    Args:
        config: exchange id, credentials, options, URL overrides, pacing.
        clock: injected clock for ``ts_event`` fallbacks (nanoseconds).
    """

    def __init__(self, config: CcxtVenueConfig, *, clock: Clock | None = None) -> None:
        self._cfg = config
        self._id = VenueId(config.name)
        self._clock: Clock = clock or SystemClock()
        self._ex: Any = _make_exchange(config)
        self._bucket = TokenBucket(config.rate_per_s, config.burst)
        self._rng = random.Random(config.seed)
        self._markets: dict[str, CcxtMarket] = {}
        # client order id -> ccxt symbol, for every order we placed or saw
        self._symbol_of: dict[ClientOrderId, str] = {}
        self._coid_of: dict[VenueOrderId, ClientOrderId] = {}
        self._last: dict[ClientOrderId, tuple[str, Decimal]] = {}
        self._open: set[ClientOrderId] = set()
        # (trade id, client order id): a self-trade is one trade id for two of our orders
        self._seen_trades: set[tuple[TradeId, ClientOrderId]] = set()
        self._queue: asyncio.Queue[VenueReport] = asyncio.Queue()
        self._book_tasks: dict[str, asyncio.Task[None]] = {}
        self._book_ready: dict[str, asyncio.Event] = {}
        self._books: dict[str, DepthBook] = {}  # native books by ccxt symbol
        self._ws_session: aiohttp.ClientSession | None = None
        self._user_task: asyncio.Task[None] | None = None
        self._poll_lock = asyncio.Lock()
        #: True while the user stream delivers; False while we poll REST instead.
        self.stream_up = False
        #: Counters for operators and tests.
        self.stats: dict[str, int] = {
            "stream_errors": 0,
            "stream_reconnects": 0,
            "rest_polls": 0,
            "polled_reports": 0,
            "book_resyncs": 0,
            "book_snapshots": 0,
            "book_bad_frames": 0,
            "rate_limited": 0,
        }

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def venue_id(self) -> VenueId:
        return self._id

    @property
    def capabilities(self) -> VenueCapabilities:
        """Limit orders rest; amend is not offered (cancel and place a new order)."""
        return VenueCapabilities(amend=False)

    @property
    def acceptance_window_ns(self) -> int:
        """How long after a send this exchange may still accept it: the receive window it is
        sent with (``recvWindow``) plus the configured clock-skew margin, in nanoseconds.
        (:class:`~oms_chain.venues.base.BoundedAcceptance`.)"""
        window = self._cfg.receive_window_s
        if window is None:
            ms = self._ex.options.get("recvWindow") if isinstance(self._ex.options, dict) else None
            window = float(ms) / 1000 if isinstance(ms, int | float) and ms > 0 else 60.0
        return int((window + self._cfg.clock_skew_margin_s) * 1_000_000_000)

    @property
    def exchange(self) -> Any:
        """The underlying ccxt instance (for diagnostics; do not trade through it)."""
        return self._ex

    async def start(self, *, user_stream: bool = True) -> CcxtVenue:
        """Load markets and (with credentials) start the user stream.

        Raises:
            VenueUnavailable / VenueTimeout: markets could not be loaded.
        """
        await self._rest("load markets", self._ex.load_markets)
        tick = self._ex.precisionMode == ccxt.TICK_SIZE
        for symbol, market in self._ex.markets.items():
            if market.get("spot") and market.get("active", True) is not False:
                self._markets[symbol] = CcxtMarket.from_ccxt(market, self._id, tick_size_mode=tick)
        missing = sorted(set(self._cfg.symbols) - set(self._markets))
        if missing:
            raise VenueRejected(f"{self._id}: configured symbols {missing} are not spot markets")
        if user_stream and self._ex.apiKey and self._user_task is None:
            self._user_task = asyncio.create_task(self._user_loop(), name=f"{self._id}-user")
        return self

    async def close(self) -> None:
        """Stop background tasks and close ccxt's sessions and websockets."""
        tasks = [*self._book_tasks.values()]
        if self._user_task is not None:
            tasks.append(self._user_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._book_tasks.clear()
        self._books.clear()
        self._user_task = None
        if self._ws_session is not None:
            await self._ws_session.close()
            self._ws_session = None
        await self._ex.close()

    async def __aenter__(self) -> CcxtVenue:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def market(self, instrument: Instrument | str) -> CcxtMarket:
        """Our view of the market of ``instrument`` (or a ccxt symbol).

        Raises:
            VenueRejected: the exchange lists no such spot market.
        """
        if isinstance(instrument, str):
            symbol = instrument
        elif isinstance(instrument, SpotPair):
            symbol = f"{instrument.base.symbol}/{instrument.quote.symbol}"
        else:
            raise VenueRejected(f"{self._id}: only spot pairs are traded here, not {instrument.id}")
        try:
            return self._markets[symbol]
        except KeyError:
            raise VenueRejected(f"{self._id}: no spot market {symbol}") from None

    def quantity_step(self, instrument: Instrument) -> Decimal | None:
        """The exchange's quantity step for ``instrument`` (orders off this grid are refused),
        ``None`` when it has none.

        Raises:
            VenueRejected: no such spot market.
        """
        return self.market(instrument).amount_step

    def instruments(self) -> list[Instrument]:
        """Every spot instrument the exchange lists."""
        return [m.instrument for m in self._markets.values()]

    # --- REST plumbing -----------------------------------------------------------------------

    async def _rest(self, what: str, fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """One read-only REST call, paced; rate limits are waited out; errors mapped."""
        backoff = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        for attempt in range(_RATE_LIMIT_RETRIES + 1):
            await self._bucket.acquire()
            try:
                return await fn(*args)
            except _RATE_LIMITED as exc:
                self.stats["rate_limited"] += 1
                if attempt == _RATE_LIMIT_RETRIES:
                    raise VenueUnavailable(f"{self._id}: {what} rate limited: {exc}") from exc
                await asyncio.sleep(backoff.next_delay())
            except (TimeoutError, ccxt.RequestTimeout) as exc:
                raise VenueTimeout(f"{self._id}: {what} timed out: {exc}") from exc
            except ccxt.OperationFailed as exc:
                raise VenueUnavailable(f"{self._id}: {what} failed: {exc}") from exc
            except ccxt.ExchangeError as exc:
                raise VenueRejected(f"{self._id}: {what} refused: {exc}") from exc
        raise AssertionError("unreachable")

    def _now(self) -> int:
        return self._clock.now_ns()

    # --- normalization with our bookkeeping ---------------------------------------------------

    async def _report(
        self, order: Mapping[str, Any], fallback_coid: ClientOrderId | None = None
    ) -> OrderStatusReport:
        """Our report of a ccxt order, with every fill (fetched when the order has any)."""
        market = self.market(order["symbol"])
        voi = VenueOrderId(str(order["id"]))
        coid = self._coid_of.get(voi) or fallback_coid or ClientOrderId(str(order["clientOrderId"]))
        fills: list[FillReport] = []
        if market.amount(order.get("filled") or 0) > 0:
            trades = await self._rest(
                f"fetch trades of order {coid}",
                self._ex.fetch_my_trades,
                market.symbol,
                None,
                None,
                {"orderId": str(order["id"])},
            )
            fills = [
                fill_report_from_ccxt(
                    t, market, venue=self._id, client_order_id=coid, ts_default=self._now()
                )
                for t in trades
                if str(t.get("order")) == voi
            ]
        report = order_report_from_ccxt(
            order,
            market,
            venue=self._id,
            fills=fills,
            client_order_id=coid,
            ts_default=self._now(),
        )
        if report.client_order_id != coid:
            report = _with_coid(report, coid)
        self._track(report, market.symbol)
        return report

    def _track(self, report: OrderStatusReport, symbol: str) -> None:
        self._symbol_of[report.client_order_id] = symbol
        self._coid_of[report.venue_order_id] = report.client_order_id
        if report.status.is_terminal:
            self._open.discard(report.client_order_id)
        else:
            self._open.add(report.client_order_id)

    def _observe(self, report: OrderStatusReport, *, emit: bool = True) -> int:
        """Remember ``report``; push its new fills and its status change to :meth:`events`.
        Returns how many reports were new."""
        new = 0
        for fill in report.fills:
            seen = (fill.trade_id, fill.client_order_id)
            if seen not in self._seen_trades:
                self._seen_trades.add(seen)
                new += 1
                if emit:
                    self._queue.put_nowait(fill)
        key = (report.status.value, report.filled_quantity)
        if self._last.get(report.client_order_id) != key:
            self._last[report.client_order_id] = key
            new += 1
            if emit:
                self._queue.put_nowait(report)
        return new

    # --- market data -------------------------------------------------------------------------

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

    # --- orders --------------------------------------------------------------------------------

    async def _order_args(
        self, order: PlaceOrder, market: CcxtMarket
    ) -> tuple[str, float | None, dict[str, Any]]:
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.limit_price is not None:
            price = to_ccxt_number(order.limit_price, what="limit price")
            return "limit", price, params
        if order.max_slippage_bps is None:
            return "market", None, params
        # a market order bounded by slippage: an IOC limit at the touch +- slippage
        levels = await self._levels(market, order.side)
        if not levels:
            raise VenueRejected(f"{self._id}: no liquidity in {market.symbol} to bound slippage")
        touch = levels[0].price
        factor = order.max_slippage_bps / _BPS
        bound = touch * (1 + factor) if order.side is Side.BUY else touch * (1 - factor)
        step = market.price_step or Decimal("1e-8")
        bound = (bound / step).to_integral_value(
            rounding="ROUND_FLOOR" if order.side is Side.BUY else "ROUND_CEILING"
        ) * step
        params["timeInForce"] = "IOC"
        return "limit", to_ccxt_number(bound, what="slippage bound"), params

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        coid = order.client_order_id
        market = self.market(order.instrument)
        if order.quantity <= 0:
            raise VenueRejected(f"{self._id}: order {coid} quantity must be positive")
        if coid in self._symbol_of:
            raise VenueRejected(f"{self._id}: duplicate client order id {coid}; not sent again")
        _check_grid(order.quantity, market.amount_step, f"{market.symbol} quantity step")
        if order.limit_price is not None:
            _check_grid(order.limit_price, market.price_step, f"{market.symbol} price tick")
        kind, price, params = await self._order_args(order, market)
        amount = to_ccxt_number(order.quantity, what="quantity")
        self._symbol_of[coid] = market.symbol  # before sending: the id is spent from now on
        backoff = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        for attempt in range(_RATE_LIMIT_RETRIES + 1):
            await self._bucket.acquire()
            try:
                raw = await self._ex.create_order(
                    market.symbol, kind, order.side.value, amount, price, dict(params)
                )
                break
            except _RATE_LIMITED as exc:
                # refused before processing; resending the same client id is safe (the
                # exchange refuses a duplicate), but we look first all the same
                self.stats["rate_limited"] += 1
                found = await self._find_after_ambiguity(coid, market)
                if found is not None:
                    return found
                if attempt == _RATE_LIMIT_RETRIES:
                    raise VenueTimeout(
                        f"{self._id}: place {coid} rate limited {attempt + 1} times; reconcile"
                    ) from exc
                await asyncio.sleep(backoff.next_delay())
            except _AMBIGUOUS as exc:
                found = await self._find_after_ambiguity(coid, market)
                if found is not None:
                    return found
                raise VenueTimeout(
                    f"{self._id}: place {coid} got no answer ({type(exc).__name__}: {exc}) and "
                    "the order is not visible yet; it may still arrive — reconcile, do not resend"
                ) from exc
            except ccxt.ExchangeError as exc:
                text = str(exc)
                if isinstance(exc, ccxt.DuplicateOrderId) or "duplicate" in text.lower():
                    raise VenueRejected(
                        f"{self._id}: duplicate client order id {coid}: {text}"
                    ) from exc
                raise VenueRejected(f"{self._id}: order {coid} rejected: {text}") from exc
        report = await self._report(
            raw if raw.get("status") else await self._fetch(coid, market), coid
        )
        self._observe(report, emit=False)
        return report

    async def _fetch(self, coid: ClientOrderId, market: CcxtMarket) -> dict[str, Any]:
        result: dict[str, Any] = await self._rest(
            f"fetch order {coid}",
            self._ex.fetch_order,
            None,
            market.symbol,
            {"clientOrderId": coid},
        )
        return result

    async def _find(self, coid: ClientOrderId, market: CcxtMarket) -> OrderStatusReport | None:
        try:
            raw = await self._fetch(coid, market)
        except VenueRejected as exc:
            if isinstance(exc.__cause__, ccxt.OrderNotFound):
                return None
            raise
        return await self._report(raw, coid)

    async def _find_after_ambiguity(
        self, coid: ClientOrderId, market: CcxtMarket
    ) -> OrderStatusReport | None:
        try:
            found = await self._find(coid, market)
        except (VenueTimeout, VenueUnavailable, VenueRejected) as exc:
            raise VenueTimeout(
                f"{self._id}: place {coid} outcome unknown and the lookup failed ({exc}); reconcile"
            ) from exc
        if found is not None:
            self._observe(found, emit=False)
        return found

    async def _locate(self, coid: ClientOrderId) -> OrderStatusReport | None:
        """Find ``coid`` on the exchange: its known market first, then every market we use."""
        symbol = self._symbol_of.get(coid)
        candidates = [symbol] if symbol is not None else self._searched_symbols()
        for candidate in candidates:
            found = await self._find(coid, self._markets[candidate])
            if found is not None:
                return found
        return None

    def _searched_symbols(self) -> list[str]:
        used = set(self._symbol_of.values()) | set(self._book_tasks) | set(self._cfg.symbols)
        return sorted(s for s in used if s in self._markets) or sorted(self._markets)

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        symbol = self._symbol_of.get(client_order_id)
        if symbol is None:
            found = await self._locate(client_order_id)
            if found is None:
                raise VenueRejected(f"{self._id}: cannot cancel unknown order {client_order_id}")
            if found.status.is_terminal:
                return found
            symbol = self._symbol_of[client_order_id]
        await self._bucket.acquire()
        try:
            raw = await self._ex.cancel_order(None, symbol, {"clientOrderId": client_order_id})
        except (ccxt.ExchangeError, *_AMBIGUOUS) as exc:
            # already done, never there, or no answer: the exchange's record decides
            found = await self._find(client_order_id, self._markets[symbol])
            if found is None:
                raise VenueRejected(
                    f"{self._id}: cannot cancel unknown order {client_order_id}: {exc}"
                ) from exc
            if found.status.is_terminal:
                self._observe(found, emit=False)
                return found
            if isinstance(exc, _AMBIGUOUS):
                raise VenueTimeout(
                    f"{self._id}: cancel {client_order_id} unanswered; order still open"
                ) from exc
            raise VenueRejected(f"{self._id}: cancel {client_order_id} refused: {exc}") from exc
        if not raw.get("status") or raw.get("amount") is None:
            raw = await self._fetch(client_order_id, self._markets[symbol])
        report = await self._report(raw, client_order_id)
        self._observe(report, emit=False)
        return report

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        """Not offered: ccxt's ``edit_order`` is a cancel-and-replace on most exchanges, which
        would spend a second client order id behind the engine's back.

        Raises:
            VenueRejected: always; cancel and place a new child order instead.
        """
        raise VenueRejected(
            f"{self._id}: amend of {request.client_order_id} is not supported by the ccxt "
            "venue; cancel it and place a new order"
        )

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        return await self._locate(client_order_id)

    async def balances(self) -> Mapping[str, Decimal]:
        raw = await self._rest("fetch balance", self._ex.fetch_balance)
        return balances_from_ccxt(raw)

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        """Open orders (of every market we use), the asked ids and balances. Changes since what
        we last saw are also pushed to :meth:`events`."""
        reports: dict[ClientOrderId, OrderStatusReport] = {}
        for symbol in self._searched_symbols():
            opened = await self._rest(
                f"fetch open orders {symbol}", self._ex.fetch_open_orders, symbol
            )
            for raw in opened:
                report = await self._report(raw)
                reports[report.client_order_id] = report
        unknown: list[ClientOrderId] = []
        for coid in client_order_ids:
            if coid in reports:
                continue
            found = await self._locate(coid)
            if found is None:
                unknown.append(coid)
            else:
                reports[coid] = found
        for report in reports.values():
            self._observe(report)
        return ReconciliationReport(
            venue=self._id,
            orders=tuple(reports.values()),
            unknown=tuple(sorted(unknown)),
            balances=await self.balances(),
            ts_event=self._now(),
        )

    # --- user stream ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[VenueReport]:  # type: ignore[override]
        while True:
            yield await self._queue.get()

    async def poll(self) -> None:
        """Refresh every order we track as open over REST, pushing changes to :meth:`events`."""
        async with self._poll_lock:
            self.stats["rest_polls"] += 1
            for coid in sorted(self._open):
                found = await self._locate(coid)
                if found is not None:
                    self.stats["polled_reports"] += self._observe(found)

    async def _safe_poll(self) -> None:
        try:
            await self.poll()
        except (VenueTimeout, VenueUnavailable, VenueRejected) as exc:
            _log.info("%s: REST poll failed: %s", self._id, exc)
        except Exception:  # a background loop must outlive one malformed answer
            _log.exception("%s: REST poll failed unexpectedly", self._id)

    async def _poll_for(self, seconds: float) -> None:
        """Poll REST every ``poll_interval_s`` for ``seconds`` (the stream is down)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            await self._safe_poll()
            left = end - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, self._cfg.poll_interval_s))

    async def _user_loop(self) -> None:
        backoff = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        recovering = False
        while True:
            watch = asyncio.ensure_future(self._ex.watch_orders())
            try:
                while True:
                    done, _ = await asyncio.wait({watch}, timeout=self._cfg.poll_interval_s)
                    if done:
                        break
                    if self.stream_up:
                        continue
                    if self._ws_connected():  # subscribed a poll interval ago, no error since
                        recovering = await self._stream_restored(backoff, recovering)
                    else:  # not confirmed (yet): REST is the source
                        await self._safe_poll()
                orders = watch.result()
            except asyncio.CancelledError:
                watch.cancel()
                raise
            except Exception as exc:
                self.stream_up = False
                recovering = True
                self.stats["stream_errors"] += 1
                _log.info("%s: user stream lost (%s); polling REST", self._id, exc)
                await self._poll_for(backoff.next_delay())
                continue
            if not self.stream_up:
                recovering = await self._stream_restored(backoff, recovering)
            for raw in orders:
                try:
                    await self._on_stream_order(raw)
                except Exception:  # keep the stream alive; polling will pick the order up
                    _log.exception("%s: stream order update not handled", self._id)

    async def _stream_restored(self, backoff: Backoff, recovering: bool) -> bool:
        self.stream_up = True
        backoff.reset()
        if recovering:  # private streams lose events across reconnects: ask REST
            self.stats["stream_reconnects"] += 1
            await self._safe_poll()
        return False

    def _ws_connected(self) -> bool:
        """True when ccxt holds websocket connections and every one of them is open."""
        clients = list(getattr(self._ex, "clients", {}).values())

        def is_open(client: Any) -> bool:
            fut = client.connected
            return (
                bool(fut.done() and not fut.cancelled() and fut.exception() is None)
                and not client.closed()
            )

        return bool(clients) and all(is_open(c) for c in clients)

    async def _on_stream_order(self, raw: Mapping[str, Any]) -> None:
        symbol = raw.get("symbol")
        if symbol not in self._markets or raw.get("id") is None:
            return
        market = self._markets[str(symbol)]
        voi = VenueOrderId(str(raw["id"]))
        coid = self._coid_of.get(voi) or raw.get("clientOrderId")
        if not coid:
            return
        coid = ClientOrderId(str(coid))
        try:
            fills = [
                fill_report_from_ccxt(
                    t, market, venue=self._id, client_order_id=coid, ts_default=self._now()
                )
                for t in raw.get("trades") or ()
                if t.get("id") is not None
            ]
            filled = market.amount(raw.get("filled") or 0)
            if sum((f.quantity for f in fills), Decimal(0)) != filled:
                # the stream missed trades of this order: take the full picture from REST
                report = await self._report(raw, coid)
            else:
                report = order_report_from_ccxt(
                    raw,
                    market,
                    venue=self._id,
                    fills=fills,
                    client_order_id=coid,
                    ts_default=self._now(),
                )
                report = _with_coid(report, coid)
                self._track(report, market.symbol)
        except (InvalidInput, VenueTimeout, VenueUnavailable, VenueRejected) as exc:
            _log.warning("%s: stream order %s not usable (%s); polling", self._id, voi, exc)
            self._open.add(coid)
            self._symbol_of.setdefault(coid, market.symbol)
            return
        self._observe(report)


def _check_grid(value: Decimal, step: Decimal | None, what: str) -> None:
    """Refuse a value off the market's grid: ccxt would round it silently before sending."""
    if step is not None and step > 0 and value % step != 0:
        raise VenueRejected(f"{value} is not a multiple of the {what} {step}; round it first")


def _with_coid(report: OrderStatusReport, coid: ClientOrderId) -> OrderStatusReport:
    if report.client_order_id == coid:
        return report
    return replace(report, client_order_id=coid)
