"""Mark prices: a small volatility surface and Black-76 marks of options in the underlying.

The surface is ``vol(K, T) = atm + skew * ln(K/F) + smile * ln(K/F)**2`` (floored at 5 %), per
currency, flat in time; the index is the forward (no basis, r = 0). A Black-76 USD price divided
by the index gives the premium in the underlying, as Deribit quotes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from oms_chain.devnet.deribit import black76
from oms_chain.devnet.deribit.instruments import Instrument

__all__ = ["YEAR_MS", "OptionMark", "VolSurface", "option_mark"]

YEAR_MS = 365 * 24 * 3600 * 1000
_DEFAULT_ATM: Mapping[str, float] = {"ETH": 0.65, "BTC": 0.55}


@dataclass(frozen=True, slots=True, kw_only=True)
class VolSurface:
    """ATM vol per currency (fractions), skew and smile in log-moneyness."""

    atm: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_ATM))
    skew: float = -0.10
    smile: float = 0.30

    def vol(self, currency: str, strike: float, forward: float) -> float:
        """Implied vol (fraction) of a strike."""
        x = math.log(strike / forward)
        return max(0.05, self.atm.get(currency, 0.6) + self.skew * x + self.smile * x * x)


@dataclass(frozen=True, slots=True)
class OptionMark:
    """Mark of an option: premium in the underlying, vol, Greeks (Deribit units)."""

    price: Decimal
    iv: float
    greeks: black76.Greeks
    years: float


def option_mark(
    instrument: Instrument, index: Decimal, now_ms: int, surface: VolSurface
) -> OptionMark:
    """Black-76 mark of ``instrument`` with the index as forward; 8 decimals."""
    assert instrument.strike is not None and instrument.expiry_ms is not None
    forward = float(index)
    strike = float(instrument.strike)
    years = max(0.0, (instrument.expiry_ms - now_ms) / YEAR_MS)
    vol = surface.vol(instrument.currency, strike, forward)
    greeks = black76.price_and_greeks(forward, strike, years, vol, bool(instrument.is_call))
    premium = Decimal(repr(greeks.price / forward)).quantize(Decimal("1e-8"))
    return OptionMark(price=premium, iv=vol, greeks=greeks, years=years)
