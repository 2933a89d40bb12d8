"""Liquidation prices: the underlying price at which equity falls to the maintenance margin.

For one underlying (the others held at their spot), ``f(S) = equity(S) - maintenance(S)`` is
evaluated on a log-spaced grid from ``spot x lower`` to ``spot x upper``; the sign changes
nearest to the spot on each side bracket a root, which bisection narrows until the bracket is
within ``1e-12`` relative (``f`` is continuous: the maintenance is a maximum of continuous
scenario losses). There may be none on a side: the result says so rather than inventing one.
At a reported price, |equity - maintenance| <= 1e-6 x max(1, maintenance) USD.

A position's own liquidation price is the portfolio of that position and the collateral put up
for it (isolated margin): :func:`position_liquidation_price`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import numpy as np

from oms_chain.model.assets import Asset
from oms_chain.model.checks import check_decimal, check_instance, check_str
from oms_chain.model.errors import InvalidInput
from oms_chain.risk._book import Array, compile_book
from oms_chain.risk.holdings import Holding
from oms_chain.risk.margin import _check, _Segments
from oms_chain.risk.margin_config import PortfolioMarginConfig
from oms_chain.risk.market import MarketSnapshot
from oms_chain.risk.portfolio import to_decimal_float

__all__ = [
    "LiquidationResult",
    "liquidation_price",
    "liquidation_prices",
    "position_liquidation_price",
]

_GRID = 257
#: Cash backing an isolated position (valued at one USD like every cash symbol).
_COLLATERAL = Asset.cex("collateral", "USD", 2)
_REL_TOL = 1e-12
_MAX_ITER = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquidationResult:
    """Where equity meets maintenance when ``underlying`` moves alone.

    ``below`` / ``above``: the nearest liquidation price under / over ``spot`` within the
    searched range, or ``None`` (``reason`` says why). ``liquidatable_now`` is true when equity
    is already at or under maintenance at ``spot``; ``below`` / ``above`` are then the nearest
    prices where equity climbs back to maintenance.
    """

    underlying: str
    spot: Decimal
    equity: Decimal
    maintenance: Decimal
    liquidatable_now: bool
    below: Decimal | None
    above: Decimal | None
    reason: str

    @property
    def distance_pct(self) -> Decimal | None:
        """Distance from spot to the nearest liquidation price, in percent of spot."""
        prices = [p for p in (self.below, self.above) if p is not None]
        if not prices:
            return None
        nearest = min(prices, key=lambda p: abs(p - self.spot))
        return abs(nearest - self.spot) / self.spot * 100


def _bisect(f: Callable[[Array], Array], lo: float, hi: float, f_lo: float) -> float:
    for _ in range(_MAX_ITER):
        mid = 0.5 * (lo + hi)
        f_mid = float(f(np.array([mid]))[0])
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
        if hi - lo <= _REL_TOL * hi:
            break
    return 0.5 * (lo + hi)


def liquidation_price(
    holdings: Sequence[Holding],
    market: MarketSnapshot,
    underlying: str,
    config: PortfolioMarginConfig | None = None,
    *,
    lower: float = 0.01,
    upper: float = 10.0,
) -> LiquidationResult:
    """Liquidation prices of ``holdings`` for moves of ``underlying`` (see the module docstring).

    ``lower`` / ``upper`` bound the search as multiples of the spot (0.01 .. 10 by default).

    Raises:
        InvalidInput: bad holdings / market / config, ``underlying`` not held, or bounds not
            0 < lower < 1 < upper <= 1000.
    """
    cfg = _check(market, config)
    check_str(underlying, "underlying")
    for name, value in (("lower", lower), ("upper", upper)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{name} must be a number (a multiple of the spot), got {value!r}")
    if not (0.0 < lower < 1.0 < upper <= 1000.0):
        raise InvalidInput(
            f"bounds must satisfy 0 < lower < 1 < upper <= 1000, got {lower}, {upper}"
        )
    book = compile_book(holdings, market)
    if underlying not in book.underlyings:
        raise InvalidInput(
            f"the holdings have no exposure to {underlying!r} "
            f"(they move with {list(book.underlyings)})"
        )
    k = book.underlyings.index(underlying)
    seg = _Segments(book, cfg)
    others = np.array(
        [
            seg.maintenance(i, book.spot0[i : i + 1])[0][0]
            for i in range(book.n_underlyings)
            if i != k
        ]
    ).sum()

    equity0 = book.equity()

    def f(spots: Array) -> Array:
        rows = np.repeat(book.spot0[None, :], spots.size, axis=0)
        rows[:, k] = spots
        return equity0 + book.pnl(rows) - (seg.maintenance(k, spots)[0] + others)

    s0 = float(book.spot0[k])
    f0 = float(f(np.array([s0]))[0])
    maint0 = equity0 - f0
    grid_lo = np.geomspace(s0 * lower, s0, _GRID)
    grid_hi = np.geomspace(s0, s0 * upper, _GRID)
    prices: dict[str, float | None] = {"below": None, "above": None}
    for side, grid in (("below", grid_lo[::-1]), ("above", grid_hi)):
        values = f(grid)
        sign = values > 0
        flips = np.flatnonzero(sign[1:] != sign[:-1])
        if flips.size:
            i = int(flips[0])
            a, b = sorted((float(grid[i]), float(grid[i + 1])))
            fa = float(values[i] if grid[i] == a else values[i + 1])
            prices[side] = _bisect(f, a, b, fa)
    below, above = prices["below"], prices["above"]
    if f0 <= 0:
        reason = "equity is already at or below maintenance at the current spot"
    elif below is None and above is None:
        reason = (
            f"equity stays above maintenance for {underlying} from {lower:g}x to {upper:g}x spot"
        )
    elif below is None:
        reason = f"no liquidation price below spot down to {lower:g}x spot"
    elif above is None:
        reason = f"no liquidation price above spot up to {upper:g}x spot"
    else:
        reason = "liquidation prices on both sides of spot"
    return LiquidationResult(
        underlying=underlying,
        spot=market.spots[underlying],
        equity=to_decimal_float(equity0, "equity"),
        maintenance=to_decimal_float(maint0, "maintenance"),
        liquidatable_now=f0 <= 0,
        below=None if below is None else to_decimal_float(below),
        above=None if above is None else to_decimal_float(above),
        reason=reason,
    )


def liquidation_prices(
    holdings: Sequence[Holding],
    market: MarketSnapshot,
    config: PortfolioMarginConfig | None = None,
) -> Mapping[str, LiquidationResult]:
    """:func:`liquidation_price` of the whole portfolio for each underlying it moves with.

    Raises:
        InvalidInput: as :func:`liquidation_price`.
    """
    book = compile_book(holdings, market)
    return MappingProxyType(
        {name: liquidation_price(holdings, market, name, config) for name in book.underlyings}
    )


def position_liquidation_price(
    holding: Holding,
    collateral: Decimal,
    market: MarketSnapshot,
    config: PortfolioMarginConfig | None = None,
) -> LiquidationResult:
    """Liquidation price of one position margined on its own with ``collateral`` USD
    (isolated margin): the portfolio of that position and that cash.

    Raises:
        InvalidInput: ``holding`` is not a Holding, ``collateral`` not a Decimal >= 0, or as
            :func:`liquidation_price`.
    """
    check_instance(holding, "holding", Holding, "a Holding")
    amount = check_decimal(collateral, "collateral", ge=0)
    cash = Holding(instrument=_COLLATERAL, quantity=amount, venue=holding.venue)
    return liquidation_price([holding, cash], market, holding.underlying, config)
