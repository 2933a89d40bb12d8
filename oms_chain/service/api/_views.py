"""Read-only routes over the session: positions, balances, settlements, audit events, health."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from oms_chain.service.api._http import _CONFIG, EventsQuery, _json, _Query, _query, _session
from oms_chain.service.api.models import (
    BalanceOut,
    EventOut,
    EventPage,
    PositionOut,
    SettlementOut,
)
from oms_chain.service.api.tokens import Scope

_log = logging.getLogger("oms_chain.service.api.app")  # the API's one logger


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
