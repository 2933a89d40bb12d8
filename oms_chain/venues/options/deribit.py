"""The ccxt options venue: Deribit-protocol exchanges (``ccxt.deribit``) behind the
:class:`~oms_chain.venues.base.Venue` protocol.

It is the ccxt venue (:class:`~oms_chain.venues.cex.CcxtVenue`: pacing, error mapping, book
feed, order stream, reports) with Deribit's differences at the edge:

* Markets are the exchange's options, each mapped to an
  :class:`~oms_chain.model.instruments.OptionContract` (underlying and quote as the venue's
  assets, strike in USD, expiry in ns); Deribit's names (``ETH-11DEC26-3000-C``) stay here.
* Prices are premiums per contract **in the underlying** (ETH), as Deribit quotes them; a
  :class:`~oms_chain.venues.base.FillReport`'s ``price`` is such a premium.
  :func:`~oms_chain.venues.options.types.premium_in_quote` converts one explicitly.
* Our client order id travels as the order's ``label``. ccxt sends Deribit orders as HTTP GET,
  and aiohttp re-sends a GET once when a reused keep-alive connection drops — after the server
  may have executed it. The venue's HTTP session refuses that silent re-send for order writes
  (an aiohttp client middleware), so a dropped answer surfaces as an ambiguous outcome, and the
  venue then finds the order by its label among open and past orders: found, never doubled.
  (:mod:`._deribit_http` holds that guard, :mod:`._deribit_parse` what is read from ccxt's dicts.)
* Option chain, Greeks and IV come from the venue (``fetch_option_chain``, ``fetch_greeks``),
  positions from ``fetch_positions``, expiry deliveries from the settlement history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt

from oms_chain.model.clock import Clock
from oms_chain.model.errors import ConfigError, InvalidInput, VenueRejected, VenueTimeout
from oms_chain.model.ids import ClientOrderId, VenueOrderId
from oms_chain.model.instruments import Instrument, OptionContract, OptionKind
from oms_chain.model.intent import Side
from oms_chain.venues.base import (
    OrderStatusReport,
    PlaceOrder,
    Quote,
)
from oms_chain.venues.cex._errors import AMBIGUOUS as _AMBIGUOUS
from oms_chain.venues.cex.config import CcxtVenueConfig
from oms_chain.venues.cex.normalize import (
    CcxtMarket,
    balances_from_ccxt,
    exact_decimal,
    to_ccxt_number,
)
from oms_chain.venues.cex.venue import CcxtVenue
from oms_chain.venues.options._deribit_http import no_silent_resend
from oms_chain.venues.options._deribit_parse import (
    BPS,
    chain_key,
    contract_key,
    option_market,
    position,
    settlement,
    tick_steps,
    ticker,
)
from oms_chain.venues.options.types import OptionPosition, OptionSettlement, OptionTicker

__all__ = ["DeribitOptionsConfig", "DeribitOptionsVenue"]

_MAX_LABEL = 64
#: Deribit caps option fees at 12.5 % of the premium.
_FEE_CAP = Decimal("0.125")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeribitOptionsConfig:
    """Settings of one :class:`DeribitOptionsVenue`: the ccxt settings (``exchange`` must be a
    Deribit-protocol ccxt id, ``deribit`` by default) and the currencies whose options it
    trades (``ETH``, ``BTC``)."""

    ccxt: CcxtVenueConfig
    currencies: tuple[str, ...] = ("ETH",)
    quote_code: str = "USD"
    quote_decimals: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.ccxt, CcxtVenueConfig):
            raise ConfigError("options venue key 'ccxt' must be a CcxtVenueConfig")
        if self.ccxt.exchange != "deribit":
            raise ConfigError(
                f"options venue: exchange {self.ccxt.exchange!r} does not speak Deribit's "
                "protocol; use 'deribit'"
            )
        if not self.currencies or not all(
            isinstance(c, str) and c.isalnum() and c.isupper() for c in self.currencies
        ):
            raise ConfigError(
                "options venue key 'currencies' must list upper-case codes, "
                f"got {self.currencies!r}"
            )


class DeribitOptionsVenue(CcxtVenue):
    """Options on a Deribit-protocol exchange through unmodified ``ccxt.pro.deribit``.

    Use as the ccxt venue (``start`` / ``close`` or ``async with``); instruments are
    :class:`~oms_chain.model.instruments.OptionContract` values from :meth:`instruments` or
    :meth:`contract`. Prices (limit prices, fills, books) are premiums in the underlying.
    """

    def __init__(self, config: DeribitOptionsConfig, *, clock: Clock | None = None) -> None:
        if not isinstance(config, DeribitOptionsConfig):
            raise InvalidInput(f"expected a DeribitOptionsConfig, got {type(config).__name__}")
        super().__init__(config.ccxt, clock=clock)
        self._ocfg = config
        self._by_contract: dict[tuple[str, Decimal, int, OptionKind], str] = {}
        self._voi_of: dict[ClientOrderId, VenueOrderId] = {}
        # symbol -> Deribit's tick_size_steps as (above price, tick), highest first
        self._tick_steps: dict[str, list[tuple[Decimal, Decimal]]] = {}
        self._http: aiohttp.ClientSession | None = None
        self.stats["duplicates_by_label"] = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, *, user_stream: bool = True) -> DeribitOptionsVenue:
        """Open our HTTP session (order writes never silently re-sent), load the options of the
        configured currencies, start the user stream (with credentials).

        Raises:
            VenueUnavailable / VenueTimeout: markets could not be loaded.
        """
        if self._http is None:
            self._http = aiohttp.ClientSession(middlewares=(no_silent_resend,))
            self._ex.session = self._http
            self._ex.own_session = False
        await self._rest("load markets", self._ex.load_markets)
        tick = self._ex.precisionMode == ccxt.TICK_SIZE
        for symbol, market in self._ex.markets.items():
            if not market.get("option") or market.get("active", True) is False:
                continue
            if market.get("base") not in self._ocfg.currencies:
                continue
            built = self._option_market(market, tick)
            self._markets[symbol] = built
            self._tick_steps[symbol] = tick_steps(market)
            assert isinstance(built.instrument, OptionContract)
            self._by_contract[contract_key(built.instrument)] = symbol
        if not self._markets:
            raise VenueRejected(
                f"{self._id}: the exchange lists no options on {list(self._ocfg.currencies)}"
            )
        if user_stream and self._ex.apiKey and self._user_task is None:
            self._user_task = asyncio.create_task(self._user_loop(), name=f"{self._id}-user")
        return self

    async def close(self) -> None:
        """Stop background tasks, close ccxt and our HTTP session."""
        await super().close()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> DeribitOptionsVenue:
        return await self.start()

    def _option_market(self, market: Mapping[str, Any], tick: bool) -> CcxtMarket:
        return option_market(
            self._id,
            market,
            tick=tick,
            quote_code=self._ocfg.quote_code,
            quote_decimals=self._ocfg.quote_decimals,
        )

    # --- instruments -----------------------------------------------------------------------

    def market(self, instrument: Instrument | str) -> CcxtMarket:
        """Our view of the market of an option contract (or a ccxt symbol).

        Raises:
            VenueRejected: not an option this venue lists.
        """
        if isinstance(instrument, str):
            found = self._markets.get(instrument)
        elif isinstance(instrument, OptionContract):
            symbol = self._by_contract.get(contract_key(instrument))
            if symbol is not None and self._markets[symbol].instrument.quote != instrument.quote:
                symbol = None
            found = None if symbol is None else self._markets.get(symbol)
        else:
            raise VenueRejected(f"{self._id}: only options are traded here, not {instrument.id}")
        if found is None:
            raise VenueRejected(
                f"{self._id}: no listed option {getattr(instrument, 'id', instrument)}; "
                "pick one from instruments()"
            )
        return found

    def contract(self, name: str) -> OptionContract:
        """The contract of a Deribit instrument name (``ETH-11DEC26-3000-C``).

        Raises:
            VenueRejected: no such listed option.
        """
        for market in self._markets.values():
            if self.venue_name(market.instrument) == name:
                assert isinstance(market.instrument, OptionContract)
                return market.instrument
        raise VenueRejected(f"{self._id}: no listed option named {name!r}")

    def venue_name(self, instrument: Instrument) -> str:
        """Deribit's name of ``instrument`` (``ETH-11DEC26-3000-C``)."""
        return str(self._ex.market(self.market(instrument).symbol)["id"])

    def premium_currency(self, instrument: Instrument) -> str:
        """The currency premiums of ``instrument`` are quoted in: its underlying."""
        return self.market(instrument).instrument.base.symbol

    def price_tick(self, instrument: Instrument, price: Decimal) -> Decimal:
        """The tick ``price`` must be a multiple of: Deribit's ``tick_size_steps`` (options:
        0.0005 from 0.005 up) over the market's base tick."""
        market = self.market(instrument)
        for above, tick in self._tick_steps.get(market.symbol, []):
            if price >= above:
                return tick
        return market.price_step or Decimal("0.0001")

    # --- orders: our id is the label ---------------------------------------------------------

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        """As the ccxt venue's, with Deribit's tiered price ticks checked before sending."""
        if order.limit_price is not None:
            tick = self.price_tick(order.instrument, order.limit_price)
            if order.limit_price % tick != 0:
                raise VenueRejected(
                    f"{order.limit_price} is not a multiple of the "
                    f"{self.market(order.instrument).symbol} price tick {tick} at that price; "
                    "round it first"
                )
        return await super().place(order)

    async def _order_args(
        self, order: PlaceOrder, market: CcxtMarket
    ) -> tuple[str, float | None, dict[str, Any]]:
        if len(order.client_order_id) > _MAX_LABEL:
            raise VenueRejected(
                f"{self._id}: client order id {order.client_order_id!r} is longer than "
                f"Deribit's {_MAX_LABEL}-character label"
            )
        kind, price, params = await super()._order_args(order, market)
        if price is not None and order.limit_price is None:  # a slippage bound: snap to the tier
            bound = exact_decimal(price, what="slippage bound")
            tick = self.price_tick(market.instrument, bound)
            rounding = "ROUND_FLOOR" if order.side is Side.BUY else "ROUND_CEILING"
            snapped = (bound / tick).to_integral_value(rounding=rounding) * tick
            price = to_ccxt_number(snapped, what="slippage bound")
        params.pop("clientOrderId", None)
        params["label"] = order.client_order_id
        return kind, price, params

    def _labelled(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        info = raw.get("info") or {}
        label = info.get("label") if isinstance(info, Mapping) else None
        out = dict(raw)
        if label and not out.get("clientOrderId"):
            out["clientOrderId"] = str(label)
        return out

    async def _report(
        self, order: Mapping[str, Any], fallback_coid: ClientOrderId | None = None
    ) -> OrderStatusReport:
        report = await super()._report(self._labelled(order), fallback_coid)
        self._voi_of[report.client_order_id] = report.venue_order_id
        return report

    async def _on_stream_order(self, raw: Mapping[str, Any]) -> None:
        await super()._on_stream_order(self._labelled(raw))

    async def _order_trades(
        self, market: CcxtMarket, voi: VenueOrderId, coid: ClientOrderId
    ) -> list[dict[str, Any]]:
        trades: list[dict[str, Any]] = await self._rest(
            f"fetch trades of order {coid}",
            self._ex.fetch_order_trades,
            str(voi),
            market.symbol,
        )
        return trades

    async def _by_label(self, coid: ClientOrderId, currency: str) -> dict[str, Any] | None:
        """The order labelled ``coid`` among open and past orders of ``currency`` (ccxt dict).
        Two orders with one label (a re-send we could not stop) are counted and the first is
        reported; the second is cancelled if still open."""
        params = {"code": currency}
        opened = await self._rest(
            f"fetch open orders {currency}", self._ex.fetch_open_orders, None, None, None, params
        )
        closed = await self._rest(
            f"fetch order history {currency}",
            self._ex.fetch_closed_orders,
            None,
            None,
            None,
            params,
        )
        matches = [
            self._labelled(o)
            for o in [*opened, *closed]
            if (o.get("info") or {}).get("label") == coid and o.get("symbol") in self._markets
        ]
        if not matches:
            return None
        matches.sort(key=lambda o: (o.get("timestamp") or 0, str(o.get("id"))))
        if len(matches) > 1:
            self.stats["duplicates_by_label"] += len(matches) - 1
            for extra in matches[1:]:
                if extra.get("status") == "open":
                    try:
                        await self._ex.cancel_order(str(extra["id"]), extra["symbol"])
                    except (ccxt.BaseError, *_AMBIGUOUS):
                        pass  # reported below through the duplicate counter
        return matches[0]

    def _currencies_of(self, coid: ClientOrderId) -> list[str]:
        symbol = self._symbol_of.get(coid)
        if symbol is not None and symbol in self._markets:
            return [self._markets[symbol].instrument.base.symbol]
        return list(self._ocfg.currencies)

    async def _fetch(self, coid: ClientOrderId, market: CcxtMarket) -> dict[str, Any]:
        """The order labelled ``coid`` (Deribit looks orders up by id; we search by label)."""
        found = await self._by_label(coid, market.instrument.base.symbol)
        if found is None:
            raise VenueRejected(f"{self._id}: no order labelled {coid}") from ccxt.OrderNotFound(
                coid
            )
        return found

    async def _locate(self, coid: ClientOrderId) -> OrderStatusReport | None:
        for currency in self._currencies_of(coid):
            raw = await self._by_label(coid, currency)
            if raw is not None:
                return await self._report(raw, coid)
        return None

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        found = await self._locate(client_order_id)
        if found is None:
            raise VenueRejected(f"{self._id}: cannot cancel unknown order {client_order_id}")
        if found.status.is_terminal:
            self._observe(found, emit=False)
            return found
        symbol = self._symbol_of[client_order_id]
        await self._bucket.acquire()
        try:
            await self._ex.cancel_order(str(found.venue_order_id), symbol)
        except (ccxt.ExchangeError, *_AMBIGUOUS) as exc:
            after = await self._locate(client_order_id)
            if after is not None and after.status.is_terminal:
                self._observe(after, emit=False)
                return after
            if isinstance(exc, _AMBIGUOUS):
                raise VenueTimeout(
                    f"{self._id}: cancel {client_order_id} unanswered; order still open"
                ) from exc
            raise VenueRejected(f"{self._id}: cancel {client_order_id} refused: {exc}") from exc
        report = await self._locate(client_order_id)
        assert report is not None
        self._observe(report, emit=False)
        return report

    async def _open_reports(self) -> dict[ClientOrderId, OrderStatusReport]:
        """Open orders of every configured currency that carry our label (reconciliation then
        finds the asked ids by label)."""
        reports: dict[ClientOrderId, OrderStatusReport] = {}
        for currency in self._ocfg.currencies:
            opened = await self._rest(
                f"fetch open orders {currency}",
                self._ex.fetch_open_orders,
                None,
                None,
                None,
                {"code": currency},
            )
            for raw in opened:
                if raw.get("symbol") not in self._markets:
                    continue
                labelled = self._labelled(raw)
                if not labelled.get("clientOrderId"):
                    continue  # not ours: placed without a label
                report = await self._report(labelled)
                reports[report.client_order_id] = report
        return reports

    async def balances(self) -> Mapping[str, Decimal]:
        """Available funds per configured currency (Deribit's account summary)."""
        out: dict[str, Decimal] = {}
        for currency in self._ocfg.currencies:
            raw = await self._rest(
                f"fetch balance {currency}", self._ex.fetch_balance, {"code": currency}
            )
            free = balances_from_ccxt(raw)
            if currency in free:
                out[currency] = max(free[currency], Decimal(0))
        return out

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        """Walk the local book for ``quantity``; the fee is Deribit's option fee: the market's
        taker rate of the underlying per contract, at most 12.5 % of the premium (both in the
        underlying, like the price).

        Raises:
            VenueRejected: the book holds less than ``quantity``.
        """
        q = await super().quote(instrument, side, quantity)
        market = self.market(instrument)
        per_contract = market.taker_fee_bps / BPS
        fee = min(per_contract * quantity, q.avg_price * quantity * _FEE_CAP)
        return replace(q, fee=fee)

    # --- options market data -----------------------------------------------------------------

    def _ticker(self, symbol: str, g: Mapping[str, Any], ts: int) -> OptionTicker:
        name = str(self._ex.market(symbol)["id"])
        return ticker(self._id, name, self._markets[symbol], g, ts)

    async def greeks(self, instrument: Instrument) -> OptionTicker:
        """Bid / ask / mark, IVs and Greeks of one option from the venue (``public/ticker``).

        Raises:
            VenueRejected: not a listed option.
        """
        market = self.market(instrument)
        raw = await self._rest(
            f"fetch greeks {market.symbol}", self._ex.fetch_greeks, market.symbol
        )
        return self._ticker(market.symbol, raw, self._now())

    async def option_chain(
        self, currency: str, *, expiry_ns: int | None = None, with_greeks: bool = True
    ) -> list[OptionTicker]:
        """Every listed option on ``currency`` (one expiry if ``expiry_ns`` is given), sorted by
        expiry, strike, call before put: prices and mark IV from the book summary, Greeks
        (``with_greeks``) from one ticker per option.

        Raises:
            InvalidInput: a currency this venue does not trade.
        """
        if currency not in self._ocfg.currencies:
            raise InvalidInput(
                f"{self._id}: currency {currency!r} is not configured; "
                f"use one of {list(self._ocfg.currencies)}"
            )
        chain = await self._rest(
            f"fetch option chain {currency}", self._ex.fetch_option_chain, currency
        )
        now = self._now()
        rows: list[OptionTicker] = []
        for symbol, entry in chain.items():
            market = self._markets.get(symbol)
            if market is None:
                continue
            contract = market.instrument
            assert isinstance(contract, OptionContract)
            if expiry_ns is not None and contract.expiry_ns != expiry_ns:
                continue
            if with_greeks:
                g = await self._rest(f"fetch greeks {symbol}", self._ex.fetch_greeks, symbol)
                rows.append(self._ticker(symbol, g, now))
            else:
                rows.append(self._ticker(symbol, entry, now))
        rows.sort(key=chain_key)
        return rows

    async def positions(self) -> list[OptionPosition]:
        """Open option positions of the configured currencies (``fetch_positions``)."""
        out: list[OptionPosition] = []
        for currency in self._ocfg.currencies:
            raw = await self._rest(
                f"fetch positions {currency}",
                self._ex.fetch_positions,
                None,
                {"currency": currency, "kind": "option"},
            )
            for p in raw:
                symbol = p.get("symbol")
                if symbol not in self._markets:
                    continue
                name = str(self._ex.market(symbol)["id"])
                found = position(self._id, name, self._markets[symbol], p, currency)
                if found is not None:
                    out.append(found)
        out.sort(key=lambda p: p.name)
        return out

    async def settlements(self) -> list[OptionSettlement]:
        """Expiry deliveries of option positions, oldest first (Deribit's settlement history):
        ``payoff`` is the cash delivered in the underlying."""
        out: list[OptionSettlement] = []
        for currency in self._ocfg.currencies:
            raw = await self._rest(
                f"fetch settlements {currency}",
                self._ex.privateGetGetSettlementHistoryByCurrency,
                {"currency": currency, "type": "delivery"},
            )
            for s in (raw.get("result") or {}).get("settlements") or []:
                name = str(s["instrument_name"])
                try:
                    found: OptionContract | None = self.contract(name)
                except VenueRejected:
                    found = self._expired_contract(name)
                if found is None:
                    continue
                out.append(settlement(self._id, found, s, currency))
        out.sort(key=lambda s: (s.ts_event, s.name))
        return out

    def _expired_contract(self, name: str) -> OptionContract | None:
        """An option that has left the listing since start: from ccxt's markets by id."""
        for market in self._ex.markets_by_id.get(name, []):
            if market.get("option"):
                built = self._option_market(market, self._ex.precisionMode == ccxt.TICK_SIZE)
                assert isinstance(built.instrument, OptionContract)
                return built.instrument
        return None
