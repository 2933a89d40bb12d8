"""Fills: executions reported by a venue against one child order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.model.amounts import to_decimal
from oms_chain.model.checks import check_decimal, check_instance, check_ns, check_str, shown
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
        check_str(self.trade_id, "fill trade_id")
        what = f"fill {self.trade_id}"
        for name in ("order_id", "client_order_id", "venue", "account", "instrument_id"):
            check_str(getattr(self, name), f"{what}: {name}")
        check_instance(self.side, f"{what}: side", Side, "a Side")
        set_ = object.__setattr__
        set_(self, "quantity", check_decimal(self.quantity, f"{what}: quantity", gt=0))
        set_(self, "price", check_decimal(self.price, f"{what}: price", gt=0))
        set_(self, "fee", check_decimal(self.fee, f"{what}: fee", ge=0))
        check_instance(self.fee_currency, f"{what}: fee_currency", str, "a str")
        check_ns(self.ts_event, f"{what}: ts_event")

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
        """Inverse of :meth:`to_payload`.

        Raises:
            InvalidInput: ``p`` is not a mapping, lacks a field or has a bad value.
        """
        if not isinstance(p, Mapping):
            raise InvalidInput(f"fill payload must be a mapping, got {type(p).__name__}")
        try:
            return cls._from_payload(p)
        except InvalidInput:
            raise
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidInput(f"malformed fill payload: {shown(exc)}") from None

    @classmethod
    def _from_payload(cls, p: Mapping[str, Any]) -> Fill:
        return cls(
            trade_id=TradeId(p["trade_id"]),
            order_id=OrderId(p["order_id"]),
            client_order_id=ClientOrderId(p["client_order_id"]),
            venue=VenueId(p["venue"]),
            account=AccountId(p["account"]),
            instrument_id=InstrumentId(p["instrument_id"]),
            side=Side(p["side"]),
            quantity=to_decimal(p["quantity"], what="fill quantity"),
            price=to_decimal(p["price"], what="fill price"),
            fee=to_decimal(p["fee"], what="fill fee"),
            fee_currency=p["fee_currency"],
            ts_event=p["ts_event"],
        )
