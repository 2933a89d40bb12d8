"""The subset search: the tree search finds exactly the subsets full enumeration would, and
plans over 12 and 16 sources stay at the independent optimum."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import (
    feasible,
    gap_bps,
    model_of,
    net_output,
    reference_optimum,
    scenario,
)

from oms_chain.routing import LiquiditySource, route
from oms_chain.routing._subsets import all_masks, best_subsets, free_sources
from oms_chain.routing.optimizer import _Model

QUALITY_BPS = 0.1
TOP = 12


def enumerated(model: _Model, k: int, *, with_free: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The k best subsets by scoring every one of them (no bound, no pruning); ``with_free``:
    only those holding every free source, as the search does."""
    masks = all_masks(len(model.sources))
    if with_free:
        masks = masks[masks[:, free_sources(model)].all(axis=1)]
    scores = model._score_filled(masks)  # the segment filling, not the dual used by the tree
    order = np.argsort(-scores, kind="stable")[:k]
    return masks[order], scores[order]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(9, 12))
def test_the_tree_search_finds_the_same_best_subsets_as_full_enumeration(seed: int, n: int) -> None:
    sc = scenario(seed, n)
    model = model_of(sc.sources, sc.amount_in)
    found, found_scores = best_subsets(model, TOP)
    want, want_scores = enumerated(model, TOP)
    finite = np.isfinite(want_scores)
    assert len(found) == int(finite.sum()) or len(found) >= TOP
    # same scores rank by rank (the dual and the filling agree to float rounding) ...
    tolerance = 1e-9 * np.abs(want_scores[finite]) + 1.0
    assert np.all(np.abs(found_scores[: finite.sum()] - want_scores[finite]) <= tolerance)
    # ... and the best subset itself, unless another one ties with it
    if finite.sum() > 1 and want_scores[0] - want_scores[1] > tolerance[0]:
        assert (found[0] == want[0]).all()
    # keeping the free sources in every subset loses no score against all subsets
    _, every_score = enumerated(model, 1, with_free=False)
    if np.isfinite(every_score[0]):
        assert found_scores[0] >= every_score[0] - (1e-9 * abs(every_score[0]) + 1.0)


def test_idle_free_sources_do_not_crowd_out_a_better_subset() -> None:
    """Scenario 516000 (16 sources, five books without fixed cost): subsets that differ only by
    idle books once took every candidate place and the floor of the tree, so the plan missed a
    small path leg worth 0.013 bps that the independent optimum finds."""
    sc = scenario(516_000, 16)
    model = model_of(sc.sources, sc.amount_in)
    free = free_sources(model)
    assert [model.sources[i].kind for i in np.flatnonzero(free)] == ["cex-book"] * 5
    found, _ = best_subsets(model, TOP)
    assert found[:, free].all()
    assert len({tuple(row) for row in found.tolist()}) == len(found)
    plan = route(sc.sources, sc.amount_in)
    assert "path-11" in plan.allocation()
    reference, _ = reference_optimum(sc.sources, sc.amount_in)
    assert gap_bps(plan.net_output, reference) > -1e-6


def test_the_tree_search_cuts_most_of_the_tree() -> None:
    calls: list[int] = []
    sc = scenario(4242, 16)
    model = model_of(sc.sources, sc.amount_in)
    original = model.score

    def counted(masks: np.ndarray) -> np.ndarray:
        calls.append(len(masks))
        return original(masks)

    model.score = counted  # type: ignore[method-assign]
    best_subsets(model, TOP)
    assert 0 < sum(calls) < (1 << 16) // 20, f"scored {sum(calls)} of 65535 subsets"


@pytest.mark.parametrize("n_sources", [12, 16])
def test_plans_over_many_sources_stay_at_the_reference_optimum(n_sources: int) -> None:
    for seed in range(4):
        sc = scenario(20_000 * n_sources + seed, n_sources)
        plan = route(sc.sources, sc.amount_in)
        by_venue = plan.allocation()
        x = [by_venue.get(s.venue, 0) for s in sc.sources]
        assert feasible(sc.sources, x, sc.amount_in)
        assert plan.net_output == net_output(sc.sources, x)
        reference, _ = reference_optimum(sc.sources, sc.amount_in, grid=300, fine=200)
        gap = gap_bps(plan.net_output, reference)
        assert gap >= -QUALITY_BPS, f"seed {sc.seed}: {gap:.4f} bps below the reference"


def test_a_fixed_cost_that_outweighs_a_source_keeps_it_out_of_the_tree_search() -> None:
    rng = random.Random(5)
    sources = [
        LiquiditySource.from_v2_reserves(
            f"v2-{i}", 10**12 + rng.randrange(10**10), 10**12, fixed_cost=10**3
        )
        for i in range(10)
    ]
    costly = LiquiditySource.from_v2_reserves("costly", 10**14, 10**14, fixed_cost=10**12)
    plan = route([*sources, costly], 10**9)
    assert "costly" not in plan.allocation()
    assert plan.net_output == sum(leg.amount_out - leg.fixed_cost for leg in plan.legs)
