"""Admin HTTP endpoints under ``/_sim/`` of the Deribit-protocol exchange (JSON in, JSON out),
for tests and demos in other processes.

* ``GET  /_sim/state``             - URLs, accounts, index, active instruments, armed faults
* ``POST /_sim/index``             - ``{"currency": "ETH", "price": "3300"}``: move an index
* ``POST /_sim/settle``            - ``{"delivery_usd": {"ETH": "3300"}}``: deliver expired options
* ``POST /_sim/accounts``          - ``{"client_id", "client_secret", "balances": {"ETH": 10}}``
* ``POST /_sim/agents/step``       - the maker requotes now -> ``{"requoted": n}``
* ``POST /_sim/faults/rpc``        - ``{"kind": "delay|fail|timeout|drop", "method":
  "private/buy" | null, "count", "delay_s", "status", "code"}``
* ``POST /_sim/faults/skip_book``  - ``{"instrument": "ETH-PERPETUAL" | null, "count": 1}``
* ``POST /_sim/faults/drop_ws``    - ``{}`` -> ``{"dropped": n}``
* ``POST /_sim/faults/clear``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from oms_chain.devnet.deribit.simulator import DeribitSimulator

__all__ = ["add_admin_routes"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KINDS = ("delay", "fail", "timeout", "drop")


def add_admin_routes(app: web.Application, sim: DeribitSimulator) -> None:
    """Register the ``/_sim/`` routes of ``sim`` on ``app``."""

    def guarded(fn: Callable[[dict[str, Any]], Awaitable[object]]) -> _Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                data: Any = await request.json() if request.body_exists else {}
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                result = await fn(data)
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
            return web.json_response(result)

        return handler

    async def state(_: dict[str, Any]) -> object:
        ex = sim.exchange
        return {
            "url": sim.url,
            "ws_url": sim.ws_url,
            "now_ms": ex.now_ms(),
            "accounts": sorted(ex.accounts),
            "index_usd": {k: str(v) for k, v in sorted(ex.index.items())},
            "active_instruments": len(ex.active),
            "websockets": len(sim.server.sessions),
            "faults": {
                "rpc": [f"{f.kind} {f.path or '*'} x{f.count}" for f in sim.faults.rest],
                "skip_book": {str(k): v for k, v in sim.faults.skip_depth.items()},
                "fired": dict(sim.faults.fired),
            },
        }

    async def index(data: dict[str, Any]) -> object:
        sim.set_index(str(data["currency"]), Decimal(str(data["price"])))
        return {k: str(v) for k, v in sorted(sim.exchange.index.items())}

    async def settle(data: dict[str, Any]) -> object:
        raw = data.get("delivery_usd") or {}
        if not isinstance(raw, dict):
            raise ValueError("delivery_usd must be an object of currency -> price")
        prices = {str(k): Decimal(str(v)) for k, v in raw.items()}
        return {"settled": sim.settle_expired(prices)}

    async def accounts(data: dict[str, Any]) -> object:
        raw = data.get("balances") or {}
        if not isinstance(raw, dict):
            raise ValueError("balances must be an object of currency -> amount")
        balances = {str(k): Decimal(str(v)) for k, v in raw.items()}
        account = sim.create_account(str(data["client_id"]), str(data["client_secret"]), balances)
        return {"client_id": account.client_id}

    async def step(_: dict[str, Any]) -> object:
        return {"requoted": sim.step_agents()}

    async def rpc_fault(data: dict[str, Any]) -> object:
        kind = data["kind"]
        if kind not in _KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use delay, fail, timeout or drop")
        count = data.get("count", 1)
        method = data.get("method")
        sim.inject_fault(
            kind,
            None if method is None else str(method),
            count=None if count is None else int(count),
            delay_s=float(data.get("delay_s", 0.0)),
            status=int(data.get("status", 503)),
            code=int(data.get("code", 10040)),
        )
        return {}

    async def skip_book(data: dict[str, Any]) -> object:
        instrument = data.get("instrument")
        sim.skip_book_changes(
            None if instrument is None else str(instrument), int(data.get("count", 1))
        )
        return {}

    async def drop_ws(_: dict[str, Any]) -> object:
        return {"dropped": await sim.drop_connections()}

    async def clear(_: dict[str, Any]) -> object:
        sim.faults.clear()
        return {}

    app.router.add_get("/_sim/state", guarded(state))
    app.router.add_post("/_sim/index", guarded(index))
    app.router.add_post("/_sim/settle", guarded(settle))
    app.router.add_post("/_sim/accounts", guarded(accounts))
    app.router.add_post("/_sim/agents/step", guarded(step))
    app.router.add_post("/_sim/faults/rpc", guarded(rpc_fault))
    app.router.add_post("/_sim/faults/skip_book", guarded(skip_book))
    app.router.add_post("/_sim/faults/drop_ws", guarded(drop_ws))
    app.router.add_post("/_sim/faults/clear", guarded(clear))
