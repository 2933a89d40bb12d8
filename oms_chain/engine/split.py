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

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Intent, Side
from oms_chain.routing import LiquiditySource, route
from oms_chain.venues.base import Venue

__all__ = ["RoutingSplitter", "SourceFor", "SplitLeg", "Splitter"]

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


class RoutingSplitter:
    """A :class:`Splitter` over :func:`oms_chain.routing.route` (sells: exact input of base)
    and :func:`oms_chain.routing.route_exact_output` (buys: exact output of base).

    Args:
        source_for: exact liquidity per venue (e.g. an AMM pool's exact math); venues it
            returns ``None`` for are read through :meth:`Venue.liquidity`.
    """

    def __init__(self, *, source_for: SourceFor | None = None) -> None:
        self._source_for = source_for

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
        instrument, side = intent.instrument, intent.side
        base_scale = Decimal(10) ** instrument.base.decimals
        quote_scale = Decimal(10) ** instrument.quote.decimals
        units = int((quantity * base_scale).to_integral_value(ROUND_DOWN))
        if units <= 0:
            raise InvalidInput(f"split quantity {quantity} is below one base unit")
        sources = [await self._source(v, instrument, side) for v in venues.values()]
        kinds = {s.venue: s.kind for s in sources}
        raw: list[tuple[VenueId, int, Decimal]] = []  # venue, base units, quote per base
        if side is Side.SELL:
            plan = route(sources, units, compare_greedy=False)
            for leg in plan.legs:
                net = leg.amount_out - leg.fixed_cost
                price = Decimal(net) / quote_scale / (Decimal(leg.amount_in) / base_scale)
                raw.append((leg.venue, leg.amount_in, price))
        else:
            from oms_chain.routing import route_exact_output  # type: ignore[attr-defined]

            plan = route_exact_output(sources, units, compare_greedy=False)
            for leg in plan.legs:
                base_got = leg.amount_out - leg.fixed_cost
                if base_got <= 0:
                    continue
                price = Decimal(leg.amount_in) / quote_scale / (Decimal(base_got) / base_scale)
                raw.append((leg.venue, base_got, price))
        if not raw:
            raise InvalidInput(f"no route for {quantity} {instrument.base.symbol}")
        # Quantities on the instrument's size grid; the largest leg takes the rounding rest so
        # the legs sum to the order exactly.
        step = Decimal(1).scaleb(-min(instrument.size_decimals, instrument.base.decimals))
        sized = [(v, (Decimal(u) / base_scale).quantize(step, ROUND_DOWN), p) for v, u, p in raw]
        largest = max(range(len(sized)), key=lambda i: sized[i][1])
        rest = quantity - sum((q for _, q, _ in sized), Decimal(0))
        v, q, p = sized[largest]
        sized[largest] = (v, q + rest, p)
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
