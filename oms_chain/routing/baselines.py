"""Simple ways to fill an order, kept as baselines the optimizer is measured against."""

from __future__ import annotations

from collections.abc import Sequence

from oms_chain.model.ids import VenueId
from oms_chain.routing.plan import Baseline
from oms_chain.routing.sources import LiquiditySource, OutputFunction

__all__ = ["best_single", "greedy_split"]


def _room(source: LiquiditySource, amount_in: int) -> int:
    limit = source.max_input
    return amount_in if limit is None else min(limit, amount_in)


def best_single(
    sources: Sequence[LiquiditySource],
    amount_in: int,
    quotes: Sequence[OutputFunction] | None = None,
) -> Baseline | None:
    """The best net output from one source taking all of ``amount_in`` (``None``: none can).

    ``quotes`` may replace the sources' ``quote`` (e.g. memoized), one per source."""
    quote = quotes or [s.quote for s in sources]
    best: Baseline | None = None
    for source, q in zip(sources, quote, strict=True):
        if _room(source, amount_in) < amount_in or source.min_size > amount_in:
            continue
        net = q(amount_in) - source.fixed_cost
        if best is None or net > best.net_output:
            best = Baseline(
                name=str(source.venue), net_output=net, allocation=((source.venue, amount_in),)
            )
    return best


def greedy_split(
    sources: Sequence[LiquiditySource],
    amount_in: int,
    steps: int = 20,
    quotes: Sequence[OutputFunction] | None = None,
) -> Baseline | None:
    """The split of Uniswap's smart order router: ``steps`` equal chunks (5 % each by default),
    each given to the source whose exact net output grows most per unit of input by taking it
    (its fixed cost counts on first use). A source's first allocation is as many chunks as its
    minimum size needs. ``None`` if the chunks cannot all be placed (inventory, depth).
    ``quotes`` may replace the sources' ``quote`` (e.g. memoized), one per source."""
    quote = quotes or [s.quote for s in sources]
    chunk, rest = divmod(amount_in, steps)
    sizes = [chunk] * steps
    sizes[-1] += rest
    sizes = [s for s in sizes if s > 0]
    rooms = [_room(s, amount_in) for s in sources]
    alloc = [0] * len(sources)
    out = [0] * len(sources)
    k = 0
    while k < len(sizes):
        best_i, best_take, best_gain, best_len = -1, 0, 0, 1
        for i, source in enumerate(sources):
            take, x = 0, alloc[i]
            while k + take < len(sizes) and (take == 0 or x < source.min_size):
                x += sizes[k + take]
                take += 1
            if x > rooms[i] or x < source.min_size:
                continue
            gain = quote[i](x) - out[i] - (source.fixed_cost if alloc[i] == 0 else 0)
            length = x - alloc[i]
            # best gain per unit of input, compared exactly
            if best_i < 0 or gain * best_len > best_gain * length:
                best_i, best_take, best_gain, best_len = i, take, gain, length
        if best_i < 0:
            return None
        alloc[best_i] += best_len
        out[best_i] = quote[best_i](alloc[best_i])
        k += best_take
    net = sum(o - s.fixed_cost for o, a, s in zip(out, alloc, sources, strict=True) if a)
    allocation: tuple[tuple[VenueId, int], ...] = tuple(
        (s.venue, a) for s, a in zip(sources, alloc, strict=True) if a
    )
    return Baseline(name=f"greedy-{steps}", net_output=net, allocation=allocation)
