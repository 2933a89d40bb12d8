"""Binance spot REST API (``/api/v3/...``) over the matching engine, as ccxt's ``binance`` calls it.

Every request: request weight is charged per IP and minute (429 + ``Retry-After`` past the
limit, ``X-MBX-USED-WEIGHT-1M`` on every answer); armed REST faults fire; parameters come from
the query string and the form body (query wins); SIGNED endpoints check ``X-MBX-APIKEY``, the
HMAC signature over the raw query + body and the timestamp window. Errors answer
``{"code": ..., "msg": ...}`` with Binance's HTTP status.

Weights approximate Binance's published ones (exchangeInfo 20, depth 5/25/50/250 by limit,
account 20, order 1 / query 4, openOrders 6 or 80, allOrders and myTrades 20, ...).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from oms_chain.devnet.exchange import sapi
from oms_chain.devnet.exchange.errors import (
    ExchangeApiError,
    bad_symbol,
    invalid_listen_key,
    mandatory_param,
)
from oms_chain.devnet.exchange.klines import KLINE_MS, candles
from oms_chain.devnet.exchange.markets import SymbolSpec, fmt
from oms_chain.devnet.exchange.matching import Trade
from oms_chain.devnet.exchange.orders_api import (
    cancel_order,
    cancel_replace,
    place_order,
    query_order,
    test_order,
)
from oms_chain.devnet.exchange.security import ApiKey, check_timestamp, strip_signature, verify
from oms_chain.devnet.exchange.wire import (
    account_json,
    account_trade_json,
    cancel_json,
    order_json,
    public_trade_json,
    ticker_json,
)

if TYPE_CHECKING:
    from oms_chain.devnet.exchange.simulator import ExchangeSimulator

__all__ = ["RestApi"]

_NONE, _KEY, _SIGNED = "NONE", "USER_STREAM", "SIGNED"


@dataclass(frozen=True, slots=True)
class _Call:
    params: Mapping[str, str]
    key: ApiKey | None
    headers: dict[str, str]


_Handler = Callable[[_Call], Awaitable[object]]
_X = TypeVar("_X")
_Weight = Callable[[Mapping[str, str]], int]


def _fixed(weight: int) -> _Weight:
    return lambda _params: weight


def _by_symbol(one: int, all_: int) -> _Weight:
    return lambda params: one if params.get("symbol") or params.get("symbols") else all_


def _depth_weight(params: Mapping[str, str]) -> int:
    try:
        limit = int(params.get("limit", "100"))
    except ValueError:
        return 5
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


class RestApi:
    """The ``/api/v3`` routes of one simulator."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.routes: dict[tuple[str, str], tuple[_Handler, str, _Weight]] = {
            ("GET", "ping"): (self.ping, _NONE, _fixed(1)),
            ("GET", "time"): (self.time, _NONE, _fixed(1)),
            ("GET", "exchangeInfo"): (self.exchange_info, _NONE, _fixed(20)),
            ("GET", "depth"): (self.depth, _NONE, _depth_weight),
            ("GET", "trades"): (self.trades, _NONE, _fixed(25)),
            ("GET", "historicalTrades"): (self.historical_trades, _KEY, _fixed(25)),
            ("GET", "aggTrades"): (self.agg_trades, _NONE, _fixed(4)),
            ("GET", "klines"): (self.klines, _NONE, _fixed(2)),
            ("GET", "avgPrice"): (self.avg_price, _NONE, _fixed(2)),
            ("GET", "ticker/24hr"): (self.ticker_24hr, _NONE, _by_symbol(2, 80)),
            ("GET", "ticker/price"): (self.ticker_price, _NONE, _by_symbol(2, 4)),
            ("GET", "ticker/bookTicker"): (self.book_ticker, _NONE, _by_symbol(2, 4)),
            ("GET", "account"): (self.account, _SIGNED, _fixed(20)),
            ("POST", "order"): (self.new_order, _SIGNED, _fixed(1)),
            ("POST", "order/cancelReplace"): (self.cancel_replace, _SIGNED, _fixed(1)),
            ("POST", "order/test"): (self.test_order, _SIGNED, _fixed(1)),
            ("GET", "order"): (self.query_order, _SIGNED, _fixed(4)),
            ("DELETE", "order"): (self.cancel_order, _SIGNED, _fixed(1)),
            ("GET", "openOrders"): (self.open_orders, _SIGNED, _by_symbol(6, 80)),
            ("DELETE", "openOrders"): (self.cancel_open_orders, _SIGNED, _fixed(1)),
            ("GET", "allOrders"): (self.all_orders, _SIGNED, _fixed(20)),
            ("GET", "myTrades"): (self.my_trades, _SIGNED, _fixed(20)),
            ("POST", "userDataStream"): (self.start_user_stream, _KEY, _fixed(2)),
            ("PUT", "userDataStream"): (self.keepalive_user_stream, _KEY, _fixed(2)),
            ("DELETE", "userDataStream"): (self.close_user_stream, _KEY, _fixed(2)),
        }
        self.routes = {(m, "api/v3/" + p): route for (m, p), route in self.routes.items()}
        # What ccxt's binance calls in load_markets() with its default options (currencies,
        # margin pairs, futures markets): answered so that overriding urls['api'] is enough.
        self.routes.update(
            {
                ("GET", "sapi/v1/capital/config/getall"): (self.coins, _SIGNED, _fixed(10)),
                ("GET", "sapi/v1/margin/allPairs"): (self.no_pairs, _KEY, _fixed(1)),
                ("GET", "sapi/v1/margin/isolated/allPairs"): (self.no_pairs, _KEY, _fixed(10)),
                ("GET", "fapi/v1/exchangeInfo"): (self.no_markets, _NONE, _fixed(1)),
                ("GET", "dapi/v1/exchangeInfo"): (self.no_markets, _NONE, _fixed(1)),
                ("GET", "sapi/v1/system/status"): (self.system_status, _NONE, _fixed(1)),
                ("GET", "sapi/v1/asset/tradeFee"): (self.trade_fee, _SIGNED, _fixed(1)),
            }
        )

    # ------------------------------------------------------------ dispatch

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Entry point for every ``/api/v3/...`` (and ``/sapi``, ``/fapi``, ``/dapi``) request."""
        sim = self.sim
        path = request.path.lstrip("/")
        route = self.routes.get((request.method, path))
        if route is None:
            return web.json_response({"code": -1000, "msg": "Unknown endpoint."}, status=404)
        handler, security, weight_of = route
        raw_query = request.raw_path.partition("?")[2]
        body = await request.text() if request.body_exists else ""
        params: dict[str, str] = {}
        if body and request.content_type == "application/x-www-form-urlencoded":
            params.update(_form(body))
        params.update(request.query)
        ip = request.remote or "?"
        banned_for = sim.limiter.banned_for(ip)
        if banned_for is not None:
            until = sim.engine.now_ms() + banned_for * 1000
            return web.json_response(
                {
                    "code": -1003,
                    "msg": f"Way too much request weight used; IP banned until {until}. Please use "
                    "WebSocket Streams for live updates to avoid bans.",
                },
                status=418,
                headers={"Retry-After": str(banned_for)},
            )
        retry_after = sim.limiter.consume(ip, weight_of(params))
        weight_header = {"X-MBX-USED-WEIGHT-1M": str(sim.limiter.used(ip))}
        if retry_after is not None:
            limit = sim.limiter.limit
            return web.json_response(
                {
                    "code": -1003,
                    "msg": f"Too much request weight used; current limit is {limit} request "
                    "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                    "polling the API.",
                },
                status=429,
                headers={**weight_header, "Retry-After": str(retry_after)},
            )
        fault = sim.faults.take_rest(request.method, "/" + path)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "fail":
            return web.json_response(
                {"code": fault.code, "msg": fault.msg}, status=fault.status, headers=weight_header
            )
        try:
            key = self._authenticate(request, security, params, raw_query, body)
            call = _Call(params=params, key=key, headers=weight_header)
            result = await handler(call)
            response: web.StreamResponse = web.json_response(
                result, headers=call.headers, dumps=_dumps
            )
        except ExchangeApiError as exc:
            response = web.json_response(
                exc.to_json(), status=exc.http_status, headers=weight_header
            )
        except (ValueError, ArithmeticError):  # a malformed number the handlers did not catch
            response = web.json_response(
                {"code": -1100, "msg": "Illegal characters found in a parameter."},
                status=400,
                headers=weight_header,
            )
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()
        return response

    def _authenticate(
        self,
        request: web.Request,
        security: str,
        params: Mapping[str, str],
        raw_query: str,
        body: str,
    ) -> ApiKey | None:
        if security == _NONE:
            return None
        key = self.sim.keys.lookup(request.headers.get("X-MBX-APIKEY"))
        if security == _SIGNED:
            query_payload, query_sig = strip_signature(raw_query)
            body_payload, body_sig = strip_signature(body)
            verify(key.secret, query_payload + body_payload, query_sig or body_sig)
            check_timestamp(params.get("timestamp"), params.get("recvWindow"), self.engine.now_ms())
        return key

    # ------------------------------------------------------------ helpers

    def _spec(self, params: Mapping[str, str]) -> SymbolSpec:
        symbol = params.get("symbol")
        if not symbol:
            raise mandatory_param("symbol")
        spec = self.engine.markets.get(symbol)
        if spec is None:
            raise bad_symbol()
        return spec

    def _specs(self, params: Mapping[str, str]) -> tuple[list[SymbolSpec], bool]:
        """Symbols selected by ``symbol`` / ``symbols`` (JSON array); second item: single?"""
        if params.get("symbol"):
            return [self._spec(params)], True
        if params.get("symbols"):
            try:
                names = json.loads(params["symbols"])
            except ValueError:
                raise ExchangeApiError(
                    -1100, "Illegal characters found in parameter 'symbols'."
                ) from None
            specs = []
            for name in names:
                spec = self.engine.markets.get(str(name))
                if spec is None:
                    raise bad_symbol()
                specs.append(spec)
            return specs, False
        return list(self.engine.markets.values()), False

    # ------------------------------------------------------------ public

    async def ping(self, call: _Call) -> object:
        return {}

    async def time(self, call: _Call) -> object:
        return {"serverTime": self.engine.now_ms()}

    async def exchange_info(self, call: _Call) -> object:
        specs, _ = self._specs(call.params)
        return {
            "timezone": "UTC",
            "serverTime": self.engine.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.sim.limiter.limit,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": self.sim.order_counter.limit,
                },
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": [spec.exchange_info() for spec in specs],
        }

    async def depth(self, call: _Call) -> object:
        spec = self._spec(call.params)
        limit = _int(call.params, "limit", 100)
        if limit <= 0 or limit > 5000:
            raise ExchangeApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        update_id, bids, asks = self.engine.depth(spec.symbol, limit)
        return {
            "lastUpdateId": update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in bids],
            "asks": [[fmt(p), fmt(q)] for p, q in asks],
        }

    def _recent(self, call: _Call, default: int) -> tuple[SymbolSpec, list[Trade]]:
        spec = self._spec(call.params)
        trades = _select(
            list(self.engine.trades[spec.symbol]),
            call.params,
            "fromId",
            lambda t: t.trade_id,
            lambda t: t.time,
            default,
        )
        return spec, trades

    async def trades(self, call: _Call) -> object:
        _, trades = self._recent(call, 500)
        return [public_trade_json(t) for t in trades]

    async def historical_trades(self, call: _Call) -> object:
        """``GET /api/v3/historicalTrades`` (MARKET_DATA: API key, no signature), by ``fromId``."""
        spec = self._spec(call.params)
        trades = _select(
            list(self.engine.trades[spec.symbol]),
            {k: v for k, v in call.params.items() if k in ("fromId", "limit")},
            "fromId",
            lambda t: t.trade_id,
            lambda t: t.time,
            500,
        )
        return [public_trade_json(t) for t in trades]

    async def agg_trades(self, call: _Call) -> object:
        # one aggregate per trade: the simulator does not merge fills of one taker order
        _, trades = self._recent(call, 500)
        return [
            {
                "a": t.trade_id,
                "p": fmt(t.price),
                "q": fmt(t.qty),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.time,
                "m": t.buyer_is_maker,
                "M": True,
            }
            for t in trades
        ]

    async def klines(self, call: _Call) -> object:
        spec = self._spec(call.params)
        interval = call.params.get("interval")
        if not interval:
            raise mandatory_param("interval")
        if interval not in KLINE_MS:
            raise ExchangeApiError(-1120, "Invalid interval.")
        limit = min(_int(call.params, "limit", 500), 1000)
        lo = _int(call.params, "startTime", 0)
        hi = _int(call.params, "endTime", 2**62)
        rows = candles(self.engine.trades[spec.symbol], interval, lo, hi)
        return [c.row() for c in rows[-limit:]]

    async def avg_price(self, call: _Call) -> object:
        spec = self._spec(call.params)
        return {
            "mins": 5,
            "price": fmt(self.engine.reference_price(spec.symbol)),
            "closeTime": self.engine.now_ms(),
        }

    async def ticker_24hr(self, call: _Call) -> object:
        specs, single = self._specs(call.params)
        rows = [ticker_json(self.engine, spec) for spec in specs]
        return rows[0] if single else rows

    async def ticker_price(self, call: _Call) -> object:
        specs, single = self._specs(call.params)
        rows = [
            {"symbol": s.symbol, "price": fmt(self.engine.last_price.get(s.symbol, Decimal(0)))}
            for s in specs
        ]
        return rows[0] if single else rows

    async def book_ticker(self, call: _Call) -> object:
        specs, single = self._specs(call.params)
        zero = Decimal(0)
        rows = []
        for spec in specs:
            bid, ask = self.engine.best_bid_ask(spec.symbol)
            rows.append(
                {
                    "symbol": spec.symbol,
                    "bidPrice": fmt(bid[0] if bid else zero),
                    "bidQty": fmt(bid[1] if bid else zero),
                    "askPrice": fmt(ask[0] if ask else zero),
                    "askQty": fmt(ask[1] if ask else zero),
                }
            )
        return rows[0] if single else rows

    # ------------------------------------------------------------ signed

    async def account(self, call: _Call) -> object:
        assert call.key is not None
        return account_json(self.engine.accounts[call.key.account_id], self.engine.now_ms())

    async def new_order(self, call: _Call) -> object:
        assert call.key is not None
        return place_order(self.sim, call.key.account_id, call.params, call.headers)

    async def cancel_replace(self, call: _Call) -> object:
        """``POST /api/v3/order/cancelReplace``: cancel one order and place a new one.

        The new order's parameters and filters are checked first (a plain error, nothing
        cancelled). Then, as Binance: both succeed -> 200 with ``cancelResponse`` and
        ``newOrderResponse``; with ``cancelReplaceMode=STOP_ON_FAILURE`` a failed cancel is -2022
        (new order NOT_ATTEMPTED); with ``ALLOW_FAILURE`` the new order is placed anyway
        (-2021 when exactly one part failed, -2022 when both did); a cancel that worked followed by
        a refused order is -2021. Errors carry ``data`` with both results."""
        assert call.key is not None
        return cancel_replace(self.sim, call.key.account_id, call.params, call.headers)

    async def test_order(self, call: _Call) -> object:
        """``POST /api/v3/order/test``: validate an order without placing it."""
        assert call.key is not None
        return test_order(self.sim, call.key.account_id, call.params)

    async def query_order(self, call: _Call) -> object:
        assert call.key is not None
        return query_order(self.sim, call.key.account_id, call.params)

    async def cancel_order(self, call: _Call) -> object:
        assert call.key is not None
        return cancel_order(self.sim, call.key.account_id, call.params)

    async def cancel_open_orders(self, call: _Call) -> object:
        assert call.key is not None
        spec = self._spec(call.params)
        now = self.engine.now_ms()
        orders = self.engine.cancel_all(call.key.account_id, spec.symbol)
        return [cancel_json(o, now) for o in orders]

    async def open_orders(self, call: _Call) -> object:
        assert call.key is not None
        symbol = call.params.get("symbol")
        if symbol:
            symbol = self._spec(call.params).symbol
        return [order_json(o) for o in self.engine.open_orders(call.key.account_id, symbol or None)]

    async def all_orders(self, call: _Call) -> object:
        assert call.key is not None
        p = call.params
        spec = self._spec(p)
        orders = _select(
            self.engine.all_orders(call.key.account_id, spec.symbol),
            p,
            "orderId",
            lambda o: o.order_id,
            lambda o: o.time,
            500,
        )
        return [order_json(o) for o in orders]

    async def my_trades(self, call: _Call) -> object:
        assert call.key is not None
        p = call.params
        spec = self._spec(p)
        account_id = call.key.account_id
        rows: list[tuple[Trade, bool]] = []
        for trade in self.engine.account_trades(account_id, spec.symbol):
            if trade.buyer_account == account_id:
                rows.append((trade, True))
            if trade.seller_account == account_id:
                rows.append((trade, False))
        wanted = _int(p, "orderId", -1)
        if wanted >= 0:
            rows = [
                (t, b) for t, b in rows if (t.buyer_order_id if b else t.seller_order_id) == wanted
            ]
        rows = _select(rows, p, "fromId", lambda r: r[0].trade_id, lambda r: r[0].time, 500)
        return [account_trade_json(t, account_id, as_buyer) for t, as_buyer in rows]

    # ------------------------------------------------------------ /sapi (see .sapi)

    async def coins(self, call: _Call) -> object:
        assert call.key is not None
        return sapi.capital_config(self.engine, self.engine.accounts[call.key.account_id])

    async def system_status(self, call: _Call) -> object:
        return sapi.system_status(self.sim.maintenance)

    async def trade_fee(self, call: _Call) -> object:
        assert call.key is not None
        specs = (
            [self._spec(call.params)]
            if call.params.get("symbol")
            else list(self.engine.markets.values())
        )
        return sapi.trade_fees(self.engine.accounts[call.key.account_id], specs)

    async def no_pairs(self, call: _Call) -> object:
        """``GET /sapi/v1/margin/(isolated/)allPairs``: no margin trading here."""
        return []

    async def no_markets(self, call: _Call) -> object:
        """``GET /fapi/v1/exchangeInfo`` / ``/dapi/v1/exchangeInfo``: no futures here."""
        return sapi.no_markets(self.engine.now_ms())

    # ------------------------------------------------------------ user stream (listenKey)

    async def start_user_stream(self, call: _Call) -> object:
        assert call.key is not None
        return {"listenKey": self.sim.hub.open_listen_key(call.key.account_id)}

    def _listen_key(self, call: _Call) -> str:
        assert call.key is not None
        listen_key = call.params.get("listenKey")
        if not listen_key:
            raise mandatory_param("listenKey")
        if self.sim.hub.listen_keys.get(listen_key) != call.key.account_id:
            raise invalid_listen_key()
        return listen_key

    async def keepalive_user_stream(self, call: _Call) -> object:
        self.sim.hub.keep_listen_key(self._listen_key(call))
        return {}

    async def close_user_stream(self, call: _Call) -> object:
        self.sim.hub.close_listen_key(self._listen_key(call))
        return {}


def _form(body: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(body, keep_blank_values=True))


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ExchangeApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def _select(
    items: list[_X],
    params: Mapping[str, str],
    id_key: str,
    id_of: Callable[[_X], int],
    time_of: Callable[[_X], int],
    default_limit: int,
) -> list[_X]:
    """Binance's paging: ``fromId``/``orderId`` (>=), else ``startTime``..``endTime``, else the
    most recent ``limit`` (default ``default_limit``, at most 1000); oldest first."""
    limit = min(_int(params, "limit", default_limit), 1000)
    from_id = _int(params, id_key, -1)
    start, end = _int(params, "startTime", -1), _int(params, "endTime", -1)
    if from_id >= 0:
        return [i for i in items if id_of(i) >= from_id][:limit]
    if start >= 0 or end >= 0:
        hi = end if end >= 0 else 2**62
        return [i for i in items if start <= time_of(i) <= hi][:limit]
    return items[-limit:]


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
