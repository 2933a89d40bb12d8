"""The HTTP and websocket API over a :class:`~oms_chain.service.TradingSession` (aiohttp).

Every ``/api/v1`` route needs a token (``Authorization: Bearer oms_…``; the stream also takes it
as its first message, for browsers). ``read`` tokens may call every GET and the stream, ``trade``
tokens also submit and cancel. Bodies are checked by the pydantic models of :mod:`.models`
(422 naming the fields), then by the session (422 with its message) before anything reaches the
engine; a refused request writes nothing. Every 4xx is a JSON :class:`~.models.ErrorOut`.

This module holds the route table and the application; the routes live by area in
``_orders`` (trading), ``_views`` (reads) and ``_stream`` (the websocket), and what they share
(errors, tokens, parsing, :class:`ApiConfig`) in ``_http``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from oms_chain.model.clock import Clock, SystemClock
from oms_chain.model.errors import InvalidInput
from oms_chain.service.api import alert_routes, amend_routes, risk_routes, structure_routes
from oms_chain.service.api._http import (
    _CONFIG,
    _LIMITER,
    _PUMP,
    _SESSION,
    _TOKENS,
    _WAKE,
    ApiConfig,
    EventsQuery,
    FillsQuery,
    OrdersQuery,
    Route,
    StreamQuery,
    _errors,
    _Wakeup,
)
from oms_chain.service.api._orders import (
    cancel_order,
    get_order,
    list_fills,
    list_orders,
    submit_intent,
)
from oms_chain.service.api._stream import stream
from oms_chain.service.api._views import (
    health,
    list_balances,
    list_events,
    list_positions,
    list_settlements,
)
from oms_chain.service.api.docs_routes import install_docs
from oms_chain.service.api.limits import RateLimiter
from oms_chain.service.api.models import (
    BalanceOut,
    CancelOut,
    EventPage,
    FillOut,
    OrderDetail,
    OrderOut,
    PositionOut,
    SettlementOut,
    SubmitIntent,
)
from oms_chain.service.api.tokens import Scope, TokenStore
from oms_chain.service.session import TradingSession

__all__ = ["ApiConfig", "create_app", "run_api"]

STATIC = Path(__file__).with_name("static")


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

ROUTES = (
    ROUTES
    + amend_routes.ROUTES
    + risk_routes.ROUTES
    + alert_routes.ROUTES
    + structure_routes.ROUTES
)


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
