"""Deribit API v2 methods over the exchange: parameter parsing and the method table.

Parameters come as strings (HTTP query) or JSON values (JSON-RPC body, websocket); each reader
accepts both and raises -32602 ``Invalid params`` naming the parameter otherwise. A handler
gets the caller's client id (``None`` for public methods) and returns the ``result`` member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from oms_chain.devnet.deribit import wire
from oms_chain.devnet.deribit.errors import DeribitApiError, invalid_params
from oms_chain.devnet.deribit.instruments import CURRENCIES

if TYPE_CHECKING:
    from oms_chain.devnet.deribit.exchange import DeribitExchange

__all__ = ["METHODS", "Handler", "Params"]

Params = Mapping[str, object]
Handler = Callable[["DeribitExchange", "str | None", Params], object]

_KINDS = ("future", "option")
_CURRENCY_LONG = {"BTC": "Bitcoin", "ETH": "Ethereum"}


def text(params: Params, name: str, default: str | None = None) -> str:
    """A string parameter (required when ``default`` is None)."""
    value = params.get(name)
    if value is None:
        if default is None:
            raise invalid_params(name, "value required")
        return default
    if not isinstance(value, str) or len(value) > 256:
        raise invalid_params(name, "must be a string of at most 256 characters")
    return value


def number(params: Params, name: str, required: bool = True) -> Decimal | None:
    """A decimal parameter from a JSON number or a string."""
    value = params.get(name)
    if value is None:
        if required:
            raise invalid_params(name, "value required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid_params(name, "must be a number")
    if isinstance(value, str) and len(value) > 64:
        raise invalid_params(name, "must be a number")
    try:
        parsed = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise invalid_params(name, "must be a number") from None
    if not parsed.is_finite():
        raise invalid_params(name, "must be a finite number")
    return parsed


def flag(params: Params, name: str, default: bool = False) -> bool:
    """A boolean parameter (JSON true/false or the strings ``true`` / ``false``)."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise invalid_params(name, "must be true or false")


