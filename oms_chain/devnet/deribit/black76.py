"""A tiny Black-76 for the devnet's market makers and mark prices.

To be replaced by ``oms_chain.risk.pricing`` once it is on main: keep it this small. Floats on
purpose (vectorizable risk math); the exchange converts to Decimal at its edge. ``r = 0`` (Deribit
discounts nothing for premiums paid in the underlying), times in years, vols as fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Greeks", "implied_vol", "price", "price_and_greeks"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT2PI


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price in USD and Deribit-style Greeks: delta (per 1 underlying), gamma, vega (USD per
    1 vol point), theta (USD per day), rho (USD per 1 % rate)."""

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float


def price(forward: float, strike: float, years: float, vol: float, is_call: bool) -> float:
    """Undiscounted Black-76 price in the quote currency (USD)."""
    if years <= 0 or vol <= 0:
        return max(0.0, forward - strike) if is_call else max(0.0, strike - forward)
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return forward * _cdf(d1) - strike * _cdf(d2)
    return strike * _cdf(-d2) - forward * _cdf(-d1)


def price_and_greeks(
    forward: float, strike: float, years: float, vol: float, is_call: bool
) -> Greeks:
    """Price and Greeks (see :class:`Greeks`); at or past expiry the Greeks are 0 but delta."""
    value = price(forward, strike, years, vol, is_call)
    if years <= 0 or vol <= 0:
        itm = forward > strike if is_call else forward < strike
        delta = (1.0 if is_call else -1.0) if itm else 0.0
        return Greeks(value, delta, 0.0, 0.0, 0.0, 0.0)
    sq = math.sqrt(years)
    sd = vol * sq
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    delta = _cdf(d1) if is_call else _cdf(d1) - 1.0
    gamma = _pdf(d1) / (forward * sd)
    vega = forward * _pdf(d1) * sq / 100.0
    theta = -forward * _pdf(d1) * vol / (2.0 * sq) / 365.0
    rho = -years * value / 100.0
    return Greeks(value, delta, gamma, vega, theta, rho)


def implied_vol(
    target: float, forward: float, strike: float, years: float, is_call: bool
) -> float | None:
    """Vol whose price equals ``target`` (USD), by bisection on [0.01, 5]; None when outside."""
    if years <= 0 or target <= 0:
        return None
    lo, hi = 0.01, 5.0
    if (
        not price(forward, strike, years, lo, is_call)
        <= target
        <= price(forward, strike, years, hi, is_call)
    ):
        return None
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if price(forward, strike, years, mid, is_call) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
