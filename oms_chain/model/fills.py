"""Fills: executions reported by a venue against one child order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    OrderId,
    TradeId,
    VenueId,
)
from oms_chain.model.intent import Side

__all__ = ["Fill"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution. ``quantity`` in base, ``price`` in quote per base, ``fee`` in
    ``fee_currency``. ``(venue, trade_id, client_order_id)`` identifies a fill uniquely (used for
    de-duplication): a trade between two of our own orders is two fills with one trade id.
    """

    trade_id: TradeId
    order_id: OrderId
    client_order_id: ClientOrderId
    venue: VenueId
    account: AccountId
    instrument_id: InstrumentId
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts_event: int

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise InvalidInput(f"fill {self.trade_id}: quantity must be positive")
        if self.price <= 0:
            raise InvalidInput(f"fill {self.trade_id}: price must be positive")
        if self.fee < 0:
            raise InvalidInput(f"fill {self.trade_id}: fee must not be negative")

    @property
    def key(self) -> str:
        """Globally unique key ``<venue>:<trade_id>:<client_order_id>``."""
        return self.key_for(self.venue, self.trade_id, self.client_order_id)

    @staticmethod
    def key_for(venue: str, trade_id: str, client_order_id: str) -> str:
        """The :attr:`key` of a fill, from a venue report's fields."""
        return f"{venue}:{trade_id}:{client_order_id}"

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price

    def to_payload(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "venue": self.venue,
            "account": self.account,
            "instrument_id": self.instrument_id,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "fee": str(self.fee),
            "fee_currency": self.fee_currency,
            "ts_event": self.ts_event,
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> Fill:
        return cls(
            trade_id=TradeId(p["trade_id"]),
            order_id=OrderId(p["order_id"]),
            client_order_id=ClientOrderId(p["client_order_id"]),
            venue=VenueId(p["venue"]),
            account=AccountId(p["account"]),
            instrument_id=InstrumentId(p["instrument_id"]),
            side=Side(p["side"]),
            quantity=Decimal(p["quantity"]),
            price=Decimal(p["price"]),
            fee=Decimal(p["fee"]),
            fee_currency=p["fee_currency"],
            ts_event=p["ts_event"],
        )
