"""Before trading: a structure's net premium from leg quotes, its Greeks now and its margin.

Pure functions of values: quotes, spot, vols and a time are passed in (nothing is fetched).
Greeks come from :func:`oms_chain.risk.pricing.bsm`; margin from
:func:`oms_chain.risk.portfolio_margin` on the legs as holdings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from oms_chain.model.checks import check_decimal, check_ns
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import InstrumentId
from oms_chain.risk import Holding, MarginResult, MarketSnapshot, PortfolioMarginConfig
from oms_chain.risk import portfolio_margin as _portfolio_margin
from oms_chain.risk.pricing import NS_PER_YEAR, VolSurface, bsm
from oms_chain.strategies.structure import InvalidStructure, Side, Structure

__all__ = [
    "LegGreeks",
    "LegPremium",
    "LegQuote",
    "NetPremium",
    "StructureGreeks",
    "net_premium",
    "structure_greeks",
    "structure_holdings",
    "structure_margin",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LegQuote:
    """Best bid and ask of one contract, in the quote asset per contract (``None``: no side)."""

    bid: Decimal | None = None
    ask: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("bid", "ask"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(
                    self, name, check_decimal(v, f"quote {name}", ge=0, strings=True)
                )
        if self.bid is not None and self.ask is not None and self.bid > self.ask:
            raise InvalidInput(f"quote bid {self.bid} is above ask {self.ask}; a crossed quote")


@dataclass(frozen=True, slots=True, kw_only=True)
class LegPremium:
    """What one leg pays (> 0) or receives (< 0): ``quantity x price``, at the touch."""

    leg: int
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class NetPremium:
    """The structure's net premium: ``net`` > 0 is a debit (paid), < 0 a credit."""

    net: Decimal
    legs: tuple[LegPremium, ...]

    @property
    def is_debit(self) -> bool:
        return self.net > 0


def net_premium(structure: Structure, quotes: Mapping[InstrumentId | str, LegQuote]) -> NetPremium:
    """Net premium of ``structure`` crossing the spread: buys pay the ask, sells get the bid.

    ``quotes`` maps each leg's instrument id to its :class:`LegQuote`. Raises
    :class:`InvalidStructure` naming the leg with no quote or no side to trade against.
    """
    if not isinstance(structure, Structure):
        raise InvalidInput("structure must be a Structure")
    if not isinstance(quotes, Mapping):
        raise InvalidInput("quotes must map instrument id to LegQuote")
    out = []
    for i, leg in enumerate(structure.legs):
        q = quotes.get(leg.contract.id)
        if not isinstance(q, LegQuote):
            raise InvalidStructure(
                f"leg {i} ({leg.describe()}): no quote for {leg.contract.id}; quote every leg",
                i,
            )
        price = q.ask if leg.side is Side.BUY else q.bid
        if price is None:
            what = "ask to buy from" if leg.side is Side.BUY else "bid to sell to"
            raise InvalidStructure(f"leg {i} ({leg.describe()}): no {what}", i)
        out.append(LegPremium(leg=i, price=price, amount=leg.signed_quantity * price))
    return NetPremium(net=sum((p.amount for p in out), Decimal(0)), legs=tuple(out))


@dataclass(frozen=True, slots=True, kw_only=True)
class LegGreeks:
    """Value and Greeks of a leg (or of the whole structure), signed by side and times
    quantity, in the quote asset: ``delta`` in underlying units, ``gamma`` per 1 quote unit of
    spot, ``vega_1pt`` per vol point, ``theta_day`` per calendar day, ``rho_1pct`` per 1 % of
    rate. ``vol`` is the leg's vol (``None`` for the total)."""

    value: Decimal
    delta: Decimal
    gamma: Decimal
    vega_1pt: Decimal
    theta_day: Decimal
    rho_1pct: Decimal
    vol: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StructureGreeks:
    """Greeks per leg (in leg order) and their total."""

    legs: tuple[LegGreeks, ...]
    total: LegGreeks


VolSource = Decimal | Mapping[InstrumentId | str, Decimal] | VolSurface


def _dec(x: float, places: str = "1e-10") -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal(places))


