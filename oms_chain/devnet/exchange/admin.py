"""Admin HTTP endpoints under ``/_sim/`` (JSON in, JSON out) for tests and demos in other processes.

* ``GET  /_sim/state``                 - ports, accounts, book update ids, armed faults, agents
* ``GET  /_sim/prices``                - current USD prices of the price path
* ``POST /_sim/accounts``              - ``{"api_key", "secret", "balances": {asset: amount}}``
* ``POST /_sim/faults/drop_ws``        - ``{"abrupt": true}`` -> ``{"dropped": n}``
* ``POST /_sim/faults/skip_depth``     - ``{"symbol": "ETHUSDC" | null, "count": 1}``
* ``POST /_sim/faults/rest``           - ``{"kind": "delay|fail|timeout|drop", "method", "path",
  "count", "delay_s", "status"}``
* ``POST /_sim/faults/throttle``       - ``{"weight_limit": 100 | null}``
* ``POST /_sim/faults/clear``
* ``POST /_sim/agents/pause`` / ``resume`` / ``step`` (``{"steps": n}``)
* ``POST /_sim/anchor/refresh``        - read the price anchor (the pools) now -> applied prices
* ``POST /_sim/maintenance``           - ``{"on": true}``: system status says maintenance
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from oms_chain.devnet.exchange.markets import fmt

if TYPE_CHECKING:
    from oms_chain.devnet.exchange.simulator import ExchangeSimulator

__all__ = ["add_admin_routes"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_admin_routes(app: web.Application, sim: ExchangeSimulator) -> None:
    """Register the ``/_sim/`` routes of ``sim`` on ``app``."""

    async def body(request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return data

    def guarded(fn: Callable[[dict[str, Any]], Awaitable[object]]) -> _Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                result = await fn(await body(request))
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            return web.json_response(result)

        return handler

    async def state(_: dict[str, Any]) -> object:
        engine = sim.engine
        return {
            "url": sim.url,
            "ws_url": sim.ws_url,
            "accounts": sorted(engine.accounts),
            "update_ids": {s: engine.update_id(s) for s in engine.markets},
            "websockets": len(sim.hub.conns),
            "faults": {
                "rest": [
                    f"{f.kind} {f.method or '*'} {f.path or '*'} x{f.count}"
                    for f in sim.faults.rest
                ],
                "skip_depth": {str(k): v for k, v in sim.faults.skip_depth.items()},
                "fired": dict(sim.faults.fired),
                "weight_limit": sim.limiter.limit,
            },
            "agents": {"running": sim.agents.running, "steps": sim.agents.steps},
            "anchor": {
                "anchored": sim.config.anchor is not None,
                "failures": sim.anchor_failures,
            },
            "maintenance": sim.maintenance,
        }

    async def prices(_: dict[str, Any]) -> object:
        return {asset: fmt(price) for asset, price in sim.prices_usd().items()}

    async def accounts(data: dict[str, Any]) -> object:
        balances = {str(k): Decimal(str(v)) for k, v in (data.get("balances") or {}).items()}
        account_id = sim.create_account(str(data["api_key"]), str(data["secret"]), balances)
        return {"account_id": account_id}

    async def drop_ws(data: dict[str, Any]) -> object:
        return {"dropped": await sim.drop_websockets(abrupt=bool(data.get("abrupt", True)))}

    async def skip_depth(data: dict[str, Any]) -> object:
        sim.skip_depth_updates(data.get("symbol"), int(data.get("count", 1)))
        return {}

    async def rest(data: dict[str, Any]) -> object:
        kind = data["kind"]
        if kind not in ("delay", "fail", "timeout", "drop"):
            raise ValueError(f"unknown fault kind {kind!r}; use delay, fail, timeout or drop")
        count = data.get("count", 1)
        sim.inject_rest_fault(
            kind,
            method=data.get("method"),
            path=data.get("path"),
            count=None if count is None else int(count),
            delay_s=float(data.get("delay_s", 0.0)),
            status=int(data.get("status", 503)),
        )
        return {}

    async def throttle(data: dict[str, Any]) -> object:
        limit = data.get("weight_limit")
        sim.throttle(None if limit is None else int(limit))
        return {"weight_limit": sim.limiter.limit}

    async def clear(_: dict[str, Any]) -> object:
        sim.clear_faults()
        return {}

    async def pause(_: dict[str, Any]) -> object:
        sim.pause_agents()
        return {}

    async def resume(_: dict[str, Any]) -> object:
        sim.resume_agents()
        return {}

    async def step(data: dict[str, Any]) -> object:
        sim.step_agents(int(data.get("steps", 1)))
        return {"steps": sim.agents.steps}

    app.router.add_get("/_sim/state", guarded(state))
    app.router.add_get("/_sim/prices", guarded(prices))
    app.router.add_post("/_sim/accounts", guarded(accounts))
    app.router.add_post("/_sim/faults/drop_ws", guarded(drop_ws))
    app.router.add_post("/_sim/faults/skip_depth", guarded(skip_depth))
    app.router.add_post("/_sim/faults/rest", guarded(rest))
    app.router.add_post("/_sim/faults/throttle", guarded(throttle))
    app.router.add_post("/_sim/faults/clear", guarded(clear))
    app.router.add_post("/_sim/agents/pause", guarded(pause))
    app.router.add_post("/_sim/agents/resume", guarded(resume))
    app.router.add_post("/_sim/agents/step", guarded(step))

    async def refresh_anchor(_: dict[str, Any]) -> object:
        return {asset: fmt(price) for asset, price in (await sim.refresh_anchor()).items()}

    async def maintenance(data: dict[str, Any]) -> object:
        sim.maintenance = bool(data.get("on", True))
        return {"maintenance": sim.maintenance}

    app.router.add_post("/_sim/anchor/refresh", guarded(refresh_anchor))
    app.router.add_post("/_sim/maintenance", guarded(maintenance))
