"""Payoff of a structure at expiry: table, max profit / max loss, breakevens.

Single-expiry structures are piecewise linear in the underlying's price ``S``: kinks at the
strikes, slope ``-(signed put quantity)`` below the lowest strike and ``+(signed call quantity)``
above the highest. Everything is then exact ``Decimal``: the extremes are at ``S = 0``, at a
strike, or unbounded when the slope above the last strike is not zero (``S`` cannot go below 0,
so the loss or profit of puts is always bounded). Breakevens are the zeros of the P&L on each
linear piece.

Calendar and diagonal spreads are valued at the **first** expiry: legs expiring then pay their
intrinsic value, later legs are priced by Black-Scholes-Merton at the vol, rate and carry given.
That curve is smooth between strikes, so extremes and breakevens come from a dense grid refined
by bisection (``exact`` is ``False``), and "unbounded" from the slope as ``S`` grows (a later
call's delta tends to ``exp(-carry t)``).

P&L is payoff minus ``net_premium`` (what the structure cost: positive for a debit, negative for
a credit), all in the quote asset, for the structure's whole size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from oms_chain.model.checks import check_decimal, check_int
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import InstrumentId
from oms_chain.model.instruments import OptionKind
from oms_chain.risk.pricing import NS_PER_YEAR, bsm_price
from oms_chain.strategies.structure import InvalidStructure, Leg, Structure

__all__ = [
    "ExpiryValuation",
    "PayoffRow",
    "PayoffSummary",
    "leg_payoff",
    "payoff_summary",
    "payoff_table",
    "price_grid",
]

VolInput = Decimal | Mapping[InstrumentId | str, Decimal]


def leg_payoff(leg: Leg, price: Decimal) -> Decimal:
    """One leg's payoff at expiry at underlying ``price`` (signed by side, times quantity)."""
    k = leg.contract.strike
    intrinsic = (
        max(price - k, Decimal(0))
        if leg.contract.option_kind is OptionKind.CALL
        else (max(k - price, Decimal(0)))
    )
    return leg.signed_quantity * intrinsic


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiryValuation:
    """How later legs are valued at the first expiry of a multi-expiry structure.

    ``vol``: one annualized vol (> 0) for every later leg, or a mapping from instrument id to
    vol; ``rate`` and ``carry``: continuous per year. Unused by single-expiry structures.
    """

    vol: VolInput
    rate: Decimal = Decimal(0)
    carry: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if isinstance(self.vol, Mapping):
            vols = {
                str(k): check_decimal(v, f"vol of {k}", gt=0, le=20, strings=True)
                for k, v in self.vol.items()
            }
            object.__setattr__(self, "vol", vols)
        else:
            object.__setattr__(
                self, "vol", check_decimal(self.vol, "vol", gt=0, le=20, strings=True)
            )
        object.__setattr__(
            self, "rate", check_decimal(self.rate, "rate", ge=-1, le=1, strings=True)
        )
        object.__setattr__(
            self, "carry", check_decimal(self.carry, "carry", ge=-1, le=1, strings=True)
        )

    def vol_of(self, i: int, leg: Leg) -> float:
        if isinstance(self.vol, Mapping):
            v = self.vol.get(leg.contract.id)
            if v is None:
                raise InvalidStructure(
                    f"leg {i} ({leg.describe()}): no vol given to value it at the first "
                    "expiry; add its instrument id to ExpiryValuation.vol",
                    i,
                )
            return float(v)
        return float(self.vol)


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoffRow:
    """Payoff and P&L of the whole structure at underlying ``price`` (quote asset)."""

    price: Decimal
    payoff: Decimal
    pnl: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoffSummary:
    """Max profit / max loss / breakevens of a structure at its (first) expiry.

    ``max_profit`` is the largest P&L, ``None`` if unbounded; ``max_loss`` the largest loss as a
    positive amount (``-min P&L``; negative if every outcome is a profit), ``None`` if
    unbounded. ``breakevens`` are the prices where P&L is 0, ascending (the ends of a flat
    zero stretch stand for it). ``exact`` is ``True`` for single-expiry structures (exact
    Decimal arithmetic); multi-expiry results are rounded to 1e-8.
    """

    net_premium: Decimal
    max_profit: Decimal | None
    max_loss: Decimal | None
    breakevens: tuple[Decimal, ...]
    slope_below: Decimal
    slope_above: Decimal
    exact: bool

    @property
    def max_profit_unbounded(self) -> bool:
        return self.max_profit is None

    @property
    def max_loss_unbounded(self) -> bool:
        return self.max_loss is None


