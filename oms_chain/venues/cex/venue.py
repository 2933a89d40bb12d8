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

This module holds the lifecycle and the order calls; the shared state and REST plumbing are in
:mod:`._core`, the book feed in :mod:`._feed`, the order stream in :mod:`._stream` and the ccxt
error mapping in :mod:`._errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

import ccxt

from oms_chain.model.errors import VenueRejected, VenueTimeout
from oms_chain.model.ids import ClientOrderId, VenueId
from oms_chain.model.intent import Side
from oms_chain.venues.base import (
    AmendOrder,
    OrderStatusReport,
    PlaceOrder,
    ReconciliationReport,
    VenueCapabilities,
)
from oms_chain.venues.cex._core import _BPS
from oms_chain.venues.cex._errors import AMBIGUOUS as _AMBIGUOUS
from oms_chain.venues.cex._errors import RATE_LIMIT_RETRIES as _RATE_LIMIT_RETRIES
from oms_chain.venues.cex._errors import RATE_LIMITED as _RATE_LIMITED
from oms_chain.venues.cex._errors import place_refusal
from oms_chain.venues.cex._feed import _BookFeed
from oms_chain.venues.cex._stream import _OrderStream
from oms_chain.venues.cex.normalize import (
    CcxtMarket,
    balances_from_ccxt,
    to_ccxt_number,
)
from oms_chain.venues.cex.throttle import Backoff

__all__ = ["CcxtVenue"]


class CcxtVenue(_BookFeed, _OrderStream):
    """A centralized exchange reached through ccxt (REST + ccxt.pro websockets).

    Call :meth:`start` (loads markets, starts the user stream) before trading and
    :meth:`close` at the end; or use ``async with``. Client order ids are sent as the exchange's
    client order id (ccxt ``clientOrderId``, Binance ``newClientOrderId``) and are idempotency
    keys: a second ``place`` with a known id is refused locally and by the exchange.

    Args:
        config: exchange id, credentials, options, URL overrides, pacing.
        clock: injected clock for ``ts_event`` fallbacks (nanoseconds).
    """

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
                raise place_refusal(self._id, coid, exc) from exc
        report = await self._report(
            raw if raw.get("status") else await self._fetch(coid, market), coid
        )
        self._observe(report, emit=False)
        return report

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
        """Open orders (:meth:`_open_reports`), the asked ids and balances. Changes since what
        we last saw are also pushed to :meth:`events`."""
        reports = await self._open_reports()
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

    async def _open_reports(self) -> dict[ClientOrderId, OrderStatusReport]:
        """Reconciliation's hook: our open orders on the exchange by client order id, here of
        every market we use. A subclass that lists open orders another way (per currency, by
        label) overrides this and keeps :meth:`reconcile`."""
        reports: dict[ClientOrderId, OrderStatusReport] = {}
        for symbol in self._searched_symbols():
            opened = await self._rest(
                f"fetch open orders {symbol}", self._ex.fetch_open_orders, symbol
            )
            for raw in opened:
                report = await self._report(raw)
                reports[report.client_order_id] = report
        return reports


def _check_grid(value: Decimal, step: Decimal | None, what: str) -> None:
    """Refuse a value off the market's grid: ccxt would round it silently before sending."""
    if step is not None and step > 0 and value % step != 0:
        raise VenueRejected(f"{value} is not a multiple of the {what} {step}; round it first")