def structure_greeks(
    structure: Structure,
    *,
    spot: Decimal | int | str,
    now_ns: int,
    vol: VolSource,
    rate: Decimal | int | str = Decimal(0),
    carry: Decimal | int | str = Decimal(0),
) -> StructureGreeks:
    """Black-Scholes-Merton value and Greeks of every leg now, and their total.

    ``vol`` is one vol for all legs, a mapping from instrument id to vol, or a
    :class:`~oms_chain.risk.pricing.VolSurface` (read at each strike and time to expiry).
    Results are rounded to 1e-10. Raises :class:`InvalidStructure` naming a leg that has
    expired at ``now_ns`` or has no vol; :class:`InvalidInput` for a bad spot, rate or vol.
    """
    if not isinstance(structure, Structure):
        raise InvalidInput("structure must be a Structure")
    s = float(check_decimal(spot, "spot", gt=0, lt=10**30, strings=True))
    check_ns(now_ns, "now_ns")
    r = float(check_decimal(rate, "rate", ge=-1, le=1, strings=True))
    q = float(check_decimal(carry, "carry", ge=-1, le=1, strings=True))
    n = len(structure.legs)
    is_call = np.empty(n, dtype=bool)
    k = np.empty(n)
    t = np.empty(n)
    v = np.empty(n)
    qty = np.empty(n)
    for i, leg in enumerate(structure.legs):
        c = leg.contract
        if c.expiry_ns <= now_ns:
            raise InvalidStructure(
                f"leg {i} ({leg.describe()}): expired at {c.expiry_ns} ns, before now "
                f"({now_ns} ns); pick a later expiry",
                i,
            )
        is_call[i] = c.option_kind.value == "call"
        k[i] = float(c.strike)
        t[i] = (c.expiry_ns - now_ns) / NS_PER_YEAR
        v[i] = _leg_vol(vol, i, leg.describe(), c.id, k[i], t[i])
        qty[i] = float(leg.signed_quantity)
    g = bsm(is_call, s, k, t, r, q, v)
    cols = {
        "value": g.price * qty,
        "delta": g.delta * qty,
        "gamma": g.gamma * qty,
        "vega_1pt": g.vega * qty / 100.0,
        "theta_day": g.theta * qty / 365.0,
        "rho_1pct": g.rho * qty / 100.0,
    }
    legs = tuple(
        LegGreeks(**{name: _dec(col[i]) for name, col in cols.items()}, vol=_dec(v[i], "1e-6"))
        for i in range(n)
    )
    total = LegGreeks(**{name: _dec(col.sum()) for name, col in cols.items()})
    return StructureGreeks(legs=legs, total=total)


def _leg_vol(vol: VolSource, i: int, name: str, cid: str, k: float, t: float) -> float:
    if isinstance(vol, VolSurface):
        out = float(vol.implied_vol(k, t))
    elif isinstance(vol, Mapping):
        got = vol.get(cid)
        if got is None:
            raise InvalidStructure(f"leg {i} ({name}): no vol for {cid}; add it to vol", i)
        out = float(check_decimal(got, f"vol of leg {i}", gt=0, le=20, strings=True))
    else:
        out = float(check_decimal(vol, "vol", gt=0, le=20, strings=True))
    if not (out > 0 and np.isfinite(out)):
        raise InvalidStructure(f"leg {i} ({name}): the surface gives no vol there ({out})", i)
    return out


def structure_holdings(structure: Structure, venue: str = "structure") -> list[Holding]:
    """The legs as signed :class:`~oms_chain.risk.Holding` values at ``venue``."""
    return [
        Holding(instrument=leg.contract, quantity=leg.signed_quantity, venue=venue)
        for leg in structure.legs
    ]


def structure_margin(
    structure: Structure,
    market: MarketSnapshot,
    config: PortfolioMarginConfig | None = None,
) -> MarginResult:
    """Portfolio margin (:func:`oms_chain.risk.portfolio_margin`) the structure needs on its
    own: initial and maintenance in USD. ``market`` needs a spot for the underlying and a vol
    (or surface) for every leg. Equity in the result is the legs' mark value only (no cash)."""
    if not isinstance(structure, Structure):
        raise InvalidInput("structure must be a Structure")
    return _portfolio_margin(structure_holdings(structure), market, config)
