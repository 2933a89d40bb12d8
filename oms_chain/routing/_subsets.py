"""Which subsets of sources the optimizer polishes: the best few by the grid model's score.

Up to :data:`SMALL_EXHAUSTIVE` sources every subset is scored at once; above, a branch and bound
over the sources finds the same best subsets while scoring a small part of them. Its bound is
Lagrangian: price the amount constraint at ``λ`` and each source's best use at that price is
independent of the others (:func:`dual_table`); for concave curves without inventory caps the
least bound over ``λ`` is the water-filled score itself, so the bound is tight near the leaves.
"""

from __future__ import annotations

import heapq
from functools import cache
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from oms_chain.routing.optimizer import _Model

__all__ = [
    "SMALL_EXHAUSTIVE",
    "all_masks",
    "best_subsets",
    "dual_table",
    "elimination_masks",
    "free_sources",
    "upper_table",
]

COMPLETIONS = 24  # nodes completed into real subsets per level of the tree search
SMALL_EXHAUSTIVE = 8  # up to this many sources, score every subset outright (no tree)
_NEG = float("-inf")


def dual_table(model: _Model) -> tuple[np.ndarray, np.ndarray]:
    """Dual values ``g_i(λ)`` of every source at trial prices ``λ`` (the segment slopes):
    the most ``value_i(x) − fixed_i − λ·x`` over ``lo_i ≤ x ≤ cap_i`` on the model's curve.

    For any ``λ`` and any subset ``S``, ``λ·amount + Σ_{i∈S} g_i(λ)`` bounds the subset's
    score from above (Lagrange: the amount constraint priced at ``λ``, group caps dropped);
    with concave curves and no caps its least value over ``λ`` is the score itself."""
    lam = np.unique(model.seg_slope) if len(model.seg_slope) else np.zeros(1)
    table = model.base[:, None] - model.lo[:, None] * lam[None, :]
    if len(model.seg_slope):
        # running length and gain of each source's segments along the global slope order
        n = len(model.sources)
        own = model.seg_src[None, :] == np.arange(n)[:, None]
        zero = np.zeros((n, 1))
        run_len = np.concatenate([zero, np.cumsum(own * model.seg_len, axis=1)], axis=1)
        run_gain = np.concatenate(
            [zero, np.cumsum(own * (model.seg_len * model.seg_slope), axis=1)], axis=1
        )
        above = np.searchsorted(-model.seg_slope, -lam, side="left")  # steeper than λ
        table += run_gain[:, above] - lam * run_len[:, above]
    return lam, table


def upper_table(model: _Model, lam: np.ndarray, *, monotone: bool) -> np.ndarray:
    """Upper dual values of every source at trial prices ``lam`` (sources x prices): the most
    ``u_i(x) − fixed_i − λ·x`` over ``lo_i ≤ x ≤ cap_i``, where ``u_i`` bounds a concave value
    from above between its sample points.

    Between two samples a concave function lies below the lines of the neighbouring chords
    (extended): on a segment, ``u`` is the lower of the previous and the next chord's line,
    and it peaks where they cross; on the first and last segments the one neighbour's line.
    A source with a single segment is bounded by its last value when values only grow
    (``monotone``, exact input), else not at all (+inf). So for any subset and any price,
    ``λ·amount + Σ_{i∈S} upper_i(λ)`` is at least the subset's best exact net value."""
    n = len(model.sources)
    count = np.array([len(segments) for segments in model._segments], dtype=np.intp)
    src = np.repeat(np.arange(n), count)
    length, gain = model.flat_len, model.flat_gain
    slope = gain / length if len(length) else length
    first = np.concatenate([[0], np.cumsum(count)[:-1]])  # each source's first segment
    pos = np.arange(len(src)) - first[src]  # position of a segment within its source
    is_first = pos == 0
    is_last = pos == count[src] - 1
    end_d = np.cumsum(length)
    end_w = np.cumsum(gain)
    base_d = (end_d - length)[first[src]]  # running totals from each source's first segment
    base_w = (end_w - gain)[first[src]]
    d_end, w_end = end_d - base_d, end_w - base_w
    d0, w0 = d_end - length, w_end - gain
    prev = np.where(is_first, 0.0, np.roll(slope, 1))
    nxt = np.where(is_last, 0.0, np.roll(slope, -1))
    # u - λ·x peaks only at the two ends and where the neighbouring lines cross on an inner
    # segment (at a sample point u turns up): one point per segment, with two or more
    span = prev - nxt
    with np.errstate(divide="ignore", invalid="ignore"):
        run = np.clip(np.where(span > 0, length * (slope - nxt) / span, 0.0), 0.0, length)
    px = np.where(is_first, 0.0, np.where(is_last, d_end, d0 + run))
    py = np.where(
        is_first,
        gain - nxt * length,  # the next chord's line, extended back to lo
        np.where(is_last, w0 + prev * length, w0 + prev * run),  # ... the previous one's
    )
    table = np.empty((n, len(lam)))
    used = count > 0
    if used.any():  # (a source without segments has no range here)
        values = py[:, None] - px[:, None] * lam[None, :]
        table[used] = np.maximum.reduceat(values, first[used], axis=0)
    single = np.flatnonzero(count == 1)  # one chord: its top value, anywhere on it
    if len(single):
        top, span_x = gain[first[single], None], length[first[single], None]
        table[single] = top + np.maximum(0.0, -lam[None, :] * span_x)
    table[count == 0] = 0.0  # pinned at the minimum size: exact
    table += model.base[:, None] - model.lo[:, None] * lam[None, :]
    if not monotone:
        table[count == 1] = np.inf
    return table


