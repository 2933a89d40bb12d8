"""Split one order across liquidity sources to maximize net output.

maximize  Σ output_i(x_i) − Σ fixed_i·[x_i > 0]
s.t.      Σ x_i = amount_in,  0 ≤ x_i ≤ max_input_i,  x_i = 0 or x_i ≥ min_size_i   (integers)

Outputs are concave (each AMM's and book's price only gets worse with size) but fixed costs and
minimum sizes are not, so the search has two levels:

1. Each source's exact output is sampled on a grid from its minimum size to its capacity and
   turned into a concave piecewise-linear curve. For a fixed set of active sources, the best
   split of such curves is water-filling: take segments best slope first (equal marginal prices),
   each active source starting at its minimum size. Every subset of sources (all of them up to
   :data:`EXHAUSTIVE_MAX`, else a backward elimination) is scored this way at once with numpy,
   fixed costs subtracted.
2. For the best few subsets, the water-filled split is made integer (summing exactly to the
   input) and polished on the exact output functions: move ``t`` units from the source losing
   least to the one gaining most while that helps, shrinking ``t``. For concave outputs this is
   the equal-marginal-price condition, to within ``t``.
3. The grid gets exact sample points where the polished splits ended, every subset is scored
   again, and new leaders are polished too (a few rounds), as are runners-up whose score is
   within twice the largest underestimate seen so far: the coarse model's error, which can
   exceed the differences between subsets, is removed where it matters.

The best one-source fill and the 5 %-step greedy split are computed too; the plan is never worse
than either (if a baseline ever won, its split would be returned).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from itertools import combinations

import numpy as np

from oms_chain.model.errors import InvalidInput
from oms_chain.routing.baselines import best_single, greedy_split
from oms_chain.routing.plan import Baseline, RouteLeg, RoutePlan
from oms_chain.routing.sources import LiquiditySource

__all__ = ["EXHAUSTIVE_MAX", "route"]

#: Up to this many usable sources every subset is scored; above it, backward elimination.
EXHAUSTIVE_MAX = 12
_GRID = 12  # grid intervals per source for the piecewise-linear model
_CANDIDATES = 3  # best-scored subsets polished on the exact outputs, per round
_SMALL = (400, 1_600, 6_400)  # extra grid points at these fractions of a source's span
_ROUNDS = 3  # rounds of scoring, polishing and refining the grid where the polish ended
_POLISH_RESOLUTION = 10**6  # polish down to steps of amount_in / this (at least 1 unit)
_SHRINK = 8  # step divisor between polish rounds


class _Exact:
    """A source's exact output with memo (the same points are asked for repeatedly)."""

    __slots__ = ("cache", "fn")

    def __init__(self, source: LiquiditySource) -> None:
        self.fn = source.output
        self.cache: dict[int, int] = {0: 0}

    def __call__(self, x: int) -> int:
        value = self.cache.get(x)
        if value is None:
            value = self.fn(x)
            self.cache[x] = value
        return value


def _concave_segments(points: list[int], values: list[int]) -> list[tuple[int, int]]:
    """Segments (length, gain) of the least concave majorant through the sample points."""
    segs: list[tuple[int, int]] = []
    for a, b, va, vb in zip(points, points[1:], values, values[1:], strict=False):
        length, gain = b - a, vb - va
        # merge while the previous slope is not above this one (pool adjacent violators)
        while segs and segs[-1][1] * length <= gain * segs[-1][0]:
            pl, pg = segs.pop()
            length, gain = length + pl, gain + pg
        segs.append((length, gain))
    return segs


