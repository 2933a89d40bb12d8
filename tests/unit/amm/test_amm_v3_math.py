"""Uniswap V3 math: reference values from the v3-core test suite, boundaries, properties."""

from __future__ import annotations

from math import isqrt
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm import v3_math as m

Q96 = 2**96
E18 = 10**18


def encode_price_sqrt(reserve1: int, reserve0: int) -> int:
    """floor(sqrt(reserve1 / reserve0) * 2**96), as the v3-core tests' encodePriceSqrt."""
    return isqrt((reserve1 << 192) // reserve0)


def solidity_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """An independent transcription of TickMath's binary-logarithm algorithm (the reference)."""
    ratio = sqrt_price_x96 << 32
    msb = ratio.bit_length() - 1
    r = ratio >> (msb - 127) if msb >= 128 else ratio << (127 - msb)
    log_2 = (msb - 128) << 64
    for shift in range(63, 49, -1):
        r = (r * r) >> 127
        f = r >> 128
        log_2 |= f << shift
        r >>= f
    log_sqrt10001 = log_2 * 255738958999603826347141
    tick_low = (log_sqrt10001 - 3402992956809132418596140100660247210) >> 128
    tick_high = (log_sqrt10001 + 291339464771989622907027621153398088495) >> 128
    if tick_low == tick_high:
        return tick_low
    return tick_high if m.get_sqrt_ratio_at_tick(tick_high) <= sqrt_price_x96 else tick_low


# -- TickMath ------------------------------------------------------------------------------------


def test_sqrt_ratio_reference_values_from_the_v3_core_suite() -> None:
    assert m.get_sqrt_ratio_at_tick(0) == Q96
    assert m.get_sqrt_ratio_at_tick(m.MIN_TICK) == m.MIN_SQRT_RATIO == 4295128739
    assert m.get_sqrt_ratio_at_tick(m.MIN_TICK + 1) == 4295343490
    assert (
        m.get_sqrt_ratio_at_tick(m.MAX_TICK - 1)
        == 1461373636630004318706518188784493106690254656249
    )
    assert (
        m.get_sqrt_ratio_at_tick(m.MAX_TICK)
        == m.MAX_SQRT_RATIO
        == 1461446703485210103287273052203988822378723970342
    )


def test_tick_at_sqrt_ratio_boundaries() -> None:
    assert m.get_tick_at_sqrt_ratio(m.MIN_SQRT_RATIO) == m.MIN_TICK
    assert m.get_tick_at_sqrt_ratio(4295343490) == m.MIN_TICK + 1
    assert m.get_tick_at_sqrt_ratio(m.MAX_SQRT_RATIO - 1) == m.MAX_TICK - 1
    assert (
        m.get_tick_at_sqrt_ratio(1461373636630004318706518188784493106690254656249)
        == m.MAX_TICK - 1
    )
    assert m.get_tick_at_sqrt_ratio(Q96) == 0
    assert m.get_tick_at_sqrt_ratio(Q96 - 1) == -1


@pytest.mark.parametrize("tick", [m.MIN_TICK - 1, m.MAX_TICK + 1, -(2**23), 2**23])
def test_sqrt_ratio_rejects_ticks_out_of_range(tick: int) -> None:
    with pytest.raises(m.MathRevert, match="'T'"):
        m.get_sqrt_ratio_at_tick(tick)


@pytest.mark.parametrize("price", [0, m.MIN_SQRT_RATIO - 1, m.MAX_SQRT_RATIO, 2**160])
def test_tick_at_sqrt_ratio_rejects_prices_out_of_range(price: int) -> None:
    with pytest.raises(m.MathRevert, match="'R'") as info:
        m.get_tick_at_sqrt_ratio(price)
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, ValueError)


@given(st.integers(m.MIN_TICK, m.MAX_TICK - 1))
@settings(max_examples=2000)
def test_tick_sqrt_ratio_round_trip_and_monotonic(tick: int) -> None:
    ratio = m.get_sqrt_ratio_at_tick(tick)
    assert m.get_sqrt_ratio_at_tick(tick + 1) > ratio
    assert m.get_tick_at_sqrt_ratio(ratio) == tick
    assert m.get_tick_at_sqrt_ratio(m.get_sqrt_ratio_at_tick(tick + 1) - 1) == tick


