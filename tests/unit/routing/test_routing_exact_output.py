"""Exact-output routing: the least net input for a required output, against an independent
grid search, the best single venue and the 5 % greedy split; inverse quotes and bad input."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import (
    Scenario,
    book_levels,
    book_source,
    path_source,
    reference_general,
    scenario,
    v2_source,
    v3_source,
)

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.model.intent import Side
from oms_chain.routing import (
    EXACT_OUTPUT,
    LiquiditySource,
    OutputUnavailable,
    RoutePlan,
    route,
    route_exact_output,
)
from oms_chain.venues.amm import get_amount_in

QUALITY_BPS = 0.1
SEEDS = range(6)


def target_of(sc: Scenario) -> int:
    """A required output of the scenario's size: what routing its input would give."""
    return route(sc.sources, sc.amount_in, compare_greedy=False).expected_output


def check_exact_output_plan(plan: RoutePlan, sc: Scenario, amount_out: int) -> None:
    assert plan.mode == EXACT_OUTPUT
    assert plan.expected_output == amount_out == plan.net_output
    assert sum(leg.amount_out for leg in plan.legs) == amount_out
    by_venue = {s.venue: s for s in sc.sources}
    for leg in plan.legs:
        source = by_venue[leg.venue]
        assert leg.amount_in == source.cost(leg.amount_out)  # the venue's exact charge
        assert source.quote(leg.amount_in) >= leg.amount_out
        assert leg.amount_in >= source.min_size
        assert source.max_input is None or leg.amount_in <= source.max_input
        assert leg.fixed_cost == source.fixed_cost_in_input()
    assert plan.amount_in == sum(leg.amount_in for leg in plan.legs)
    assert plan.net_input == plan.amount_in + plan.gas_cost
    for baseline in (plan.best_single, plan.greedy):
        if baseline is not None:
            assert baseline.net_input is not None and plan.net_input <= baseline.net_input


@pytest.mark.parametrize("n_sources", range(2, 9))
def test_exact_output_is_within_a_tenth_of_a_bp_of_the_reference_optimum(n_sources: int) -> None:
    for seed in SEEDS:
        sc = scenario(60_000 * n_sources + seed, n_sources)
        amount_out = target_of(sc)
        plan = route_exact_output(sc.sources, amount_out)
        check_exact_output_plan(plan, sc, amount_out)
        reference, _ = reference_general(sc.sources, amount_out, exact_output=True)
        least_input = -reference
        gap = (least_input - plan.net_input) / least_input * 1e4  # type: ignore[operator]
        assert gap >= -QUALITY_BPS, f"seed {sc.seed}: spends {-gap:.4f} bps more than reference"
        assert plan.vs_best_single_bps is None or plan.vs_best_single_bps >= 0
        assert plan.vs_greedy_bps is None or plan.vs_greedy_bps >= 0


def test_two_pools_exact_output_matches_a_fine_scan() -> None:
    rng = random.Random(4)
    a = v2_source(rng, "a", 2500.0)
    b = v3_source(rng, "b", 2500.0)
    amount_out = 40 * 10**18
    plan = route_exact_output([a, b], amount_out)
    best = None
    for k in range(0, 4_001):
        y = k * amount_out // 4_000
        net = 0
        for s, part in ((a, y), (b, amount_out - y)):
            if part:
                try:
                    net += s.cost(part) + s.fixed_cost_in_input()
                except InvalidInput:
                    net = None
                    break
                if s.max_input is not None and s.cost(part) > s.max_input:
                    net = None
                    break
        if net is not None and (best is None or net < best):
            best = net
    assert best is not None and plan.net_input is not None
    assert plan.net_input <= best


def test_inverse_quotes_are_exact_for_every_kind_of_source() -> None:
    rng = random.Random(11)
    for maker in (v2_source, v3_source, book_source, path_source):
        for k in range(3):
            source = maker(rng, f"{maker.__name__}-{k}", 2500.0)
            for _ in range(20):
                x = rng.randint(10**6, min(source.max_input or 10**12, 10**12))
                y = source.quote(x)
                if not y:
                    continue
                cost = source.cost(y)
                assert source.quote(cost) >= y
                assert cost <= x + 1  # never more than what bought y (+1: V2 rounding up)
    reserves = (10**13, 4 * 10**21)
    pool = LiquiditySource.from_v2_reserves("v2", *reserves)
    assert pool.cost(10**18) == get_amount_in(10**18, *reserves)


def test_book_inverse_is_the_smallest_input_reaching_the_output() -> None:
    rng = random.Random(5)
    book = LiquiditySource.from_book(
        "cex",
        book_levels(rng, 2500.0),
        side=Side.BUY,
        taker_fee_bps=Decimal("7.5"),
        base_decimals=18,
        quote_decimals=6,
    )
    assert book.input_for is not None
    for _ in range(200):
        y = rng.randint(1, book.quote(book.depth or 1))
        x = book.cost(y)
        assert book.quote(x) >= y and (x == 1 or book.quote(x - 1) < y)
    with pytest.raises(OutputUnavailable):
        book.cost(book.quote(book.depth or 1) + 1)


