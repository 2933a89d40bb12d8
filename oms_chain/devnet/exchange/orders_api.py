"""Order requests shared by the REST API and the WebSocket API: place, cancel, query and
cancel-replace from Binance's string parameters, answered in Binance's JSON shapes.

``POST /api/v3/order`` and ws-api ``order.place`` take the same parameters and give the same
answer; so do ``DELETE /api/v3/order`` / ``order.cancel``, ``GET /api/v3/order`` /
``order.status`` and ``POST /api/v3/order/cancelReplace`` / ``order.cancelReplace``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from decimal import Decimal, InvalidOperation
from typing import Protocol, TypedDict

from oms_chain.devnet.exchange.errors import ExchangeApiError, bad_symbol, mandatory_param
from oms_chain.devnet.exchange.markets import SymbolSpec
from oms_chain.devnet.exchange.matching import MatchingEngine
from oms_chain.devnet.exchange.security import OrderCounter
from oms_chain.devnet.exchange.wire import cancel_json, new_order_json, order_json


class OrderDesk(Protocol):
    """What an order request needs: the engine and the per-account order counter."""

    @property
    def engine(self) -> MatchingEngine: ...

    @property
    def order_counter(self) -> OrderCounter: ...


__all__ = [
    "OrderDesk",
    "cancel_open_orders",
    "cancel_order",
    "cancel_replace",
    "open_orders",
    "parse_decimal",
    "place_order",
    "query_order",
    "symbol_spec",
    "test_order",
]

_CANCEL_REPLACE_MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")


def parse_decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    """The decimal parameter ``name`` (None when absent or empty); -1100 when malformed."""
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ExchangeApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ) from None
    if not result.is_finite():
        raise ExchangeApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return result


def symbol_spec(desk: OrderDesk, params: Mapping[str, str]) -> SymbolSpec:
    """The market named by ``symbol``; -1102 when missing, -1121 when unknown."""
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory_param("symbol")
    spec = desk.engine.markets.get(symbol)
    if spec is None:
        raise bad_symbol()
    return spec


def _order_ref(
    params: Mapping[str, str], id_key: str, client_key: str
) -> tuple[int | None, str | None]:
    order_id = params.get(id_key)
    client_id = params.get(client_key)
    try:
        return (int(order_id) if order_id else None), (client_id or None)
    except ValueError:
        raise mandatory_param(id_key) from None


def _resp_type(params: Mapping[str, str], order_type: str) -> str:
    resp_type = params.get("newOrderRespType") or (
        "FULL" if order_type in ("LIMIT", "MARKET") else "ACK"
    )
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise ExchangeApiError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    return resp_type


class _OrderArgs(TypedDict):
    symbol: str
    side: str
    order_type: str
    quantity: Decimal | None
    quote_quantity: Decimal | None
    price: Decimal | None
    time_in_force: str | None
    stop_price: Decimal | None


def _order_args(desk: OrderDesk, params: Mapping[str, str]) -> _OrderArgs:
    spec = symbol_spec(desk, params)
    side = params.get("side")
    if not side:
        raise mandatory_param("side")
    order_type = params.get("type")
    if not order_type:
        raise mandatory_param("type")
    return _OrderArgs(
        {
            "symbol": spec.symbol,
            "side": side,
            "order_type": order_type,
            "quantity": parse_decimal(params, "quantity"),
            "quote_quantity": parse_decimal(params, "quoteOrderQty"),
            "price": parse_decimal(params, "price"),
            "time_in_force": params.get("timeInForce") or None,
            "stop_price": parse_decimal(params, "stopPrice"),
        }
    )


def place_order(
    desk: OrderDesk,
    account_id: str,
    params: Mapping[str, str],
    headers: MutableMapping[str, str] | None = None,
) -> dict[str, object]:
    """Place an order from Binance parameters; the answer for its ``newOrderRespType``."""
    args = _order_args(desk, params)
    resp_type = _resp_type(params, args["order_type"])
    counter = desk.order_counter
    counter.check(account_id)
    result = desk.engine.place(account_id, **args, client_order_id=params.get("newClientOrderId"))
    count = counter.add(account_id)
    if headers is not None:
        headers["X-MBX-ORDER-COUNT-10S"] = str(count)
    return new_order_json(result.order, result.trades, resp_type)


def test_order(desk: OrderDesk, account_id: str, params: Mapping[str, str]) -> dict[str, object]:
    """``order.test`` / ``POST /api/v3/order/test``: check the order, place nothing: ``{}``."""
    args = _order_args(desk, params)
    _resp_type(params, args["order_type"])
    desk.engine.check_order(**args)
    return {}


def query_order(desk: OrderDesk, account_id: str, params: Mapping[str, str]) -> dict[str, object]:
    """An order by ``orderId`` or ``origClientOrderId`` (-2013 when unknown)."""
    spec = symbol_spec(desk, params)
    order_id, client_id = _order_ref(params, "orderId", "origClientOrderId")
    return order_json(desk.engine.get_order(account_id, spec.symbol, order_id, client_id))


def cancel_order(desk: OrderDesk, account_id: str, params: Mapping[str, str]) -> dict[str, object]:
    """Cancel an open order by ``orderId`` or ``origClientOrderId`` (-2011 when not open)."""
    spec = symbol_spec(desk, params)
    order_id, client_id = _order_ref(params, "orderId", "origClientOrderId")
    order = desk.engine.cancel(
        account_id,
        spec.symbol,
        order_id,
        client_id,
        cancel_client_order_id=params.get("newClientOrderId") or None,
    )
    return cancel_json(order, desk.engine.now_ms())


def open_orders(desk: OrderDesk, account_id: str, params: Mapping[str, str]) -> object:
    """Open orders of the account (of ``symbol``, or all), oldest first."""
    symbol = symbol_spec(desk, params).symbol if params.get("symbol") else None
    return [order_json(o) for o in desk.engine.open_orders(account_id, symbol)]


def cancel_open_orders(desk: OrderDesk, account_id: str, params: Mapping[str, str]) -> object:
    """Cancel every open order of the account on ``symbol``."""
    symbol = symbol_spec(desk, params).symbol
    now = desk.engine.now_ms()
    return [cancel_json(o, now) for o in desk.engine.cancel_all(account_id, symbol)]


def cancel_replace(
    desk: OrderDesk,
    account_id: str,
    params: Mapping[str, str],
    headers: MutableMapping[str, str] | None = None,
) -> dict[str, object]:
    """Cancel ``cancelOrderId`` / ``cancelOrigClientOrderId`` and place the new order described
    by the other parameters, with Binance's ``cancelReplaceMode`` rules (see
    :meth:`~oms_chain.devnet.exchange.rest.RestApi.cancel_replace`)."""
    engine = desk.engine
    mode = params.get("cancelReplaceMode")
    if not mode:
        raise mandatory_param("cancelReplaceMode")
    if mode not in _CANCEL_REPLACE_MODES:
        raise ExchangeApiError(-1130, "Data sent for parameter 'cancelReplaceMode' is not valid.")
    args = _order_args(desk, params)
    resp_type = _resp_type(params, args["order_type"])
    cancel_id, cancel_client_id = _order_ref(params, "cancelOrderId", "cancelOrigClientOrderId")
    if cancel_id is None and cancel_client_id is None:
        raise ExchangeApiError(
            -1102,
            "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were "
            "empty/null!",
        )
    # Filters and the order count are evaluated before anything happens; the new order counts
    # even when it is not attempted (as on Binance).
    engine.check_order(**args)
    desk.order_counter.check(account_id)
    count = desk.order_counter.add(account_id)
    if headers is not None:
        headers["X-MBX-ORDER-COUNT-10S"] = str(count)
    symbol = args["symbol"]
    cancel_response: dict[str, object]
    try:
        canceled = engine.cancel(
            account_id,
            symbol,
            cancel_id,
            cancel_client_id,
            cancel_client_order_id=params.get("cancelNewClientOrderId") or None,
        )
        cancel_ok = True
        cancel_response = cancel_json(canceled, engine.now_ms())
    except ExchangeApiError as exc:
        cancel_ok = False
        cancel_response = exc.to_json()
    if not cancel_ok and mode == "STOP_ON_FAILURE":
        raise ExchangeApiError(
            -2022,
            "Order cancel-replace failed.",
            data={
                "cancelResult": "FAILURE",
                "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": cancel_response,
                "newOrderResponse": None,
            },
        )
    new_response: dict[str, object]
    try:
        result = engine.place(account_id, **args, client_order_id=params.get("newClientOrderId"))
        new_ok = True
        new_response = new_order_json(result.order, result.trades, resp_type)
    except ExchangeApiError as exc:
        new_ok = False
        new_response = exc.to_json()
    body: dict[str, object] = {
        "cancelResult": "SUCCESS" if cancel_ok else "FAILURE",
        "newOrderResult": "SUCCESS" if new_ok else "FAILURE",
        "cancelResponse": cancel_response,
        "newOrderResponse": new_response,
    }
    if cancel_ok and new_ok:
        return body
    if cancel_ok or new_ok:
        raise ExchangeApiError(-2021, "Order cancel-replace partially failed.", data=body)
    raise ExchangeApiError(-2022, "Order cancel-replace failed.", data=body)