@given(
    st.one_of(
        st.integers(m.MIN_SQRT_RATIO, m.MAX_SQRT_RATIO - 1),
        st.integers(m.MIN_SQRT_RATIO, m.MIN_SQRT_RATIO + 10**9),
        st.integers(m.MAX_SQRT_RATIO - 10**40, m.MAX_SQRT_RATIO - 1),
        st.integers(0, 160).map(lambda b: max(m.MIN_SQRT_RATIO, min(m.MAX_SQRT_RATIO - 1, 1 << b))),
    )
)
@settings(max_examples=3000)
def test_tick_at_sqrt_ratio_equals_the_contract_algorithm(price: int) -> None:
    tick = m.get_tick_at_sqrt_ratio(price)
    assert tick == solidity_tick_at_sqrt_ratio(price)
    assert m.get_sqrt_ratio_at_tick(tick) <= price
    if tick < m.MAX_TICK:
        assert price < m.get_sqrt_ratio_at_tick(tick + 1)


# -- FullMath ------------------------------------------------------------------------------------


def test_mul_div_reference_values() -> None:
    q128 = 2**128
    assert m.mul_div(q128, 35 * q128, 8 * q128) == 4375 * q128 // 1000
    assert m.mul_div(m.MAX_UINT256, m.MAX_UINT256, m.MAX_UINT256) == m.MAX_UINT256
    assert (
        m.mul_div_rounding_up(q128, 1000 * q128, 3000 * q128)
        == 113427455640312821154458202477256070486
    )
    assert m.mul_div(q128, 1000 * q128, 3000 * q128) == 113427455640312821154458202477256070485


def test_mul_div_reverts_like_full_math() -> None:
    q128 = 2**128
    with pytest.raises(m.MathRevert):
        m.mul_div(q128, 5, 0)
    with pytest.raises(m.MathRevert):
        m.mul_div(q128, q128, 1)  # result 2**256 does not fit
    with pytest.raises(m.MathRevert):
        m.mul_div(m.MAX_UINT256, m.MAX_UINT256, m.MAX_UINT256 - 1)
    with pytest.raises(m.MathRevert):
        # floor fits exactly, rounding up would overflow
        m.mul_div_rounding_up(
            535006138814359, 432862656469423142931042426214547535783388063929571229938474969, 2
        )
    with pytest.raises(m.MathRevert):
        m.mul_div(-1, 1, 1)
    with pytest.raises(m.MathRevert):
        m.mul_div(m.MAX_UINT256 + 1, 1, 1)


uint256s = st.integers(0, m.MAX_UINT256)


@given(uint256s, uint256s, st.integers(1, m.MAX_UINT256))
def test_mul_div_is_floor_and_rounding_up_is_ceiling(a: int, b: int, d: int) -> None:
    exact, rem = divmod(a * b, d)
    if exact > m.MAX_UINT256:
        with pytest.raises(m.MathRevert):
            m.mul_div(a, b, d)
        return
    assert m.mul_div(a, b, d) == exact
    up = exact + (1 if rem else 0)
    if up > m.MAX_UINT256:
        with pytest.raises(m.MathRevert):
            m.mul_div_rounding_up(a, b, d)
    else:
        assert m.mul_div_rounding_up(a, b, d) == up


# -- SqrtPriceMath -------------------------------------------------------------------------------


def test_next_sqrt_price_reference_values() -> None:
    one = encode_price_sqrt(1, 1)
    assert m.get_next_sqrt_price_from_input(one, E18, E18 // 10, False) == (
        87150978765690771352898345369
    )
    assert m.get_next_sqrt_price_from_input(one, E18, E18 // 10, True) == (
        72025602285694852357767227579
    )
    # amount * sqrtP overflows 256 bits: the contract takes its second formula.
    sqrt_p = 1025574284609383690408304870162715216695788925244
    liquidity = 50015962439936049619261659728067971248
    assert m.get_next_sqrt_price_from_input(sqrt_p, liquidity, 406, True) == (
        1025574284609383582644711336373707553698163132913
    )
    assert m.get_next_sqrt_price_from_input(one, E18, 0, True) == one
    assert m.get_next_sqrt_price_from_output(one, E18, 0, False) == one


