"""Liquidity sources: one exact ``output(amount_in)`` per venue, whatever the venue is.

A :class:`LiquiditySource` is what the optimizer sees of a venue: an exact, non-decreasing
integer function from input base units to output base units (AMMs: the pool's exact swap math;
CEX: a walk over the book with the taker fee; multi-hop paths: the hops chained), a fixed cost per
use already expressed in output base units (gas × gas price × price; a CEX order costs none), a
minimum size and the inventory that can be spent there (wallet balance on that chain for a swap,
exchange balance for a CEX order).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import isqrt

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.model.intent import Side
from oms_chain.venues.amm.v2_math import get_amount_out
from oms_chain.venues.amm.v3_math import MAX_SQRT_RATIO, MIN_SQRT_RATIO, MathRevert
from oms_chain.venues.amm.v3_pool import V3PoolState
from oms_chain.venues.base import LiquidityCurve, LiquidityLevel

__all__ = ["LiquiditySource", "OutputFunction"]

#: Exact output (base units) for an input (base units) > 0.
OutputFunction = Callable[[int], int]

_BPS = Decimal(10_000)
_MAX_INT256 = (1 << 255) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquiditySource:
    """One place an order (or part of it) can go, in integer base units.

    ``output`` must be exact and non-decreasing; it is only called with ``0 < x <= max_input``.
    ``fixed_cost`` is paid once if the source is used at all (output base units). ``min_size``:
    a used source takes at least that much input. ``inventory``: the most input that can be spent
    there (``None``: no limit); ``depth``: the most input the venue itself can absorb (a book's
    total size; ``None``: no limit). ``fee_bps`` (venue fee, for the plan's explanation only) and
    ``kind`` describe the source.
    """

    venue: VenueId
    output: OutputFunction
    fixed_cost: int = 0
    min_size: int = 0
    inventory: int | None = None
    depth: int | None = None
    fee_bps: Decimal = Decimal(0)
    kind: str = "custom"

    def __post_init__(self) -> None:
        if self.fixed_cost < 0:
            raise InvalidInput(
                f"source {self.venue}: fixed_cost must be >= 0, got {self.fixed_cost}"
            )
        if self.min_size < 0:
            raise InvalidInput(f"source {self.venue}: min_size must be >= 0, got {self.min_size}")
        for name in ("inventory", "depth"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidInput(f"source {self.venue}: {name} must be >= 0 or None, got {value}")
        if not Decimal(0) <= self.fee_bps < _BPS:
            raise InvalidInput(
                f"source {self.venue}: fee_bps must be in [0, 10000), got {self.fee_bps}"
            )

    @property
    def max_input(self) -> int | None:
        """The most input this source can take: the smaller of inventory and depth."""
        limits = [v for v in (self.inventory, self.depth) if v is not None]
        return min(limits) if limits else None

    def quote(self, amount_in: int) -> int:
        """Exact output for ``amount_in`` (0 for 0), before the fixed cost."""
        if amount_in < 0:
            raise InvalidInput(f"amount_in must be >= 0, got {amount_in}")
        return self.output(amount_in) if amount_in else 0

    # -- named constructors ---------------------------------------------------------------------

    @classmethod
    def from_v2_reserves(
        cls,
        venue: VenueId | str,
        reserve_in: int,
        reserve_out: int,
        *,
        fee_bps: int = 30,
        fixed_cost: int = 0,
        min_size: int = 0,
        inventory: int | None = None,
    ) -> LiquiditySource:
        """A Uniswap V2 pair (reserves in base units, as ``getReserves`` in trading order)."""
        get_amount_out(1, reserve_in, reserve_out, fee_bps)  # validates reserves and fee now

        def output(amount_in: int) -> int:
            return get_amount_out(amount_in, reserve_in, reserve_out, fee_bps)

        return cls(
            venue=VenueId(venue),
            output=output,
            fixed_cost=fixed_cost,
            min_size=min_size,
            inventory=inventory,
            fee_bps=Decimal(fee_bps),
            kind="uniswap-v2",
        )

    @classmethod
    def from_v3_pool(
        cls,
        venue: VenueId | str,
        pool: V3PoolState,
        token_in: str,
        *,
        fixed_cost: int = 0,
        min_size: int = 0,
        inventory: int | None = None,
        max_price_move_bps: int = 5_000,
    ) -> LiquiditySource:
        """A Uniswap V3 pool, quoted exactly by :meth:`V3PoolState.swap` (as QuoterV2).

        ``depth`` is the input that moves the pool's rate ``max_price_move_bps`` against us
        (default: halves it), found with one swap to that price limit, so the optimizer never
        asks for more and never walks an exhausted pool's empty tick words up to the extreme
        price. A quote needing tick words that were not loaded raises
        :class:`~oms_chain.venues.amm.v3_math.TickDataMissing`.
        """
        if not 0 < max_price_move_bps < 10_000:
            raise InvalidInput(
                f"max_price_move_bps must be in (0, 10000), got {max_price_move_bps}"
            )
        zero_for_one = pool.zero_for_one(token_in)
        square = pool.sqrt_price_x96 * pool.sqrt_price_x96
        if zero_for_one:
            limit = max(isqrt(square * (10_000 - max_price_move_bps) // 10_000), MIN_SQRT_RATIO + 1)
        else:
            limit = min(isqrt(square * 10_000 // (10_000 - max_price_move_bps)), MAX_SQRT_RATIO - 1)
        try:
            depth = pool.swap(zero_for_one, _MAX_INT256, limit).amount_in
        except MathRevert:
            depth = 0  # the price already sits at the limit

        def output(amount_in: int) -> int:
            return pool.swap(zero_for_one, amount_in).amount_out

        return cls(
            venue=VenueId(venue),
            output=output,
            fixed_cost=fixed_cost,
            min_size=min_size,
            inventory=inventory,
            depth=depth,
            fee_bps=Decimal(pool.fee) / 100,
            kind="uniswap-v3",
        )

    @classmethod
    def from_book(
        cls,
        venue: VenueId | str,
        levels: Sequence[LiquidityLevel],
        *,
        side: Side,
        taker_fee_bps: Decimal | int,
        base_decimals: int,
        quote_decimals: int,
        fixed_cost: int = 0,
        min_size: int = 0,
        inventory: int | None = None,
    ) -> LiquiditySource:
        """A CEX book side, levels best first (``price`` quote per base, ``quantity`` base).

        ``side`` ``BUY``: input is quote, output base (walk the asks); ``SELL``: input base,
        output quote (walk the bids). The taker fee is taken from what is received, and the result
        is truncated to the output asset's base units. ``depth`` is the book's total size in input
        units, so the optimizer never sends more than the book holds.
        """
        fee = Decimal(taker_fee_bps)
        if not Decimal(0) <= fee < _BPS:
            raise InvalidInput(f"taker_fee_bps must be in [0, 10000), got {taker_fee_bps}")
        if not levels:
            raise InvalidInput(f"book of {venue} has no levels")
        base_scale = Fraction(10) ** base_decimals
        quote_scale = Fraction(10) ** quote_decimals
        cum_in: list[Fraction] = [Fraction(0)]
        cum_out: list[Fraction] = [Fraction(0)]
        rates: list[Fraction] = []
        for level in levels:
            price, qty = Fraction(level.price), Fraction(level.quantity)
            if price <= 0 or qty <= 0:
                raise InvalidInput(
                    f"book of {venue}: level price and quantity must be > 0, got {level}"
                )
            base_units, quote_units = qty * base_scale, qty * price * quote_scale
            used, got = (quote_units, base_units) if side is Side.BUY else (base_units, quote_units)
            if rates and got / used > rates[-1]:
                raise InvalidInput(f"book of {venue}: levels must be listed best price first")
            rates.append(got / used)
            cum_in.append(cum_in[-1] + used)
            cum_out.append(cum_out[-1] + got)
        keep = 1 - Fraction(fee) / 10_000
        depth = int(cum_in[-1])  # floor: never more than the book holds
        # Output inside level k is floor(c_k + x * r_k) with r_k the level's rate after fee:
        # kept as integers (a_k + x * b_k) // d_k so a quote is one bisect and one division.
        starts = [-((-c.numerator) // c.denominator) for c in cum_in[:-1]]  # ceil
        terms = []
        for k, rate in enumerate(rates):
            r = rate * keep
            c = cum_out[k] * keep - cum_in[k] * r
            terms.append(
                (
                    c.numerator * r.denominator,
                    r.numerator * c.denominator,
                    c.denominator * r.denominator,
                )
            )
        full = int(cum_out[-1] * keep)

        def output(amount_in: int) -> int:
            if amount_in >= depth:
                return full if amount_in > depth else min(full, _level(amount_in))
            return _level(amount_in)

        def _level(amount_in: int) -> int:
            a, b, d = terms[bisect_right(starts, amount_in) - 1]
            return (a + amount_in * b) // d

        return cls(
            venue=VenueId(venue),
            output=output,
            fixed_cost=fixed_cost,
            min_size=min_size,
            inventory=inventory,
            depth=depth,
            fee_bps=fee,
            kind="cex-book",
        )

    @classmethod
    def from_curve(
        cls,
        curve: LiquidityCurve,
        *,
        base_decimals: int,
        quote_decimals: int,
        fixed_cost: int | None = None,
        min_size: int = 0,
        inventory: int | None = None,
    ) -> LiquiditySource:
        """A venue's :class:`LiquidityCurve` report (see :meth:`from_book`).

        ``fixed_cost`` in output base units; by default the curve's ``fixed_cost`` (in quote) is
        converted, at the best level's price when the output is base, rounded up.
        """
        if fixed_cost is None:
            cost = Fraction(curve.fixed_cost)
            if curve.side is Side.BUY and cost and curve.levels:
                cost = cost / Fraction(curve.levels[0].price) * Fraction(10) ** base_decimals
            else:
                cost = cost * Fraction(10) ** quote_decimals
            fixed_cost = -((-cost.numerator) // cost.denominator)
        return cls.from_book(
            curve.venue,
            curve.levels,
            side=curve.side,
            taker_fee_bps=curve.taker_fee_bps,
            base_decimals=base_decimals,
            quote_decimals=quote_decimals,
            fixed_cost=fixed_cost,
            min_size=min_size,
            inventory=inventory,
        )

    @classmethod
    def from_path(
        cls,
        venue: VenueId | str,
        hops: Sequence[LiquiditySource],
        *,
        fixed_cost: int,
        min_size: int = 0,
        inventory: int | None = None,
    ) -> LiquiditySource:
        """A multi-hop path (e.g. USDC→WETH→WBTC): each hop spends the previous hop's output.

        ``fixed_cost`` is the whole path's gas in the final output's base units (the hops' own
        fixed costs, in their own units, are ignored). Inventory and depth of the first hop
        bound the input.
        """
        if not hops:
            raise InvalidInput("a path needs at least one hop")
        outputs = tuple(h.output for h in hops)

        def output(amount_in: int) -> int:
            amount = amount_in
            for hop in outputs:
                if amount <= 0:
                    return 0
                amount = hop(amount)
            return amount

        keep = Decimal(1)
        for h in hops:
            keep *= 1 - h.fee_bps / _BPS
        first = hops[0]
        limits = [v for v in (inventory, first.inventory) if v is not None]
        return cls(
            venue=VenueId(venue),
            output=output,
            fixed_cost=fixed_cost,
            min_size=max(min_size, first.min_size),
            inventory=min(limits) if limits else None,
            depth=first.depth,
            fee_bps=(1 - keep) * _BPS,
            kind="path:" + ">".join(h.kind for h in hops),
        )