def _premium(net_premium: object) -> Decimal:
    return check_decimal(net_premium, "net_premium", strings=True)


def _multi(structure: Structure) -> bool:
    return len(structure.expiries) > 1


def _need_valuation(structure: Structure, valuation: ExpiryValuation | None) -> ExpiryValuation:
    if valuation is None:
        raise InvalidStructure(
            f"{structure.kind} has legs at {len(structure.expiries)} expiries: pass an "
            "ExpiryValuation (vol, rate, carry) to value the later legs at the first expiry"
        )
    if not isinstance(valuation, ExpiryValuation):
        raise InvalidInput("valuation must be an ExpiryValuation")
    return valuation


def _value_float(
    structure: Structure, valuation: ExpiryValuation, prices: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Structure value at the first expiry for each price (floats; S = 0 uses the limit)."""
    first = structure.expiries[0]
    total = np.zeros_like(prices)
    r, q = float(valuation.rate), float(valuation.carry)
    pos = prices > 0
    for i, leg in enumerate(structure.legs):
        c = leg.contract
        k = float(c.strike)
        is_call = c.option_kind is OptionKind.CALL
        qty = float(leg.signed_quantity)
        if c.expiry_ns == first:
            v = np.maximum(prices - k, 0.0) if is_call else np.maximum(k - prices, 0.0)
        else:
            t = (c.expiry_ns - first) / NS_PER_YEAR
            vol = valuation.vol_of(i, leg)
            v = np.zeros_like(prices)
            if pos.any():
                v[pos] = bsm_price(is_call, prices[pos], k, t, r, q, vol)
            if not is_call:
                v[~pos] = k * math.exp(-r * t)
        total += qty * v
    return total


def _value_decimal(
    structure: Structure, valuation: ExpiryValuation | None, prices: Sequence[Decimal]
) -> list[Decimal]:
    if not _multi(structure):
        return [sum((leg_payoff(leg, p) for leg in structure.legs), Decimal(0)) for p in prices]
    val = _need_valuation(structure, valuation)
    arr = _value_float(structure, val, np.array([float(p) for p in prices]))
    return [_dec(x) for x in arr]


def _dec(x: float) -> Decimal:
    d = Decimal(repr(float(x))).quantize(Decimal("1e-8"))
    return d if d else Decimal(0)


def _check_price(p: object, name: str) -> Decimal:
    return check_decimal(p, name, ge=0, lt=10**30, strings=True)


def payoff_table(
    structure: Structure,
    prices: Iterable[Decimal | int | str],
    *,
    net_premium: Decimal | int | str = Decimal(0),
    valuation: ExpiryValuation | None = None,
) -> tuple[PayoffRow, ...]:
    """Payoff and P&L at each of ``prices`` (>= 0) at the structure's first expiry.

    Raises:
        InvalidStructure / InvalidInput: a bad price or premium, or a multi-expiry structure
            without ``valuation``.
    """
    premium = _premium(net_premium)
    ps = [_check_price(p, f"price {i}") for i, p in enumerate(prices)]
    values = _value_decimal(structure, valuation, ps)
    return tuple(
        PayoffRow(price=p, payoff=v, pnl=v - premium) for p, v in zip(ps, values, strict=True)
    )


def price_grid(structure: Structure, points: int = 21) -> tuple[Decimal, ...]:
    """``points`` evenly spaced prices (>= 2) from half the lowest strike to 1.5 x the
    highest, on round steps, with every strike added."""
    check_int(points, "points", minimum=2, maximum=10_001)
    ks = structure.strikes
    lo, hi = ks[0] / 2, ks[-1] * Decimal("1.5")
    raw = (hi - lo) / (points - 1)
    step = Decimal(1).scaleb(raw.adjusted())
    for m in (1, 2, 5, 10):
        if step * m >= raw:
            step = step * m
            break
    start = (lo / step).to_integral_value(rounding="ROUND_FLOOR") * step
    grid = {start + step * i for i in range(points)}
    grid.update(ks)
    return tuple(sorted(_tidy(g) for g in grid if g >= 0))


def _tidy(d: Decimal) -> Decimal:
    """``d`` without trailing zeros and never in exponent form (``800``, not ``8E+2``)."""
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def payoff_summary(
    structure: Structure,
    *,
    net_premium: Decimal | int | str = Decimal(0),
    valuation: ExpiryValuation | None = None,
) -> PayoffSummary:
    """Max profit, max loss and breakevens of ``structure`` at its first expiry.

    Raises:
        InvalidStructure / InvalidInput: a bad premium, or a multi-expiry structure without
            ``valuation``.
    """
    premium = _premium(net_premium)
    if _multi(structure):
        return _summary_multi(structure, premium, _need_valuation(structure, valuation))
    legs = structure.legs
    slope_above = sum(
        (leg.signed_quantity for leg in legs if leg.contract.option_kind is OptionKind.CALL),
        Decimal(0),
    )
    slope_below = -sum(
        (leg.signed_quantity for leg in legs if leg.contract.option_kind is OptionKind.PUT),
        Decimal(0),
    )
    xs = [Decimal(0), *[k for k in structure.strikes]]
    ys = [v - premium for v in _value_decimal(structure, None, xs)]
    max_profit: Decimal | None = max(ys) if slope_above <= 0 else None
    max_loss: Decimal | None = -min(ys) if slope_above >= 0 else None
    zeros: set[Decimal] = {x for x, y in zip(xs, ys, strict=True) if y == 0}
    for j in range(len(xs) - 1):
        x0, y0, x1, y1 = xs[j], ys[j], xs[j + 1], ys[j + 1]
        if (y0 < 0 < y1) or (y1 < 0 < y0):
            zeros.add(x0 + (x1 - x0) * (-y0) / (y1 - y0))
    if slope_above != 0 and ys[-1] != 0 and (ys[-1] < 0) == (slope_above > 0):
        zeros.add(xs[-1] - ys[-1] / slope_above)
    return PayoffSummary(
        net_premium=premium,
        max_profit=max_profit,
        max_loss=max_loss,
        breakevens=tuple(sorted(zeros)),
        slope_below=slope_below,
        slope_above=slope_above,
        exact=True,
    )


def _summary_multi(
    structure: Structure, premium: Decimal, valuation: ExpiryValuation
) -> PayoffSummary:
    first = structure.expiries[0]
    q = float(valuation.carry)
    slope_above_f = 0.0
    slope_below_f = 0.0
    for leg in structure.legs:
        c = leg.contract
        w = 1.0 if c.expiry_ns == first else math.exp(-q * (c.expiry_ns - first) / NS_PER_YEAR)
        if c.option_kind is OptionKind.CALL:
            slope_above_f += float(leg.signed_quantity) * w
        else:
            slope_below_f -= float(leg.signed_quantity) * w
    ks = [float(k) for k in structure.strikes]
    hi = ks[-1] * 10.0
    xs = np.unique(np.concatenate([np.linspace(0.0, hi, 20_001), np.array(ks)]))
    ys = _value_float(structure, valuation, xs) - float(premium)
    tol = 1e-9 * max(1.0, float(np.abs(ys).max()))
    scale = max(1.0, float(sum(abs(float(leg.quantity)) for leg in structure.legs)))
    up = slope_above_f > 1e-12 * scale
    down = slope_above_f < -1e-12 * scale
    max_profit = None if up else _dec(float(ys.max()))
    max_loss = None if down else _dec(-float(ys.min()))
    zeros: list[float] = []
    for j in range(len(xs) - 1):
        y0, y1 = ys[j], ys[j + 1]
        if abs(y0) <= tol and (not zeros or xs[j] - zeros[-1] > 1e-9 * hi):
            zeros.append(float(xs[j]))
        elif (y0 < -tol and y1 > tol) or (y0 > tol and y1 < -tol):
            zeros.append(_bisect(structure, valuation, premium, xs[j], xs[j + 1]))
    if (up and ys[-1] < -tol) or (down and ys[-1] > tol):
        zeros.append(float(xs[-1]) - float(ys[-1]) / slope_above_f)
    return PayoffSummary(
        net_premium=premium,
        max_profit=max_profit,
        max_loss=max_loss,
        breakevens=tuple(_dec(z) for z in zeros),
        slope_below=_dec(slope_below_f),
        slope_above=_dec(slope_above_f),
        exact=False,
    )


def _bisect(
    structure: Structure, valuation: ExpiryValuation, premium: Decimal, a: float, b: float
) -> float:
    def f(x: float) -> float:
        return float(_value_float(structure, valuation, np.array([x]))[0]) - float(premium)

    fa = f(a)
    for _ in range(100):
        m = 0.5 * (a + b)
        fm = f(m)
        if (fm < 0) == (fa < 0):
            a, fa = m, fm
        else:
            b = m
        if b - a <= 1e-12 * max(1.0, b):
            break
    return 0.5 * (a + b)
