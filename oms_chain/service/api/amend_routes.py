"""API route to amend a parent order: its total quantity and/or limit price (trade scope).

The engine changes the single open child at its venue (an increase goes through the risk gate
for the added quantity); a refusal writes nothing.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, model_validator

from oms_chain.service.api._http import Route, _json, _Refusal, _session
from oms_chain.service.api._orders import _order_id
from oms_chain.service.api.models import Amount, OrderOut
from oms_chain.service.api.tokens import Scope

__all__ = ["AmendOrder"]


class AmendOrder(BaseModel):
    """New total ``quantity`` (base units) and/or ``limit_price`` (quote per base)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantity: Amount | None = None
    limit_price: Amount | None = None

    @model_validator(mode="after")
    def _something(self) -> AmendOrder:
        if self.quantity is None and self.limit_price is None:
            raise ValueError("give a new quantity and/or limit_price")
        return self


async def amend_order(request: web.Request) -> web.Response:
    """Amend a working parent (one open child); an increase is risk-checked."""
    session = _session(request, Scope.TRADE)
    oid = _order_id(request)
    if request.content_type != "application/json":
        raise _Refusal(
            415,
            "unsupported_media_type",
            f"send the body as application/json, not {request.content_type or 'nothing'}",
        )
    body = AmendOrder.model_validate_json(await request.read())
    current = session.engine.order(oid)  # 404 before anything is written
    if current.is_terminal:
        raise _Refusal(
            409,
            "already_terminal",
            f"order {oid} is already {current.status.value}; nothing to amend",
        )
    order = await session.engine.amend(oid, quantity=body.quantity, limit_price=body.limit_price)
    return _json(OrderOut.of(order))


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/v1/orders/{order_id}/amend",
        amend_order,
        Scope.TRADE,
        "Amend a working order's quantity and/or limit price",
        OrderOut,
        body=AmendOrder,
        path_params=("order_id",),
    ),
)
