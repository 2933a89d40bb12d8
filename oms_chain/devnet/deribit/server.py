"""Deribit API v2 transports: JSON-RPC over HTTP (``/api/v2/<scope>/<method>``) and over a
websocket (``/ws/api/v2``), with Deribit's authentication and subscriptions.

Authentication:

* ``public/auth`` with ``grant_type`` ``client_credentials`` (``client_id`` +
  ``client_secret``), ``client_signature`` (HMAC-SHA256 of ``timestamp\\nnonce\\ndata``
  keyed by the secret, what ccxt.pro sends) or ``refresh_token``; it answers an access token
  (``token_type`` ``bearer``) and a refresh token. On a websocket it also authenticates the
  connection.
* HTTP private calls carry ``Authorization: Bearer <access_token>`` or Deribit's
  ``deri-hmac-sha256 id=...,ts=...,sig=...,nonce=...`` (HMAC-SHA256 of
  ``ts\\nnonce\\nMETHOD\\nURI\\nbody\\n``, what ccxt's REST client sends; ``ts`` within 60 s
  of the wall clock, not of the exchange's clock, which tests may warp);
  websocket calls may carry ``access_token`` in ``params``.

Subscriptions (``public/subscribe`` / ``private/subscribe``, answered with the channels
accepted): ``book.<instrument>.<100ms|agg2|raw>`` (a ``snapshot`` first, then ``change``
messages with ``prev_change_id``), ``ticker.<instrument>.<interval>`` (on subscribe and on every
book change), ``user.orders.<instrument>.<interval>``,
``user.orders.<kind>.<currency>.<interval>``, ``user.trades.<instrument>.<interval>``,
``user.trades.<kind>.<currency>.<interval>``; ``raw`` feeds need an authenticated
connection. Book changes are sent as they happen for every
interval (no 100 ms batching). Unknown channels are left out of the answer, as Deribit does.

Every failure is a JSON-RPC error object (HTTP 400, or 401 for authentication), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from oms_chain.devnet.deribit import wire
from oms_chain.devnet.deribit.errors import DeribitApiError, invalid_params
from oms_chain.devnet.deribit.rpc import METHODS, text

if TYPE_CHECKING:
    from oms_chain.devnet.deribit.simulator import DeribitSimulator

__all__ = ["DeribitServer"]

TOKEN_LIFETIME_S = 31_536_000
_SIGNATURE_WINDOW_MS = 60_000
_MAX_BODY = 64 * 1024
_INTERVALS = ("100ms", "agg2", "raw")


@dataclass(slots=True, eq=False)
class _Session:
    ws: web.WebSocketResponse
    client_id: str | None = None
    channels: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


def _envelope(rid: object, started_us: int) -> dict[str, object]:
    now = time.time_ns() // 1000
    out: dict[str, object] = {"jsonrpc": "2.0"}
    if rid is not None:
        out["id"] = rid
    out.update(usIn=started_us, usOut=now, usDiff=now - started_us, testnet=True)
    return out


class DeribitServer:
    """The aiohttp routes of one :class:`~oms_chain.devnet.deribit.simulator.DeribitSimulator`."""

    def __init__(self, sim: DeribitSimulator) -> None:
        self.sim = sim
        self.tokens: dict[str, tuple[str, int]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.sessions: set[_Session] = set()
        self._subscribed: asyncio.Condition | None = None
        sim.exchange.listeners.append(self._on_event)

    async def wait_for_channel(self, prefix: str, timeout_s: float = 10.0) -> str:
        """Wait until some connection is subscribed to a channel starting with ``prefix``
        (tests: subscribe, then act); returns the channel."""
        if self._subscribed is None:
            self._subscribed = asyncio.Condition()
        async with self._subscribed:
            await asyncio.wait_for(
                self._subscribed.wait_for(lambda: self._channel(prefix) is not None), timeout_s
            )
        found = self._channel(prefix)
        assert found is not None
        return found

    def _channel(self, prefix: str) -> str | None:
        for session in self.sessions:
            for channel in session.channels:
                if channel.startswith(prefix):
                    return channel
        return None

    def routes(self, app: web.Application) -> None:
        """Register the HTTP and websocket routes."""
        app.router.add_route("*", "/api/v2/{scope}/{method}", self.http)
        app.router.add_get("/ws/api/v2", self.websocket)
        app.router.add_route("*", "/api/v2/{tail:.*}", self.not_found)

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        """Any other ``/api/v2/...`` path: -32601 ``Method not found``."""
        error = DeribitApiError(-32601, "Method not found", {"method": request.path[8:][:100]})
        started = time.time_ns() // 1000
        return web.json_response({**_envelope(None, started), "error": error.to_json()}, status=400)

    # ------------------------------------------------------------------ auth

    def _issue(self, client_id: str) -> dict[str, object]:
        token = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24)
        self.tokens[token] = (client_id, self.sim.exchange.now_ms() + TOKEN_LIFETIME_S * 1000)
        self.refresh_tokens[refresh] = client_id
        return {
            "access_token": token,
            "refresh_token": refresh,
            "expires_in": TOKEN_LIFETIME_S,
            "scope": "connection mainaccount trade:read_write wallet:read account:read",
            "token_type": "bearer",
            "enabled_features": [],
        }

    def _auth(self, params: Mapping[str, object]) -> tuple[str, dict[str, object]]:
        grant = text(params, "grant_type")
        ex = self.sim.exchange
        if grant == "client_credentials":
            account = ex.account(text(params, "client_id"))
            if not hmac.compare_digest(account.client_secret, text(params, "client_secret")):
                raise DeribitApiError(13004, "invalid_credentials", http_status=401)
        elif grant == "client_signature":
            account = ex.account(text(params, "client_id"))
            stamp = params.get("timestamp")
            if isinstance(stamp, bool) or not isinstance(stamp, int | str):
                raise invalid_params("timestamp", "milliseconds required")
            nonce, data = text(params, "nonce"), text(params, "data", "")
            self._check_signature(account.client_secret, str(stamp), nonce, data, params)
        elif grant == "refresh_token":
            client = self.refresh_tokens.pop(text(params, "refresh_token"), None)
            if client is None:
                raise DeribitApiError(13009, "unauthorized", {"reason": "invalid token"}, 401)
            account = ex.account(client)
        else:
            raise invalid_params(
                "grant_type", "must be client_credentials, client_signature or refresh_token"
            )
        return account.client_id, self._issue(account.client_id)

    def _check_signature(
        self, secret: str, stamp: str, nonce: str, data: str, params: Mapping[str, object]
    ) -> None:
        signature = params.get("signature")
        if not isinstance(signature, str):
            raise invalid_params("signature", "value required")
        # freshness on wall time: the exchange's clock may be warped past expiries (tests, the
        # demo) while clients keep signing with their own clocks
        if not stamp.isdigit() or abs(int(stamp) - time.time_ns() // 1_000_000) > (
            _SIGNATURE_WINDOW_MS
        ):
            raise DeribitApiError(
                13009, "unauthorized", {"reason": "timestamp outside 60 s of server time"}, 401
            )
        expected = hmac.new(
            secret.encode(), f"{stamp}\n{nonce}\n{data}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise DeribitApiError(13009, "unauthorized", {"reason": "bad signature"}, 401)

    def _token_client(self, token: str) -> str:
        entry = self.tokens.get(token)
        if entry is None or entry[1] < self.sim.exchange.now_ms():
            raise DeribitApiError(13009, "unauthorized", {"reason": "invalid token"}, 401)
        return entry[0]

    def _http_client(self, request: web.Request, body: str) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return self._token_client(header[7:].strip())
        if header.startswith("deri-hmac-sha256 "):
            fields: dict[str, str] = {}
            for part in header[17:].split(","):
                key, _, value = part.strip().partition("=")
                fields[key] = value
            account = self.sim.exchange.account(fields.get("id", ""))
            stamp, nonce = fields.get("ts", ""), fields.get("nonce", "")
            uri = request.rel_url.raw_path_qs
            data = f"{request.method.upper()}\n{uri}\n{body}\n"
            self._check_signature(
                account.client_secret, stamp, nonce, data, {"signature": fields.get("sig")}
            )
            return account.client_id
        raise DeribitApiError(
            10000, "authorization_required", {"reason": "no credentials"}, http_status=401
        )

    # ------------------------------------------------------------------ dispatch

    def _call(self, method: str, params: Mapping[str, object], client_id: str | None) -> object:
        handler = METHODS.get(method)
        if handler is None:
            raise DeribitApiError(-32601, "Method not found", {"method": method})
        if method.startswith("private/") and client_id is None:
            raise DeribitApiError(
                13009, "unauthorized", {"reason": "private method needs authentication"}, 401
            )
        try:
            return handler(self.sim.exchange, client_id, params)
        except (ArithmeticError, ValueError) as exc:
            if isinstance(exc, DeribitApiError):
                raise
            raise DeribitApiError(-32602, "Invalid params", {"reason": str(exc)[:200]}) from None

    async def http(self, request: web.Request) -> web.StreamResponse:
        """``GET|POST /api/v2/<scope>/<method>``: query parameters, or a JSON-RPC body."""
        started = time.time_ns() // 1000
        method = f"{request.match_info['scope']}/{request.match_info['method']}"
        rid: object = None
        fault = self.sim.faults.take_rest(request.method, request.path)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "fail":
            error = _fault_error(fault.code)
            return web.json_response(
                {**_envelope(None, started), "error": error}, status=fault.status
            )
        status = 200
        try:
            raw = await request.content.read(_MAX_BODY + 1)
            if len(raw) > _MAX_BODY:
                raise DeribitApiError(11050, "bad_request", {"reason": "body over 64 KiB"})
            body = raw.decode("utf-8", errors="replace")
            params: dict[str, object] = dict(request.query)
            if body.strip() and request.method == "POST":
                message = _parse(body)
                rid = message.get("id")
                if "method" in message:
                    method = _method_name(message)
                params.update(_params(message))
            client = None
            if method == "public/auth":
                result: object = self._auth(params)[1]
            else:
                if method.startswith("private/"):
                    client = self._http_client(request, body)
                result = self._call(method, params, client)
            answer: dict[str, object] = {**_envelope(rid, started), "result": result}
        except DeribitApiError as exc:
            status = exc.http_status
            answer = {**_envelope(rid, started), "error": exc.to_json()}
        response = web.Response(
            text=json.dumps(answer), status=status, content_type="application/json"
        )
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()
        return response

    # ------------------------------------------------------------------ websocket

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """``/ws/api/v2``: JSON-RPC requests and subscription notifications."""
        ws = web.WebSocketResponse(
            heartbeat=self.sim.config.ws_ping_interval_s, max_msg_size=_MAX_BODY
        )
        await ws.prepare(request)
        session = _Session(ws)
        self.sessions.add(session)
        writer = asyncio.create_task(self._writer(session))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._ws_message(session, msg.data)
        finally:
            self.sessions.discard(session)
            session.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _writer(self, session: _Session) -> None:
        while True:
            item = await session.queue.get()
            if item is None or session.ws.closed:
                return
            try:
                await session.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    async def _ws_message(self, session: _Session, data: str) -> None:
        started = time.time_ns() // 1000
        rid: object = None
        fault = None
        try:
            message = _parse(data)
            rid = message.get("id")
            method = _method_name(message)
            fault = self.sim.faults.take_rest("WS", "/ws/api/v2/" + method)
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.delay_s)
            if fault is not None and fault.kind == "fail":
                raise DeribitApiError(**_fault_kwargs(fault.code))
            params = _params(message)
            result = self._ws_call(session, method, params)
            if method.endswith("/subscribe"):
                await self._notify_subscribed()
            answer: dict[str, object] = {**_envelope(rid, started), "result": result}
        except DeribitApiError as exc:
            answer = {**_envelope(rid, started), "error": exc.to_json()}
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "drop":
            await session.ws.close()
            return
        session.queue.put_nowait(json.dumps(answer))
        if "result" in answer and isinstance(answer["result"], list):
            for channel in answer["result"]:
                if isinstance(channel, str) and channel.startswith("book."):
                    self._snapshot(session, channel)
                elif isinstance(channel, str) and channel.startswith("ticker."):
                    self._ticker(session, channel)

    def _ws_call(self, session: _Session, method: str, params: Mapping[str, object]) -> object:
        if method == "public/auth":
            client_id, result = self._auth(params)
            session.client_id = client_id
            return result
        client = session.client_id
        token = params.get("access_token")
        if isinstance(token, str):
            client = self._token_client(token)
        if method in ("public/subscribe", "private/subscribe"):
            if method == "private/subscribe" and client is None:
                raise DeribitApiError(13009, "unauthorized", {"reason": "not authenticated"}, 401)
            return self._subscribe(session, params, client, method == "private/subscribe")
        if method in ("public/unsubscribe", "private/unsubscribe"):
            channels = _channel_list(params)
            session.channels.difference_update(channels)
            return channels
        if method == "public/unsubscribe_all":
            session.channels.clear()
            return "ok"
        if method == "public/set_heartbeat":
            return "ok"
        if method == "public/disable_heartbeat":
            return "ok"
        return self._call(method, params, client)

    def _subscribe(
        self, session: _Session, params: Mapping[str, object], client: str | None, private: bool
    ) -> list[str]:
        accepted = []
        for channel in _channel_list(params):
            parts = channel.split(".")
            ok = False
            if parts[0] in ("book", "ticker") and len(parts) == 3 and parts[2] in _INTERVALS:
                # raw feeds need an authenticated connection, as on Deribit
                ok = parts[1] in self.sim.exchange.instruments and (
                    parts[2] != "raw" or client is not None
                )
            elif parts[0] == "user" and len(parts) in (4, 5) and parts[1] in ("orders", "trades"):
                ok = private and client is not None
            if ok:
                session.channels.add(channel)
                if client is not None:
                    session.client_id = session.client_id or client
                accepted.append(channel)
        return accepted

    async def _notify_subscribed(self) -> None:
        if self._subscribed is None:
            return
        async with self._subscribed:
            self._subscribed.notify_all()

    def _snapshot(self, session: _Session, channel: str) -> None:
        ex = self.sim.exchange
        name = channel.split(".")[1]
        change_id, bids, asks = ex.engine.depth(name, 10_000)
        data = {
            "type": "snapshot",
            "timestamp": ex.now_ms(),
            "instrument_name": name,
            "change_id": change_id,
            "bids": [["new", float(p), float(q)] for p, q in bids],
            "asks": [["new", float(p), float(q)] for p, q in asks],
        }
        session.queue.put_nowait(_notification(channel, data))

    def _ticker(self, session: _Session, channel: str) -> None:
        ex = self.sim.exchange
        data = wire.ticker_json(ex, ex.instruments[channel.split(".")[1]])
        session.queue.put_nowait(_notification(channel, data))

    def _on_event(self, kind: str, key: str, payload: object) -> None:
        if not self.sessions:
            return
        ex = self.sim.exchange
        if kind == "book":
            if self.sim.faults.take_skip_depth(key):
                return
            for session in self.sessions:
                for channel in session.channels:
                    parts = channel.split(".")
                    if parts[1] != key:
                        continue
                    if parts[0] == "book":
                        session.queue.put_nowait(_notification(channel, payload))
                    elif parts[0] == "ticker":  # best prices may have moved
                        self._ticker(session, channel)
            return
        assert isinstance(payload, dict)
        instrument = ex.instruments[str(payload["instrument_name"])]
        stream = "orders" if kind == "order" else "trades"
        for session in self.sessions:
            if session.client_id != key:
                continue
            for channel in session.channels:
                parts = channel.split(".")
                if parts[0] != "user" or parts[1] != stream:
                    continue
                if len(parts) == 4:
                    match = parts[2] == instrument.name
                else:
                    match = parts[2] in ("any", instrument.kind) and parts[3] in (
                        "any",
                        instrument.currency,
                    )
                if not match:
                    continue
                data: object = payload
                if stream == "trades" or parts[-1] != "raw":
                    data = [payload]
                session.queue.put_nowait(_notification(channel, data))

    async def drop_connections(self) -> int:
        """Close every websocket (clients see a disconnect); returns how many were open."""
        sessions = list(self.sessions)
        for session in sessions:
            await session.ws.close()
        return len(sessions)


def _notification(channel: str, data: object) -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    )


def _parse(data: str) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        raise DeribitApiError(-32700, "Parse error", {"reason": "body is not JSON"}) from None
    if not isinstance(message, dict):
        raise DeribitApiError(-32600, "Invalid Request", {"reason": "expected a JSON object"})
    return message


def _method_name(message: Mapping[str, Any]) -> str:
    method = message.get("method")
    if not isinstance(method, str) or len(method) > 100:
        raise DeribitApiError(-32600, "Invalid Request", {"reason": "method must be a string"})
    return method


def _params(message: Mapping[str, Any]) -> dict[str, object]:
    params = message.get("params", {})
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise DeribitApiError(-32602, "Invalid params", {"reason": "params must be an object"})
    return params


def _channel_list(params: Mapping[str, object]) -> list[str]:
    channels = params.get("channels")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise invalid_params("channels", "a list of channel names is required")
    return [c for c in channels if isinstance(c, str)]


def _fault_kwargs(code: int) -> dict[str, Any]:
    if code == 10028:
        return {"code": 10028, "message": "too_many_requests", "http_status": 429}
    return {"code": 10040, "message": "retry", "data": {"reason": "injected fault"}}


def _fault_error(code: int) -> dict[str, object]:
    return DeribitApiError(**_fault_kwargs(code)).to_json()
