"""Identifier types and the deterministic client order id scheme.

Identifiers are ``NewType`` strings so mypy keeps an order id from being passed where a client
order id is expected. Client order ids are derived from the intent id and a child sequence
number, so re-submitting the same intent after a crash produces the same ids (idempotency).
"""

from __future__ import annotations

import hashlib
import re
from typing import NewType

from oms_chain.model.checks import check_int, check_str
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

_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_PREFIX = re.compile(r"[a-zA-Z0-9]{1,6}")
_ORDER_ID = re.compile(r"[A-Za-z0-9._:/\-]{1,256}")
_MAX_SEQ = 10**9 - 1


def _check_id(kind: str, value: str) -> None:
    check_str(
        value, kind, pattern=_ID_PATTERN, rule="use 1-128 characters from A-Z a-z 0-9 . _ : -"
    )


def parent_order_id(intent_id: IntentId) -> OrderId:
    """The parent order id of an intent: stable, so replaying the intent finds the same order."""
    _check_id("intent id", intent_id)
    return OrderId(f"o-{intent_id}")


def child_order_id(parent: OrderId, seq: int) -> OrderId:
    """The id of the ``seq``-th child (0-based) of ``parent``.

    Raises:
        InvalidInput: ``parent`` is not an order id or ``seq`` not an int in 0..999,999,999.
    """
    check_str(
        parent, "parent order id", pattern=_ORDER_ID, rule="an order id (A-Z a-z 0-9 . _ : / -)"
    )
    check_int(seq, "child sequence seq", minimum=0, maximum=_MAX_SEQ)
    return OrderId(f"{parent}/{seq}")


def client_order_id(intent_id: IntentId, seq: int, *, prefix: str = "oms") -> ClientOrderId:
    """Deterministic client order id for child ``seq`` of ``intent_id``.

    ``<prefix>-<24 hex of blake2b(intent_id, seq)>-<seq>``; at most 36 characters from
    ``[a-zA-Z0-9-_]`` so it is accepted by Binance's ``newClientOrderId`` and by every venue with
    a looser rule. 96 bits of hash make collisions between intents negligible; uniqueness is still
    enforced by the store's client order id table.
    """
    _check_id("intent id", intent_id)
    check_int(seq, "child sequence seq", minimum=0, maximum=_MAX_SEQ)
    check_str(prefix, "client order id prefix", pattern=_PREFIX, rule="1-6 letters or digits")
    digest = hashlib.blake2b(f"{intent_id}\x00{seq}".encode(), digest_size=12).hexdigest()
    coid = f"{prefix}-{digest}-{seq}"
    if not CLIENT_ORDER_ID_PATTERN.match(coid):
        raise InvalidInput(f"child sequence {seq} too large for a 36-character client order id")
    return ClientOrderId(coid)
