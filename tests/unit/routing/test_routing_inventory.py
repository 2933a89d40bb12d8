"""Shared inventory: sources spending one balance (a wallet on one chain, an exchange account)
never spend more than it together, in both routing modes, and stay near the optimum."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import Scenario, grouped_scenario, reference_general

from oms_chain.model.errors import InvalidInput
from oms_chain.routing import (
    LiquiditySource,
    RoutePlan,
    best_single,
    greedy_split,
    route,
    route_exact_output,
)

QUALITY_BPS = 0.1


def group_spend(plan: RoutePlan, sc: Scenario, group: str) -> int:
    members = {s.venue for s in sc.sources if s.inventory_group == group}
    return sum(leg.amount_in for leg in plan.legs if leg.venue in members)


@pytest.mark.parametrize("n_sources", [3, 4, 5, 6, 8])
def test_exact_input_respects_the_shared_balance_and_matches_the_reference(
    n_sources: int,
) -> None:
    for seed in range(5):
        sc, inventories = grouped_scenario(90_000 * n_sources + seed, n_sources)
        plan = route(sc.sources, sc.amount_in, inventories=inventories)
        assert sum(leg.amount_in for leg in plan.legs) == sc.amount_in
        assert group_spend(plan, sc, "wallet") <= inventories["wallet"]
        reference, _ = reference_general(sc.sources, sc.amount_in, inventories=inventories)
        gap = (plan.net_output - reference) / reference * 1e4
        assert gap >= -QUALITY_BPS, f"seed {sc.seed}: {gap:.4f} bps below the reference"
        for baseline in (plan.best_single, plan.greedy):
            if baseline is not None:
                assert plan.net_output >= baseline.net_output


@pytest.mark.parametrize("n_sources", [3, 5, 8])
def test_exact_output_respects_the_shared_balance_and_matches_the_reference(
    n_sources: int,
) -> None:
    for seed in range(4):
        sc, inventories = grouped_scenario(95_000 * n_sources + seed, n_sources)
        amount_out = route(sc.sources, sc.amount_in, inventories=inventories).expected_output
        plan = route_exact_output(sc.sources, amount_out, inventories=inventories)
        assert plan.expected_output == amount_out
        assert group_spend(plan, sc, "wallet") <= inventories["wallet"]
        reference, _ = reference_general(
            sc.sources, amount_out, exact_output=True, inventories=inventories
        )
        assert plan.net_input is not None
        gap = (-reference - plan.net_input) / -reference * 1e4
        assert gap >= -QUALITY_BPS, f"seed {sc.seed}: spends {-gap:.4f} bps more than reference"


def three_pools_one_wallet(
    balance_group: str | None = "31337:wallet:USDC",
) -> list[LiquiditySource]:
    pools = [
        LiquiditySource.from_v2_reserves(
            f"pool-{i}", 10**13, (40 + i) * 10**20, inventory_group=balance_group
        )
        for i in range(3)
    ]
    cex = LiquiditySource.from_v2_reserves("cex", 10**13, 38 * 10**20, inventory_group="cex:USDC")
    return [*pools, cex]


def test_three_pools_spending_one_wallet_share_its_balance() -> None:
    sources = three_pools_one_wallet()
    amount = 3 * 10**11
    free = route(sources, amount)
    assert sum(free.allocation().get(s.venue, 0) for s in sources[:3]) > 10**11
    capped = route(sources, amount, inventories={"31337:wallet:USDC": 10**11})
    spent = sum(capped.allocation().get(s.venue, 0) for s in sources[:3])
    assert spent <= 10**11
    assert capped.allocation()[sources[3].venue] >= amount - 10**11
    # the capped wallet still goes to its best pools, split at equal marginal prices
    assert capped.allocation().get(sources[2].venue, 0) > capped.allocation().get(
        sources[0].venue, 0
    )
    assert capped.net_output <= free.net_output


def test_baselines_respect_shared_balances() -> None:
    sources = three_pools_one_wallet()
    caps = {"31337:wallet:USDC": 10**11}
    single = best_single(sources, 3 * 10**11, inventories=caps)
    assert single is not None and single.name == "cex"
    greedy = greedy_split(sources, 3 * 10**11, inventories=caps)
    assert greedy is not None
    assert sum(a for v, a in greedy.allocation if v != "cex") <= 10**11


def test_a_group_too_small_for_the_order_is_rejected() -> None:
    pools = three_pools_one_wallet()[:3]
    with pytest.raises(InvalidInput, match="shared inventories"):
        route(pools, 3 * 10**11, inventories={"31337:wallet:USDC": 10**11})
    with pytest.raises(InvalidInput, match="inventory of group"):
        route(pools, 10, inventories={"31337:wallet:USDC": -1})


@settings(max_examples=30, deadline=None)
@given(
    cap=st.integers(0, 4 * 10**11),
    amount=st.integers(10**6, 3 * 10**11),
    exact_output=st.booleans(),
)
def test_any_balance_gives_a_plan_within_it_or_a_clear_error(
    cap: int, amount: int, exact_output: bool
) -> None:
    sources = three_pools_one_wallet()
    inventories = {"31337:wallet:USDC": cap, "cex:USDC": 10**11}
    try:
        if exact_output:
            plan = route_exact_output(sources, amount * 10**8, inventories=inventories)
        else:
            plan = route(sources, amount, inventories=inventories)
    except InvalidInput as exc:
        assert str(exc)
        return
    sc = Scenario(tuple(sources), 0, 0)
    assert group_spend(plan, sc, "31337:wallet:USDC") <= cap
    assert group_spend(plan, sc, "cex:USDC") <= 10**11


def test_sources_trading_through_one_pool_are_never_used_together() -> None:
    usdc_weth = LiquiditySource.from_v2_reserves("usdc-weth", 10**13, 4 * 10**21)
    weth_wbtc = LiquiditySource.from_v2_reserves("weth-wbtc", 10**23, 5 * 10**11)
    weth_wbtc_2 = LiquiditySource.from_v2_reserves("weth-wbtc-2", 10**23, 5 * 10**11)
    a = LiquiditySource.from_path("a", [usdc_weth, weth_wbtc], fixed_cost=0)
    b = LiquiditySource.from_path("b", [usdc_weth, weth_wbtc_2], fixed_cost=0)
    direct = LiquiditySource.from_v2_reserves("usdc-wbtc", 10**12, 2 * 10**9 * 10, fee_bps=30)
    assert a.pools & b.pools == {"usdc-weth"}
    for amount in (10**9, 10**11, 10**12):
        plan = route([a, b, direct], amount)
        used = {leg.venue for leg in plan.legs}
        assert not {"a", "b"} <= used
        greedy = plan.greedy
        assert greedy is not None and not {"a", "b"} <= {v for v, _ in greedy.allocation}
        bought = route_exact_output([a, b, direct], plan.expected_output)
        assert not {"a", "b"} <= {leg.venue for leg in bought.legs}
