"""Shared values for the strategies tests: ETH/USDC series, a fixed expiry."""

from __future__ import annotations

from decimal import Decimal

from oms_chain.model import Asset
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.strategies import Leg, OptionSeries

ETH = Asset.native(1)
USDC = Asset.erc20(1, "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "USDC", 6)
BTC = Asset.erc20(1, "0x2260fac5e5542a773aa44fbc8fedf7c193c2c599", "WBTC", 8)
SERIES = OptionSeries(underlying=ETH, quote=USDC)
DAY_NS = 86_400 * 10**9
EXPIRY = 1_800_000_000 * 10**9  # 2027-01-15T08:00:00Z
NOW = EXPIRY - 30 * DAY_NS


def intrinsic(kind: OptionKind, strike: Decimal, price: Decimal) -> Decimal:
    """Written out here, independent of oms_chain.strategies.payoff."""
    if kind is OptionKind.CALL:
        return price - strike if price > strike else Decimal(0)
    return strike - price if strike > price else Decimal(0)


def independent_payoff(legs: tuple[Leg, ...], price: Decimal) -> Decimal:
    total = Decimal(0)
    for leg in legs:
        sign = 1 if leg.side.value == "buy" else -1
        total += (
            sign * leg.quantity * intrinsic(leg.contract.option_kind, leg.contract.strike, price)
        )
    return total


def contract(kind: OptionKind, strike: int | Decimal, expiry: int = EXPIRY) -> OptionContract:
    return SERIES.contract(kind, strike, expiry)