def integer(params: Params, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within ``[low, high]``."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise invalid_params(name, "must be an integer")
    try:
        parsed = int(value) if isinstance(value, int | str) else None
    except ValueError:
        parsed = None
    if parsed is None or not low <= parsed <= high:
        raise invalid_params(name, f"must be an integer within [{low}, {high}]")
    return parsed


def currency(params: Params, name: str = "currency", allow_any: bool = False) -> str | None:
    """``BTC`` / ``ETH`` (or ``any`` -> None when allowed)."""
    value = text(params, name, "any" if allow_any else None)
    if allow_any and value == "any":
        return None
    if value not in CURRENCIES:
        raise invalid_params(name, "invalid currency")
    return value


def kind(params: Params) -> str | None:
    """Optional ``kind`` filter: ``future`` or ``option`` (``any`` / absent: no filter)."""
    value = params.get("kind")
    if value is None or value == "any":
        return None
    if value not in _KINDS:
        raise invalid_params("kind", "kind must be future, option or any")
    return str(value)


def _client(client_id: str | None) -> str:
    if client_id is None:
        raise DeribitApiError(13009, "unauthorized", {"reason": "private method"}, 401)
    return client_id


# ------------------------------------------------------------------ public


def _get_time(ex: DeribitExchange, _: str | None, params: Params) -> object:
    return ex.now_ms()


def _test(ex: DeribitExchange, _: str | None, params: Params) -> object:
    return {"version": "2.1.1"}


def _get_currencies(ex: DeribitExchange, _: str | None, params: Params) -> object:
    return [
        {
            "currency": code,
            "currency_long": _CURRENCY_LONG[code],
            "coin_type": "BITCOIN" if code == "BTC" else "ETHER",
            "fee_precision": 4,
            "min_confirmations": 1,
            "min_withdrawal_fee": 0.0001,
            "withdrawal_fee": 0.0001,
            "withdrawal_priorities": [],
        }
        for code in CURRENCIES
        if code in ex.index
    ]


def _get_instruments(ex: DeribitExchange, _: str | None, params: Params) -> object:
    code = currency(params, allow_any=True)
    wanted = kind(params)
    expired = flag(params, "expired")
    out = []
    for name, instrument in ex.instruments.items():
        active = name in ex.active
        if active == expired:
            continue
        if (code is None or instrument.currency == code) and (
            wanted is None or instrument.kind == wanted
        ):
            out.append(instrument.to_json(active=active))
    return out


def _ticker(ex: DeribitExchange, _: str | None, params: Params) -> object:
    return wire.ticker_json(ex, ex.instrument(text(params, "instrument_name")))


def _order_book(ex: DeribitExchange, _: str | None, params: Params) -> object:
    instrument = ex.instrument(text(params, "instrument_name"))
    return wire.order_book_json(ex, instrument, integer(params, "depth", 20, 1, 10_000))


def _book_summary(ex: DeribitExchange, _: str | None, params: Params) -> object:
    code = currency(params)
    wanted = kind(params)
    return [
        wire.book_summary_json(ex, i)
        for name, i in ex.instruments.items()
        if name in ex.active and i.currency == code and (wanted is None or i.kind == wanted)
    ]


def _book_summary_instrument(ex: DeribitExchange, _: str | None, params: Params) -> object:
    return [wire.book_summary_json(ex, ex.instrument(text(params, "instrument_name")))]


def _index_price(ex: DeribitExchange, _: str | None, params: Params) -> object:
    name = text(params, "index_name")
    code = name.split("_")[0].upper()
    if not name.endswith("_usd") or code not in ex.index:
        raise invalid_params("index_name", "unknown index")
    price = float(ex.index[code])
    return {"index_price": price, "estimated_delivery_price": price}


def _delivery_prices(ex: DeribitExchange, _: str | None, params: Params) -> object:
    name = text(params, "index_name")
    code = name.split("_")[0].upper()
    if not name.endswith("_usd") or code not in ex.index:
        raise invalid_params("index_name", "unknown index")
    from datetime import UTC, datetime

    rows = [
        {
            "date": datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d"),
            "delivery_price": float(price),
        }
        for ts, price in reversed(ex.delivery_prices.get(code, []))
    ]
    return {"data": rows, "records_total": len(rows)}


# ------------------------------------------------------------------ private


def _order(direction: str) -> Handler:
    def handler(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
        client = _client(client_id)
        order_type = text(params, "type", "limit")
        order, trades = ex.place(
            client,
            text(params, "instrument_name"),
            direction,
            number(params, "amount") or Decimal(0),
            order_type=order_type,
            price=number(params, "price", required=order_type == "limit"),
            time_in_force=text(params, "time_in_force", "good_til_cancelled"),
            post_only=flag(params, "post_only"),
            reject_post_only=flag(params, "reject_post_only"),
            reduce_only=flag(params, "reduce_only"),
            label=text(params, "label", ""),
        )
        return {"order": order, "trades": trades}

    return handler


def _edit(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    order, trades = ex.edit(
        _client(client_id),
        text(params, "order_id"),
        number(params, "amount") or Decimal(0),
        number(params, "price", required=False),
    )
    return {"order": order, "trades": trades}


def _cancel(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    return ex.cancel(_client(client_id), text(params, "order_id"))


def _cancel_all(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    return ex.cancel_all(_client(client_id))


def _cancel_all_by_currency(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    return ex.cancel_all(_client(client_id), currency(params))


def _get_order_state(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    client = _client(client_id)
    return wire.order_json(ex, ex.own_order(client, text(params, "order_id")))


def _open_by_currency(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    client = _client(client_id)
    return [wire.order_json(ex, r) for r in ex.open_orders(client, currency(params), kind(params))]


def _open_by_instrument(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    client = _client(client_id)
    instrument = ex.instrument(text(params, "instrument_name"))
    return [wire.order_json(ex, r) for r in ex.open_orders(client) if r.instrument is instrument]


def _order_history(by_instrument: bool) -> Handler:
    def handler(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
        client = _client(client_id)
        count = integer(params, "count", 20, 1, 1000)
        offset = integer(params, "offset", 0, 0, 10**9)
        if by_instrument:
            instrument = ex.instrument(text(params, "instrument_name"))
            rows = [r for r in ex.orders.values() if r.instrument is instrument]
        else:
            code, wanted = currency(params), kind(params)
            rows = [
                r
                for r in ex.orders.values()
                if r.instrument.currency == code and (wanted is None or r.instrument.kind == wanted)
            ]
        closed = [r for r in rows if r.client_id == client and r.state != "open"]
        closed.sort(key=lambda r: r.updated_ms, reverse=True)
        return [wire.order_json(ex, r) for r in closed[offset : offset + count]]

    return handler


def _trades_by_order(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    record = ex.own_order(_client(client_id), text(params, "order_id"))
    return list(record.trades)


def _user_trades(by_instrument: bool) -> Handler:
    def handler(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
        account = ex.account(_client(client_id))
        count = integer(params, "count", 10, 1, 1000)
        start = integer(params, "start_timestamp", 0, 0, 2**53)
        if by_instrument:
            name = ex.instrument(text(params, "instrument_name")).name
            rows = [t for t in account.trades if t["instrument_name"] == name]
        else:
            code = currency(params)
            wanted = kind(params)
            rows = [
                t
                for t in account.trades
                if ex.instruments[str(t["instrument_name"])].currency == code
                and (wanted is None or ex.instruments[str(t["instrument_name"])].kind == wanted)
            ]
        rows = [t for t in rows if int(str(t["timestamp"])) >= start]
        ascending = text(params, "sorting", "desc") == "asc"
        rows = rows if ascending else list(reversed(rows))
        return {"trades": rows[:count], "has_more": len(rows) > count}

    return handler


def _positions(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    account = ex.account(_client(client_id))
    code = currency(params, allow_any=True)
    wanted = kind(params)
    return [
        wire.position_json(ex, pos)
        for pos in account.positions.values()
        if pos.size != 0
        and (code is None or pos.instrument.currency == code)
        and (wanted is None or pos.instrument.kind == wanted)
    ]


def _position(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    account = ex.account(_client(client_id))
    instrument = ex.instrument(text(params, "instrument_name"))
    return wire.position_json(ex, account.position(instrument))


def _account_summary(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    return wire.account_summary_json(ex, _client(client_id), currency(params) or "BTC")


def _account_summaries(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    client = _client(client_id)
    return {
        "summaries": [wire.account_summary_json(ex, client, code) for code in CURRENCIES],
        "id": ex.account(client).user_id,
    }


def _settlements(ex: DeribitExchange, client_id: str | None, params: Params) -> object:
    account = ex.account(_client(client_id))
    code = currency(params)
    rows = [
        s for s in account.settlements if ex.instruments[str(s["instrument_name"])].currency == code
    ]
    return {"settlements": list(reversed(rows)), "continuation": None}


METHODS: Mapping[str, Handler] = {
    "public/get_time": _get_time,
    "public/test": _test,
    "public/get_currencies": _get_currencies,
    "public/get_instruments": _get_instruments,
    "public/ticker": _ticker,
    "public/get_order_book": _order_book,
    "public/get_book_summary_by_currency": _book_summary,
    "public/get_book_summary_by_instrument": _book_summary_instrument,
    "public/get_index_price": _index_price,
    "public/get_delivery_prices": _delivery_prices,
    "private/buy": _order("buy"),
    "private/sell": _order("sell"),
    "private/edit": _edit,
    "private/cancel": _cancel,
    "private/cancel_all": _cancel_all,
    "private/cancel_all_by_currency": _cancel_all_by_currency,
    "private/get_order_state": _get_order_state,
    "private/get_open_orders_by_currency": _open_by_currency,
    "private/get_open_orders_by_instrument": _open_by_instrument,
    "private/get_order_history_by_currency": _order_history(False),
    "private/get_order_history_by_instrument": _order_history(True),
    "private/get_user_trades_by_order": _trades_by_order,
    "private/get_user_trades_by_currency": _user_trades(False),
    "private/get_user_trades_by_currency_and_time": _user_trades(False),
    "private/get_user_trades_by_instrument": _user_trades(True),
    "private/get_user_trades_by_instrument_and_time": _user_trades(True),
    "private/get_positions": _positions,
    "private/get_position": _position,
    "private/get_account_summary": _account_summary,
    "private/get_account_summaries": _account_summaries,
    "private/get_settlement_history_by_currency": _settlements,
}
"""Every method the HTTP and websocket transports answer (plus auth and subscriptions)."""
