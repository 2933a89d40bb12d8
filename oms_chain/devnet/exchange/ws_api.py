"""SIGNED requests of the WebSocket API (``/ws-api/v3``): the signature check and the order
methods, which take the same parameters and give the same answers as their REST twins.

A request is ``{"id": ..., "method": "order.place", "params": {..., "apiKey", "timestamp",
"signature"}}``; the signature is the hex HMAC-SHA256 of every other parameter, sorted by name,
as ``k=v`` joined by ``&`` (booleans as ``true`` / ``false``), what ccxt.pro's ``sign_params``
sends. Connections, subscriptions and framing live in :mod:`.streams`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from oms_chain.devnet.exchange import orders_api
from oms_chain.devnet.exchange.errors import ExchangeApiError
from oms_chain.devnet.exchange.security import ApiKey, KeyRing, check_timestamp, hmac_hex

__all__ = ["ORDER_METHODS", "signed_key", "string_params"]

_OrderMethod = Callable[[orders_api.OrderDesk, str, Mapping[str, str]], object]

ORDER_METHODS: Mapping[str, _OrderMethod] = {
    "order.place": orders_api.place_order,
    "order.test": orders_api.test_order,
    "order.status": orders_api.query_order,
    "order.cancel": orders_api.cancel_order,
    "order.cancelReplace": orders_api.cancel_replace,
    "openOrders.status": orders_api.open_orders,
    "openOrders.cancelAll": orders_api.cancel_open_orders,
}
"""ws-api order methods -> the shared order request (REST: order, order/test, order (GET),
order (DELETE), order/cancelReplace, openOrders (GET), openOrders (DELETE))."""


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def string_params(params: Mapping[str, object]) -> dict[str, str]:
    """The JSON parameters as the strings a REST request would carry."""
    return {k: _text(v) for k, v in params.items()}


def signed_key(keys: KeyRing, params: Mapping[str, object], now_ms: int) -> ApiKey:
    """The API key of a SIGNED request: ``apiKey`` known (-2014 / -2015), ``signature`` right
    (-1022), ``timestamp`` within ``recvWindow`` (-1021)."""
    key = keys.lookup(str(params.get("apiKey") or ""))
    signature = params.get("signature")
    payload = "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature")
    if not isinstance(signature, str) or hmac_hex(key.secret, payload) != signature.lower():
        raise ExchangeApiError(-1022, "Signature for this request is not valid.")
    timestamp, window = params.get("timestamp"), params.get("recvWindow")
    check_timestamp(
        None if timestamp is None else str(timestamp),
        None if window is None else str(window),
        now_ms,
    )
    return key
