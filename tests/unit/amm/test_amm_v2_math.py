"""Uniswap V2 constant-product math and the V2 pair state."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm import (
    InsufficientReserves,
    V2PoolState,
    get_amount_in,
    get_amount_out,
    get_amounts_in,
    get_amounts_out,
)

USDC = "0x00000000000000000000000000000000000000aa"
WETH = "0x00000000000000000000000000000000000000bb"


def test_amount_out_equals_the_router_formula_on_a_known_pool() -> None:
    # 30k USDC into a 1000 WETH / 3M USDC pair (the devnet's seeded V2 pool).
    out = get_amount_out(30_000 * 10**6, 3_000_000 * 10**6, 1_000 * 10**18)
    assert out == 9_871_580_343_970_612_988


def test_amount_in_is_the_library_formula_plus_one() -> None:
    assert get_amount_in(1, 100, 100) == 2  # 100*1*1000 // (99*997) + 1
    assert get_amount_in(10**18, 3 * 10**12, 10**21) == (
        3 * 10**12 * 10**18 * 1000 // ((10**21 - 10**18) * 997) + 1
    )


def test_fee_in_bps_matches_997_over_1000_at_30_bps() -> None:
    for a in (1, 999, 10**6, 10**20):
        assert get_amount_out(a, 10**9, 10**12) == a * 997 * 10**12 // (10**9 * 1000 + a * 997)
    assert get_amount_out(10**6, 10**9, 10**12, fee_bps=0) == 10**6 * 10**12 // (10**9 + 10**6)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((0, 10, 10), InvalidInput),
        ((-1, 10, 10), InvalidInput),
        ((1, 0, 10), InsufficientReserves),
        ((1, 10, 0), InsufficientReserves),
        ((1, 2**112, 10), InvalidInput),
    ],
)
def test_bad_input_raises(args: tuple[int, int, int], error: type[Exception]) -> None:
    with pytest.raises(error):
        get_amount_out(*args)
    with pytest.raises(error):
        get_amount_in(*args)


def test_amount_in_for_the_whole_reserve_raises() -> None:
    with pytest.raises(InsufficientReserves, match="below the pool's reserve"):
        get_amount_in(10, 10, 10)
    with pytest.raises(InsufficientReserves):
        get_amount_in(11, 10, 10)
    with pytest.raises(InvalidInput, match="fee_bps"):
        get_amount_out(1, 10, 10, fee_bps=10_000)
    with pytest.raises(InvalidInput, match="at least one pool"):
        get_amounts_out(1, [])
    with pytest.raises(InvalidInput, match="at least one pool"):
        get_amounts_in(1, [])


reserves = st.integers(1_000, 2**100)


@example(amount=1000, r_in=1000, r_out=1997)
@given(st.integers(1, 2**90), reserves, reserves)
def test_round_trips_never_favour_the_trader(amount: int, r_in: int, r_out: int) -> None:
    out = get_amount_out(amount, r_in, r_out)
    if out > 0:
        # getAmountIn rounds down and adds one, so it may ask one unit more than ``amount``
        # (e.g. 1000 in -> 997 out -> 1001 in on reserves 1000/1997), never more.
        assert get_amount_in(out, r_in, r_out) <= amount + 1
    if amount < r_out:
        need = get_amount_in(amount, r_in, r_out)
        assert get_amount_out(need, r_in, r_out) >= amount


@given(st.integers(1, 2**80), st.lists(st.tuples(reserves, reserves), min_size=1, max_size=4))
def test_multi_hop_chains_single_hops(amount: int, path: list[tuple[int, int]]) -> None:
    expected = [amount]
    for r_in, r_out in path:
        if expected[-1] == 0:  # the library reverts on a hop that receives nothing
            with pytest.raises(InvalidInput):
                get_amounts_out(amount, path)
            return
        expected.append(get_amount_out(expected[-1], r_in, r_out))
    assert get_amounts_out(amount, path) == expected


def test_amounts_in_walks_the_path_backwards() -> None:
    path = [(3 * 10**12, 10**21), (10**21, 3 * 10**24)]
    amounts = get_amounts_in(10**24, path)
    assert amounts[-1] == 10**24
    assert amounts[1] == get_amount_in(10**24, *path[1])
    assert amounts[0] == get_amount_in(amounts[1], *path[0])
    assert get_amounts_out(amounts[0], path)[-1] >= 10**24


def test_v2_pool_state_quotes_by_token_and_follows_sync() -> None:
    pool = V2PoolState(
        address="0xpair", token0=USDC, token1=WETH, reserve0=3 * 10**12, reserve1=10**21
    )
    assert pool.amount_out(USDC, 30_000 * 10**6) == 9_871_580_343_970_612_988
    assert pool.amount_out(WETH.upper().replace("0X", "0x"), 10**18) == get_amount_out(
        10**18, 10**21, 3 * 10**12
    )
    assert pool.amount_in(USDC, 10**18) == get_amount_in(10**18, 3 * 10**12, 10**21)
    synced = pool.apply_sync(1, 2, block_number=7)
    assert (synced.reserve0, synced.reserve1, synced.block_number) == (1, 2, 7)
    assert pool.reserve0 == 3 * 10**12  # immutable
    with pytest.raises(InvalidInput, match="not in pair"):
        pool.amount_out("0xdead", 1)
    with pytest.raises(InvalidInput):
        pool.apply_sync(-1, 0)
