"""Split execution: one direct intent over several venues, sized by the smart order router.

A :class:`Splitter` turns "sell 12 ETH on any of these venues" into legs (venue, quantity, limit
price); :class:`RoutingSplitter` sizes them with :mod:`oms_chain.routing` from each venue's
liquidity (exact AMM math where the venue offers it, book levels otherwise) and gives each leg a
worst acceptable price: the leg's expected all-in price worsened by the intent's slippage, never
worse than the intent's own limit. On-chain venues turn that limit into the swap's min-out
(max-in for buys).

The engine sends the legs concurrently and re-routes what a leg fails to fill (see
:meth:`oms_chain.engine.Engine.submit`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Protocol

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Intent, Side
from oms_chain.routing import (
    ALLOW_WARNINGS_PARAM,
    WARNING_CODES,
    LiquiditySource,
    allowed_warnings,
    route,
    route_exact_output,
)
from oms_chain.venues.amm import UniswapV2Venue, UniswapV3Venue, V2PoolState
from oms_chain.venues.base import QuantityGrid, SpendableInventory, Venue

__all__ = ["RoutingSplitter", "SourceFor", "SplitLeg", "Splitter", "amm_source"]

_BPS = Decimal(10_000)

#: Exact liquidity of a venue for (instrument, side), or ``None`` to use its liquidity curve.
SourceFor = Callable[[Venue, Instrument, Side], Awaitable[LiquiditySource | None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitLeg:
    """One child of a split: ``quantity`` of base on ``venue``; ``expected_price`` (quote per
    base, fees and gas included) and ``limit_price`` (worst acceptable; ``None``: market)."""

    venue: VenueId
    quantity: Decimal
    expected_price: Decimal
    limit_price: Decimal | None


class Splitter(Protocol):
    """Sizes the legs of a split."""

    async def split(
        self, intent: Intent, quantity: Decimal, venues: Mapping[VenueId, Venue]
    ) -> list[SplitLeg]:
        """Legs whose quantities sum to ``quantity`` exactly.

        Raises:
            InvalidInput: no feasible split (no liquidity, sizes below minimums).
        """
        ...


async def amm_source(venue: Venue, instrument: Instrument, side: Side) -> LiquiditySource | None:
    """Exact liquidity of a Uniswap venue (its pools' exact math, read at one block; gas as a
    fixed cost on both sides); ``None`` for any other venue."""
    if not isinstance(venue, UniswapV2Venue | UniswapV3Venue):
        return None
    path = await venue.swap_path(instrument, side)
    for mine, theirs in (
        (instrument.base, path.instrument.base),
        (instrument.quote, path.instrument.quote),
    ):
        if mine.decimals != theirs.decimals:
            raise InvalidInput(
                f"{venue.venue_id} trades {theirs.symbol} with {theirs.decimals} decimals but the "
                f"intent's {mine.symbol} has {mine.decimals}; build the intent on the venue's "
                f"instrument (venue.instruments())"
            )
    hops = []
    for state, token_in in zip(path.states, path.tokens, strict=False):
        if isinstance(state, V2PoolState):
            r_in, r_out = state.reserves_for(token_in)
            hops.append(
                LiquiditySource.from_v2_reserves(venue.venue_id, r_in, r_out, fee_bps=state.fee_bps)
            )
        else:
            hops.append(LiquiditySource.from_v3_pool(venue.venue_id, state, token_in))
    inst = path.instrument
    gas_quote = int(
        (path.gas_cost_quote * Decimal(10) ** inst.quote.decimals).to_integral_value(ROUND_CEILING)
    )
    source = (
        hops[0] if len(hops) == 1 else LiquiditySource.from_path(venue.venue_id, hops, fixed_cost=0)
    )
    # Gas in the other asset at the path's small-size rate (rounded up: never understated).
    in_decimals = inst.base.decimals if side is Side.SELL else inst.quote.decimals
    probe = max(1, 10**in_decimals // 1000)
    got = source.output(probe) if gas_quote else 0
    if side is Side.SELL:  # input base, output quote
        fixed_out = gas_quote
        fixed_in = -((-gas_quote * probe) // got) if got else 0
    else:  # input quote, output base
        fixed_in = gas_quote
        fixed_out = -((-gas_quote * got) // probe) if got else 0
    return replace(source, fixed_cost=fixed_out, input_fixed_cost=fixed_in, kind=f"{path.protocol}")


class RoutingSplitter:
    """A :class:`Splitter` over :func:`oms_chain.routing.route` (sells: exact input of base)
    and :func:`oms_chain.routing.route_exact_output` (buys: exact output of base).

    Args:
        source_for: exact liquidity per venue; venues it returns ``None`` for are read through
            :meth:`Venue.liquidity`. Default: :func:`amm_source` (Uniswap venues quoted with
            their pools' exact math).
        allow_warnings: plan warning codes (:data:`oms_chain.routing.WARNING_CODES`) to accept;
            a plan with any other warning is refused (:class:`~oms_chain.routing.PlanRefused`).
            An intent accepts more with its algo parameter
            :data:`~oms_chain.routing.ALLOW_WARNINGS_PARAM` (comma-separated codes).
    """

    def __init__(
        self, *, source_for: SourceFor | None = amm_source, allow_warnings: Collection[str] = ()
    ) -> None:
        self._source_for = source_for
        if isinstance(allow_warnings, str) or not set(allow_warnings) <= WARNING_CODES:
            raise InvalidInput(
                f"allow_warnings must be a collection of codes from {sorted(WARNING_CODES)}, "
                f"got {allow_warnings!r}"
            )
        self._allow = frozenset(allow_warnings)

    async def _source(self, venue: Venue, instrument: Instrument, side: Side) -> LiquiditySource:
        if self._source_for is not None:
            found = await self._source_for(venue, instrument, side)
            if found is not None:
                return found
        curve = await venue.liquidity(instrument, side)
        return LiquiditySource.from_curve(
            curve,
            base_decimals=instrument.base.decimals,
            quote_decimals=instrument.quote.decimals,
        )

    async def split(
        self, intent: Intent, quantity: Decimal, venues: Mapping[VenueId, Venue]
    ) -> list[SplitLeg]:
        if quantity <= 0:
            raise InvalidInput(f"split quantity must be positive, got {quantity}")
        if not venues:
            raise InvalidInput("split needs at least one venue")
        allow = self._allow | allowed_warnings(intent.params.get(ALLOW_WARNINGS_PARAM))
        instrument, side = intent.instrument, intent.side
        base_scale = Decimal(10) ** instrument.base.decimals
        quote_scale = Decimal(10) ** instrument.quote.decimals
        units = int((quantity * base_scale).to_integral_value(ROUND_DOWN))
        if units <= 0:
            raise InvalidInput(f"split quantity {quantity} is below one base unit")
        sources = [await self._source(v, instrument, side) for v in venues.values()]
        # What each venue can spend: a wallet's balance is shared by its venues on a chain,
        # an exchange's by its markets; the split never spends more than is there.
        in_scale = base_scale if side is Side.SELL else quote_scale
        inventories: dict[str, int] = {}
        for i, venue in enumerate(venues.values()):
            found = await _inventory(venue, instrument, side)
            if found is None:
                continue
            group, amount = found
            inventories[group] = int((amount * in_scale).to_integral_value(ROUND_DOWN))
            sources[i] = replace(sources[i], inventory_group=group)
        kinds = {s.venue: s.kind for s in sources}
        raw: list[tuple[VenueId, int, Decimal]] = []  # venue, base units, quote per base
        if side is Side.SELL:
            plan = route(sources, units, inventories=inventories, compare_greedy=False)
            for leg in plan.legs:
                net = leg.amount_out - leg.fixed_cost
                price = Decimal(net) / quote_scale / (Decimal(leg.amount_in) / base_scale)
                raw.append((leg.venue, leg.amount_in, price))
        else:
            plan = route_exact_output(sources, units, inventories=inventories, compare_greedy=False)
            for leg in plan.legs:  # fixed cost (gas) is extra input here
                paid = leg.amount_in + leg.fixed_cost
                price = Decimal(paid) / quote_scale / (Decimal(leg.amount_out) / base_scale)
                raw.append((leg.venue, leg.amount_out, price))
        plan.refuse_warnings(allow)  # nothing is sent for a plan with a warning not allowed
        if not raw:
            raise InvalidInput(f"no route for {quantity} {instrument.base.symbol}")
        # Quantities on each venue's grid (an exchange's step, else the instrument's); the
        # largest leg on the finest grid takes the rounding rest, so the legs sum exactly.
        fine = Decimal(1).scaleb(-instrument.size_decimals)
        steps = {v: _quantity_step(venue, instrument) or fine for v, venue in venues.items()}
        sized = [(v, _round_down(Decimal(u) / base_scale, steps[v]), p) for v, u, p in raw]
        rest = quantity - sum((q for _, q, _ in sized), Decimal(0))
        if rest:
            finest = min(steps.values())
            if rest % finest:
                raise InvalidInput(
                    f"{quantity} is not on the quantity grid ({finest}) of any of the venues"
                )
            takers = [i for i, (v, _, _) in enumerate(sized) if steps[v] == finest]
            if takers:
                i = max(takers, key=lambda k: sized[k][1])
                v, q, p = sized[i]
                sized[i] = (v, q + rest, p)
            else:  # the plan used only coarse venues: the rest goes to a fine one
                v = next(v for v in venues if steps[v] == finest)
                worst = min if side is Side.SELL else max
                sized.append((v, rest, worst(p for _, _, p in sized)))
        # Book legs go as market orders bounded by the intent's slippage (the venue knows its
        # price grid); swaps carry the limit as their min-out / max-in.
        return [
            SplitLeg(
                venue=v,
                quantity=q,
                expected_price=p,
                limit_price=intent.limit_price if kinds[v] == "cex-book" else _leg_limit(intent, p),
            )
            for v, q, p in sized
            if q > 0
        ]


async def _inventory(
    venue: Venue, instrument: Instrument, side: Side
) -> tuple[str, Decimal] | None:
    """``(balance group, amount)`` the venue can spend for ``side``, ``None`` when unknown.

    A :class:`SpendableInventory` venue says it itself (Uniswap: the wallet on that chain);
    other venues report balances per asset code, one group per venue.
    """
    if isinstance(venue, SpendableInventory):
        found: tuple[str, Decimal] = await venue.spendable(instrument, side)
        return found
    asset = instrument.base if side is Side.SELL else instrument.quote
    try:
        balances = await venue.balances()
    except Exception:
        return None
    amount = balances.get(asset.symbol)
    if amount is None:
        return None
    return f"venue:{venue.venue_id}:{asset.symbol}", amount


def _quantity_step(venue: Venue, instrument: Instrument) -> Decimal | None:
    if not isinstance(venue, QuantityGrid):
        return None
    try:
        found = venue.quantity_step(instrument)
    except Exception:
        return None
    return found if isinstance(found, Decimal) and found > 0 else None


def _round_down(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_DOWN) * step


def _leg_limit(intent: Intent, expected: Decimal) -> Decimal | None:
    """Worst acceptable price for a leg expected at ``expected``: the intent's slippage around
    it, and never beyond the intent's own limit."""
    slip = intent.max_slippage_bps
    limit = intent.limit_price
    if slip is None:
        return limit
    if intent.side is Side.SELL:
        mine = expected * (1 - slip / _BPS)
        return mine if limit is None else max(mine, limit)
    mine = expected * (1 + slip / _BPS)
    return mine if limit is None else min(mine, limit)