def best_subsets(model: _Model, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best-scored subsets (rows of a bool matrix, best first, ties in the order
    of :func:`all_masks`) and their scores, found by branch and bound over the sources.

    A node fixes some sources in and some out; the rest are open. Its bound, the dual bound
    of :func:`dual_table` with each open source counted only where it helps
    (``max(0, g_i)``), holds for every subset below it. Nodes below the ``k``-th best score
    of the subsets scored so far are cut (the floor starts from :func:`seed_masks` and rises
    as each level completes its most promising nodes into real subsets), as are those whose
    minimum sizes exceed the amount, whose capacities cannot reach it or that hold two
    sources sharing a pool; the leaves left are scored by the model.

    Free sources (:func:`free_sources`) are in every subset: with them the score is never
    lower, and a subset with one of them idle only repeats the subset without it (the repeats
    of a few idle books could fill all ``k`` places and raise the floor above a better subset
    the coarse model underestimates)."""
    n = len(model.sources)
    free = free_sources(model)
    costly = int(n - free.sum())
    if costly <= SMALL_EXHAUSTIVE:
        masks = np.zeros(((1 << costly) - (0 if free.any() else 1), n), dtype=bool)
        if costly:
            masks[len(masks) - (1 << costly) + 1 :, ~free] = all_masks(costly)
        masks[:, free] = True
        scores = model.score(masks)
        order = np.argsort(-scores, kind="stable")[:k]
        return masks[order], scores[order]
    weights = np.int64(1) << np.arange(n, dtype=np.int64)
    known: dict[int, float] = {}  # subset code -> score, of every subset scored so far
    leaders: list[float] = []  # the k best finite scores known, best first

    def scored(masks: np.ndarray) -> float:
        """Score ``masks`` (new ones only) and return the k-th best score known."""
        codes = (masks.astype(np.int64) @ weights).tolist()
        fresh: dict[int, int] = {}  # code -> row, each new subset once
        for r, c in enumerate(codes):
            if c and c not in known and c not in fresh:
                fresh[c] = r
        if fresh:
            values = model.score(masks[list(fresh.values())]).tolist()
            known.update(zip(fresh, values, strict=True))
            leaders[:] = heapq.nlargest(k, leaders + [v for v in values if v > _NEG])
        return leaders[k - 1] if len(leaders) >= k else _NEG

    floor = scored(seed_masks(n) | free)
    lam, table = model.dual()
    helps = np.maximum(table, 0.0)
    offset = lam * model.amount
    conflict = np.zeros((n, n), dtype=bool)
    for i, j in model.p.conflicts:
        conflict[i, j] = conflict[j, i] = True
    cap = model.cap
    # decide the sources whose dual values vary most first: they cut the tree soonest
    spread = table.max(axis=1) - np.minimum(table.min(axis=1), 0.0)
    decide = [d for d in np.argsort(-spread).tolist() if not free[d]]
    chosen = free[None, :].copy()
    open_ = ~chosen
    # each node's dual bound at every trial price, kept up to date as sources are decided
    duals = (offset + helps[~free].sum(axis=0) + table[free].sum(axis=0))[None, :]
    lo_sum = np.full(1, float(model.lo[free].sum()))
    reach = np.full(1, float(cap.sum()))
    for d in decide:
        ok = ~(chosen & conflict[d]).any(axis=1)
        with_d = chosen[ok]
        with_d[:, d] = True
        chosen = np.concatenate([chosen, with_d])
        open_ = np.concatenate([open_, open_[ok]])
        open_[:, d] = False
        out = duals - helps[d]
        duals = np.concatenate([out, out[ok] + table[d]])
        lo_sum = np.concatenate([lo_sum, lo_sum[ok] + model.lo[d]])
        reach = np.concatenate([reach - cap[d], reach[ok]])
        live = (lo_sum <= model.amount) & (reach >= model.amount - 0.5)
        best_lam = duals.argmin(axis=1)
        bound = duals[np.arange(len(duals)), best_lam]
        # complete the most promising nodes with the open sources that help at their price:
        # real subsets, whose scores raise the floor the tree is cut at
        top = np.argsort(-np.where(live, bound, _NEG), kind="stable")[:COMPLETIONS]
        top = top[live[top]]
        completion = chosen[top] | (open_[top] & (table[:, best_lam[top]].T > 0))
        floor = scored(np.concatenate([chosen[top], completion]))
        if floor > _NEG:
            live &= bound >= floor - (1e-7 * abs(floor) + 1.0)
        chosen, open_, duals = chosen[live], open_[live], duals[live]
        lo_sum, reach = lo_sum[live], reach[live]
    leaves = chosen[chosen.any(axis=1)]
    if not len(leaves):
        return leaves, np.zeros(0)
    scored(leaves)
    codes = (leaves.astype(np.int64) @ weights).tolist()
    scores = np.array([known[c] for c in codes])
    best = np.lexsort((np.array(codes), -scores))[:k]
    return leaves[best], scores[best]


def free_sources(model: _Model) -> np.ndarray:
    """Sources that cost nothing to include (bool per source): no fixed cost, no minimum size,
    no inventory group and no pool shared with another source (a CEX book, typically). Adding
    one to a subset never lowers its best split (it can stay idle), so the search keeps them
    in every subset rather than branching on them."""
    p = model.p
    free = np.array(
        [f == 0 and lo == 0 and g < 0 for f, lo, g in zip(p.fixed, p.lo, p.group, strict=True)],
        dtype=bool,
    )
    for i, j in p.conflicts:
        free[i] = free[j] = False
    return free


def rows_dot(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix`` without BLAS: these products are small, and a multi-threaded BLAS
    call leaves its threads spinning, which on a loaded machine costs more than the product."""
    return np.einsum("ij,jk->ik", rows, matrix)


@cache
def all_masks(n: int) -> np.ndarray:
    codes = np.arange(1, 1 << n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


def elimination_masks(model: _Model, n: int) -> np.ndarray:
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
    return np.concatenate([np.array(visited), small_masks(n)])


@cache
def seed_masks(n: int) -> np.ndarray:
    """Subsets scored before the tree search, for a first ``k``-th best score: every one- and
    two-source subset, all sources, and all sources but one."""
    every = np.ones((1, n), dtype=bool)
    return np.concatenate([small_masks(n), every, ~np.eye(n, dtype=bool)])


@cache
def small_masks(n: int) -> np.ndarray:
    """Every one- and two-source subset of ``n`` sources."""
    pairs = np.array(list(combinations(range(n), 2)), dtype=np.intp).reshape(-1, 2)
    two = np.zeros((len(pairs), n), dtype=bool)
    rows = np.arange(len(pairs))
    two[rows, pairs[:, 0]] = True
    two[rows, pairs[:, 1]] = True
    return np.concatenate([np.eye(n, dtype=bool), two])
