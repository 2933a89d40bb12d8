"""Routes of the trading area: submit an intent, cancel, list and read orders, list fills."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from oms_chain.model.ids import OrderId
from oms_chain.service.api._http import (
    _ORDER_ID,
    FillsQuery,
    OrdersQuery,
    _json,
    _json_body,
    _query,
    _Refusal,
    _session,
)
from oms_chain.service.api.models import CancelOut, FillOut, OrderDetail, OrderOut, SubmitIntent
from oms_chain.service.api.tokens import Scope


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
