"""Binance-shaped API errors raised by the simulator's engine and server.

Each error carries Binance's numeric ``code``, its ``msg`` text (exact wording from Binance's
spot error documentation, because ccxt matches some messages verbatim) and the HTTP status the
REST API answers with. The server turns them into ``{"code": ..., "msg": ...}`` bodies.
"""

from __future__ import annotations

from oms_chain.model.errors import FinalError

__all__ = [
    "ExchangeApiError",
    "bad_precision",
    "bad_symbol",
    "duplicate_order",
    "filter_failure",
    "insufficient_balance",
    "invalid_listen_key",
    "invalid_signature",
    "invalid_timestamp",
    "mandatory_param",
    "no_such_order",
    "unknown_order",
    "would_take",
]


class ExchangeApiError(FinalError, ValueError):
    """A request the simulated exchange refuses: Binance's ``code``, ``msg`` and HTTP status."""

    def __init__(
        self, code: int, msg: str, http_status: int = 400, data: object | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.data = data

    def to_json(self) -> dict[str, object]:
        """The error body Binance sends: ``{"code": -2010, "msg": "..."}`` (plus ``data`` for the
        two parts of a failed cancel-replace)."""
        body: dict[str, object] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body


def insufficient_balance() -> ExchangeApiError:
    """-2010: the account cannot fund the order (ccxt: InsufficientFunds)."""
    return ExchangeApiError(-2010, "Account has insufficient balance for requested action.")


def duplicate_order() -> ExchangeApiError:
    """-2010: ``newClientOrderId`` is already used by an open order."""
    return ExchangeApiError(-2010, "Duplicate order sent.")


def would_take() -> ExchangeApiError:
    """-2010: a LIMIT_MAKER order would match immediately (ccxt: OrderImmediatelyFillable)."""
    return ExchangeApiError(-2010, "Order would immediately match and take.")


def unknown_order() -> ExchangeApiError:
    """-2011: cancel of an order that is not open (ccxt: OrderNotFound)."""
    return ExchangeApiError(-2011, "Unknown order sent.")


def no_such_order() -> ExchangeApiError:
    """-2013: query of an order that does not exist (ccxt: OrderNotFound)."""
    return ExchangeApiError(-2013, "Order does not exist.")


def bad_symbol() -> ExchangeApiError:
    """-1121: unknown symbol (ccxt: BadSymbol)."""
    return ExchangeApiError(-1121, "Invalid symbol.")


def filter_failure(name: str) -> ExchangeApiError:
    """-1013: an exchange filter (PRICE_FILTER, LOT_SIZE, NOTIONAL, ...) rejected the order."""
    return ExchangeApiError(-1013, f"Filter failure: {name}")


def bad_precision(param: str) -> ExchangeApiError:
    """-1111: a decimal parameter has more digits than the asset allows."""
    return ExchangeApiError(-1111, f"Parameter '{param}' has too much precision.")


def mandatory_param(param: str) -> ExchangeApiError:
    """-1102: a required parameter is missing, empty or malformed."""
    return ExchangeApiError(
        -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed."
    )


def invalid_timestamp(ahead: bool) -> ExchangeApiError:
    """-1021: ``timestamp`` is outside ``recvWindow`` (or more than 1 s ahead of the server)."""
    if ahead:
        return ExchangeApiError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    return ExchangeApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def invalid_signature() -> ExchangeApiError:
    """-1022: the HMAC-SHA256 signature does not match (ccxt: AuthenticationError)."""
    return ExchangeApiError(-1022, "Signature for this request is not valid.")


def invalid_listen_key() -> ExchangeApiError:
    """-1125: the listenKey is unknown or was closed."""
    return ExchangeApiError(-1125, "This listenKey does not exist.")