class _Model:
    """Grid model of the usable sources and the vectorized subset scoring."""

    def __init__(self, sources: Sequence[LiquiditySource], amount_in: int) -> None:
        self.sources = sources
        self.amount = amount_in
        self.exact = [_Exact(s) for s in sources]
        self.lo_int: list[int] = []
        self.cap_int: list[int] = []
        self.points: list[set[int]] = []
        for source in sources:
            limit = source.max_input
            cap = amount_in if limit is None else min(limit, amount_in)
            lo = source.min_size
            self.lo_int.append(lo)
            self.cap_int.append(cap)
            # quadratic spacing, plus a few small sizes (where a fixed cost decides)
            grid = {lo + (cap - lo) * k * k // (_GRID * _GRID) for k in range(_GRID + 1)}
            grid.update(lo + (cap - lo) // d for d in _SMALL)
            self.points.append(grid)
        self.lo = np.array(self.lo_int, dtype=float)
        self.cap = np.array(self.cap_int, dtype=float)
        self.base = np.array(
            [
                f(lo) - s.fixed_cost
                for f, lo, s in zip(self.exact, self.lo_int, sources, strict=True)
            ],
            dtype=float,
        )
        self.sorted_points: list[list[int]] = [[] for _ in sources]
        self._segments: list[list[tuple[int, int]]] = [[] for _ in sources]
        self._dirty = set(range(len(sources)))
        self.build()

    def refine(self, x: Sequence[int], active: Sequence[int]) -> None:
        """Add sample points at and around an allocation (used after the next :meth:`build`)."""
        for i in active:
            pts = self.sorted_points[i]
            k = bisect_left(pts, x[i])
            spacing = pts[min(k + 1, len(pts) - 1)] - pts[max(k - 1, 0)]
            d = max(1, spacing // 16)
            for p in (x[i] - d, x[i], x[i] + d):
                if self.lo_int[i] <= p <= self.cap_int[i] and p not in self.points[i]:
                    self.points[i].add(p)
                    self._dirty.add(i)

    def build(self) -> None:
        """(Re)build the segments of the sources with new points, and their global order."""
        for i in sorted(self._dirty):
            pts = sorted(self.points[i])
            self.sorted_points[i] = pts
            self._segments[i] = _concave_segments(pts, [self.exact[i](p) for p in pts])
        self._dirty.clear()
        seg_src: list[int] = []
        seg_len: list[int] = []
        seg_gain: list[int] = []
        for i, segments in enumerate(self._segments):
            for length, gain in segments:
                seg_src.append(i)
                seg_len.append(length)
                seg_gain.append(gain)
        slope = np.array(seg_gain, dtype=float) / np.array(seg_len, dtype=float)
        order = np.argsort(-slope, kind="stable")
        self.seg_src = np.array(seg_src, dtype=np.intp)[order]
        self.seg_len_int = [seg_len[k] for k in order]
        self.seg_len = np.array(seg_len, dtype=float)[order]
        self.seg_gain = np.array(seg_gain, dtype=float)[order]
        self.seg_slope = slope[order]

    def score(self, masks: np.ndarray) -> np.ndarray:
        """Approximate best net output of each subset (rows of a bool matrix); -inf if
        infeasible (minimum sizes above the input, or capacities below it)."""
        m = masks.astype(float)
        lo_sum, cap_sum = m @ self.lo, m @ self.cap
        rest = self.amount - lo_sum
        feasible = (lo_sum <= self.amount) & (cap_sum >= self.amount)
        if not len(self.seg_len):  # every source is pinned at its minimum size = capacity
            return np.where(feasible, m @ self.base, -np.inf)
        take = m[:, self.seg_src]
        cum_len = np.cumsum(take * self.seg_len, axis=1)
        cum_gain = np.cumsum(take * self.seg_gain, axis=1)
        last = len(self.seg_len) - 1
        idx = np.minimum((cum_len < rest[:, None]).sum(axis=1), last)
        rows = np.arange(len(masks))
        prev = np.maximum(idx - 1, 0)
        started = idx > 0
        prev_len = np.where(started, cum_len[rows, prev], 0.0)
        prev_gain = np.where(started, cum_gain[rows, prev], 0.0)
        fill = prev_gain + np.maximum(rest - prev_len, 0.0) * self.seg_slope[idx]
        value = m @ self.base + fill
        return np.where(feasible, value, -np.inf)

    def split(self, active: Sequence[int]) -> list[int]:
        """Integer water-filling split of the input over ``active`` (sums exactly)."""
        x = [0] * len(self.sources)
        for i in active:
            x[i] = self.lo_int[i]
        rest = self.amount - sum(x)
        chosen = set(active)
        for src, length in zip(self.seg_src.tolist(), self.seg_len_int, strict=True):
            if rest <= 0:
                break
            if src in chosen:
                step = min(length, rest, self.cap_int[src] - x[src])
                x[src] += step
                rest -= step
        for i in active:  # segments are exact integers, so only capacity can leave a rest
            step = min(rest, self.cap_int[i] - x[i])
            x[i] += step
            rest -= step
        return x

    def polish(self, x: list[int], active: Sequence[int]) -> list[int]:
        """Pairwise exact transfers between active sources, shrinking the step (module doc)."""
        x = list(x)
        if len(active) < 2:
            return x
        f = self.exact
        floor = {i: max(self.lo_int[i], 1) for i in active}
        # start from the grid spacing around each allocation: the model was exact at the points
        t = 1
        for i in active:
            pts = self.sorted_points[i]
            k = bisect_left(pts, x[i])
            t = max(t, pts[min(k, len(pts) - 1)] - pts[max(k - 1, 0)])
        t_min = max(1, self.amount // _POLISH_RESOLUTION)
        neg = float("-inf")
        while True:
            gains = {
                i: (f[i](x[i] + t) - f[i](x[i]) if x[i] + t <= self.cap_int[i] else neg)
                for i in active
            }
            losses = {
                i: (f[i](x[i]) - f[i](x[i] - t) if x[i] - t >= floor[i] else -neg) for i in active
            }
            while True:
                i = max(gains, key=gains.__getitem__)
                j = min((k for k in losses if k != i), key=losses.__getitem__)
                if not gains[i] > losses[j]:
                    break
                x[i] += t
                x[j] -= t
                for k in (i, j):
                    gains[k] = f[k](x[k] + t) - f[k](x[k]) if x[k] + t <= self.cap_int[k] else neg
                    losses[k] = f[k](x[k]) - f[k](x[k] - t) if x[k] - t >= floor[k] else -neg
            # no transfer of t helps any more (gains and losses are current)
            if t <= t_min:
                return x
            t = max(t_min, t // _SHRINK)

    def net(self, x: Sequence[int]) -> int:
        return sum(
            self.exact[i](xi) - s.fixed_cost
            for i, (xi, s) in enumerate(zip(x, self.sources, strict=True))
            if xi
        )


@cache
def _all_masks(n: int) -> np.ndarray:
    codes = np.arange(1, 1 << n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


def _elimination_masks(model: _Model, n: int) -> np.ndarray:
    """Subsets visited by backward elimination from all sources (for many sources)."""
    current = np.ones(n, dtype=bool)
    visited = [current.copy()]
    while current.sum() > 1:
        trials = []
        for i in np.flatnonzero(current):
            trial = current.copy()
            trial[i] = False
            trials.append(trial)
        scores = model.score(np.array(trials))
        current = trials[int(np.argmax(scores))]
        visited.extend(trials)
    singles = np.eye(n, dtype=bool)
    pairs = [np.isin(np.arange(n), pair) for pair in combinations(range(n), 2)]
    return np.array([*visited, *singles, *pairs])


def _marginal_price(source: LiquiditySource, f: _Exact, cap: int) -> Decimal:
    """Output per input for a tiny amount (a millionth of what the source can take, grown until
    the output has at least six significant digits)."""
    probe = max(1, source.min_size, cap // 10**6)
    while f(probe) < 10**6 and probe * 10 <= max(cap // 100, 1):
        probe *= 10
    return Decimal(f(probe)) / Decimal(probe)


def route(
    sources: Sequence[LiquiditySource], amount_in: int, *, compare_greedy: bool = True
) -> RoutePlan:
    """The split of ``amount_in`` (input base units) that maximizes net output.

    ``compare_greedy`` also computes the 5 %-step greedy split for the plan's comparison (about
    ``20 + len(sources)`` extra exact quotes).

    Raises:
        InvalidInput: ``amount_in`` not a positive integer, no sources, or no feasible split
            (every source's minimum size above the amount or no inventory; capacities too small),
            or repeated venue ids. Errors of a source's ``output`` (e.g.
            :class:`~oms_chain.venues.amm.v3_math.TickDataMissing`) propagate.
    """
    if isinstance(amount_in, bool) or not isinstance(amount_in, int):
        raise InvalidInput(f"amount_in must be an integer number of base units, got {amount_in!r}")
    if amount_in <= 0:
        raise InvalidInput(f"amount_in must be > 0 base units, got {amount_in}")
    if not sources:
        raise InvalidInput("no liquidity sources given: pass at least one venue to route over")
    venues = [s.venue for s in sources]
    if len(set(venues)) != len(venues):
        twice = sorted({str(v) for v in venues if venues.count(v) > 1})
        raise InvalidInput(f"venue ids must be unique per route; repeated: {', '.join(twice)}")
    usable = [
        s
        for s in sources
        if (s.max_input is None or s.max_input >= max(s.min_size, 1)) and s.min_size <= amount_in
    ]
    if not usable:
        detail = ", ".join(
            f"{s.venue} (min_size {s.min_size}, max_input {s.max_input})" for s in sources
        )
        raise InvalidInput(
            f"no source can take any of amount_in {amount_in}: each one's min_size is above it "
            f"or it has no inventory: {detail}"
        )
    capacity = sum(
        amount_in if s.max_input is None else min(s.max_input, amount_in) for s in usable
    )
    if capacity < amount_in:
        raise InvalidInput(
            f"amount_in {amount_in} exceeds what all sources together can take ({capacity}: "
            "inventory and book depth); reduce the order or add inventory"
        )
    model = _Model(usable, amount_in)
    n = len(usable)
    masks = _all_masks(n) if n <= EXHAUSTIVE_MAX else _elimination_masks(model, n)
    best_x: list[int] | None = None
    best_net = 0
    error = 0.0  # largest amount by which the model underestimated a polished subset
    seen: set[frozenset[int]] = set()  # sources actually used by the splits polished so far
    for _ in range(_ROUNDS):
        scores = model.score(masks)
        fresh = 0
        for row in np.argsort(-scores, kind="stable")[: _CANDIDATES * 4].tolist():
            if not np.isfinite(scores[row]) or (
                fresh >= _CANDIDATES and scores[row] + 2 * error < best_net
            ):
                break
            active = np.flatnonzero(masks[row]).tolist()
            start = model.split(active)
            used = frozenset(i for i in active if start[i])
            if used in seen:  # same split as a subset already polished (idle extra sources)
                continue
            seen.add(used)
            fresh += 1
            x = model.polish(start, sorted(used))
            net = model.net(x)
            error = max(error, net - float(scores[row]))
            if best_x is None or net > best_net:
                best_x, best_net = x, net
            model.refine(x, sorted(used))
        if not fresh:
            break
        model.build()
    if best_x is None:
        raise InvalidInput(
            f"no split of {amount_in} satisfies the sources' minimum sizes and capacities together"
        )
    single = best_single(usable, amount_in, quotes=model.exact)
    greedy = greedy_split(usable, amount_in, quotes=model.exact) if compare_greedy else None
    for baseline in (single, greedy):
        if baseline is not None and baseline.net_output > best_net:
            best_x = [0] * n
            index = {s.venue: k for k, s in enumerate(usable)}
            for venue, amount in baseline.allocation:
                best_x[index[venue]] = amount
            best_net = model.net(best_x)
    return _plan(model, best_x, single, greedy)


def _plan(
    model: _Model, x: Sequence[int], single: Baseline | None, greedy: Baseline | None
) -> RoutePlan:
    prices = [
        _marginal_price(s, model.exact[i], model.cap_int[i]) for i, s in enumerate(model.sources)
    ]
    best_price = max(prices)
    legs = []
    for i, (xi, source) in enumerate(zip(x, model.sources, strict=True)):
        if not xi:
            continue
        out = model.exact[i](xi)
        price = Decimal(out) / Decimal(xi)
        fee = int(Decimal(out) * source.fee_bps / (10_000 - source.fee_bps))
        legs.append(
            RouteLeg(
                venue=source.venue,
                kind=source.kind,
                amount_in=xi,
                amount_out=out,
                fixed_cost=source.fixed_cost,
                fee=fee,
                price=price,
                price_impact_bps=_impact(price, best_price),
            )
        )
    expected = sum(leg.amount_out for leg in legs)
    gas = sum(leg.fixed_cost for leg in legs)
    return RoutePlan(
        amount_in=model.amount,
        legs=tuple(legs),
        expected_output=expected,
        net_output=expected - gas,
        fees=sum(leg.fee for leg in legs),
        gas_cost=gas,
        best_marginal_price=best_price,
        price_impact_bps=_impact(Decimal(expected) / Decimal(model.amount), best_price),
        best_single=single,
        greedy=greedy,
    )


def _impact(price: Decimal, best: Decimal) -> Decimal:
    if best <= 0:
        return Decimal(0)
    return ((1 - price / best) * 10_000).quantize(Decimal("0.01"))