def test_next_sqrt_price_reverts() -> None:
    one = encode_price_sqrt(1, 1)
    with pytest.raises(m.MathRevert):
        m.get_next_sqrt_price_from_input(0, 1, E18 // 10, False)
    with pytest.raises(m.MathRevert):
        m.get_next_sqrt_price_from_input(1, 0, E18 // 10, True)
    with pytest.raises(m.MathRevert):  # price would exceed uint160
        m.get_next_sqrt_price_from_input(m.MAX_UINT160, 1024, 1024, False)
    # output equal to the virtual reserve of token0 (4 at L=1024, price 1 << 96 * 256)
    price, liq = 20282409603651670423947251286016, 1024
    with pytest.raises(m.MathRevert):
        m.get_next_sqrt_price_from_output(price, liq, 4, False)
    with pytest.raises(m.MathRevert):
        m.get_next_sqrt_price_from_output(price, liq, 262144, True)
    assert m.get_next_sqrt_price_from_output(price, liq, 262143, True) == 77371252455336267181195264
    with pytest.raises(m.MathRevert):
        m.get_next_sqrt_price_from_output(one, 1, m.MAX_UINT256, True)


def test_amount_delta_reference_values() -> None:
    one, p121 = encode_price_sqrt(1, 1), encode_price_sqrt(121, 100)
    assert m.get_amount0_delta(one, p121, E18, True) == 90909090909090910
    assert m.get_amount0_delta(one, p121, E18, False) == 90909090909090909
    assert m.get_amount1_delta(one, p121, E18, True) == 100000000000000000
    assert m.get_amount1_delta(one, p121, E18, False) == 99999999999999999
    assert m.get_amount0_delta(one, one, E18, True) == 0
    assert m.get_amount0_delta(one, encode_price_sqrt(2, 1), 0, True) == 0
    assert m.get_amount0_delta_signed(one, p121, E18) == 90909090909090910
    assert m.get_amount0_delta_signed(one, p121, -E18) == -90909090909090909
    assert m.get_amount1_delta_signed(p121, one, -E18) == -99999999999999999
    with pytest.raises(m.MathRevert):
        m.get_amount0_delta(0, one, E18, True)


# -- SwapMath ------------------------------------------------------------------------------------


def test_compute_swap_step_reference_values() -> None:
    one = encode_price_sqrt(1, 1)
    target = encode_price_sqrt(101, 100)
    assert target == 79623317895830914510639640423
    for amount in (E18, -E18):  # exact in / exact out, capped at the target
        nxt, a_in, a_out, fee = m.compute_swap_step(one, target, 2 * E18, amount, 600)
        assert (nxt, a_in, a_out, fee) == (
            target,
            9975124224178055,
            9925619580021728,
            5988667735148,
        )

    nxt, a_in, a_out, fee = m.compute_swap_step(
        one, encode_price_sqrt(1000, 100), 2 * E18, E18, 600
    )
    assert (a_in, a_out, fee) == (999400000000000000, 666399946655997866, 600000000000000)
    assert nxt == m.get_next_sqrt_price_from_input(one, 2 * E18, E18 - fee, False)

    nxt, a_in, a_out, fee = m.compute_swap_step(
        one, encode_price_sqrt(10000, 100), 2 * E18, -E18, 600
    )
    assert (a_in, a_out, fee) == (2 * E18, E18, 1200720432259356)

    assert m.compute_swap_step(
        417332158212080721273783715441582,
        1452870262520218020823638996,
        159344665391607089467575320103,
        -1,
        1,
    ) == (417332158212080721273783715441581, 1, 1, 1)
    assert m.compute_swap_step(2, 1, 1, 3915081100057732413702495386755767, 1) == (
        1,
        39614081257132168796771975168,
        0,
        39614120871253040049813,
    )


def reference_swap_step(
    current: int, target: int, liquidity: int, remaining: int, fee: int
) -> tuple[int, int, int, int]:
    """SwapMath.computeSwapStep transcribed line by line, without the library's shortcuts."""
    zero_for_one = current >= target
    exact_in = remaining >= 0
    amount_in = amount_out = 0
    if exact_in:
        less_fee = m.mul_div(remaining, 10**6 - fee, 10**6)
        amount_in = (
            m.get_amount0_delta(target, current, liquidity, True)
            if zero_for_one
            else m.get_amount1_delta(current, target, liquidity, True)
        )
        if less_fee >= amount_in:
            nxt = target
        else:
            nxt = m.get_next_sqrt_price_from_input(current, liquidity, less_fee, zero_for_one)
    else:
        amount_out = (
            m.get_amount1_delta(target, current, liquidity, False)
            if zero_for_one
            else m.get_amount0_delta(current, target, liquidity, False)
        )
        if -remaining >= amount_out:
            nxt = target
        else:
            nxt = m.get_next_sqrt_price_from_output(current, liquidity, -remaining, zero_for_one)
    reached = target == nxt
    if zero_for_one:
        if not (reached and exact_in):
            amount_in = m.get_amount0_delta(nxt, current, liquidity, True)
        if not (reached and not exact_in):
            amount_out = m.get_amount1_delta(nxt, current, liquidity, False)
    else:
        if not (reached and exact_in):
            amount_in = m.get_amount1_delta(current, nxt, liquidity, True)
        if not (reached and not exact_in):
            amount_out = m.get_amount0_delta(current, nxt, liquidity, False)
    if not exact_in and amount_out > -remaining:
        amount_out = -remaining
    if exact_in and nxt != target:
        fee_amount = remaining - amount_in
    else:
        fee_amount = m.mul_div_rounding_up(amount_in, fee, 10**6 - fee)
    return nxt, amount_in, amount_out, fee_amount


prices = st.integers(m.MIN_SQRT_RATIO, m.MAX_SQRT_RATIO - 1)
liquidities = st.integers(1, m.MAX_UINT128)
amounts = st.integers(-(2**255) + 1, 2**255 - 1).filter(lambda a: a != 0)
fees = st.integers(0, 999_999)


@given(prices, prices, liquidities, amounts, fees)
@settings(max_examples=1500)
def test_compute_swap_step_invariants(
    current: int, target: int, liquidity: int, remaining: int, fee: int
) -> None:
    try:
        nxt, a_in, a_out, fee_amount = m.compute_swap_step(
            current, target, liquidity, remaining, fee
        )
    except m.MathRevert:
        return  # the contract reverts on these too (e.g. a price outside uint160)
    zero_for_one = current >= target
    assert (target <= nxt <= current) if zero_for_one else (current <= nxt <= target)
    if remaining < 0:
        assert a_out <= -remaining
    else:
        assert a_in + fee_amount <= remaining
    if nxt != target and remaining > 0:
        assert a_in + fee_amount == remaining


@given(
    st.integers(-50_000, 50_000),
    st.integers(1, 3000),
    st.booleans(),
    st.integers(1, 10**24),
    st.integers(10**3, 10**22),
    st.booleans(),
    st.sampled_from([100, 500, 3000, 10_000]),
)
@settings(max_examples=1500)
def test_compute_swap_step_equals_the_reference_on_realistic_steps(
    tick: int, width: int, down: bool, amount: int, liquidity: int, exact_in: bool, fee: int
) -> None:
    current = m.get_sqrt_ratio_at_tick(tick) + (amount % 997)
    target = m.get_sqrt_ratio_at_tick(tick - width if down else tick + width)
    remaining = amount if exact_in else -amount
    try:
        expected = reference_swap_step(current, target, liquidity, remaining, fee)
    except m.MathRevert:
        with pytest.raises(m.MathRevert):
            m.compute_swap_step(current, target, liquidity, remaining, fee)
        return
    assert m.compute_swap_step(current, target, liquidity, remaining, fee) == expected


# -- LiquidityMath, TickBitmap -------------------------------------------------------------------


def test_add_delta() -> None:
    assert m.add_delta(1, 0) == 1
    assert m.add_delta(1, -1) == 0
    assert m.add_delta(1, 1) == 2
    with pytest.raises(m.MathRevert, match="LA"):
        m.add_delta(2**128 - 15, 15)
    with pytest.raises(m.MathRevert, match="LS"):
        m.add_delta(0, -1)
    with pytest.raises(m.MathRevert, match="LS"):
        m.add_delta(3, -4)


def _bitmap(ticks: list[int], spacing: int = 1) -> dict[int, int]:
    words: dict[int, int] = {}
    for t in ticks:
        c = t // spacing
        words[c >> 8] = words.get(c >> 8, 0) ^ (1 << (c & 0xFF))
    return words


BITMAP = _bitmap([-200, -55, -4, 70, 78, 84, 139, 240, 535])


@pytest.mark.parametrize(
    ("tick", "lte", "expected"),
    [
        (78, False, (84, True)),
        (-55, False, (-4, True)),
        (77, False, (78, True)),
        (-56, False, (-55, True)),
        (255, False, (511, False)),
        (-257, False, (-200, True)),
        (340, False, (511, False)),
        (508, False, (511, False)),
        (78, True, (78, True)),
        (79, True, (78, True)),
        (258, True, (256, False)),
        (256, True, (256, False)),
        (72, True, (70, True)),
        (-257, True, (-512, False)),
        (1023, True, (768, False)),
        (900, True, (768, False)),
    ],
)
def test_next_initialized_tick_within_one_word(
    tick: int, lte: bool, expected: tuple[int, bool]
) -> None:
    assert m.next_initialized_tick_within_one_word(BITMAP, tick, 1, lte) == expected


# -- The swap loop on an in-memory pool ----------------------------------------------------------


def _pool(positions: list[tuple[int, int, int]], spacing: int, tick: int) -> dict[str, Any]:
    """State of a pool at ``tick`` holding ``(lower, upper, liquidity)`` positions."""
    net: dict[int, int] = {}
    for lower, upper, liq in positions:
        net[lower] = net.get(lower, 0) + liq
        net[upper] = net.get(upper, 0) - liq
    active = sum(liq for lower, upper, liq in positions if lower <= tick < upper)
    return {
        "sqrt_price_x96": m.get_sqrt_ratio_at_tick(tick),
        "tick": tick,
        "liquidity": active,
        "fee": 3000,
        "tick_spacing": spacing,
        "tick_bitmap": _bitmap(list(net), spacing),
        "liquidity_net": net,
    }


POOL = _pool(
    [
        (-887220, 887220, 10**18),
        (-600, 600, 5 * 10**19),
        (-6000, -1200, 10**20),
        (1200, 7200, 10**19),
    ],
    60,
    0,
)


def test_swap_without_crossing_matches_one_step() -> None:
    result = m.swap(**POOL, zero_for_one=True, amount_specified=10**15)
    nxt, a_in, a_out, fee = m.compute_swap_step(
        Q96,
        m.get_sqrt_ratio_at_tick(-600),
        POOL["liquidity"],
        10**15,
        3000,
    )
    assert (result.amount0, result.amount1, result.sqrt_price_x96) == (a_in + fee, -a_out, nxt)
    assert result.ticks_crossed == 0 and result.amount_in == 10**15 and result.amount_out == a_out
    assert result.tick == m.get_tick_at_sqrt_ratio(nxt)


def test_swap_crosses_ticks_and_updates_liquidity() -> None:
    result = m.swap(**POOL, zero_for_one=True, amount_specified=10**20)
    assert result.ticks_crossed >= 2
    assert result.amount_in == 10**20
    assert result.tick < -1200
    back = m.swap(
        **{
            **POOL,
            "sqrt_price_x96": result.sqrt_price_x96,
            "tick": result.tick,
            "liquidity": result.liquidity,
        },
        zero_for_one=False,
        amount_specified=10**30,
        sqrt_price_limit_x96=Q96,
    )
    assert back.ticks_crossed == result.ticks_crossed
    assert back.sqrt_price_x96 == Q96 and back.tick == 0
    assert back.liquidity == POOL["liquidity"]
    # the fees stay in the pool both ways
    assert back.amount_out < result.amount_in and back.amount_in > result.amount_out


def test_swap_stops_at_the_price_limit() -> None:
    limit = m.get_sqrt_ratio_at_tick(300)
    result = m.swap(**POOL, zero_for_one=False, amount_specified=10**30, sqrt_price_limit_x96=limit)
    assert result.sqrt_price_x96 == limit and result.tick == 300
    assert result.amount_in < 10**30


def test_swap_rejects_bad_input() -> None:
    with pytest.raises(m.MathRevert, match="AS"):
        m.swap(**POOL, zero_for_one=True, amount_specified=0)
    with pytest.raises(m.MathRevert, match="SPL"):
        m.swap(**POOL, zero_for_one=True, amount_specified=1, sqrt_price_limit_x96=Q96 + 1)
    with pytest.raises(m.MathRevert, match="SPL"):
        m.swap(
            **POOL, zero_for_one=False, amount_specified=1, sqrt_price_limit_x96=m.MAX_SQRT_RATIO
        )
    for bad in ({"fee": 10**6}, {"tick_spacing": 0}, {"liquidity": -1}, {"sqrt_price_x96": 0}):
        with pytest.raises(InvalidInput):
            m.swap(**{**POOL, **bad}, zero_for_one=True, amount_specified=1)
    with pytest.raises(m.TickDataMissing):
        m.swap(**POOL, zero_for_one=True, amount_specified=10**24, word_range=(-1, 0))


@given(st.booleans(), st.integers(1, 10**26), st.integers(1, 10**26))
@settings(max_examples=300)
def test_more_input_never_gives_less_output(zero_for_one: bool, a: int, b: int) -> None:
    small, large = sorted((a, b))
    out_small = m.swap(**POOL, zero_for_one=zero_for_one, amount_specified=small)
    out_large = m.swap(**POOL, zero_for_one=zero_for_one, amount_specified=large)
    assert out_large.amount_out >= out_small.amount_out
    assert m.get_sqrt_ratio_at_tick(out_large.tick) <= out_large.sqrt_price_x96
    assert out_large.sqrt_price_x96 <= m.get_sqrt_ratio_at_tick(out_large.tick + 1)


@given(st.booleans(), st.integers(1, 10**19))
@settings(max_examples=300)
def test_exact_output_costs_at_least_the_exact_input_that_buys_it(
    zero_for_one: bool, amount_out: int
) -> None:
    res = m.swap(**POOL, zero_for_one=zero_for_one, amount_specified=-amount_out)
    assume(res.amount_out == amount_out)
    again = m.swap(**POOL, zero_for_one=zero_for_one, amount_specified=res.amount_in)
    assert again.amount_out >= amount_out
    if res.amount_in > 1:
        less = m.swap(**POOL, zero_for_one=zero_for_one, amount_specified=res.amount_in - 1)
        assert less.amount_out <= amount_out


class _Pool:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def swap(
        self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None
    ) -> m.SwapResult:
        return m.swap(
            **self.state,
            zero_for_one=zero_for_one,
            amount_specified=amount_specified,
            sqrt_price_limit_x96=sqrt_price_limit_x96,
        )


def test_multi_hop_chains_single_hops() -> None:
    a, b = _Pool(POOL), _Pool(_pool([(-887220, 887220, 10**21)], 60, 120))
    out, results = m.quote_exact_input_path([(a, True), (b, True)], 10**18)
    first = a.swap(True, 10**18)
    assert out == b.swap(True, first.amount_out).amount_out == results[-1].amount_out
    needed, results = m.quote_exact_output_path([(a, True), (b, True)], out)
    assert results[-1].amount_out == out
    assert needed <= 10**18
    with pytest.raises(InvalidInput):
        m.quote_exact_input_path([], 1)
    with pytest.raises(InvalidInput):
        m.quote_exact_output_path([(a, True)], 0)
    thin = _Pool(_pool([(-60, 60, 10**6)], 60, 0))
    with pytest.raises(m.InsufficientLiquidity):
        m.quote_exact_output_path([(thin, True)], 10**18)
