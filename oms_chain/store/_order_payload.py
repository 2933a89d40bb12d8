"""An :class:`~oms_chain.model.orders.Order` as a JSON-ready dict and back: the orders of a
:meth:`~oms_chain.store.projections.Projections.to_snapshot`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms_chain.model.ids import AccountId, IntentId, OrderId, TxHash
from oms_chain.model.instruments import instrument_from_payload
from oms_chain.model.intent import Side
from oms_chain.model.orders import Order, OrderStatus, SettlementState, SettlementStatus

__all__ = ["order_from_payload", "order_to_payload"]


def _dec(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def order_to_payload(o: Order) -> dict[str, Any]:
    """``o`` as a JSON-ready dict (decimals as strings)."""
    st = o.settlement
    return {
        "order_id": o.order_id,
        "intent_id": o.intent_id,
        "account": o.account,
        "instrument": o.instrument.to_payload(),
        "side": o.side.value,
        "quantity": str(o.quantity),
        "limit_price": None if o.limit_price is None else str(o.limit_price),
        "status": o.status.value,
        "parent_id": o.parent_id,
        "seq": o.seq,
        "client_order_id": o.client_order_id,
        "venue": o.venue,
        "venue_order_id": o.venue_order_id,
        "filled_quantity": str(o.filled_quantity),
        "avg_fill_price": None if o.avg_fill_price is None else str(o.avg_fill_price),
        "reason": o.reason,
        "settlement": None
        if st is None
        else {
            "tx_hash": st.tx_hash,
            "status": st.status.value,
            "confirmations": st.confirmations,
            "block_number": st.block_number,
        },
        "children": list(o.children),
        "ts_init": o.ts_init,
        "ts_last": o.ts_last,
    }


def order_from_payload(p: dict[str, Any]) -> Order:
    """The order :func:`order_to_payload` wrote."""
    st = p["settlement"]
    return Order(
        order_id=OrderId(p["order_id"]),
        intent_id=IntentId(p["intent_id"]),
        account=AccountId(p["account"]),
        instrument=instrument_from_payload(p["instrument"]),
        side=Side(p["side"]),
        quantity=Decimal(p["quantity"]),
        limit_price=_dec(p["limit_price"]),
        status=OrderStatus(p["status"]),
        parent_id=p["parent_id"],
        seq=p["seq"],
        client_order_id=p["client_order_id"],
        venue=p["venue"],
        venue_order_id=p["venue_order_id"],
        filled_quantity=Decimal(p["filled_quantity"]),
        avg_fill_price=_dec(p["avg_fill_price"]),
        reason=p["reason"],
        settlement=None
        if st is None
        else SettlementState(
            tx_hash=TxHash(st["tx_hash"]),
            status=SettlementStatus(st["status"]),
            confirmations=st["confirmations"],
            block_number=st["block_number"],
        ),
        children=tuple(OrderId(c) for c in p["children"]),
        ts_init=p["ts_init"],
        ts_last=p["ts_last"],
    )
