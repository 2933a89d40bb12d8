"""The state and plumbing every part of the ccxt venue shares: the exchange client, markets,
paced REST reads with errors mapped, ccxt dicts turned into reports with our bookkeeping, and
lookups of one order on the exchange. :class:`~oms_chain.venues.cex.venue.CcxtVenue` is this plus
its book feed (:mod:`._feed`), its order stream (:mod:`._stream`) and its order calls."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
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
from oms_chain.venues.base import (
    FillReport,
    OrderStatusReport,
    VenueReport,
)
from oms_chain.venues.cex._errors import RATE_LIMIT_RETRIES as _RATE_LIMIT_RETRIES
from oms_chain.venues.cex._errors import RATE_LIMITED as _RATE_LIMITED
from oms_chain.venues.cex._errors import read_error
from oms_chain.venues.cex.book import DepthBook
from oms_chain.venues.cex.config import CcxtVenueConfig
from oms_chain.venues.cex.normalize import (
    CcxtMarket,
    fill_report_from_ccxt,
    order_report_from_ccxt,
)
from oms_chain.venues.cex.throttle import Backoff, TokenBucket

__all__: list[str] = []

_log = logging.getLogger("oms_chain.venues.cex.venue")

_BPS = Decimal(10_000)
_T = TypeVar("_T")


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


class _CcxtCore:
    """Shared state of one ccxt venue (see :class:`~oms_chain.venues.cex.venue.CcxtVenue`)."""

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
            except (TimeoutError, ccxt.BaseError) as exc:
                mapped = read_error(self._id, what, exc)
                if mapped is None:
                    raise
                raise mapped from exc
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
            trades = await self._order_trades(market, voi, coid)
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

    async def _order_trades(
        self, market: CcxtMarket, voi: VenueOrderId, coid: ClientOrderId
    ) -> list[dict[str, Any]]:
        """ccxt trades of one order (subclasses pick the exchange's cheapest call)."""
        trades: list[dict[str, Any]] = await self._rest(
            f"fetch trades of order {coid}",
            self._ex.fetch_my_trades,
            market.symbol,
            None,
            None,
            {"orderId": str(voi)},
        )
        return trades

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


def _with_coid(report: OrderStatusReport, coid: ClientOrderId) -> OrderStatusReport:
    if report.client_order_id == coid:
        return report
    return replace(report, client_order_id=coid)
