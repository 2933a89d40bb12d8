"""The HTTP and websocket API over a :class:`~oms_chain.service.TradingSession` (aiohttp).

Every ``/api/v1`` route needs a token (``Authorization: Bearer oms_…``; the stream also takes it
as its first message, for browsers). ``read`` tokens may call every GET and the stream, ``trade``
tokens also submit and cancel. Bodies are checked by the pydantic models of :mod:`.models`
(422 naming the fields), then by the session (422 with its message) before anything reaches the
engine; a refused request writes nothing. Every 4xx is a JSON :class:`~.models.ErrorOut`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oms_chain.model.clock import Clock, SystemClock
from oms_chain.model.errors import (
    EngineNotReady,
    IntentConflict,
    InvalidInput,
    OmsError,
    RetryableError,
    UnknownOrder,
)
from oms_chain.model.ids import OrderId
from oms_chain.service.api.docs_routes import install_docs
from oms_chain.service.api.limits import RateLimiter
from oms_chain.service.api.models import (
    BalanceOut,
    CancelOut,
    ErrorOut,
    EventOut,
    EventPage,
    FillOut,
    OrderDetail,
    OrderOut,
    PositionOut,
    SettlementOut,
    SubmitIntent,
)
from oms_chain.service.api.tokens import Scope, TokenInfo, TokenStore
from oms_chain.service.session import TradingSession

__all__ = ["ApiConfig", "create_app", "run_api"]

_log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")

_ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@/#-]{0,199}$"


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Limits of the API: request body size (bytes), requests per second and burst per
    token, the largest page, how long the stream waits for its token message, and how often
    an idle stream looks at the store (events written by another process)."""

    max_body_bytes: int = 64 * 1024
    rate_per_s: float = 50.0
    burst: int = 100
    max_page: int = 1000
    ws_auth_timeout_s: float = 5.0
    ws_idle_poll_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "burst", "max_page"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInput(f"ApiConfig.{name} must be a whole number >= 1, got {v!r:.40}")
        for name in ("rate_per_s", "ws_auth_timeout_s", "ws_idle_poll_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1e6:
                raise InvalidInput(
                    f"ApiConfig.{name} must be a positive number below 1e6, got {v!r:.40}"
                )


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrdersQuery(_Query):
    """``status``: ``open`` (working parents) or ``all``; at most ``limit`` newest first."""

    status: str = Field("all", pattern="^(open|all)$")
    limit: int = Field(200, ge=1, le=1000)


class FillsQuery(_Query):
    """Fills of one order (a parent: all its children's) or of every order."""

    order_id: str | None = Field(None, pattern=_ORDER_ID)


class EventsQuery(_Query):
    """Events with ``position > after``, at most ``limit``."""

    after: int = Field(0, ge=0, le=2**62)
    limit: int = Field(100, ge=1, le=1000)


class StreamQuery(_Query):
    """Resume after ``after`` (the last position received); default: from now on."""

    after: int | None = Field(None, ge=0, le=2**62)


_Q = TypeVar("_Q", bound=_Query)


class _Refusal(Exception):
    def __init__(self, status: int, kind: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.headers = headers


def _error(
    status: int,
    kind: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = ErrorOut(error=message, kind=kind, status=status, details=details)
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type="application/json",
        headers=headers,
    )


def _details(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors(include_url=False, include_context=False, include_input=False):
        out.append({"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]})
    return out


def _json(model: BaseModel | list[BaseModel], status: int = 200) -> web.Response:
    if isinstance(model, list):
        text = "[" + ",".join(m.model_dump_json() for m in model) + "]"
    else:
        text = model.model_dump_json()
    return web.Response(status=status, text=text, content_type="application/json")


_KIND = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure as a JSON body with its status; a 500 only for a bug (logged)."""
    try:
        return await handler(request)
    except _Refusal as exc:
        return _error(exc.status, exc.kind, str(exc), headers=exc.headers)
    except ValidationError as exc:
        return _error(422, "validation", "the request does not match its schema", _details(exc))
    except IntentConflict as exc:  # an intent id re-used for different content
        differs = [
            {
                "loc": ["body", f],
                "msg": "differs from the intent submitted under this id",
                "type": "intent_conflict",
            }
            for f in exc.fields
        ]
        return _error(409, "intent_conflict", str(exc), differs)
    except UnknownOrder as exc:
        return _error(404, "unknown_order", str(exc))
    except InvalidInput as exc:
        return _error(422, "invalid_input", str(exc))
    except EngineNotReady as exc:
        return _error(409, "refused", str(exc))
    except RetryableError as exc:
        return _error(503, "unavailable", f"{exc}; retry later", headers={"Retry-After": "1"})
    except OmsError as exc:
        return _error(409, "failed", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            message = f"request body too large: at most {request.app[_CONFIG].max_body_bytes} bytes"
        elif exc.status == 404:
            message = f"no such endpoint {request.path!r}; see /openapi.json"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}; see /openapi.json"
        else:
            message = exc.reason or exc.text or "bad request"
        return _error(exc.status, _KIND.get(exc.status, "http_error"), message)
    except Exception:
        _log.exception("internal error answering %s %s", request.method, request.path)
        return _error(500, "internal", "internal error (a bug; see the server log)")


# --- authentication and rate limits ------------------------------------------------------


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _Refusal(
            401,
            "unauthenticated",
            "Authorization header must be 'Bearer <token>'; create a token with `oms token create`",
            **{"WWW-Authenticate": "Bearer"},
        )
    return value.strip()


def _check_token(app: web.Application, token: str | None, needed: Scope) -> TokenInfo:
    if token is None:
        raise _Refusal(
            401,
            "unauthenticated",
            "no token: send 'Authorization: Bearer <token>' (create one with `oms token create`)",
            **{"WWW-Authenticate": "Bearer"},
        )
    info = app[_TOKENS].authenticate(token)
    if info is None:
        raise _Refusal(
            401,
            "unauthenticated",
            "token refused: unknown, malformed or revoked (`oms token list` shows the active ones)",
            **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    wait = app[_LIMITER].take(info.token_id)
    if wait > 0:
        raise _Refusal(
            429,
            "rate_limited",
            f"too many requests for token {info.token_id}; retry in {wait:.2f} s",
            **{"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if not info.scope.allows(needed):
        raise _Refusal(
            403,
            "forbidden",
            f"token {info.token_id} is read-only; this endpoint needs a 'trade' token "
            "(`oms token create --scope trade`)",
        )
    return info


def _query(request: web.Request, model: type[_Q]) -> _Q:
    keys = list(request.query.keys())
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise _Refusal(422, "validation", f"query parameter {dup[0]!r} given more than once")
    return model.model_validate(dict(request.query))


async def _json_body(request: web.Request, model: type[SubmitIntent]) -> SubmitIntent:
    if request.content_type != "application/json":
        raise _Refusal(
            415,
            "unsupported_media_type",
            f"send the body as application/json, not {request.content_type or 'nothing'}",
        )
    raw = await request.read()
    return model.model_validate_json(raw)


# --- the application ---------------------------------------------------------------------

_SESSION = web.AppKey("session", TradingSession)
_TOKENS = web.AppKey("tokens", TokenStore)
_LIMITER = web.AppKey("limiter", RateLimiter)
_CONFIG = web.AppKey("config", ApiConfig)


class _Wakeup:
    """Wakes every waiting stream when the engine commits events."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def bump(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


_WAKE = web.AppKey("wake", _Wakeup)
_PUMP: web.AppKey[asyncio.Task[None]] = web.AppKey("pump")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: what it needs and what it answers (the router and the OpenAPI document
    are both built from the route table)."""

    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    scope: Scope | None
    summary: str
    response: type[BaseModel] | None
    status: int = 200
    many: bool = False
    body: type[BaseModel] | None = None
    query: type[_Query] | None = None
    path_params: tuple[str, ...] = ()
    websocket: bool = False


def _session(request: web.Request, needed: Scope) -> TradingSession:
    _check_token(request.app, _bearer(request), needed)
    return request.app[_SESSION]


async def submit_intent(request: web.Request) -> web.Response:
    session = _session(request, Scope.TRADE)
    body = await _json_body(request, SubmitIntent)
    kw: dict[str, Any] = {}
    for name in ("notional", "limit_price", "max_slippage_bps", "deadline_ns"):
        value = getattr(body, name)
        if value is not None:
            kw[name] = value
    if body.algo != "direct":
        kw["algo"] = body.algo
    if body.algo_params is not None:
        kw["algo_params"] = dict(body.algo_params)
    if body.reduce_only:
        kw["reduce_only"] = True
    intent = session.intent(
        body.symbol,
        body.side,
        body.quantity,
        venues=body.venues,
        exchange=body.exchange,
        intent_id=body.intent_id,
        **kw,
    )
    known = intent.intent_id in session.engine.projections.intents
    order = await session.submit(intent)
    return _json(OrderOut.of(order), status=200 if known else 201)


def _order_id(request: web.Request) -> OrderId:
    oid = request.match_info["order_id"]
    if not re.fullmatch(_ORDER_ID, oid):
        raise _Refusal(422, "validation", f"order id {oid!r:.80} is not a valid order id")
    return OrderId(oid)


async def cancel_order(request: web.Request) -> web.Response:
    session = _session(request, Scope.TRADE)
    oid = _order_id(request)
    if request.can_read_body and await request.read():
        raise _Refusal(422, "validation", "cancel takes no body")
    current = session.engine.order(oid)  # 404 before anything is written
    if current.is_terminal:
        raise _Refusal(
            409,
            "already_terminal",
            f"order {oid} is already {current.status.value}; nothing to cancel",
        )
    order = await session.engine.cancel(oid)
    return _json(CancelOut(order=OrderOut.of(order)), status=202)


async def list_orders(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    q = _query(request, OrdersQuery)
    parents = [o for o in session.engine.orders() if o.parent_id is None]
    if q.status == "open":
        parents = [o for o in parents if not o.is_terminal]
    parents.sort(key=lambda o: (o.ts_init, o.order_id), reverse=True)
    return _json([OrderOut.of(o) for o in parents[: q.limit]])


async def get_order(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    oid = _order_id(request)
    order = session.engine.order(oid)
    kids = [OrderOut.of(session.engine.order(c)) for c in order.children]
    return _json(OrderDetail(order=OrderOut.of(order), children=kids))


async def list_fills(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    q = _query(request, FillsQuery)
    fills = list(session.engine.projections.fills.values())
    if q.order_id is not None:
        order = session.engine.order(OrderId(q.order_id))
        wanted = {order.order_id, *order.children}
        fills = [f for f in fills if f.order_id in wanted]
    return _json([FillOut.of(f) for f in fills])


async def list_positions(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    _query(request, _Query)
    return _json([PositionOut.of(p) for p in session.engine.positions()])


async def list_balances(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    _query(request, _Query)
    out: list[BalanceOut] = []
    for vid, venue in session.venues().items():
        try:
            bal = await asyncio.wait_for(venue.balances(), timeout=10)
            out.append(BalanceOut(venue=vid, balances=dict(bal)))
        except Exception as exc:  # one venue's failure does not hide the others' balances
            _log.info("balances of %s failed: %r", vid, exc)
            text = str(exc) or type(exc).__name__
            out.append(BalanceOut(venue=vid, balances={}, error=text))
    return _json(out)  # type: ignore[arg-type]


async def list_settlements(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    _query(request, _Query)
    rows = [
        SettlementOut.of(o.order_id, o.settlement)
        for o in session.engine.orders()
        if o.settlement is not None
    ]
    return _json(rows)  # type: ignore[arg-type]


async def list_events(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    q = _query(request, EventsQuery)
    limit = min(q.limit, request.app[_CONFIG].max_page)
    store = session.store
    events = [EventOut.of(r) for r in store.read_all(from_position=q.after, limit=limit)]
    last = store.last_position()
    nxt = events[-1].position if events else min(q.after, last)
    return _json(EventPage(events=events, next_after=nxt, last_position=last))


async def health(request: web.Request) -> web.Response:
    session = _session(request, Scope.READ)
    _query(request, _Query)
    engine = session.engine
    body = {
        "phase": engine.phase.value,
        "trading_state": engine.trading_state.value,
        "last_position": session.store.last_position(),
    }
    return web.json_response(body)


async def stream(request: web.Request) -> web.StreamResponse:
    """Events over a websocket, in position order from ``after``, without gaps or repeats."""
    app = request.app
    q = _query(request, StreamQuery)
    header_token = _bearer(request)
    if header_token is not None:
        _check_token(app, header_token, Scope.READ)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    if header_token is None:
        try:
            msg = await ws.receive(timeout=app[_CONFIG].ws_auth_timeout_s)
            token = msg.json().get("token") if msg.type is WSMsgType.TEXT else None
            if not isinstance(token, str):
                raise ValueError("no token")
            _check_token(app, token, Scope.READ)
        except _Refusal as exc:
            await ws.send_json(
                {"type": "error", "status": exc.status, "kind": exc.kind, "error": str(exc)}
            )
            await ws.close(code=4000 + exc.status)
            return ws
        except (ValueError, TimeoutError, AttributeError, TypeError):
            await ws.send_json(
                {
                    "type": "error",
                    "status": 401,
                    "kind": "unauthenticated",
                    "error": 'send {"token": "<token>"} as the first message',
                }
            )
            await ws.close(code=4401)
            return ws
    session = app[_SESSION]
    store = session.store
    wake = app[_WAKE]
    last = store.last_position() if q.after is None else q.after
    await ws.send_json({"type": "ready", "after": last})
    closed = asyncio.Event()

    async def reader() -> None:
        with contextlib.suppress(Exception):
            async for _ in ws:
                pass
        closed.set()

    reading = asyncio.create_task(reader())
    idle = app[_CONFIG].ws_idle_poll_s
    try:
        while not closed.is_set() and not ws.closed:
            pending = wake.current()  # taken before reading: a commit after the read wakes us
            batch = list(store.read_all(from_position=last, limit=500))
            for rec in batch:
                await ws.send_str(
                    '{"type":"event","event":' + EventOut.of(rec).model_dump_json() + "}"
                )
                last = rec.position
            if len(batch) == 500:
                continue
            waiter = asyncio.ensure_future(pending.wait())
            stopper = asyncio.ensure_future(closed.wait())
            await asyncio.wait({waiter, stopper}, timeout=idle, return_when="FIRST_COMPLETED")
            waiter.cancel()
            stopper.cancel()
    except (ConnectionResetError, RuntimeError):
        pass  # the client went away
    except OmsError as exc:  # the store went away (the session is closing): say so, then close
        _log.warning("stream stopped: %s", exc)
        with contextlib.suppress(Exception):
            await ws.send_json(
                {
                    "type": "error",
                    "status": 503,
                    "kind": "unavailable",
                    "error": f"{exc}; reconnect with after={last}",
                }
            )
        with contextlib.suppress(Exception):
            await ws.close(code=1011)
    finally:
        reading.cancel()
        with contextlib.suppress(BaseException):
            await reading
        await ws.close()
    return ws


async def openapi(request: web.Request) -> web.Response:
    from oms_chain.service.api.openapi import openapi_document

    return web.json_response(openapi_document(ROUTES))


async def dashboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/v1/intents",
        submit_intent,
        Scope.TRADE,
        "Submit an intent (spot or algo); answers its parent order",
        OrderOut,
        201,
        body=SubmitIntent,
    ),
    Route(
        "POST",
        "/api/v1/orders/{order_id}/cancel",
        cancel_order,
        Scope.TRADE,
        "Cancel an order (a parent: all its open children)",
        CancelOut,
        202,
        path_params=("order_id",),
    ),
    Route(
        "GET",
        "/api/v1/orders",
        list_orders,
        Scope.READ,
        "Parent orders, newest first (children by id)",
        OrderOut,
        many=True,
        query=OrdersQuery,
    ),
    Route(
        "GET",
        "/api/v1/orders/{order_id}",
        get_order,
        Scope.READ,
        "One order with its children in full",
        OrderDetail,
        path_params=("order_id",),
    ),
    Route(
        "GET",
        "/api/v1/fills",
        list_fills,
        Scope.READ,
        "Fills, in recorded order",
        FillOut,
        many=True,
        query=FillsQuery,
    ),
    Route(
        "GET", "/api/v1/positions", list_positions, Scope.READ, "Positions", PositionOut, many=True
    ),
    Route(
        "GET",
        "/api/v1/balances",
        list_balances,
        Scope.READ,
        "Balances per venue, as each venue reports them now",
        BalanceOut,
        many=True,
    ),
    Route(
        "GET",
        "/api/v1/settlements",
        list_settlements,
        Scope.READ,
        "Settlement of each transaction sent",
        SettlementOut,
        many=True,
    ),
    Route(
        "GET",
        "/api/v1/events",
        list_events,
        Scope.READ,
        "Audit events of the store, paged by position",
        EventPage,
        query=EventsQuery,
    ),
    Route(
        "GET",
        "/api/v1/stream",
        stream,
        Scope.READ,
        "Websocket: every event from `after` on, live (resume with the last position)",
        None,
        101,
        query=StreamQuery,
        websocket=True,
    ),
    Route(
        "GET",
        "/api/v1/health",
        health,
        Scope.READ,
        "Engine phase, trading state and the store's last position",
        None,
    ),
)

# Routes written in their own modules, which import the helpers above.
from oms_chain.service.api import amend_routes as _amend_routes  # noqa: E402
from oms_chain.service.api import risk_routes as _risk_routes  # noqa: E402

ROUTES = ROUTES + _amend_routes.ROUTES + _risk_routes.ROUTES


def create_app(
    session: TradingSession,
    tokens: TokenStore,
    *,
    config: ApiConfig | None = None,
    clock: Clock | None = None,
) -> web.Application:
    """The aiohttp application serving ``session`` (open, or opened before the app starts)
    to holders of ``tokens``. ``clock`` drives the rate limits (default: the system clock).

    Raises:
        InvalidInput: an argument of the wrong type.
    """
    if not isinstance(session, TradingSession):
        raise InvalidInput(f"session must be a TradingSession, got {type(session).__name__}")
    if not isinstance(tokens, TokenStore):
        raise InvalidInput(f"tokens must be a TokenStore, got {type(tokens).__name__}")
    cfg = config or ApiConfig()
    if not isinstance(cfg, ApiConfig):
        raise InvalidInput(f"config must be an ApiConfig, got {type(cfg).__name__}")
    app = web.Application(middlewares=[_errors], client_max_size=cfg.max_body_bytes)
    app[_SESSION] = session
    app[_TOKENS] = tokens
    app[_CONFIG] = cfg
    app[_LIMITER] = RateLimiter(cfg.rate_per_s, cfg.burst, clock or SystemClock())
    app[_WAKE] = _Wakeup()
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.handler)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/", dashboard)
    app.router.add_static("/static", STATIC)
    install_docs(app)
    app.on_startup.append(_start_pump)
    app.on_cleanup.append(_stop_pump)
    return app


async def _start_pump(app: web.Application) -> None:
    wake = app[_WAKE]
    events = app[_SESSION].engine.subscribe()

    async def pump() -> None:
        async for _ in events:
            wake.bump()
        wake.bump()

    app[_PUMP] = asyncio.create_task(pump())


async def _stop_pump(app: web.Application) -> None:
    task = app[_PUMP]
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


async def run_api(
    app: web.Application,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``on_ready(url)`` once listening.

    Raises:
        InvalidInput: not an application, a host that is not a non-empty string, a port
            outside 0-65535 (0: any free port), or an ``on_ready`` that is not callable.
    """
    if not isinstance(app, web.Application):
        raise InvalidInput(f"app must be an aiohttp Application, got {type(app).__name__}")
    if not isinstance(host, str) or not host.strip():
        raise InvalidInput(f"host must be an address such as '127.0.0.1', got {host!r:.60}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput(f"port must be 0-65535 (0: any free port), got {port!r:.20}")
    if on_ready is not None and not callable(on_ready):
        raise InvalidInput("on_ready must be a function of the URL")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if on_ready is not None:
            bound = runner.addresses[0] if runner.addresses else (host, port)
            on_ready(f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
