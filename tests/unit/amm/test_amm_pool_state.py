"""V3 pool state kept fresh from Mint / Burn / Swap events, without a chain."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oms_chain.venues.amm as amm
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm import V3PoolState, v3_path_hops
from oms_chain.venues.amm.v3_math import (
    MIN_SQRT_RATIO,
    MIN_TICK,
    MathRevert,
    get_sqrt_ratio_at_tick,
    swap,
)

T0 = "0x0000000000000000000000000000000000000001"
T1 = "0x0000000000000000000000000000000000000002"
T2 = "0x0000000000000000000000000000000000000003"


def _empty(tick: int = 0, spacing: int = 10, token0: str = T0, token1: str = T1) -> V3PoolState:
    return V3PoolState(
        address="0xpool",
        token0=token0,
        token1=token1,
        fee=500,
        tick_spacing=spacing,
        sqrt_price_x96=get_sqrt_ratio_at_tick(tick),
        tick=tick,
        liquidity=0,
        tick_bitmap={},
        liquidity_net={},
        liquidity_gross={},
    )


def test_mint_then_burn_returns_to_the_empty_pool() -> None:
    pool = _empty()
    minted = pool.apply_mint(-100, 200, 10**18).apply_mint(-100, 50, 5, block_number=3)
    assert minted.liquidity == 10**18 + 5
    assert minted.liquidity_net == {-100: 10**18 + 5, 200: -(10**18), 50: -5}
    assert minted.liquidity_gross == {-100: 10**18 + 5, 200: 10**18, 50: 5}
    assert minted.tick_bitmap == {-1: 1 << (256 - 10), 0: (1 << 20) | (1 << 5)}
    assert minted.block_number == 3
    assert pool.liquidity == 0 and pool.tick_bitmap == {}  # values are immutable
    burned = minted.apply_burn(-100, 50, 5).apply_burn(-100, 200, 10**18)
    assert burned == replace(pool, block_number=3)


def test_positions_out_of_range_do_not_change_active_liquidity() -> None:
    pool = _empty().apply_mint(10, 20, 7).apply_mint(-20, -10, 7).apply_mint(0, 10, 3)
    assert pool.liquidity == 3  # [0, 10) holds the current tick 0; [10, 20) starts above it
    assert pool.apply_burn(0, 10, 0) is pool


def test_events_by_name_and_swaps() -> None:
    pool = _empty().apply_event("Mint", {"tickLower": -600, "tickUpper": 600, "amount": 10**20})
    result = pool.quote_exact_input(T0, 10**18)
    after = pool.apply_event(
        "Swap",
        {"sqrtPriceX96": result.sqrt_price_x96, "liquidity": result.liquidity, "tick": result.tick},
        block_number=9,
    )
    assert (after.sqrt_price_x96, after.tick, after.block_number) == (
        result.sqrt_price_x96,
        result.tick,
        9,
    )
    assert after.apply_event("Collect", {}) is after
    burned = after.apply_event("Burn", {"tickLower": -600, "tickUpper": 600, "amount": 10**20})
    assert burned.liquidity == 0 and burned.tick_bitmap == {}


def test_bad_ranges_and_amounts_raise() -> None:
    pool = _empty()
    with pytest.raises(InvalidInput):
        pool.apply_mint(10, 10, 1)
    with pytest.raises(InvalidInput):
        pool.apply_mint(0, 10, -1)
    with pytest.raises(InvalidInput):
        pool.apply_burn(0, 10, 1)  # below zero liquidity
    with pytest.raises(InvalidInput, match="not in pool"):
        pool.quote_exact_input(T2, 1)
    with pytest.raises(InvalidInput):
        pool.quote_exact_output(T0, 0)


def test_exact_output_beyond_the_liquidity_raises_like_the_quoter() -> None:
    pool = _empty().apply_mint(-100, 100, 10**9)
    with pytest.raises(amm.InsufficientLiquidity):
        pool.quote_exact_output(T0, 10**18)
    partial = pool.quote_exact_output(T0, 10**18, sqrt_price_limit_x96=get_sqrt_ratio_at_tick(-50))
    assert 0 < partial.amount_out < 10**18


def test_a_narrow_word_range_reports_missing_tick_data() -> None:
    pool = replace(_empty().apply_mint(-100, 100, 10**9), word_range=(0, 0))
    with pytest.raises(amm.TickDataMissing, match="wider word range"):
        pool.quote_exact_input(T0, 10**20)
    # Events for ticks in unloaded words leave those words unknown.
    far = pool.apply_mint(-887270, 887270, 5)
    assert far.liquidity == pool.liquidity + 5
    assert set(far.liquidity_net) == set(pool.liquidity_net)


def test_path_hops_follow_the_token_through_pools() -> None:
    a = _empty().apply_mint(-600, 600, 10**20)
    b = _empty(token0=T1, token1=T2).apply_mint(-600, 600, 10**20)
    hops = v3_path_hops([a, b], T0)
    assert [z for _, z in hops] == [True, True]
    assert [z for _, z in v3_path_hops([b, a], T2)] == [False, False]
    out, results = amm.quote_exact_input_path(hops, 10**15)
    assert out == results[1].amount_out and results[0].amount_out == results[1].amount_in
    assert [z for _, z in v3_path_hops([a, a], T0)] == [True, False]  # there and back
    with pytest.raises(InvalidInput):
        v3_path_hops([b], T0)


positions = st.lists(
    st.tuples(st.integers(-400, 400), st.integers(1, 60), st.integers(1, 10**22)),
    min_size=0,
    max_size=25,
)
amounts = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.integers(1, 10**26)), min_size=1, max_size=12
)


@given(positions, st.integers(-2000, 2000), st.sampled_from([1, 10, 60]), amounts)
@settings(max_examples=300, deadline=None)
def test_memoized_walk_equals_the_plain_swap_loop(
    spots: list[tuple[int, int, int]],
    tick: int,
    spacing: int,
    queries: list[tuple[bool, bool, int]],
) -> None:
    pool = _empty(tick=tick, spacing=spacing).apply_mint(
        -(887272 // spacing) * spacing, (887272 // spacing) * spacing, 10**15
    )
    for center, width, liquidity in spots:
        lower = (tick // spacing + center - width) * spacing
        pool = pool.apply_mint(lower, lower + 2 * width * spacing, liquidity)
    plain = {
        name: getattr(pool, name)
        for name in (
            "sqrt_price_x96",
            "tick",
            "liquidity",
            "fee",
            "tick_spacing",
            "tick_bitmap",
            "liquidity_net",
            "word_range",
        )
    }
    for zero_for_one, exact_input, amount in queries:
        specified = amount if exact_input else -amount
        try:
            expected = swap(**plain, zero_for_one=zero_for_one, amount_specified=specified)
        except MathRevert:
            with pytest.raises(MathRevert):
                pool.swap(zero_for_one, specified)
            continue
        assert pool.swap(zero_for_one, specified) == expected
    # Amounts exactly at step boundaries (the walk's running totals) stop there, as the loop does.
    for zero_for_one in (True, False):
        walk = pool._walks.get(zero_for_one)
        if walk is None:
            continue
        for total in walk._paid_in[1:6]:
            if total > 0:
                assert pool.swap(zero_for_one, total) == swap(
                    **plain, zero_for_one=zero_for_one, amount_specified=total
                )
        for total in walk._paid_out[1:6]:
            if total > 0:
                assert pool.swap(zero_for_one, -total) == swap(
                    **plain, zero_for_one=zero_for_one, amount_specified=-total
                )


def test_a_pool_at_the_price_limit_rejects_the_swap_like_the_pool() -> None:
    pool = replace(
        _empty().apply_mint(-600, 600, 10**18),
        sqrt_price_x96=MIN_SQRT_RATIO + 1,
        tick=MIN_TICK,
    )
    with pytest.raises(MathRevert, match="SPL"):
        pool.swap(True, 10**6)
    with pytest.raises(MathRevert, match="SPL"):
        pool.swap(True, 10**6, sqrt_price_limit_x96=MIN_SQRT_RATIO + 1)
    assert pool.swap(False, 10**6).amount_in == 10**6