def test_a_source_without_inverse_is_inverted_by_bisection() -> None:
    plain = LiquiditySource(venue=VenueId("plain"), output=lambda x: x * 3 // 7)
    assert plain.cost(300) == 700
    assert plain.cost(301) == 703
    flat = LiquiditySource(venue=VenueId("flat"), output=lambda x: min(x, 50))
    with pytest.raises(OutputUnavailable, match="flat"):
        flat.cost(51)


def test_fixed_cost_is_extra_input_and_keeps_a_small_order_on_one_venue() -> None:
    gas_in = 5 * 10**6  # 5 USDC per swap
    pools = [
        LiquiditySource.from_v2_reserves(
            f"pool-{i}", 10**13, 4 * 10**21, fixed_cost=2 * 10**15, input_fixed_cost=gas_in
        )
        for i in range(2)
    ]
    small = route_exact_output(pools, 10**17)
    assert len(small.legs) == 1 and small.gas_cost == gas_in
    assert small.net_input == small.amount_in + gas_in
    large = route_exact_output(pools, 500 * 10**18)
    assert len(large.legs) == 2 and large.gas_cost == 2 * gas_in
    assert large.vs_best_single_bps is not None and large.vs_best_single_bps > 0


def test_inventory_and_min_size_hold_on_the_input_side() -> None:
    cheap = LiquiditySource.from_v2_reserves("cheap", 10**14, 5 * 10**22, inventory=10**9)
    picky = LiquiditySource.from_v2_reserves("picky", 10**14, 4 * 10**22, min_size=5 * 10**10)
    dear = LiquiditySource.from_v2_reserves("dear", 10**14, 4 * 10**22)
    plan = route_exact_output([cheap, picky, dear], 40 * 10**18)
    legs = {leg.venue: leg for leg in plan.legs}
    assert legs[cheap.venue].amount_in <= 10**9
    assert picky.venue not in legs or legs[picky.venue].amount_in >= 5 * 10**10


def test_the_exact_output_plan_explains_itself() -> None:
    sc = scenario(17, 5)
    plan = route_exact_output(sc.sources, target_of(sc))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["mode"] == "exact-output"
    assert data["net_input"] == plan.net_input
    assert data["greedy"]["net_input"] is not None
    assert "exact" in plan.explain()


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "100"])
def test_a_bad_amount_out_is_rejected(amount: object) -> None:
    pool = LiquiditySource.from_v2_reserves("p", 10**12, 10**20)
    with pytest.raises(InvalidInput, match="amount_out"):
        route_exact_output([pool], amount)  # type: ignore[arg-type]


def test_more_output_than_all_sources_hold_is_rejected() -> None:
    pools = [LiquiditySource.from_v2_reserves(f"p{i}", 10**12, 10**20) for i in range(2)]
    with pytest.raises(InvalidInput, match="exceeds what all sources together can deliver"):
        route_exact_output(pools, 3 * 10**20)


def test_no_sources_and_repeated_venues_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="no liquidity sources"):
        route_exact_output([], 10)
    pool = LiquiditySource.from_v2_reserves("same", 10**12, 10**20)
    with pytest.raises(InvalidInput, match="repeated: same"):
        route_exact_output([pool, pool], 10)


@settings(max_examples=40, deadline=None)
@given(
    reserves=st.lists(
        st.tuples(st.integers(10**9, 10**14), st.integers(-40, 40), st.sampled_from([5, 30, 100])),
        min_size=1,
        max_size=3,
    ),
    gas=st.integers(0, 10**8),
    inventory=st.one_of(st.none(), st.integers(0, 10**12)),
    min_size=st.integers(0, 10**10),
    amount_out=st.integers(-(10**3), 10**24),
)
def test_any_request_gives_a_valid_plan_or_a_clear_error(
    reserves: list[tuple[int, int, int]],
    gas: int,
    inventory: int | None,
    min_size: int,
    amount_out: int,
) -> None:
    sources = [
        LiquiditySource.from_v2_reserves(
            f"v2-{i}",
            r,
            r * (4_000 + skew) * 10**8,
            fee_bps=fee,
            input_fixed_cost=gas,
            inventory=inventory if i else None,
            min_size=min_size if i else 0,
        )
        for i, (r, skew, fee) in enumerate(reserves)
    ]
    try:
        plan = route_exact_output(sources, amount_out)
    except InvalidInput as exc:
        assert str(exc)
        return
    check_exact_output_plan(plan, Scenario(tuple(sources), 0, 0), amount_out)
