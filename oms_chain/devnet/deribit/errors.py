"""Deribit-shaped JSON-RPC errors raised by the options exchange and its server.

Each error carries Deribit's numeric ``code`` and its ``message`` (the short snake_case name
Deribit's API v2 documents, e.g. ``not_enough_funds``), plus an optional ``data`` object
(``{"reason": ..., "param": ...}``). ccxt's ``deribit`` maps the code to its exception classes,
so the codes follow the list ccxt and Deribit's documentation share. The server answers
``{"jsonrpc": "2.0", "id": ..., "error": {"code": ..., "message": ..., "data": ...}}``.
"""

from __future__ import annotations

from oms_chain.model.errors import FinalError

__all__ = [
    "DeribitApiError",
    "already_closed",
    "invalid_amount",
    "invalid_params",
    "not_enough_funds",
    "order_not_found",
    "unknown_instrument",
]


class DeribitApiError(FinalError, ValueError):
    """A request the Deribit-protocol exchange refuses: Deribit's ``code``, ``message``, ``data``.

    ``http_status`` is what the HTTP transport answers with (400 like Deribit for refusals).
    """

    def __init__(
        self,
        code: int,
        message: str,
        data: dict[str, object] | None = None,
        http_status: int = 400,
    ) -> None:
        detail = f" ({data})" if data else ""
        super().__init__(f"{code} {message}{detail}")
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status

    def to_json(self) -> dict[str, object]:
        """The JSON-RPC ``error`` member."""
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data is not None:
            body["data"] = self.data
        return body


def invalid_params(param: str, reason: str) -> DeribitApiError:
    """-32602 ``Invalid params`` naming the parameter and why (ccxt: BadRequest)."""
    return DeribitApiError(-32602, "Invalid params", {"reason": reason, "param": param})


def unknown_instrument(name: object) -> DeribitApiError:
    """10020 ``invalid_or_unsupported_instrument``."""
    return DeribitApiError(
        10020,
        "invalid_or_unsupported_instrument",
        {"reason": f"instrument {name!r} is not listed (see public/get_instruments)"},
    )


def not_enough_funds(needed: object, available: object, currency: str) -> DeribitApiError:
    """10009 ``not_enough_funds`` (ccxt: InsufficientFunds)."""
    return DeribitApiError(
        10009,
        "not_enough_funds",
        {"reason": f"order needs {needed} {currency} of margin, {available} available"},
    )


def order_not_found(order_id: object) -> DeribitApiError:
    """10004 ``order_not_found`` (ccxt: OrderNotFound)."""
    return DeribitApiError(
        10004, "order_not_found", {"reason": f"no order {order_id!r} of this account"}
    )


def already_closed(order_id: object) -> DeribitApiError:
    """11044 ``not_open_order``: the order exists but is no longer open (ccxt: InvalidOrder)."""
    return DeribitApiError(
        11044, "not_open_order", {"reason": f"order {order_id!r} is filled or cancelled"}
    )


def invalid_amount(reason: str) -> DeribitApiError:
    """10021 ``invalid_amount``."""
    return DeribitApiError(10021, "invalid_amount", {"reason": reason, "param": "amount"})
