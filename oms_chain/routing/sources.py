"""Liquidity sources: one exact ``output(amount_in)`` per venue, whatever the venue is.

A :class:`LiquiditySource` is what the optimizer sees of a venue: an exact, non-decreasing
integer function from input base units to output base units (AMMs: the pool's exact swap math;
CEX: a walk over the book with the taker fee; multi-hop paths: the hops chained), optionally its
exact inverse (the input the venue charges for an exact output), a fixed cost per use already
expressed in output base units (gas × gas price × price; a CEX order costs none) and, for
exact-output routing, in input base units, a minimum size and the inventory that can be spent
there (wallet balance on that chain for a swap, exchange balance for a CEX order); sources that
spend the same balance share an ``inventory_group``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import isqrt

from oms_chain.model.checks import (
    MAX_UINT256,
    check_callable,
    check_decimal,
    check_instance,
    check_int,
    check_str,
    shown,
)
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.model.intent import Side
from oms_chain.venues.amm.v2_math import get_amount_in, get_amount_out
from oms_chain.venues.amm.v3_math import MAX_SQRT_RATIO, MIN_SQRT_RATIO, MathRevert
from oms_chain.venues.amm.v3_pool import V3PoolState
from oms_chain.venues.base import LiquidityCurve, LiquidityLevel

__all__ = ["InputFunction", "LiquiditySource", "OutputFunction", "OutputUnavailable"]

#: Exact output (base units) for an input (base units) > 0.
OutputFunction = Callable[[int], int]
#: Exact input (base units) the venue charges to deliver an output (base units) > 0; raises
#: :class:`OutputUnavailable` (or another :class:`InvalidInput`) when it cannot deliver it.
InputFunction = Callable[[int], int]


class OutputUnavailable(InvalidInput):
    """A source cannot deliver the requested output at any input (pool or book too shallow)."""


_BPS = Decimal(10_000)
_MAX_DECIMALS = 36
_MAX_UINT112 = (1 << 112) - 1
_MAX_INT256 = (1 << 255) - 1
_MAX_SEARCH_BITS = 256  # the bisection fallback never tries inputs above 2**256


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquiditySource:
    """One place an order (or part of it) can go, in integer base units.

    ``output`` must be exact and non-decreasing; it is only called with ``0 < x <= max_input``.
    The optimizer takes it to be concave too (the price per unit never improves with size, as
    on every pool, path and book, to integer rounding): its bounds, which cut candidate splits,
    rely on that; a function that is not concave still gets a valid plan, maybe not the best.
    ``input_for`` is its exact inverse as the venue charges it for an exact-output trade (V2
    ``getAmountIn``, V3 exact-output swap, a walk over the book), non-decreasing; ``None``: the
    smallest input whose ``output`` reaches the amount, by integer bisection (:meth:`cost`).
    ``fixed_cost`` is paid once if the source is used at all (output base units);
    ``input_fixed_cost`` is the same cost in input base units, for exact-output routing (``None``:
    the input this source charges for ``fixed_cost`` of output, see :meth:`fixed_cost_in_input`).
    ``min_size``: a used source takes at least that much input. ``inventory``: the most input
    that can be spent there (``None``: no limit); ``depth``: the most input the venue itself can
    absorb (a book's total size; ``None``: no limit). ``inventory_group`` names the balance the
    source spends (e.g. ``"31337:0xWallet:USDC"`` or ``"binance:USDC"``): sources of one group
    share the cap given for it to :func:`~oms_chain.routing.route`. ``pools`` names the pools
    (or books) the source trades through: two sources sharing one are never used together, as
    each one's quotes assume the pool's whole liquidity (constructors set the venue id, paths the
    union of their hops'). ``fee_bps`` (venue fee, for the plan's explanation only) and ``kind``
    describe the source.
    """

    venue: VenueId
    output: OutputFunction
    fixed_cost: int = 0
    min_size: int = 0
    inventory: int | None = None
    depth: int | None = None
    fee_bps: Decimal = Decimal(0)
    kind: str = "custom"
    input_for: InputFunction | None = None
    input_fixed_cost: int | None = None
    inventory_group: str | None = None
    pools: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Checked once per source, never per quote: the optimizer's inner loop stays as fast.
        check_str(self.venue, "source venue")
        what = f"source {self.venue}:"
        check_callable(self.output, f"{what} output", "a function of input base units (int)")
        if self.input_for is not None:
            check_callable(self.input_for, f"{what} input_for", "a function of output base units")
        for name in ("fixed_cost", "min_size"):
            check_int(getattr(self, name), f"{what} {name}", minimum=0, maximum=MAX_UINT256)
        for name in ("inventory", "depth", "input_fixed_cost"):
            value = getattr(self, name)
            if value is not None:
                check_int(value, f"{what} {name} (or None)", minimum=0, maximum=MAX_UINT256)
        fee = check_decimal(self.fee_bps, f"{what} fee_bps", ge=0, lt=_BPS)
        object.__setattr__(self, "fee_bps", fee)
        check_str(self.kind, f"{what} kind")
        if self.inventory_group is not None:
            check_str(self.inventory_group, f"{what} inventory_group (or None)")
        if isinstance(self.pools, str) or not isinstance(self.pools, AbstractSet):
            raise InvalidInput(
                f"{what} pools must be a frozenset of pool names, got {shown(self.pools)}"
            )
        for pool in self.pools:
            check_str(pool, f"{what} pools item")
        if not isinstance(self.pools, frozenset):
            object.__setattr__(self, "pools", frozenset(self.pools))

    @property
    def max_input(self) -> int | None:
        """The most input this source can take: the smaller of inventory and depth."""
        limits = [v for v in (self.inventory, self.depth) if v is not None]
        return min(limits) if limits else None

    def quote(self, amount_in: int) -> int:
        """Exact output for ``amount_in`` (0 for 0), before the fixed cost.

        Raises:
            InvalidInput: ``amount_in`` is not an int in 0..2**256-1 (or the venue refuses it).
        """
        check_int(amount_in, "amount_in", minimum=0, maximum=MAX_UINT256)
        return self.output(amount_in) if amount_in else 0

    def cost(self, amount_out: int) -> int:
        """Exact input (base units) needed to receive ``amount_out`` (0 for 0).

        Uses ``input_for`` when the source has one, else the smallest input whose exact
        ``output`` reaches ``amount_out`` (doubling, then integer bisection: exact, about
        ``2·log2(input)`` quotes). Ignores inventory and depth. Raises
        :class:`OutputUnavailable` when no input delivers that much.
        """
        check_int(amount_out, "amount_out", minimum=0, maximum=MAX_UINT256)
        if not amount_out:
            return 0
        if self.input_for is not None:
            return self.input_for(amount_out)
        return _smallest_input(self.output, amount_out, str(self.venue))

    def fixed_cost_in_input(self) -> int:
        """The fixed cost in input base units: ``input_fixed_cost``, else what this source
        charges for ``fixed_cost`` of output (pro rata when it cannot deliver that much)."""
        if self.input_fixed_cost is not None:
            return self.input_fixed_cost
        if not self.fixed_cost:
            return 0
        try:
            return self.cost(self.fixed_cost)
        except InvalidInput:
            probe = max(1, self.max_input or 10**6)
            got = self.output(probe)
            if got <= 0:
                raise OutputUnavailable(
                    f"source {self.venue}: cannot convert fixed_cost {self.fixed_cost} into "
                    "input units; give input_fixed_cost"
                ) from None
            return -((-self.fixed_cost * probe) // got)

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
        input_fixed_cost: int | None = None,
        inventory_group: str | None = None,
    ) -> LiquiditySource:
        """A Uniswap V2 pair (reserves in base units, as ``getReserves`` in trading order);
        exact-output quotes are ``getAmountIn``.

        Raises:
            InvalidInput: a reserve is not an int in 1..2**112-1, ``fee_bps`` not an int in
                0..9999 (V2 math is integral: no fractional basis points), or another argument
                is invalid (see the class).
        """
        check_str(venue, "venue")
        check_int(reserve_in, "reserve_in", minimum=1, maximum=_MAX_UINT112)
        check_int(reserve_out, "reserve_out", minimum=1, maximum=_MAX_UINT112)
        check_int(fee_bps, "fee_bps (integer basis points)", minimum=0, maximum=9_999)
        get_amount_out(1, reserve_in, reserve_out, fee_bps)  # validates reserves and fee now

        def output(amount_in: int) -> int:
            return get_amount_out(amount_in, reserve_in, reserve_out, fee_bps)

        def input_for(amount_out: int) -> int:
            if amount_out >= reserve_out:
                raise OutputUnavailable(
                    f"pool {venue} holds {reserve_out}; cannot deliver {amount_out}"
                )
            return get_amount_in(amount_out, reserve_in, reserve_out, fee_bps)

        return cls(
            venue=VenueId(venue),
            output=output,
            input_for=input_for,
            fixed_cost=fixed_cost,
            input_fixed_cost=input_fixed_cost,
            min_size=min_size,
            inventory=inventory,
            inventory_group=inventory_group,
            pools=frozenset({str(venue)}),
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
        input_fixed_cost: int | None = None,
        inventory_group: str | None = None,
    ) -> LiquiditySource:
        """A Uniswap V3 pool, quoted exactly by :meth:`V3PoolState.swap` (as QuoterV2; exact
        output as ``quoteExactOutputSingle``).

        ``depth`` is the input that moves the pool's rate ``max_price_move_bps`` against us
        (default: halves it), found with one swap to that price limit, so the optimizer never
        asks for more and never walks an exhausted pool's empty tick words up to the extreme
        price. A quote needing tick words that were not loaded raises
        :class:`~oms_chain.venues.amm.v3_math.TickDataMissing`.

        Raises:
            InvalidInput: ``pool`` is not a :class:`V3PoolState`, ``token_in`` not one of its
                tokens, ``max_price_move_bps`` not an int in 1..9999, or another argument is
                invalid (see the class).
        """
        check_str(venue, "venue")
        check_instance(pool, "pool", V3PoolState, "a V3PoolState")
        check_str(token_in, "token_in")
        if token_in.lower() not in (pool.token0.lower(), pool.token1.lower()):
            raise InvalidInput(
                f"token_in {token_in} is not a token of pool {pool.address} "
                f"({pool.token0}, {pool.token1})"
            )
        check_int(max_price_move_bps, "max_price_move_bps", minimum=1, maximum=9_999)
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

        def input_for(amount_out: int) -> int:
            try:
                result = pool.swap(zero_for_one, -amount_out)
            except MathRevert as exc:
                raise OutputUnavailable(f"pool {venue} cannot deliver {amount_out}: {exc}") from exc
            if result.amount_out != amount_out:
                raise OutputUnavailable(
                    f"pool {venue} delivers only {result.amount_out} of {amount_out}"
                )
            return result.amount_in

        return cls(
            venue=VenueId(venue),
            output=output,
            input_for=input_for,
            fixed_cost=fixed_cost,
            input_fixed_cost=input_fixed_cost,
            min_size=min_size,
            inventory=inventory,
            inventory_group=inventory_group,
            pools=frozenset({str(venue)}),
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
        input_fixed_cost: int | None = None,
        inventory_group: str | None = None,
    ) -> LiquiditySource:
        """A CEX book side, levels best first (``price`` quote per base, ``quantity`` base).

        ``side`` ``BUY``: input is quote, output base (walk the asks); ``SELL``: input base,
        output quote (walk the bids). The taker fee is taken from what is received, and the result
        is truncated to the output asset's base units. ``depth`` is the book's total size in input
        units, so the optimizer never sends more than the book holds. The exact-output inverse
        walks the same levels: the smallest input whose output reaches the amount.

        Raises:
            InvalidInput: no levels; a level's ``price`` or ``quantity`` not a finite Decimal
                > 0, or levels not best price first; ``side`` not a :class:`Side`;
                ``taker_fee_bps`` not a Decimal (or int) in [0, 10000); decimals not ints in
                0..36; or another argument is invalid (see the class).
        """
        check_str(venue, "venue")
        check_instance(side, "side", Side, "a Side (BUY walks asks, SELL walks bids)")
        fee = check_decimal(taker_fee_bps, "taker_fee_bps", ge=0, lt=_BPS)
        check_int(base_decimals, "base_decimals", minimum=0, maximum=_MAX_DECIMALS)
        check_int(quote_decimals, "quote_decimals", minimum=0, maximum=_MAX_DECIMALS)
        if isinstance(levels, str) or not isinstance(levels, Sequence):
            raise InvalidInput(f"book of {venue}: levels must be a sequence, got {shown(levels)}")
        if not levels:
            raise InvalidInput(f"book of {venue} has no levels")
        for k, level in enumerate(levels):
            check_instance(
                level, f"book of {venue}: levels[{k}]", LiquidityLevel, "a LiquidityLevel"
            )
            check_decimal(level.price, f"book of {venue}: levels[{k}].price", gt=0)
            check_decimal(level.quantity, f"book of {venue}: levels[{k}].quantity", gt=0)
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

        # the output at each level's first input, for the inverse
        out_starts = [_level(x) for x in starts]

        def input_for(amount_out: int) -> int:
            if amount_out > full:
                raise OutputUnavailable(
                    f"book of {venue} holds {full}; cannot deliver {amount_out}"
                )
            k = max(bisect_right(out_starts, amount_out) - 1, 0)
            a, b, d = terms[k]
            # smallest x of level k with a + x*b >= amount_out*d, then fix level-edge rounding
            x = max(starts[k], 1, -((a - amount_out * d) // b))
            for _ in range(8):
                if output(x) < amount_out:
                    x += 1
                elif x > 1 and output(x - 1) >= amount_out:
                    x -= 1
                else:
                    return x
            return _smallest_input(output, amount_out, str(venue))

        return cls(
            venue=VenueId(venue),
            output=output,
            input_for=input_for,
            fixed_cost=fixed_cost,
            input_fixed_cost=input_fixed_cost,
            min_size=min_size,
            inventory=inventory,
            inventory_group=inventory_group,
            pools=frozenset({str(venue)}),
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
        input_fixed_cost: int | None = None,
        inventory_group: str | None = None,
    ) -> LiquiditySource:
        """A venue's :class:`LiquidityCurve` report (see :meth:`from_book`).

        ``fixed_cost`` in output base units; by default the curve's ``fixed_cost`` (in quote) is
        converted, at the best level's price when the output is base, rounded up.

        Raises:
            InvalidInput: ``curve`` is not a :class:`LiquidityCurve`, its ``fixed_cost`` not a
                finite Decimal >= 0, or anything :meth:`from_book` refuses.
        """
        check_instance(curve, "curve", LiquidityCurve, "a LiquidityCurve")
        check_decimal(curve.fixed_cost, f"curve of {curve.venue}: fixed_cost", ge=0)
        check_int(base_decimals, "base_decimals", minimum=0, maximum=_MAX_DECIMALS)
        check_int(quote_decimals, "quote_decimals", minimum=0, maximum=_MAX_DECIMALS)
        if isinstance(curve.levels, str) or not isinstance(curve.levels, Sequence):
            raise InvalidInput(
                f"curve of {curve.venue}: levels must be a sequence, got {shown(curve.levels)}"
            )
        if fixed_cost is None and curve.side is Side.BUY and curve.levels:
            check_instance(curve.levels[0], "curve levels[0]", LiquidityLevel, "a LiquidityLevel")
            check_decimal(curve.levels[0].price, f"curve of {curve.venue}: levels[0].price", gt=0)
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
            input_fixed_cost=input_fixed_cost,
            inventory_group=inventory_group,
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
        input_fixed_cost: int | None = None,
        inventory_group: str | None = None,
    ) -> LiquiditySource:
        """A multi-hop path (e.g. USDC→WETH→WBTC): each hop spends the previous hop's output.

        ``fixed_cost`` is the whole path's gas in the final output's base units (the hops' own
        fixed costs, in their own units, are ignored). Inventory and depth of the first hop
        bound the input. Exact output is solved from the last hop back, each hop asked for the
        next one's input (as QuoterV2 ``quoteExactOutput`` and V2 ``getAmountsIn``).

        Raises:
            InvalidInput: no hops, a hop that is not a :class:`LiquiditySource`, or another
                argument is invalid (see the class).
        """
        check_str(venue, "venue")
        if isinstance(hops, str) or not isinstance(hops, Sequence):
            raise InvalidInput(
                f"path {venue}: hops must be a sequence of sources, not {shown(hops)}"
            )
        if not hops:
            raise InvalidInput(f"path {venue}: hops must list at least one hop")
        for k, hop in enumerate(hops):
            check_instance(hop, f"path {venue}: hops[{k}]", LiquiditySource, "a LiquiditySource")
        check_int(min_size, f"path {venue}: min_size", minimum=0, maximum=MAX_UINT256)
        if inventory is not None:
            check_int(inventory, f"path {venue}: inventory", minimum=0, maximum=MAX_UINT256)
        outputs = tuple(h.output for h in hops)

        def output(amount_in: int) -> int:
            amount = amount_in
            for hop in outputs:
                if amount <= 0:
                    return 0
                amount = hop(amount)
            return amount

        def input_for(amount_out: int) -> int:
            amount = amount_out
            for h in reversed(hops):
                amount = h.cost(amount)
            return amount

        keep = Decimal(1)
        for h in hops:
            keep *= 1 - h.fee_bps / _BPS
        first = hops[0]
        limits = [v for v in (inventory, first.inventory) if v is not None]
        return cls(
            venue=VenueId(venue),
            output=output,
            input_for=input_for,
            fixed_cost=fixed_cost,
            input_fixed_cost=input_fixed_cost,
            min_size=max(min_size, first.min_size),
            inventory=min(limits) if limits else None,
            inventory_group=inventory_group or first.inventory_group,
            pools=frozenset().union(*(h.pools for h in hops)),
            depth=first.depth,
            fee_bps=(1 - keep) * _BPS,
            kind="path:" + ">".join(h.kind for h in hops),
        )


def _smallest_input(output: OutputFunction, amount_out: int, venue: str) -> int:
    """The smallest ``x > 0`` with ``output(x) >= amount_out`` (``output`` non-decreasing; an
    input the venue's math refuses counts as too much)."""

    def reaches(x: int) -> bool:
        try:
            return output(x) >= amount_out
        except InvalidInput:
            return True

    lo, hi = 0, 1  # output(lo) < amount_out (lo = 0 by convention)
    while not reaches(hi):
        lo, hi = hi, hi * 2
        if hi.bit_length() > _MAX_SEARCH_BITS:
            raise OutputUnavailable(f"source {venue} cannot deliver {amount_out} at any input")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid
    try:
        if output(hi) >= amount_out:
            return hi
    except InvalidInput:
        pass
    raise OutputUnavailable(f"source {venue} cannot deliver {amount_out} at any input")
