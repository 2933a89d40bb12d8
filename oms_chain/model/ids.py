"""Identifier types and the deterministic client order id scheme.

Identifiers are ``NewType`` strings so mypy keeps an order id from being passed where a client
order id is expected. Client order ids are derived from the intent id and a child sequence
number, so re-submitting the same intent after a crash produces the same ids (idempotency).
"""

from __future__ import annotations

import hashlib
import re
from typing import NewType

from oms_chain.model.errors import InvalidInput

__all__ = [
    "CLIENT_ORDER_ID_PATTERN",
    "AccountId",
    "ClientOrderId",
    "EventId",
    "InstrumentId",
    "IntentId",
    "OrderId",
    "TradeId",
    "TxHash",
    "VenueId",
    "VenueOrderId",
    "child_order_id",
    "client_order_id",
    "parent_order_id",
]

IntentId = NewType("IntentId", str)
OrderId = NewType("OrderId", str)
ClientOrderId = NewType("ClientOrderId", str)
VenueOrderId = NewType("VenueOrderId", str)
TradeId = NewType("TradeId", str)
AccountId = NewType("AccountId", str)
VenueId = NewType("VenueId", str)
InstrumentId = NewType("InstrumentId", str)
EventId = NewType("EventId", str)
TxHash = NewType("TxHash", str)

#: Binance's ``newClientOrderId`` rule, the strictest among the venues we target.
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")

_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise InvalidInput(
            f"{kind} {value!r} is not valid: use 1-128 characters from A-Z a-z 0-9 . _ : -"
        )


def parent_order_id(intent_id: IntentId) -> OrderId:
    """The parent order id of an intent: stable, so replaying the intent finds the same order."""
    _check_id("intent id", intent_id)
    return OrderId(f"o-{intent_id}")


def child_order_id(parent: OrderId, seq: int) -> OrderId:
    """The id of the ``seq``-th child (0-based) of ``parent``."""
    if seq < 0:
        raise InvalidInput(f"child sequence must be >= 0, got {seq}")
    return OrderId(f"{parent}/{seq}")


def client_order_id(intent_id: IntentId, seq: int, *, prefix: str = "oms") -> ClientOrderId:
    """Deterministic client order id for child ``seq`` of ``intent_id``.

    ``<prefix>-<24 hex of blake2b(intent_id, seq)>-<seq>``; at most 36 characters from
    ``[a-zA-Z0-9-_]`` so it is accepted by Binance's ``newClientOrderId`` and by every venue with
    a looser rule. 96 bits of hash make collisions between intents negligible; uniqueness is still
    enforced by the store's client order id table.
    """
    _check_id("intent id", intent_id)
    if seq < 0:
        raise InvalidInput(f"child sequence must be >= 0, got {seq}")
    if not re.fullmatch(r"[a-zA-Z0-9]{1,6}", prefix):
        raise InvalidInput(f"client order id prefix {prefix!r} must be 1-6 letters or digits")
    digest = hashlib.blake2b(f"{intent_id}\x00{seq}".encode(), digest_size=12).hexdigest()
    coid = f"{prefix}-{digest}-{seq}"
    if not CLIENT_ORDER_ID_PATTERN.match(coid):
        raise InvalidInput(f"child sequence {seq} too large for a 36-character client order id")
    return ClientOrderId(coid)
