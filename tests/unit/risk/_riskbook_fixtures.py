"""Shared builders for the portfolio-risk tests (assets, contracts, a scalar BSM oracle)."""

from __future__ import annotations

import math
from decimal import Decimal

from oms_chain.model import Asset
from oms_chain.model.instruments import OptionContract, OptionKind, Perpetual
from oms_chain.risk import NS_PER_YEAR

NOW = 1_700_000_000 * 10**9
DAY_NS = 86_400 * 10**9
ETH = Asset.erc20(1, "0x" + "e" * 40, "ETH", 18)
ETH_ARB = Asset.erc20(42161, "0x" + "a" * 40, "ETH", 18)
ETH_CEX = Asset.cex("deribit", "ETH", 8)
BTC = Asset.cex("deribit", "BTC", 8)
USDC = Asset.erc20(1, "0x" + "c" * 40, "USDC", 6)
PERP = Perpetual(base=ETH, quote=USDC, settle=USDC)
BTC_PERP = Perpetual(base=BTC, quote=USDC, settle=USDC)


def option(kind: str, strike: int | str, days: float, underlying: Asset = ETH) -> OptionContract:
    return OptionContract(
        underlying=underlying,
        quote=USDC,
        strike=Decimal(strike),
        expiry_ns=NOW + int(days * DAY_NS),
        option_kind=OptionKind.CALL if kind == "C" else OptionKind.PUT,
    )


def years(days: float) -> float:
    return int(days * DAY_NS) / NS_PER_YEAR


def bs(kind: str, s: float, k: float, t: float, vol: float, r: float = 0.0) -> float:
    """Scalar Black-Scholes (no carry) from math.erf: an oracle independent of risk.pricing."""
    if t <= 0:
        return max(s - k, 0.0) if kind == "C" else max(k - s, 0.0)
    n = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    d1 = (math.log(s / k) + (r + vol * vol / 2) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    if kind == "C":
        return s * n(d1) - k * math.exp(-r * t) * n(d2)
    return k * math.exp(-r * t) * n(-d2) - s * n(-d1)
