"""Websocket side of the simulator: market streams, the user data stream and the WebSocket API.

Connections (all on the HTTP server's port):

* ``/ws`` and ``/ws/<name>`` - raw streams; ``<name>`` may be a stream (``ethusdc@trade``), a
  listenKey (legacy user data stream) or anything else (ccxt connects to ``/ws/0`` and then sends
  ``SUBSCRIBE``). Events are sent bare.
* ``/stream?streams=a/b`` - combined streams; events are wrapped ``{"stream": ..., "data": ...}``.
* ``/ws-api/v3`` - the WebSocket API subset ccxt.pro uses: spot user data
  (``userDataStream.subscribe.signature``, events wrapped ``{"subscriptionId": n, "event":
  ...}``; ``userDataStream.unsubscribe``, ``session.subscriptions``), ``ping``, ``time``, and the
  SIGNED order requests ``order.place``, ``order.cancel``, ``order.status``,
  ``order.cancelReplace``, ``openOrders.status`` and ``openOrders.cancelAll`` (the same
  parameters and answers as their REST twins; HMAC signature over the sorted parameters).

Market streams: ``<symbol>@depth`` (every ``depth_interval_s``, default 1 s),
``<symbol>@depth@100ms`` (every 0.1 s), ``<symbol>@trade``, ``<symbol>@aggTrade`` and
``<symbol>@bookTicker`` (real time), ``<symbol>@ticker`` / ``@miniTicker`` (24 h statistics,
every second), ``<symbol>@kline_<interval>`` (see :mod:`.klines`).
Diff-depth events carry ``U`` (first) and ``u`` (last) update id; consecutive events of one
stream satisfy ``U == previous u + 1`` unless a ``skip_depth`` fault drops one.

(Longer than 600 lines: :class:`StreamHub` is one object over the connections, their
subscriptions and the per-symbol depth buffers that every stream kind shares; the events' JSON
is in :mod:`.wire`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from oms_chain.devnet.exchange import ws_api
from oms_chain.devnet.exchange.errors import ExchangeApiError
from oms_chain.devnet.exchange.klines import KLINE_MS, CandleStreams
from oms_chain.devnet.exchange.markets import fmt
from oms_chain.devnet.exchange.matching import MatchingEngine, Order, Trade
from oms_chain.devnet.exchange.security import (
    KeyRing,
    OrderCounter,
)
from oms_chain.devnet.exchange.wire import (
    balance_event,
    execution_report,
    ticker_event,
    ticker_json,
)

if TYPE_CHECKING:
    from oms_chain.devnet.exchange.faults import Faults

__all__ = ["StreamHub"]

LISTEN_KEY_TTL_MS = 60 * 60 * 1000
"""A listenKey closes 60 minutes after its creation or last keepalive."""
_DEPTH_KEYS = ("depth", "depth@100ms")
_STREAM_KINDS = frozenset({*_DEPTH_KEYS, "trade", "aggTrade", "bookTicker", "ticker", "miniTicker"})


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    kind: str  # "market" | "user" | "api"
    combined: bool = False
    streams: set[str] = field(default_factory=set)
    account_id: str | None = None
    api_subs: dict[int, str] = field(default_factory=dict)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    transport: asyncio.Transport | None = None

    def send(self, payload: object) -> None:
        self.queue.put_nowait(json.dumps(payload, separators=(",", ":")))


@dataclass(slots=True)
class _DepthBuffer:
    first: int = 0
    last: int = 0
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)


class StreamHub:
    """Fans engine events out to websocket subscribers; also the engine's listener."""

    def __init__(
        self,
        engine: MatchingEngine,
        keys: KeyRing,
        listen_keys: dict[str, str],
        faults: Faults,
        *,
        depth_interval_s: float = 1.0,
        fast_depth_interval_s: float = 0.1,
        ticker_interval_s: float = 1.0,
        ping_interval_s: float | None = 20.0,
        order_counter: OrderCounter | None = None,
    ) -> None:
        self.engine = engine
        self.order_counter = order_counter or OrderCounter(100, engine.now_ms)
        self.keys = keys
        self.listen_keys = listen_keys
        self.faults = faults
        self.intervals = {"depth": depth_interval_s, "depth@100ms": fast_depth_interval_s}
        self.ticker_interval_s = ticker_interval_s
        self.ping_interval_s = ping_interval_s
        self._best: dict[str, tuple[object, object]] = {}
        self._listen_key_expiry: dict[str, int] = {}
        self.conns: set[_Conn] = set()
        self._subs: dict[str, set[_Conn]] = {}
        self._user: dict[str, set[tuple[_Conn, int | None]]] = {}
        self._buffers: dict[str, _DepthBuffer] = {}
        self._stream_symbol: dict[str, str] = {}
        self._candles = CandleStreams()
        self._sub_ids = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []
        self.messages_sent = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the periodic diff-depth flushers (needs a running event loop)."""
        loop = asyncio.get_running_loop()
        for key in _DEPTH_KEYS:
            self._tasks.append(loop.create_task(self._flusher(key)))
        self._tasks.append(loop.create_task(self._ticker_loop()))

    async def stop(self) -> None:
        """Stop flushers and close every connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.drop_all(abrupt=False)

    async def drop_all(self, abrupt: bool = True) -> int:
        """Fault: close every websocket connection (abruptly = transport aborted, no close frame).
        Returns how many were dropped."""
        conns = list(self.conns)
        for conn in conns:
            self._forget(conn)
            if abrupt:
                if conn.transport is not None:
                    conn.transport.abort()
                conn.queue.put_nowait(None)
            else:
                conn.queue.put_nowait(None)
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=b"server going away")
        return len(conns)

    # ------------------------------------------------------------ engine listener

    def on_execution(self, order: Order, execution_type: str, trade: Trade | None) -> None:
        """Push an ``executionReport`` to the order owner's user-stream subscribers."""
        subs = self._user.get(order.account_id)
        if subs:
            self._to_user(
                subs, execution_report(order, execution_type, trade, self.engine.now_ms())
            )

    def on_balances(self, account_id: str, assets: frozenset[str]) -> None:
        """Push an ``outboundAccountPosition`` with the changed assets."""
        subs = self._user.get(account_id)
        if subs:
            account = self.engine.accounts[account_id]
            self._to_user(subs, balance_event(account, assets, self.engine.now_ms()))

    def on_trade(self, trade: Trade) -> None:
        """Push ``trade`` / ``aggTrade`` / ``kline`` events (real time)."""
        lower = trade.symbol.lower()
        for stream, event in self._candles.on_trade(trade, self.engine.now_ms()):
            self._broadcast(stream, event)
        stream = f"{lower}@trade"
        if stream in self._subs:
            self._broadcast(
                stream,
                {
                    "e": "trade",
                    "E": self.engine.now_ms(),
                    "s": trade.symbol,
                    "t": trade.trade_id,
                    "p": fmt(trade.price),
                    "q": fmt(trade.qty),
                    "T": trade.time,
                    "m": trade.buyer_is_maker,
                    "M": True,
                },
            )
        stream = f"{lower}@aggTrade"
        if stream in self._subs:
            self._broadcast(
                stream,
                {
                    "e": "aggTrade",
                    "E": self.engine.now_ms(),
                    "s": trade.symbol,
                    "a": trade.trade_id,
                    "p": fmt(trade.price),
                    "q": fmt(trade.qty),
                    "f": trade.trade_id,
                    "l": trade.trade_id,
                    "T": trade.time,
                    "m": trade.buyer_is_maker,
                    "M": True,
                },
            )

    def on_depth(
        self,
        symbol: str,
        update_id: int,
        bids: list[tuple[Decimal, Decimal]],
        asks: list[tuple[Decimal, Decimal]],
    ) -> None:
        """Accumulate changed levels for the diff-depth streams; push ``bookTicker`` now."""
        lower = symbol.lower()
        stream = f"{lower}@bookTicker"
        if stream in self._subs:
            best = self.engine.best_bid_ask(symbol)
            if best != self._best.get(symbol):
                self._best[symbol] = best
                bid, ask = best
                zero = Decimal(0)
                self._broadcast(
                    stream,
                    {
                        "u": update_id,
                        "s": symbol,
                        "b": fmt(bid[0] if bid else zero),
                        "B": fmt(bid[1] if bid else zero),
                        "a": fmt(ask[0] if ask else zero),
                        "A": fmt(ask[1] if ask else zero),
                    },
                )
        for key in _DEPTH_KEYS:
            stream = f"{lower}@{key}"
            if stream not in self._subs:
                continue
            buffer = self._buffers.get(stream)
            if buffer is None:
                buffer = self._buffers[stream] = _DepthBuffer(first=update_id)
            buffer.last = update_id
            buffer.bids.update(bids)
            buffer.asks.update(asks)

    # ------------------------------------------------------------ publishing

    def _broadcast(self, stream: str, payload: dict[str, object]) -> None:
        for conn in self._subs.get(stream, ()):
            conn.send({"stream": stream, "data": payload} if conn.combined else payload)
            self.messages_sent += 1

    def _to_user(self, subs: set[tuple[_Conn, int | None]], payload: dict[str, object]) -> None:
        for conn, sub_id in subs:
            conn.send(payload if sub_id is None else {"subscriptionId": sub_id, "event": payload})
            self.messages_sent += 1

    def flush_depth(self, key: str) -> None:
        """Send the accumulated diff-depth events of every ``<symbol>@<key>`` stream now."""
        suffix = "@" + key
        for stream, buffer in list(self._buffers.items()):
            if not stream.endswith(suffix) or stream.count("@") != key.count("@") + 1:
                continue
            del self._buffers[stream]
            symbol = self._stream_symbol[stream]
            if self.faults.take_skip_depth(symbol):
                continue
            self._broadcast(
                stream,
                {
                    "e": "depthUpdate",
                    "E": self.engine.now_ms(),
                    "s": symbol,
                    "U": buffer.first,
                    "u": buffer.last,
                    "b": [[fmt(p), fmt(q)] for p, q in sorted(buffer.bids.items(), reverse=True)],
                    "a": [[fmt(p), fmt(q)] for p, q in sorted(buffer.asks.items())],
                },
            )

    def flush_klines(self) -> None:
        """Send the final event (``"x": true``) of every streamed candle whose time is over."""
        for stream, event in self._candles.closing(self.engine.now_ms()):
            self._broadcast(stream, event)

    def flush_tickers(self) -> None:
        """Send ``24hrTicker`` / ``24hrMiniTicker`` events on every subscribed ``<symbol>@ticker``
        / ``<symbol>@miniTicker`` stream now."""
        now = self.engine.now_ms()
        for stream in list(self._subs):
            kind = stream.partition("@")[2]
            if kind in ("ticker", "miniTicker"):
                spec = self.engine.markets[self._stream_symbol[stream]]
                event = ticker_event(ticker_json(self.engine, spec), now, mini=kind == "miniTicker")
                self._broadcast(stream, event)

    async def _ticker_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ticker_interval_s)
            self.flush_tickers()
            self.flush_klines()
            self.expire_listen_keys()

    async def _flusher(self, key: str) -> None:
        interval = self.intervals[key]
        while True:
            await asyncio.sleep(interval)
            self.flush_depth(key)

    # ------------------------------------------------------------ subscriptions

    def _parse_stream(self, name: str) -> str | None:
        symbol_id, sep, rest = name.partition("@")
        if not sep or (rest not in _STREAM_KINDS and rest.removeprefix("kline_") not in KLINE_MS):
            return None
        for spec in self.engine.markets.values():
            if spec.lower_id == symbol_id:
                return spec.symbol
        return None

    def subscribers(self, stream: str) -> int:
        """How many connections are subscribed to ``stream`` (e.g. ``ethusdc@kline_1m``)."""
        return len(self._subs.get(stream, ()))

    def user_subscribers(self, account_id: str) -> int:
        """How many user-data subscriptions (ws-api or listenKey) the account has."""
        return len(self._user.get(account_id, ()))

    def _subscribe(self, conn: _Conn, stream: str) -> bool:
        symbol = self._parse_stream(stream)
        if symbol is None:
            return False
        self._stream_symbol[stream] = symbol
        if "@kline_" in stream and stream not in self._subs:
            self._candles.open(stream, self.engine.trades[symbol], self.engine.now_ms())
        self._subs.setdefault(stream, set()).add(conn)
        conn.streams.add(stream)
        return True

    def _unsubscribe(self, conn: _Conn, stream: str) -> None:
        conn.streams.discard(stream)
        subs = self._subs.get(stream)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self._subs[stream]
                self._buffers.pop(stream, None)
                self._candles.close(stream)

    def _forget(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        for stream in list(conn.streams):
            self._unsubscribe(conn, stream)
        for account_id, subs in list(self._user.items()):
            for entry in list(subs):
                if entry[0] is conn:
                    subs.discard(entry)
            if not subs:
                del self._user[account_id]

    def _add_user(self, conn: _Conn, account_id: str, sub_id: int | None) -> None:
        self._user.setdefault(account_id, set()).add((conn, sub_id))

    # ------------------------------------------------------------ listen keys

    def open_listen_key(self, account_id: str) -> str:
        """``POST /api/v3/userDataStream``: the account's active key (extended by 60 minutes)
        or a new one."""
        for key, owner in self.listen_keys.items():
            if owner == account_id:
                self.keep_listen_key(key)
                return key
        key = secrets.token_hex(32)
        self.listen_keys[key] = account_id
        self.keep_listen_key(key)
        return key

    def keep_listen_key(self, listen_key: str) -> None:
        """Extend a listen key's validity to 60 minutes from now."""
        self._listen_key_expiry[listen_key] = self.engine.now_ms() + LISTEN_KEY_TTL_MS

    def close_listen_key(self, listen_key: str, *, expired: bool = False) -> None:
        """Forget ``listen_key`` and close the raw user-stream connections opened with it
        (after a ``listenKeyExpired`` event when it ran out)."""
        self.listen_keys.pop(listen_key, None)
        self._listen_key_expiry.pop(listen_key, None)
        for conn in list(self.conns):
            if conn.kind == "user" and listen_key in conn.streams:
                if expired:
                    conn.send(
                        {
                            "e": "listenKeyExpired",
                            "E": self.engine.now_ms(),
                            "listenKey": listen_key,
                        }
                    )
                self._forget(conn)
                conn.queue.put_nowait(None)

    def expire_listen_keys(self) -> list[str]:
        """Close every listen key not kept alive for 60 minutes; returns the expired keys."""
        now = self.engine.now_ms()
        expired = [k for k, until in self._listen_key_expiry.items() if until <= now]
        for key in expired:
            self.close_listen_key(key, expired=True)
        return expired

    # ------------------------------------------------------------ handlers

    async def _serve(
        self, request: web.Request, conn: _Conn, on_text: Callable[[_Conn, str], None]
    ) -> web.WebSocketResponse:
        ws = conn.ws
        self.conns.add(conn)
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    on_text(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._forget(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        return ws

    async def _writer(self, conn: _Conn) -> None:
        ws = conn.ws
        while True:
            text = await conn.queue.get()
            if text is None or ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
                return
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def handle_raw(self, request: web.Request) -> web.WebSocketResponse:
        """``/ws`` and ``/ws/<stream or listenKey>``."""
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.ping_interval_s)
        await ws.prepare(request)
        name = request.match_info.get("name", "")
        account_id = self.listen_keys.get(name)
        if account_id is not None:
            conn = _Conn(
                ws=ws,
                kind="user",
                account_id=account_id,
                streams={name},
                transport=request.transport,
            )
            self._add_user(conn, account_id, None)
            self.conns.add(conn)
            return await self._serve(request, conn, self._on_market_text)
        conn = _Conn(ws=ws, kind="market", transport=request.transport)
        for stream in filter(None, name.split("/")):
            self._subscribe(conn, stream)
        return await self._serve(request, conn, self._on_market_text)

    async def handle_combined(self, request: web.Request) -> web.WebSocketResponse:
        """``/stream?streams=a/b/c``."""
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.ping_interval_s)
        await ws.prepare(request)
        conn = _Conn(ws=ws, kind="market", combined=True, transport=request.transport)
        for stream in filter(None, request.query.get("streams", "").split("/")):
            self._subscribe(conn, stream)
        return await self._serve(request, conn, self._on_market_text)

    async def handle_api(self, request: web.Request) -> web.WebSocketResponse:
        """``/ws-api/v3`` (user data stream subscription through the WebSocket API)."""
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.ping_interval_s)
        await ws.prepare(request)
        conn = _Conn(ws=ws, kind="api", transport=request.transport)
        return await self._serve(request, conn, self._on_api_text)

    def _on_market_text(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            conn.send({"error": {"code": 3, "msg": "Invalid JSON: expected value"}})
            return
        if not isinstance(message, dict):
            conn.send({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}})
            return
        method = message.get("method")
        request_id = message.get("id")
        params = message.get("params") or []
        if method == "SUBSCRIBE":
            if not all(isinstance(p, str) and self._parse_stream(p) for p in params):
                conn.send(
                    {
                        "error": {"code": 2, "msg": "Invalid request: invalid stream"},
                        "id": request_id,
                    }
                )
                return
            for stream in params:
                self._subscribe(conn, stream)
            conn.send({"result": None, "id": request_id})
        elif method == "UNSUBSCRIBE":
            for stream in params:
                self._unsubscribe(conn, str(stream))
            conn.send({"result": None, "id": request_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send(
                {
                    "result": sorted(s for s in conn.streams if s not in self.listen_keys),
                    "id": request_id,
                }
            )
        elif method == "SET_PROPERTY" and params[:1] == ["combined"]:
            conn.combined = bool(params[1]) if len(params) > 1 else conn.combined
            conn.send({"result": None, "id": request_id})
        elif method == "GET_PROPERTY" and params[:1] == ["combined"]:
            conn.send({"result": conn.combined, "id": request_id})
        else:
            conn.send(
                {
                    "error": {
                        "code": 2,
                        "msg": f"Invalid request: unknown variant {method}, expected one of "
                        "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                        "`GET_PROPERTY`",
                    },
                    "id": request_id,
                }
            )

    def _on_api_text(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
            request_id = message.get("id")
            method = message.get("method")
            params = message.get("params") or {}
        except (ValueError, AttributeError):
            conn.send(
                {"id": None, "status": 400, "error": {"code": -1135, "msg": "Invalid JSON Request"}}
            )
            return
        if not isinstance(params, dict):
            conn.send(
                {
                    "id": request_id,
                    "status": 400,
                    "error": {
                        "code": -1135,
                        "msg": "JSON sent for parameter 'params' is not valid.",
                    },
                }
            )
            return
        try:
            result = self._api_call(conn, str(method), params)
        except ExchangeApiError as exc:
            conn.send({"id": request_id, "status": exc.http_status, "error": exc.to_json()})
            return
        except (ValueError, TypeError, ArithmeticError):  # a malformed value no check caught
            conn.send(
                {
                    "id": request_id,
                    "status": 400,
                    "error": {"code": -1100, "msg": "Illegal characters found in a parameter."},
                }
            )
            return
        conn.send({"id": request_id, "status": 200, "result": result, "rateLimits": []})

    def _api_call(self, conn: _Conn, method: str, params: dict[str, object]) -> object:
        now = self.engine.now_ms()
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now}
        order_call = ws_api.ORDER_METHODS.get(method)
        if order_call is not None:
            key = ws_api.signed_key(self.keys, params, now)
            return order_call(self, key.account_id, ws_api.string_params(params))
        if method == "userDataStream.subscribe.signature":
            key = ws_api.signed_key(self.keys, params, now)
            sub_id = next(self._sub_ids)
            conn.api_subs[sub_id] = key.account_id
            self._add_user(conn, key.account_id, sub_id)
            return {"subscriptionId": sub_id}
        if method == "userDataStream.unsubscribe":
            wanted = params.get("subscriptionId")
            for sub_id, account_id in list(conn.api_subs.items()):
                if wanted is None or int(str(wanted)) == sub_id:
                    del conn.api_subs[sub_id]
                    self._user.get(account_id, set()).discard((conn, sub_id))
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": s} for s in sorted(conn.api_subs)]
        raise ExchangeApiError(-1020, "This operation is not supported.")
