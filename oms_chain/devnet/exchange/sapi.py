"""Answers of the ``/sapi/v1`` (and empty ``/fapi``, ``/dapi``) endpoints ccxt's ``binance``
calls around spot trading: coin configuration, system status, trade fees, no futures.

Shapes follow Binance's wallet / asset documentation as ccxt parses them; the routes, weights and
signatures live in :mod:`.rest`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from oms_chain.devnet.exchange.markets import SymbolSpec, fmt
from oms_chain.devnet.exchange.matching import Account, MatchingEngine

__all__ = ["capital_config", "no_markets", "system_status", "trade_fees"]

_ZERO = Decimal(0)


def capital_config(engine: MatchingEngine, account: Account) -> list[dict[str, object]]:
    """``GET /sapi/v1/capital/config/getall``: every asset of the markets with the account's
    balance and one (simulated) network; deposits and withdrawals are not simulated."""
    assets = sorted({a for s in engine.markets.values() for a in (s.base, s.quote)})
    return [
        {
            "coin": asset,
            "name": asset,
            "depositAllEnable": False,
            "withdrawAllEnable": False,
            "free": fmt(account.free[asset]),
            "locked": fmt(account.locked[asset]),
            "freeze": fmt(_ZERO),
            "withdrawing": fmt(_ZERO),
            "ipoing": fmt(_ZERO),
            "ipoable": fmt(_ZERO),
            "storage": fmt(_ZERO),
            "isLegalMoney": False,
            "trading": True,
            "networkList": [
                {
                    "network": "SIM",
                    "coin": asset,
                    "name": "oms-chain exchange simulator",
                    "isDefault": True,
                    "depositEnable": False,
                    "withdrawEnable": False,
                    "withdrawIntegerMultiple": fmt(Decimal("0.00000001")),
                    "withdrawFee": fmt(_ZERO),
                    "withdrawMin": fmt(_ZERO),
                    "withdrawMax": fmt(_ZERO),
                    "depositDust": fmt(Decimal("0.00000001")),
                    "minConfirm": 0,
                    "unLockConfirm": 0,
                }
            ],
        }
        for asset in assets
    ]


def system_status(maintenance: bool) -> dict[str, object]:
    """``GET /sapi/v1/system/status``: ``{"status": 0, "msg": "normal"}``, or
    ``{"status": 1, "msg": "system_maintenance"}`` during maintenance."""
    if maintenance:
        return {"status": 1, "msg": "system_maintenance"}
    return {"status": 0, "msg": "normal"}


def trade_fees(account: Account, specs: Iterable[SymbolSpec]) -> list[dict[str, object]]:
    """``GET /sapi/v1/asset/tradeFee``: the account's maker / taker rates per symbol, written
    as Binance does (``"0.001"``)."""
    return [
        {
            "symbol": spec.symbol,
            "makerCommission": _rate(account.maker_fee),
            "takerCommission": _rate(account.taker_fee),
        }
        for spec in specs
    ]


def no_markets(now_ms: int) -> dict[str, object]:
    """``GET /fapi/v1/exchangeInfo`` / ``/dapi/v1/exchangeInfo``: no futures here."""
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": [],
    }


def _rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f")
