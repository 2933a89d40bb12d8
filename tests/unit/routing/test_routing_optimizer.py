"""The optimizer's plan against independent searches, baselines and bad input."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import (
    Scenario,
    feasible,
    gap_bps,
    net_output,
    reference_optimum,
    scenario,
)

from oms_chain.model.errors import InvalidInput
from oms_chain.model.intent import Side
from oms_chain.routing import LiquiditySource, RoutePlan, greedy_split, route
from oms_chain.routing.optimizer import EXHAUSTIVE_MAX
from oms_chain.venues.base import LiquidityLevel

QUALITY_BPS = 0.1
SEEDS = range(12)


def split_of(plan: RoutePlan, sources: Sequence[LiquiditySource]) -> list[int]:
    by_venue = plan.allocation()
    assert len(by_venue) == len(plan.legs), "venue ids are unique in generated scenarios"
    return [by_venue.get(s.venue, 0) for s in sources]


def check_plan(plan: RoutePlan, sc: Scenario) -> None:
    x = split_of(plan, sc.sources)
    assert sum(x) == sc.amount_in
    assert feasible(sc.sources, x, sc.amount_in), "inventory, depth or min size violated"
    assert plan.net_output == net_output(sc.sources, x)
    if plan.best_single is not None:
        assert plan.net_output >= plan.best_single.net_output
    if plan.greedy is not None:
        assert plan.net_output >= plan.greedy.net_output


def brute_force_two(sources: Sequence[LiquiditySource], amount: int) -> int:
    """Best net output for two sources: a 5,000-step scan, then a finer scan around the best."""
    a, b = sources

    def value(x: int) -> int | None:
        split = [x, amount - x]
        return net_output(sources, split) if feasible(sources, split, amount) else None

    best: int | None = None
    best_x = 0
    step = max(1, amount // 5_000)
    for level in range(2):
        lo, hi = (0, amount) if level == 0 else (max(0, best_x - step), min(amount, best_x + step))
        step = max(1, (hi - lo) // 5_000)
        candidates = [*range(lo, hi + 1, step), hi, a.min_size, amount - b.min_size]
        for x in candidates:
            if 0 <= x <= amount:
                v = value(x)
                if v is not None and (best is None or v > best):
                    best, best_x = v, x
    assert best is not None
    return best


def brute_force_three(sources: Sequence[LiquiditySource], amount: int) -> int:
    """Best net output for three sources on a 300 x 300 grid of the first two."""
    best = None
    for i in range(301):
        x1 = i * amount // 300
        for j in range(301 - i):
            x2 = j * amount // 300
            split = [x1, x2, amount - x1 - x2]
            if feasible(sources, split, amount):
                v = net_output(sources, split)
                if best is None or v > best:
                    best = v
    assert best is not None
    return best


# -- quality on generated scenarios ---------------------------------------------------------------


@pytest.mark.parametrize("n_sources", range(2, 9))
def test_plan_is_within_a_tenth_of_a_bp_of_the_reference_optimum(n_sources: int) -> None:
    gaps, vs_single, vs_greedy = [], [], []
    for seed in SEEDS:
        sc = scenario(10_000 * n_sources + seed, n_sources)
        plan = route(sc.sources, sc.amount_in)
        check_plan(plan, sc)
        reference, _ = reference_optimum(sc.sources, sc.amount_in)
        gap = gap_bps(plan.net_output, reference)
        assert gap >= -QUALITY_BPS, f"seed {sc.seed}: {gap:.4f} bps below the reference"
        gaps.append(gap)
        if plan.vs_best_single_bps is not None:
            vs_single.append(float(plan.vs_best_single_bps))
        if plan.vs_greedy_bps is not None:
            vs_greedy.append(float(plan.vs_greedy_bps))
    print(
        f"\n{n_sources} sources: gap vs reference min {min(gaps):+.6f} bps; "
        f"vs best single median {statistics.median(vs_single or [0]):+.2f} bps; "
        f"vs 5% greedy median {statistics.median(vs_greedy or [0]):+.3f} bps, "
        f"max {max(vs_greedy or [0]):+.3f} bps"
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_two_sources_match_a_fine_brute_force_scan(seed: int) -> None:
    sc = scenario(20_000 + seed, 2)
    plan = route(sc.sources, sc.amount_in)
    check_plan(plan, sc)
    assert gap_bps(plan.net_output, brute_force_two(sc.sources, sc.amount_in)) >= -QUALITY_BPS


@pytest.mark.parametrize("seed", range(4))
def test_three_sources_match_a_grid_brute_force(seed: int) -> None:
    sc = scenario(30_000 + seed, 3, v3=False)
    plan = route(sc.sources, sc.amount_in)
    check_plan(plan, sc)
    assert gap_bps(plan.net_output, brute_force_three(sc.sources, sc.amount_in)) >= -QUALITY_BPS


@settings(max_examples=40, deadline=None)
@given(
    reserves=st.lists(
        st.tuples(st.integers(10**9, 10**14), st.integers(-40, 40), st.sampled_from([5, 30, 100])),
        min_size=2,
        max_size=2,
    ),
    fixed=st.lists(st.integers(0, 10**15), min_size=2, max_size=2),
    min_size=st.integers(0, 10**10),
    inventory=st.one_of(st.none(), st.integers(10**6, 10**12)),
    amount=st.integers(10**6, 10**12),
)
def test_two_v2_pools_match_brute_force_for_any_depth_fee_and_gas(
    reserves: list[tuple[int, int, int]],
    fixed: list[int],
    min_size: int,
    inventory: int | None,
    amount: int,
) -> None:
    sources = [
        LiquiditySource.from_v2_reserves(
            f"v2-{i}",
            r,
            r * (4_000 + skew) * 10**8,  # ~1/2,500 USDC per WETH, skewed by up to 1 %
            fee_bps=fee,
            fixed_cost=fixed[i],
            min_size=min_size if i else 0,
            inventory=inventory if i else None,
        )
        for i, (r, skew, fee) in enumerate(reserves)
    ]
    plan = route(sources, amount)
    sc = Scenario(tuple(sources), amount, 0)
    check_plan(plan, sc)
    reference = brute_force_two(sources, amount)
    assert plan.net_output >= reference - max(1, abs(reference) * QUALITY_BPS / 1e4)


# -- behaviour ------------------------------------------------------------------------------------


def twin_pools(fixed_cost: int) -> list[LiquiditySource]:
    return [
        LiquiditySource.from_v2_reserves(f"pool-{i}", 10**13, 4 * 10**21, fixed_cost=fixed_cost)
        for i in range(2)
    ]


def test_gas_keeps_a_small_order_on_one_venue_and_a_large_one_is_split() -> None:
    gas = 10**15  # 0.001 WETH per swap
    small = route(twin_pools(gas), 1_000 * 10**6)
    assert len(small.legs) == 1
    large = route(twin_pools(gas), 2_000_000 * 10**6)
    assert len(large.legs) == 2
    assert abs(large.legs[0].amount_in - large.legs[1].amount_in) <= large.amount_in // 10**6
    assert large.gas_cost == 2 * gas
    assert large.vs_best_single_bps is not None and large.vs_best_single_bps > 0


def test_min_size_means_zero_or_at_least_the_minimum() -> None:
    deep = LiquiditySource.from_v2_reserves("deep", 10**14, 4 * 10**22)
    picky = LiquiditySource.from_v2_reserves("picky", 10**13, 4 * 10**21, min_size=6 * 10**11)
    plan = route([deep, picky], 10**12)
    got = plan.allocation()
    assert got.get(picky.venue, 0) in (0,) or got[picky.venue] >= 6 * 10**11
    assert sum(got.values()) == 10**12


def test_inventory_caps_a_venue_and_the_rest_goes_elsewhere() -> None:
    cheap = LiquiditySource.from_v2_reserves("cheap", 10**14, 5 * 10**22, inventory=10**9)
    dear = LiquiditySource.from_v2_reserves("dear", 10**14, 4 * 10**22)
    plan = route([cheap, dear], 10**11)
    assert plan.allocation() == {cheap.venue: 10**9, dear.venue: 10**11 - 10**9}


def test_a_multi_hop_path_competes_with_the_direct_pool() -> None:
    direct = LiquiditySource.from_v2_reserves("direct", 10**12, 4 * 10**20)
    hop1 = LiquiditySource.from_v2_reserves("usdc-dai", 10**14, 10**26, fee_bps=5)
    hop2 = LiquiditySource.from_v2_reserves("dai-weth", 10**26, 42 * 10**21, fee_bps=5)
    path = LiquiditySource.from_path("usdc>dai>weth", [hop1, hop2], fixed_cost=10**14)
    plan = route([direct, path], 10**11)
    assert plan.legs[0].venue == "usdc>dai>weth"
    assert plan.allocation()[path.venue] > plan.allocation().get(direct.venue, 0)


def test_book_and_pool_split_equalizes_marginal_prices() -> None:
    levels = [
        LiquidityLevel(price=Decimal(2_500 + i), quantity=Decimal(5)) for i in range(0, 40, 2)
    ]
    book = LiquiditySource.from_book(
        "cex", levels, side=Side.BUY, taker_fee_bps=5, base_decimals=18, quote_decimals=6
    )
    pool = LiquiditySource.from_v2_reserves("pool", 5 * 10**13, 2 * 10**22, fee_bps=5)
    plan = route([book, pool], 100_000 * 10**6)
    x = plan.allocation()
    step = 10**6  # 1 USDC either way is no better
    base = plan.net_output
    for moved in (step, -step):
        alt = book.quote(x[book.venue] + moved) + pool.quote(x[pool.venue] - moved)
        assert alt <= base


def test_fourteen_sources_use_the_tree_search_and_stay_sound() -> None:
    sc = scenario(99, 14, v3=False)
    plan = route(sc.sources, sc.amount_in)
    check_plan(plan, sc)


def test_more_sources_than_the_tree_search_takes_use_backward_elimination_and_stay_sound() -> None:
    sc = scenario(98, EXHAUSTIVE_MAX + 2, v3=False)
    plan = route(sc.sources, sc.amount_in)
    check_plan(plan, sc)
    reference, _ = reference_optimum(sc.sources, sc.amount_in, grid=200, fine=100)
    assert gap_bps(plan.net_output, reference) >= -QUALITY_BPS


def test_the_plan_explains_itself() -> None:
    sc = scenario(7, 5)
    plan = route(sc.sources, sc.amount_in)
    assert plan.expected_output == sum(leg.amount_out for leg in plan.legs)
    assert plan.net_output == plan.expected_output - plan.gas_cost
    assert plan.gas_cost == sum(leg.fixed_cost for leg in plan.legs)
    assert plan.best_marginal_price > 0
    assert all(leg.price_impact_bps >= Decimal("-0.5") for leg in plan.legs)
    assert plan.price_impact_bps >= 0
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["amount_in"] == sc.amount_in
    assert {leg["venue"] for leg in data["legs"]} == {str(v) for v in plan.allocation()}
    text = plan.explain()
    for leg in plan.legs:
        assert str(leg.venue) in text
    assert "greedy" in text


def test_greedy_split_uses_twenty_chunks() -> None:
    pools = twin_pools(0)
    baseline = greedy_split(pools, 2_000 * 10**6)
    assert baseline is not None
    assert sum(a for _, a in baseline.allocation) == 2_000 * 10**6
    assert all(a % (100 * 10**6) == 0 for _, a in baseline.allocation)


def test_without_greedy_comparison_the_plan_still_compares_with_best_single() -> None:
    plan = route(twin_pools(0), 10**10, compare_greedy=False)
    assert plan.greedy is None and plan.vs_greedy_bps is None
    assert plan.best_single is not None


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "100"])
def test_a_bad_amount_is_rejected(amount: object) -> None:
    with pytest.raises(InvalidInput, match="amount_in"):
        route(twin_pools(0), amount)  # type: ignore[arg-type]


def test_no_sources_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="no liquidity sources"):
        route([], 10**6)


def test_all_sources_below_min_size_is_rejected() -> None:
    sources = [
        LiquiditySource.from_v2_reserves(f"p{i}", 10**12, 10**20, min_size=10**9) for i in range(3)
    ]
    with pytest.raises(InvalidInput, match="min_size") as info:
        route(sources, 10**6)
    assert "p0" in str(info.value)


def test_too_little_inventory_everywhere_is_rejected() -> None:
    sources = [
        LiquiditySource.from_v2_reserves(f"p{i}", 10**12, 10**20, inventory=10**5) for i in range(3)
    ]
    with pytest.raises(InvalidInput, match="exceeds what all sources together can take"):
        route(sources, 10**6)


def test_min_sizes_that_cannot_be_combined_are_rejected() -> None:
    # each alone lacks inventory, and together their minimums exceed the order
    sources = [
        LiquiditySource.from_v2_reserves(f"p{i}", 10**12, 10**20, min_size=6, inventory=8)
        for i in range(2)
    ]
    with pytest.raises(InvalidInput, match="minimum sizes"):
        route(sources, 10)


def test_repeated_venue_ids_are_rejected() -> None:
    pool = LiquiditySource.from_v2_reserves("same", 10**12, 10**20)
    with pytest.raises(InvalidInput, match="repeated: same"):
        route([pool, pool], 10**6)


def test_a_source_pinned_at_its_minimum_takes_exactly_that() -> None:
    pinned = LiquiditySource.from_v2_reserves(
        "pinned", 10**12, 10**20, min_size=10**6, inventory=10**6
    )
    plan = route([pinned], 10**6)
    assert plan.allocation() == {pinned.venue: 10**6}
    assert plan.net_output == pinned.quote(10**6)
