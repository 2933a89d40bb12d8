"""Split one order across liquidity sources: the most net output for an exact input, or the
least net input for an exact output.

Exact input (:func:`route`)::

    maximize  Σ output_i(x_i) − Σ fixed_i·[x_i > 0]
    s.t.      Σ x_i = amount_in,  0 ≤ x_i ≤ max_input_i,  x_i = 0 or x_i ≥ min_size_i  (integers)
              Σ_{i ∈ g} x_i ≤ inventory_g  for every shared inventory group g

Exact output (:func:`route_exact_output`) is the mirror image over the outputs ``y_i``: minimize
``Σ cost_i(y_i) + Σ fixed_i·[y_i > 0]`` (exact inverse quotes, fixed costs in input units) with
``Σ y_i = amount_out``; ``−cost_i`` is concave where ``output_i`` is, so the same search solves
it, with each source's limits turned into output units and a group's cap applying to its inputs.

Outputs are concave (each AMM's and book's price only gets worse with size) but fixed costs and
minimum sizes are not, so the search has two levels:

1. Each source's exact value is sampled on a grid from its minimum size to its capacity and
   turned into a concave piecewise-linear curve. For a fixed set of active sources, the best
   split of such curves is water-filling: take segments best slope first (equal marginal prices),
   each active source starting at its minimum size; a shared inventory group stops taking
   segments when its cap is spent (with groups that do not overlap, best slope first stays
   optimal). Subsets are scored this way with numpy, fixed costs subtracted (without groups
   through the dual: one matrix product over trial prices); subsets with two sources trading
   through one pool (a path and the direct pool it reuses) are not allowed. The best few of all
   subsets are found by a branch and bound over the sources whose Lagrangian bound cuts almost
   all of the tree (:mod:`oms_chain.routing._subsets`; every subset is scored outright up to 8
   sources); sources that cost nothing to include (no fixed cost, minimum size, group or shared
   pool: books) are in every subset. Above :data:`EXHAUSTIVE_MAX` sources a backward
   elimination chooses them.
2. For the best few subsets, the water-filled split is made integer (summing exactly to the
   amount) and polished on the exact functions: move ``t`` units from the source losing least to
   the one gaining most while that helps and no group cap is crossed, shrinking ``t``. For
   concave values this is the equal-marginal-price condition, to within ``t``. Once one split
   is polished (and without inventory groups), a candidate subset is skipped when an upper
   bound of its exact optimum is below it (the dual over an envelope of the samples that
   concave values stay under: :func:`~oms_chain.routing._subsets.upper_table`), and a polish
   gives up when its own bound at the current step (:meth:`_Model.polish`) is.
3. The grid gets exact sample points where the polished splits ended, the subsets are scored
   again, and new leaders are polished too (a few rounds), as are runners-up whose score is
   within twice the largest underestimate seen so far: the coarse model's error, which can
   exceed the differences between subsets, is removed where it matters.

The best one-source fill and the 5 %-step greedy split are computed too; the plan is never worse
than either (if a baseline ever won, its split would be returned).

(Longer than 600 lines: the grid model, the subset scoring and the polish are one algorithm whose
parts share the model's state; the request checks, plan values and warnings live elsewhere.)
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

import numpy as np

from oms_chain.model.errors import InvalidInput
from oms_chain.routing._problem import (
    Exact,
    Problem,
    check_request,
    conflicts_of,
    group_index,
    input_cap,
    max_output,
    min_output,
    negated_cost,
)
from oms_chain.routing._subsets import (
    best_subsets,
    dual_table,
    elimination_masks,
    rows_dot,
    upper_table,
)
from oms_chain.routing.baselines import greedy_of, single_of
from oms_chain.routing.plan import (
    DEFAULT_MAX_PRICE_IMPACT_BPS,
    EXACT_INPUT,
    EXACT_OUTPUT,
    Baseline,
    RouteLeg,
    RoutePlan,
    impact_bound,
    plan_warnings,
)
from oms_chain.routing.sources import LiquiditySource

__all__ = ["EXHAUSTIVE_MAX", "route", "route_exact_output"]

#: Up to this many usable sources the best subsets are exact (tree search); above, backward
#: elimination.
EXHAUSTIVE_MAX = 20
_GRID = 12  # grid intervals per source for the piecewise-linear model
_CANDIDATES = 3  # best-scored subsets polished on the exact outputs, per round
_SMALL = (400, 1_600, 6_400)  # extra grid points at these fractions of a source's span
_ROUNDS = 3  # rounds of scoring, polishing and refining the grid where the polish ended
_POLISH_RESOLUTION = 10**6  # polish down to steps of amount / this (at least 1 unit)
_COARSE_RESOLUTION = 10**3  # every candidate is polished this far first ...
_FINE_MARGIN = 1e-6  # ... and on to the full resolution only if within this fraction of the best
_SHRINK = 8  # step divisor between polish rounds
_NEG = float("-inf")
_BOUND_MIN_SOURCES = 3  # candidates are cut by their upper bound from this many sources on


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

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.sources = problem.sources
        self.amount = problem.amount
        # numpy 1.x turns an int above 2**63 into an object array: float for vector maths
        self.amount_f = float(problem.amount)
        self.exact = problem.values
        self.lo_int = list(problem.lo)
        self.cap_int = list(problem.cap)
        self.points: list[set[int]] = []
        for lo, cap in zip(self.lo_int, self.cap_int, strict=True):
            # quadratic spacing, plus a few small sizes (where a fixed cost decides)
            grid = {lo + (cap - lo) * k * k // (_GRID * _GRID) for k in range(_GRID + 1)}
            grid.update(lo + (cap - lo) // d for d in _SMALL)
            self.points.append(grid)
        n = len(self.sources)
        self.lo = np.array(self.lo_int, dtype=float)
        self.cap = np.array(self.cap_int, dtype=float)
        self.base = np.array(
            [f(lo) - c for f, lo, c in zip(self.exact, self.lo_int, problem.fixed, strict=True)],
            dtype=float,
        )
        groups = len(problem.group_cap)
        self.group_of = np.array(problem.group, dtype=np.intp)
        # what each source's minimum size spends, by group (rows: groups)
        self.group_lo = np.zeros((groups, n))
        for i, g in enumerate(problem.group):
            if g >= 0:
                self.group_lo[g, i] = problem.spend(i, self.lo_int[i])
        self.group_cap = np.array(problem.group_cap, dtype=float)
        self.sorted_points: list[list[int]] = [[] for _ in range(n)]
        self._segments: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        self._dirty = set(range(n))
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
        self._dual: tuple[np.ndarray, np.ndarray] | None = None
        self._upper: np.ndarray | None = None
        seg_src: list[int] = []
        seg_len: list[int] = []
        seg_gain: list[int] = []
        for i, segments in enumerate(self._segments):
            for length, gain in segments:
                seg_src.append(i)
                seg_len.append(length)
                seg_gain.append(gain)
        #: the segments in source order (lengths, gains), for the upper envelope
        self.flat_len = np.array(seg_len, dtype=float)
        self.flat_gain = np.array(seg_gain, dtype=float)
        slope = self.flat_gain / self.flat_len
        order = np.argsort(-slope, kind="stable")
        self.seg_src = np.array(seg_src, dtype=np.intp)[order]
        self.seg_len_int = [seg_len[k] for k in order]
        self.seg_len = self.flat_len[order]
        self.seg_slope = slope[order]
        # per source, the exact running length of its segments (taken in this global order)
        self._prefix: list[list[int]] = [[0] for _ in self._segments]
        for i, length in zip(self.seg_src.tolist(), self.seg_len_int, strict=True):
            self._prefix[i].append(self._prefix[i][-1] + length)
        # what a segment spends from its source's group: its length, or its input (−gain)
        self.seg_spend = -self.flat_gain[order] if self.p.exact_output else self.seg_len
        group_of_seg = self.group_of[self.seg_src] if len(order) else np.zeros(0, dtype=np.intp)
        self.group_cols = [np.flatnonzero(group_of_seg == g) for g in range(len(self.group_cap))]

    def dual(self) -> tuple[np.ndarray, np.ndarray]:
        """The trial prices and dual values of the current segments (:func:`dual_table`)."""
        if self._dual is None:
            self._dual = dual_table(self)
        return self._dual

    def upper(self, masks: np.ndarray) -> np.ndarray:
        """Upper bounds on the exact best net value of subsets (rows of a bool matrix), for
        concave values: :func:`~oms_chain.routing._subsets.upper_table` at every trial price
        of the dual, the least of them (+inf with a single-chord curve in exact output)."""
        lam, _ = self.dual()
        if self._upper is None:
            self._upper = upper_table(self, lam, monotone=not self.p.exact_output)
        with np.errstate(invalid="ignore"):
            values = lam * self.amount_f + rows_dot(masks.astype(float), self._upper)
        return np.where(np.isnan(values), np.inf, values).min(axis=1)

    def score(self, masks: np.ndarray) -> np.ndarray:
        """Approximate best net value of each subset (rows of a bool matrix); -inf if
        infeasible (minimum sizes above the amount, capacities or group caps below it).

        Without inventory groups this is the dual of the water-filling (:meth:`dual`): one
        matrix product and a minimum over the trial prices, exact for concave curves."""
        if self.p.group_cap or not len(self.seg_len):
            return self._score_filled(masks)
        lam, table = self.dual()
        m = masks.astype(float)
        value = (lam * self.amount_f + rows_dot(m, table)).min(axis=1)
        feasible = (m @ self.lo <= self.amount_f) & (m @ self.cap >= self.amount_f - 0.5)
        for i, j in self.p.conflicts:  # sources sharing a pool are never used together
            feasible &= ~(masks[:, i] & masks[:, j])
        return np.where(feasible, value, -np.inf)

    def _score_filled(self, masks: np.ndarray) -> np.ndarray:
        """:meth:`score` by filling the segments best slope first (inventory groups capped)."""
        m = masks.astype(float)
        lo_sum = m @ self.lo
        rest = self.amount_f - lo_sum
        feasible = lo_sum <= self.amount_f
        for i, j in self.p.conflicts:  # sources sharing a pool are never used together
            feasible &= ~(masks[:, i] & masks[:, j])
        if not len(self.seg_len):  # every source is pinned at its minimum size = capacity
            feasible &= rest <= 0.5
            return np.where(feasible, m @ self.base, -np.inf)
        take = m[:, self.seg_src]
        length = take * self.seg_len
        for g, cols in enumerate(self.group_cols):
            room = self.group_cap[g] - m @ self.group_lo[g]
            feasible &= room >= 0
            if len(cols):
                spend = take[:, cols] * self.seg_spend[cols]
                before = np.cumsum(spend, axis=1) - spend
                with np.errstate(divide="ignore", invalid="ignore"):
                    frac = np.clip((room[:, None] - before) / spend, 0.0, 1.0)
                length[:, cols] *= np.where(spend > 0, frac, 1.0)
        cum_len = np.cumsum(length, axis=1)
        cum_gain = np.cumsum(length * self.seg_slope, axis=1)
        feasible &= cum_len[:, -1] >= rest - 0.5
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

    def _fit(self, i: int, x: int, step: int, used: list[int]) -> int:
        """The largest part of ``step`` source ``i`` can add at ``x`` within its group's cap."""
        g = self.p.group[i]
        if g < 0 or step <= 0:
            return step
        room = self.p.group_cap[g] - used[g]
        if not self.p.exact_output:
            return max(0, min(step, room))
        spend = self.p.spend
        base = spend(i, x)
        if spend(i, x + step) - base <= room:
            return step
        lo, hi = 0, step  # fits at lo, not at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if spend(i, x + mid) - base <= room:
                lo = mid
            else:
                hi = mid
        return lo

    def _add(self, i: int, x: list[int], step: int, used: list[int]) -> None:
        g = self.p.group[i]
        if g >= 0:
            used[g] += self.p.spend(i, x[i] + step) - self.p.spend(i, x[i])
        x[i] += step

    def split(self, active: Sequence[int]) -> list[int] | None:
        """Integer water-filling split of the amount over ``active`` (sums exactly), or
        ``None`` when minimum sizes, capacities and group caps leave part of it unplaced."""
        if not self.p.group_cap:
            return self._split_free(active)
        x = [0] * len(self.sources)
        used = [0] * len(self.p.group_cap)
        for i in active:
            self._add(i, x, self.lo_int[i], used)
        if any(u > c for u, c in zip(used, self.p.group_cap, strict=True)):
            return None
        rest = self.amount - sum(x)
        if rest < 0:
            return None
        chosen = set(active)
        for src, length in zip(self.seg_src.tolist(), self.seg_len_int, strict=True):
            if rest <= 0:
                break
            if src in chosen:
                step = self._fit(src, x[src], min(length, rest, self.cap_int[src] - x[src]), used)
                self._add(src, x, step, used)
                rest -= step
        for i in active:  # segments are exact integers: only capacity or a group leaves a rest
            step = self._fit(i, x[i], min(rest, self.cap_int[i] - x[i]), used)
            self._add(i, x, step, used)
            rest -= step
        return x if rest == 0 else None

    def _split_free(self, active: Sequence[int]) -> list[int] | None:
        """:meth:`split` without inventory groups (the common, fast case): the active sources'
        segments best slope first, the cut found on their cumulative lengths with numpy and
        checked in exact integers (a source's segments are taken in its own order, so what it
        gets is a prefix sum of its segment lengths)."""
        n = len(self.sources)
        x = [0] * n
        for i in active:
            x[i] = self.lo_int[i]
        rest = self.amount - sum(x)
        if rest <= 0:
            return x if rest == 0 else None
        mask = np.zeros(n, dtype=bool)
        mask[list(active)] = True
        sel = np.flatnonzero(mask[self.seg_src])
        if not len(sel):
            return None
        src = self.seg_src[sel]
        last = len(sel) - 1
        k = min(int(np.searchsorted(np.cumsum(self.seg_len[sel]), float(rest))), last)
        prefix = self._prefix
        while True:  # the float cut is off only by rounding: move it to the exact one
            counts = np.bincount(src[:k], minlength=n).tolist()
            left = rest - sum(prefix[i][counts[i]] for i in active)
            if left < 0:
                k -= 1
            elif left > self.seg_len_int[sel[k]] and k < last:
                k += 1
            else:
                break
        length = self.seg_len_int[sel[k]]
        if left > length:  # all segments taken: capacities leave part of the amount
            return None
        for i in active:
            x[i] += prefix[i][counts[i]]
        x[int(src[k])] += left
        return x

    def polish(
        self,
        x: list[int],
        active: Sequence[int],
        resolution: int = _POLISH_RESOLUTION,
        start_step: int | None = None,
        target: float | None = None,
    ) -> tuple[list[int], float | None]:
        """Pairwise exact transfers between active sources, shrinking the step (module doc)
        from ``start_step`` (default: the grid spacing) to ``amount / resolution``.

        Returns the allocation and, if the polish gave up early, an upper bound on the
        subset's best net value (else ``None``). It gives up when that bound is below
        ``target``: once no transfer of ``t`` helps, each source's value changes by at most
        ``λ·δ + (loss − gain)`` for a move ``δ`` (concavity, any price ``λ`` between the
        largest gain and the least loss per unit), so no split of these sources beats the
        current net by more than ``Σ (loss_i − gain_i)``. Sources in an inventory group never
        give up (a cap can block a helpful transfer)."""
        x = list(x)
        if len(active) < 2:
            return x, None
        f = self.exact
        p = self.p
        group, caps = p.group, p.group_cap
        grouped = any(group[i] >= 0 for i in active)
        used = [0] * len(caps)
        for i in active:
            if group[i] >= 0:
                used[group[i]] += p.spend(i, x[i])
        floor = {i: max(self.lo_int[i], 1) for i in active}
        # start from the grid spacing around each allocation: the model was exact at the points
        t = 1
        for i in active:
            pts = self.sorted_points[i]
            k = bisect_left(pts, x[i])
            t = max(t, pts[min(k, len(pts) - 1)] - pts[max(k - 1, 0)])
        if start_step is not None:
            t = start_step
        t_min = max(1, self.amount // resolution)

        def spent_by_gain(gain: float) -> float:  # spend change of a move with this value change
            return -gain if p.exact_output else t

        def allowed(i: int, j: int, gi: float, lj: float) -> bool:
            g = group[i]
            if g < 0 or g == group[j]:  # within one group a helping move never spends more
                return True
            return used[g] + spent_by_gain(gi) <= caps[g]

        while True:
            gains = {
                i: (f[i](x[i] + t) - f[i](x[i]) if x[i] + t <= self.cap_int[i] else _NEG)
                for i in active
            }
            losses = {
                i: (f[i](x[i]) - f[i](x[i] - t) if x[i] - t >= floor[i] else -_NEG) for i in active
            }
            while True:
                i = max(gains, key=gains.__getitem__)
                j = min((k for k in losses if k != i), key=losses.__getitem__)
                if not gains[i] > losses[j]:
                    break
                if grouped and not allowed(i, j, gains[i], losses[j]):
                    pairs = [
                        (gains[a] - losses[b], a, b)
                        for a in active
                        for b in active
                        if a != b and gains[a] > losses[b] and allowed(a, b, gains[a], losses[b])
                    ]
                    if not pairs:
                        break
                    _, i, j = max(pairs)
                for k, sign, delta in ((i, 1, gains[i]), (j, -1, losses[j])):
                    if group[k] >= 0:
                        used[group[k]] += sign * int(spent_by_gain(delta))
                x[i] += t
                x[j] -= t
                for k in (i, j):
                    gains[k] = f[k](x[k] + t) - f[k](x[k]) if x[k] + t <= self.cap_int[k] else _NEG
                    losses[k] = f[k](x[k]) - f[k](x[k] - t) if x[k] - t >= floor[k] else -_NEG
            # no transfer of t helps any more (gains and losses are current)
            if t <= t_min:
                return x, None
            # (not with a group: a cap can block a transfer that would help, and then no such
            # price need exist; an infinite loss or gain, at a limit, never gives up either)
            if target is not None and not grouped:
                bound = self.net(x) + sum(losses[i] - gains[i] for i in active)
                if bound < target:
                    return x, bound
            t = max(t_min, t // _SHRINK)

    def net(self, x: Sequence[int]) -> int:
        return sum(self.exact[i](xi) - self.p.fixed[i] for i, xi in enumerate(x) if xi)


def _marginal_price(source: LiquiditySource, f: Callable[[int], int], cap: int) -> Decimal:
    """Output per input for a tiny amount (a millionth of what the source can take, grown until
    the output has at least six significant digits)."""
    probe = max(1, source.min_size, cap // 10**6)
    while f(probe) < 10**6 and probe * 10 <= max(cap // 100, 1):
        probe *= 10
    return Decimal(f(probe)) / Decimal(probe)


def route(
    sources: Sequence[LiquiditySource],
    amount_in: int,
    *,
    inventories: Mapping[str, int] | None = None,
    compare_greedy: bool = True,
    max_price_impact_bps: Decimal | int | None = DEFAULT_MAX_PRICE_IMPACT_BPS,
) -> RoutePlan:
    """The split of ``amount_in`` (input base units) that maximizes net output.

    ``inventories`` maps an ``inventory_group`` to the balance (input base units) its sources
    share: the split never spends more than that across them (each source's own ``inventory``
    still applies; groups not listed are not capped). ``compare_greedy`` also computes the
    5 %-step greedy split for the plan's comparison (about ``20 + len(sources)`` extra quotes).
    The plan carries :attr:`~RoutePlan.warnings`: :class:`NegativeNetOutput` when gas takes the
    whole output, :class:`PriceImpactAboveBound` when its price impact exceeds
    ``max_price_impact_bps`` (``None``: no bound); it is returned all the same, for the caller
    to refuse (:meth:`RoutePlan.refuse_warnings`) or allow.

    Raises:
        InvalidInput: ``amount_in`` not a positive integer, no sources (or not
            :class:`LiquiditySource`), ``max_price_impact_bps`` not a Decimal >= 0, no
            feasible split (every source's minimum size above the amount or no inventory;
            capacities or shared inventories too small), repeated venue ids or a bad inventory,
            or a source's ``output`` returning something else than an int. Other errors of a
            source's ``output`` (e.g. :class:`~oms_chain.venues.amm.v3_math.TickDataMissing`)
            propagate.
    """
    sources, caps = check_request(sources, amount_in, "amount_in", inventories, compare_greedy)
    bound = impact_bound(max_price_impact_bps)
    usable = []
    for s in sources:
        limit = input_cap(s, caps)
        if (limit is None or limit >= max(s.min_size, 1)) and s.min_size <= amount_in:
            usable.append(s)
    if not usable:
        detail = ", ".join(
            f"{s.venue} (min_size {s.min_size}, max_input {input_cap(s, caps)})" for s in sources
        )
        raise InvalidInput(
            f"no source can take any of amount_in {amount_in}: each one's min_size is above it "
            f"or it has no inventory: {detail}"
        )
    room = [min(amount_in, input_cap(s, caps) or amount_in) for s in usable]
    group, group_caps = group_index(usable, caps)
    capacity = sum(r for r, g in zip(room, group, strict=True) if g < 0) + sum(
        min(cap, sum(r for r, gi in zip(room, group, strict=True) if gi == g))
        for g, cap in enumerate(group_caps)
    )
    if capacity < amount_in:
        raise InvalidInput(
            f"amount_in {amount_in} exceeds what all sources together can take ({capacity}: "
            "inventory, shared inventories and book depth); reduce the order or add inventory"
        )
    problem = Problem(
        sources=usable,
        amount=amount_in,
        values=[Exact(s.output, f"source {s.venue}: output") for s in usable],
        lo=[s.min_size for s in usable],
        cap=room,
        fixed=[s.fixed_cost for s in usable],
        group=group,
        group_cap=group_caps,
        conflicts=conflicts_of(usable),
    )
    model, x, single, greedy = _solve(problem, compare_greedy)
    return _plan(model, x, single, greedy, bound)


def route_exact_output(
    sources: Sequence[LiquiditySource],
    amount_out: int,
    *,
    inventories: Mapping[str, int] | None = None,
    compare_greedy: bool = True,
    max_price_impact_bps: Decimal | int | None = DEFAULT_MAX_PRICE_IMPACT_BPS,
) -> RoutePlan:
    """The split that delivers exactly ``amount_out`` (output base units) for the least net
    input: the legs' exact inputs (each source's :meth:`~LiquiditySource.cost`) plus the fixed
    costs of the sources used, in input units (:meth:`~LiquiditySource.fixed_cost_in_input`).

    Limits are as in :func:`route`, all on the input side: a leg's input stays within the
    source's inventory and depth, and at least its ``min_size``; a group's legs spend together at
    most its ``inventories`` balance. The plan has ``mode`` ``"exact-output"``; its baselines are
    the best single source and the 5 %-step greedy split of the output; its warnings are as in
    :func:`route` (price impact over ``max_price_impact_bps``).

    Raises:
        InvalidInput: ``amount_out`` not a positive integer, no sources, repeated venue ids, a
            bad inventory, or no split delivering ``amount_out`` within the limits.
    """
    sources, caps = check_request(sources, amount_out, "amount_out", inventories, compare_greedy)
    bound = impact_bound(max_price_impact_bps)
    usable: list[LiquiditySource] = []
    values: list[Exact] = []
    lo: list[int] = []
    cap: list[int] = []
    for s in sources:
        value = Exact(negated_cost(s), f"source {s.venue}: input_for (or output)")
        limit = input_cap(s, caps)
        top = max_output(s, value, amount_out, limit)
        if top <= 0:
            continue
        least = min_output(s, value, s.min_size, top)
        if least is None:
            continue
        usable.append(s)
        values.append(value)
        lo.append(least)
        cap.append(top)
    if not usable:
        raise InvalidInput(
            f"no source can deliver any of amount_out {amount_out} within its inventory, depth "
            "and minimum size"
        )
    if sum(cap) < amount_out:
        raise InvalidInput(
            f"amount_out {amount_out} exceeds what all sources together can deliver "
            f"({sum(cap)}: inventory, shared inventories and depth); reduce the order"
        )
    group, group_caps = group_index(usable, caps)
    problem = Problem(
        sources=usable,
        amount=amount_out,
        values=values,
        lo=lo,
        cap=cap,
        fixed=[s.fixed_cost_in_input() for s in usable],
        group=group,
        group_cap=group_caps,
        exact_output=True,
        conflicts=conflicts_of(usable),
    )
    model, x, single, greedy = _solve(problem, compare_greedy)
    return _plan(model, x, single, greedy, bound)


def _slack(net: int, n: int) -> float:
    """What the float upper bound may be off by at a net value (rounding of the float model
    and of each exact quote)."""
    return 1e-9 * abs(net) + 1_000.0 * n


def _solve(
    problem: Problem, compare_greedy: bool
) -> tuple[_Model, list[int], Baseline | None, Baseline | None]:
    model = _Model(problem)
    n = len(problem.sources)
    best_x: list[int] | None = None
    best_net = 0
    error = 0.0  # largest amount by which the model underestimated a polished subset
    seen: set[frozenset[int]] = set()  # sources actually used by the splits polished so far
    grouped = bool(problem.group_cap)  # (the bound drops the caps: too loose to cut with them)
    for _ in range(_ROUNDS):
        if n <= EXHAUSTIVE_MAX:
            masks, scores = best_subsets(model, _CANDIDATES * 4)
        else:
            masks = elimination_masks(model, n)
            scores = model.score(masks)
        fresh = 0
        rows = np.argsort(-scores, kind="stable")[: _CANDIDATES * 4]
        uppers: list[float] = []  # of these rows, computed when first needed
        for rank, row in enumerate(rows.tolist()):
            if not np.isfinite(scores[row]) or (
                fresh >= _CANDIDATES and scores[row] + 2 * error < best_net
            ):
                break
            active = np.flatnonzero(masks[row]).tolist()
            # (one source: nothing to polish; two: polishing costs less than the bound)
            if best_x is not None and len(active) > 1 and n >= _BOUND_MIN_SOURCES and not grouped:
                if not uppers:
                    uppers = model.upper(masks[rows]).tolist()
                if uppers[rank] < best_net - _slack(best_net, n):
                    continue  # even the concave upper bound of this subset is below the best
            start = model.split(active)
            if start is None:
                continue
            used = frozenset(i for i in active if start[i])
            if used in seen:  # same split as a subset already polished (idle extra sources)
                continue
            seen.add(used)
            fresh += 1
            order = sorted(used)
            target = None if best_x is None else best_net - _slack(best_net, n)
            x, bound = model.polish(start, order, _COARSE_RESOLUTION, target=target)
            net = model.net(x)
            if bound is None and (best_x is None or net >= best_net - abs(best_net) * _FINE_MARGIN):
                # a candidate far below the best cannot catch up below the coarse step
                coarse_step = max(1, problem.amount // _COARSE_RESOLUTION)
                x, bound = model.polish(x, order, start_step=coarse_step, target=target)
                net = model.net(x)
            # what the polish gained over the model's score (a bound of it, if it gave up)
            error = max(error, (net if bound is None else bound) - float(scores[row]))
            if best_x is None or net > best_net:
                best_x, best_net = x, net
            model.refine(x, sorted(used))
        if not fresh:
            break
        model.build()
    single = single_of(problem)
    greedy = greedy_of(problem) if compare_greedy else None
    for baseline in (single, greedy):
        if baseline is None:
            continue
        alt = [0] * n
        index = {s.venue: k for k, s in enumerate(problem.sources)}
        for venue, amount in baseline.allocation:
            alt[index[venue]] = amount
        if best_x is None or model.net(alt) > best_net:
            best_x, best_net = alt, model.net(alt)
    if best_x is None:
        what = "amount_out" if problem.exact_output else "amount_in"
        raise InvalidInput(
            f"no split of {what} {problem.amount} satisfies the sources' minimum sizes, "
            "capacities and shared inventories together"
        )
    return model, best_x, single, greedy


def _plan(
    model: _Model,
    x: Sequence[int],
    single: Baseline | None,
    greedy: Baseline | None,
    bound: Decimal | None,
) -> RoutePlan:
    p = model.p
    exact_output = p.exact_output
    prices = []
    for i, s in enumerate(model.sources):
        if exact_output:
            prices.append(_marginal_price(s, Exact(s.output), max(1, p.spend(i, model.cap_int[i]))))
        else:
            prices.append(_marginal_price(s, model.exact[i], model.cap_int[i]))
    best_price = max(prices)
    legs = []
    for i, (xi, source) in enumerate(zip(x, model.sources, strict=True)):
        if not xi:
            continue
        if exact_output:
            amount_in, out = p.spend(i, xi), xi
        else:
            amount_in, out = xi, model.exact[i](xi)
        price = Decimal(out) / Decimal(amount_in)
        fee = int(Decimal(out) * source.fee_bps / (10_000 - source.fee_bps))
        legs.append(
            RouteLeg(
                venue=source.venue,
                kind=source.kind,
                amount_in=amount_in,
                amount_out=out,
                fixed_cost=p.fixed[i],
                fee=fee,
                price=price,
                price_impact_bps=_impact(price, best_price),
            )
        )
    expected = sum(leg.amount_out for leg in legs)
    spent = sum(leg.amount_in for leg in legs)
    gas = sum(leg.fixed_cost for leg in legs)
    impact = _impact(Decimal(expected) / Decimal(spent), best_price)
    return RoutePlan(
        amount_in=spent,
        legs=tuple(legs),
        expected_output=expected,
        net_output=expected if exact_output else expected - gas,
        fees=sum(leg.fee for leg in legs),
        gas_cost=gas,
        best_marginal_price=best_price,
        price_impact_bps=impact,
        best_single=single,
        greedy=greedy,
        mode=EXACT_OUTPUT if exact_output else EXACT_INPUT,
        net_input=spent + gas if exact_output else None,
        warnings=plan_warnings(exact_output, expected, gas, impact, bound),
    )


def _impact(price: Decimal, best: Decimal) -> Decimal:
    if best <= 0:
        return Decimal(0)
    return ((1 - price / best) * 10_000).quantize(Decimal("0.01"))
