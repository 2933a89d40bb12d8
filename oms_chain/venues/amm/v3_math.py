"""Uniswap V3 swap math, integer-exact: the same results, wei for wei, as the pool contract.

Written by hand for this project from the semantics of the v3-core libraries (TickMath, FullMath,
SqrtPriceMath, SwapMath, LiquidityMath, TickBitmap) and the pool's swap loop: no maintained
Python library reproduces their rounding exactly. Python integers are unbounded, so every place
where the contract reverts on a uint256 / uint160 / uint128 overflow is checked explicitly and
raises :class:`MathRevert`.

Units: prices are Q64.96 square roots (``sqrtPriceX96``), liquidity is the pool's ``L``, amounts
are token base units, fees are in hundredths of a basis point (``500`` = 0.05 %).

(Longer than 600 lines: the libraries and the swap loop that composes them are one exact model
of the pool contract, audited together against its rounding; the pool state and its loading
live in :mod:`.v3_pool`.)
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import log
from typing import Protocol

from oms_chain.model.errors import InvalidInput

__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MAX_UINT128",
    "MAX_UINT160",
    "MAX_UINT256",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "Q96",
    "Q128",
    "InsufficientLiquidity",
    "MathRevert",
    "NoLiquidity",
    "SwapPool",
    "SwapResult",
    "SwapWalk",
    "TickDataMissing",
    "add_delta",
    "compute_swap_step",
    "get_amount0_delta",
    "get_amount0_delta_signed",
    "get_amount1_delta",
    "get_amount1_delta_signed",
    "get_next_sqrt_price_from_amount0_rounding_up",
    "get_next_sqrt_price_from_amount1_rounding_down",
    "get_next_sqrt_price_from_input",
    "get_next_sqrt_price_from_output",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "mul_div",
    "mul_div_rounding_up",
    "next_initialized_tick_within_one_word",
    "quote_exact_input_path",
    "quote_exact_output_path",
    "swap",
]

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
Q96 = 1 << 96
Q128 = 1 << 128
MAX_UINT128 = (1 << 128) - 1
MAX_UINT160 = (1 << 160) - 1
MAX_UINT256 = (1 << 256) - 1
_MAX_INT256 = (1 << 255) - 1
_FEE_DENOMINATOR = 1_000_000


class MathRevert(InvalidInput):
    """The pool contract would revert on these inputs (overflow, underflow, bad price or tick)."""


class InsufficientLiquidity(MathRevert):
    """The pool cannot deliver the requested output amount before hitting its price limit."""


class NoLiquidity(MathRevert):
    """The swap would cross only ranges without liquidity: no amount moves, and the router and
    the quoter revert (their callbacks require a positive delta)."""


class TickDataMissing(InvalidInput):
    """The swap walks into a tick-bitmap word that was not loaded; load a wider word range."""


# 2**128 / sqrt(1.0001)**(2**i) for i = 0..19 in Q128.128: the published TickMath constants.
_TICK_FACTORS = (
    0xFFFCB933BD6FAD37AA2D162D1A594001,
    0xFFF97272373D413259A46990580E213A,
    0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644,
    0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053,
    0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3,
    0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5,
    0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9,
    0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)
_LOG_SQRT_1_0001 = log(1.0001) / 2


# ---------------------------------------------------------------------------------------------
# FullMath


def mul_div(a: int, b: int, denominator: int) -> int:
    """``floor(a * b / denominator)`` on uint256 operands, as FullMath.mulDiv.

    Raises :class:`MathRevert` if an operand is outside uint256, ``denominator`` is zero or the
    result does not fit in 256 bits.
    """
    _check_uint256(a, b, denominator)
    if denominator == 0:
        raise MathRevert("mulDiv: denominator is zero")
    result = a * b // denominator
    if result > MAX_UINT256:
        raise MathRevert("mulDiv: result exceeds 2**256 - 1")
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """``ceil(a * b / denominator)`` on uint256 operands, as FullMath.mulDivRoundingUp.

    Raises :class:`MathRevert` like :func:`mul_div`, and when rounding up would overflow.
    """
    _check_uint256(a, b, denominator)
    if denominator == 0:
        raise MathRevert("mulDivRoundingUp: denominator is zero")
    result = -(-(a * b) // denominator)
    if result > MAX_UINT256:
        raise MathRevert("mulDivRoundingUp: result exceeds 2**256 - 1")
    return result


def _check_uint256(*values: int) -> None:
    for v in values:
        if v < 0 or v > MAX_UINT256:
            raise MathRevert(f"value {v} is outside uint256")


# ---------------------------------------------------------------------------------------------
# TickMath


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """``sqrt(1.0001 ** tick) * 2**96`` rounded as TickMath.getSqrtRatioAtTick.

    Raises :class:`MathRevert` ('T') if ``tick`` is outside [MIN_TICK, MAX_TICK].
    """
    if not MIN_TICK <= tick <= MAX_TICK:
        raise MathRevert(f"tick {tick} is outside [{MIN_TICK}, {MAX_TICK}] (TickMath 'T')")
    return _sqrt_ratio_at_tick(tick)


@lru_cache(maxsize=1 << 16)
def _sqrt_ratio_at_tick(tick: int) -> int:
    abs_tick = -tick if tick < 0 else tick
    ratio = _TICK_FACTORS[0] if abs_tick & 1 else Q128
    bit = 2
    for factor in _TICK_FACTORS[1:]:
        if abs_tick & bit:
            ratio = (ratio * factor) >> 128
        bit <<= 1
    if tick > 0:
        ratio = MAX_UINT256 // ratio
    # Q128.128 -> Q64.96, rounding up so get_tick_at_sqrt_ratio of the result is consistent.
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """The greatest tick whose sqrt ratio is at most ``sqrt_price_x96`` (TickMath semantics).

    Raises :class:`MathRevert` ('R') unless MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO.
    """
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise MathRevert(
            f"sqrt price {sqrt_price_x96} is outside [MIN_SQRT_RATIO, MAX_SQRT_RATIO) "
            "(TickMath 'R')"
        )
    return _tick_at_sqrt_ratio(sqrt_price_x96)


def _tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    # A float logarithm lands within one tick of the answer; exact integer comparisons against
    # get_sqrt_ratio_at_tick then settle it, which is the contract's definition of the result.
    tick = int(log(sqrt_price_x96 / Q96) / _LOG_SQRT_1_0001)
    tick = MIN_TICK if tick < MIN_TICK else MAX_TICK if tick > MAX_TICK else tick
    while tick > MIN_TICK and _sqrt_ratio_at_tick(tick) > sqrt_price_x96:
        tick -= 1
    while tick < MAX_TICK and _sqrt_ratio_at_tick(tick + 1) <= sqrt_price_x96:
        tick += 1
    return tick


# ---------------------------------------------------------------------------------------------
# SqrtPriceMath


def get_next_sqrt_price_from_amount0_rounding_up(
    sqrt_price_x96: int, liquidity: int, amount: int, add: bool
) -> int:
    """Price after adding (``add``) or removing ``amount`` of token0, rounded up.

    Raises :class:`MathRevert` where SqrtPriceMath reverts (removing more token0 than the
    liquidity holds, or a result outside uint160).
    """
    if amount == 0:
        return sqrt_price_x96
    numerator1 = liquidity << 96
    product = amount * sqrt_price_x96
    if add:
        if product <= MAX_UINT256:
            denominator = numerator1 + product
            if denominator <= MAX_UINT256:
                return -(-(numerator1 * sqrt_price_x96) // denominator)
        alt = numerator1 // sqrt_price_x96 + amount
        if alt > MAX_UINT256:
            raise MathRevert("getNextSqrtPriceFromAmount0RoundingUp: overflow")
        return (-(-numerator1 // alt)) & MAX_UINT160
    if product > MAX_UINT256 or numerator1 <= product:
        raise MathRevert("getNextSqrtPriceFromAmount0RoundingUp: output exceeds reserves")
    result = -(-(numerator1 * sqrt_price_x96) // (numerator1 - product))
    if result > MAX_UINT160:
        raise MathRevert("getNextSqrtPriceFromAmount0RoundingUp: price exceeds uint160")
    return result


def get_next_sqrt_price_from_amount1_rounding_down(
    sqrt_price_x96: int, liquidity: int, amount: int, add: bool
) -> int:
    """Price after adding (``add``) or removing ``amount`` of token1, rounded down.

    Raises :class:`MathRevert` where SqrtPriceMath reverts.
    """
    if add:
        quotient = (amount << 96) // liquidity
        if quotient > MAX_UINT256:
            raise MathRevert("getNextSqrtPriceFromAmount1RoundingDown: mulDiv overflow")
        result = sqrt_price_x96 + quotient
        if result > MAX_UINT160:
            raise MathRevert("getNextSqrtPriceFromAmount1RoundingDown: price exceeds uint160")
        return result
    quotient = -(-(amount << 96) // liquidity)
    if quotient > MAX_UINT256:
        raise MathRevert("getNextSqrtPriceFromAmount1RoundingDown: mulDiv overflow")
    if sqrt_price_x96 <= quotient:
        raise MathRevert("getNextSqrtPriceFromAmount1RoundingDown: output exceeds reserves")
    return sqrt_price_x96 - quotient


def get_next_sqrt_price_from_input(
    sqrt_price_x96: int, liquidity: int, amount_in: int, zero_for_one: bool
) -> int:
    """Price after swapping ``amount_in`` (fee already taken) into the pool; never overshoots."""
    if sqrt_price_x96 <= 0 or liquidity <= 0:
        raise MathRevert("getNextSqrtPriceFromInput needs a positive price and liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount0_rounding_up(
            sqrt_price_x96, liquidity, amount_in, True
        )
    return get_next_sqrt_price_from_amount1_rounding_down(
        sqrt_price_x96, liquidity, amount_in, True
    )


def get_next_sqrt_price_from_output(
    sqrt_price_x96: int, liquidity: int, amount_out: int, zero_for_one: bool
) -> int:
    """Price after taking ``amount_out`` out of the pool; always reaches at least that far."""
    if sqrt_price_x96 <= 0 or liquidity <= 0:
        raise MathRevert("getNextSqrtPriceFromOutput needs a positive price and liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount1_rounding_down(
            sqrt_price_x96, liquidity, amount_out, False
        )
    return get_next_sqrt_price_from_amount0_rounding_up(
        sqrt_price_x96, liquidity, amount_out, False
    )


def get_amount0_delta(sqrt_a_x96: int, sqrt_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token0 amount between two prices for ``liquidity`` (uint128), rounded up or down."""
    if sqrt_a_x96 > sqrt_b_x96:
        sqrt_a_x96, sqrt_b_x96 = sqrt_b_x96, sqrt_a_x96
    if sqrt_a_x96 <= 0:
        raise MathRevert("getAmount0Delta needs a positive lower price")
    numerator = (liquidity << 96) * (sqrt_b_x96 - sqrt_a_x96)
    if round_up:
        rounded_up = -(-numerator // sqrt_b_x96)
        return -(-rounded_up // sqrt_a_x96)
    return numerator // sqrt_b_x96 // sqrt_a_x96


def get_amount1_delta(sqrt_a_x96: int, sqrt_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token1 amount between two prices for ``liquidity`` (uint128), rounded up or down."""
    diff = sqrt_b_x96 - sqrt_a_x96 if sqrt_b_x96 > sqrt_a_x96 else sqrt_a_x96 - sqrt_b_x96
    if round_up:
        return -(-(liquidity * diff) >> 96)
    return (liquidity * diff) >> 96


def get_amount0_delta_signed(sqrt_a_x96: int, sqrt_b_x96: int, liquidity: int) -> int:
    """Signed token0 delta for a signed (int128) liquidity change: owed up, paid out down."""
    if liquidity < 0:
        return -get_amount0_delta(sqrt_a_x96, sqrt_b_x96, -liquidity, False)
    return get_amount0_delta(sqrt_a_x96, sqrt_b_x96, liquidity, True)


def get_amount1_delta_signed(sqrt_a_x96: int, sqrt_b_x96: int, liquidity: int) -> int:
    """Signed token1 delta for a signed (int128) liquidity change: owed up, paid out down."""
    if liquidity < 0:
        return -get_amount1_delta(sqrt_a_x96, sqrt_b_x96, -liquidity, False)
    return get_amount1_delta(sqrt_a_x96, sqrt_b_x96, liquidity, True)


# ---------------------------------------------------------------------------------------------
# SwapMath, LiquidityMath, TickBitmap


def compute_swap_step(
    sqrt_current_x96: int,
    sqrt_target_x96: int,
    liquidity: int,
    amount_remaining: int,
    fee_pips: int,
) -> tuple[int, int, int, int]:
    """One step of a swap inside a single liquidity range, as SwapMath.computeSwapStep.

    ``amount_remaining`` is positive for exact input, negative for exact output. Returns
    ``(sqrt_next_x96, amount_in, amount_out, fee_amount)``.
    """
    # The amounts of a step that reaches its target depend only on (price, target, liquidity,
    # fee); a router quoting one pool state many times repeats them, so they are cached.
    full_in, full_out, full_fee = _full_step(sqrt_current_x96, sqrt_target_x96, liquidity, fee_pips)
    zero_for_one = sqrt_current_x96 >= sqrt_target_x96
    if amount_remaining >= 0:
        remaining_less_fee = amount_remaining * (_FEE_DENOMINATOR - fee_pips) // _FEE_DENOMINATOR
        if remaining_less_fee >= full_in:
            return sqrt_target_x96, full_in, full_out, full_fee
        sqrt_next = get_next_sqrt_price_from_input(
            sqrt_current_x96, liquidity, remaining_less_fee, zero_for_one
        )
        if sqrt_next == sqrt_target_x96:
            return sqrt_target_x96, full_in, full_out, full_fee
        if zero_for_one:
            amount_in = get_amount0_delta(sqrt_next, sqrt_current_x96, liquidity, True)
            amount_out = get_amount1_delta(sqrt_next, sqrt_current_x96, liquidity, False)
        else:
            amount_in = get_amount1_delta(sqrt_current_x96, sqrt_next, liquidity, True)
            amount_out = get_amount0_delta(sqrt_current_x96, sqrt_next, liquidity, False)
        # The target was not reached: whatever input is left over is the fee.
        return sqrt_next, amount_in, amount_out, amount_remaining - amount_in

    wanted = -amount_remaining
    if wanted >= full_out:
        return sqrt_target_x96, full_in, full_out, full_fee
    sqrt_next = get_next_sqrt_price_from_output(sqrt_current_x96, liquidity, wanted, zero_for_one)
    if sqrt_next == sqrt_target_x96:
        return sqrt_target_x96, full_in, wanted, full_fee
    if zero_for_one:
        amount_in = get_amount0_delta(sqrt_next, sqrt_current_x96, liquidity, True)
        amount_out = get_amount1_delta(sqrt_next, sqrt_current_x96, liquidity, False)
    else:
        amount_in = get_amount1_delta(sqrt_current_x96, sqrt_next, liquidity, True)
        amount_out = get_amount0_delta(sqrt_current_x96, sqrt_next, liquidity, False)
    if amount_out > wanted:
        amount_out = wanted
    fee_amount = -(-(amount_in * fee_pips) // (_FEE_DENOMINATOR - fee_pips))
    return sqrt_next, amount_in, amount_out, fee_amount


@lru_cache(maxsize=1 << 16)
def _full_step(
    sqrt_current_x96: int, sqrt_target_x96: int, liquidity: int, fee_pips: int
) -> tuple[int, int, int]:
    """(amount in, amount out, fee) of a step that moves the price all the way to the target."""
    # get_amount0_delta / get_amount1_delta inlined (same rounding): this runs once per step.
    if sqrt_current_x96 >= sqrt_target_x96:
        low, high = sqrt_target_x96, sqrt_current_x96
        token0_in = True
    else:
        low, high = sqrt_current_x96, sqrt_target_x96
        token0_in = False
    if low <= 0:
        raise MathRevert("getAmount0Delta needs a positive lower price")
    diff = high - low
    numerator = (liquidity << 96) * diff
    if token0_in:
        q, r = divmod(numerator, high)
        q, r = divmod(q + 1 if r else q, low)
        amount_in = q + 1 if r else q
        amount_out = (liquidity * diff) >> 96
    else:
        product = liquidity * diff
        amount_in = (product >> 96) + (1 if product & (Q96 - 1) else 0)
        amount_out = numerator // high // low
    q, r = divmod(amount_in * fee_pips, _FEE_DENOMINATOR - fee_pips)
    return amount_in, amount_out, q + 1 if r else q


def add_delta(liquidity: int, delta: int) -> int:
    """``liquidity + delta`` for uint128 liquidity and int128 delta, as LiquidityMath.addDelta.

    Raises :class:`MathRevert` ('LS' below zero, 'LA' above 2**128 - 1).
    """
    z = liquidity + delta
    if z < 0:
        raise MathRevert(f"liquidity {liquidity} minus {-delta} is below zero (LiquidityMath 'LS')")
    if z > MAX_UINT128:
        raise MathRevert(f"liquidity {liquidity} plus {delta} exceeds uint128 (LiquidityMath 'LA')")
    return z


def next_initialized_tick_within_one_word(
    bitmap: Mapping[int, int], tick: int, tick_spacing: int, lte: bool
) -> tuple[int, bool]:
    """The next initialized tick at or left of (``lte``) / right of ``tick`` within one word.

    ``bitmap`` maps word positions to 256-bit words of compressed ticks (absent = 0), as the
    pool's ``tickBitmap``. Returns ``(tick_next, initialized)``; when nothing is initialized in
    the word, ``tick_next`` is the word's last tick in that direction.
    """
    compressed = tick // tick_spacing
    if lte:
        bit = compressed & 0xFF
        masked = bitmap.get(compressed >> 8, 0) & ((2 << bit) - 1)
        if masked:
            return (compressed - bit + masked.bit_length() - 1) * tick_spacing, True
        return (compressed - bit) * tick_spacing, False
    compressed += 1
    bit = compressed & 0xFF
    masked = bitmap.get(compressed >> 8, 0) >> bit
    if masked:
        return (compressed + (masked & -masked).bit_length() - 1) * tick_spacing, True
    return (compressed + 255 - bit) * tick_spacing, False


# ---------------------------------------------------------------------------------------------
# The swap loop


@dataclass(frozen=True, slots=True)
class SwapResult:
    """Outcome of a simulated swap, signed from the pool's side as the Swap event reports it.

    ``amount0`` / ``amount1``: positive = paid into the pool, negative = paid out.
    ``sqrt_price_x96``, ``tick`` and ``liquidity`` are the pool's state after the swap;
    ``ticks_crossed`` counts the initialized ticks crossed (each changed the active liquidity).
    """

    amount0: int
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks_crossed: int
    zero_for_one: bool

    @property
    def amount_in(self) -> int:
        """Input token amount paid into the pool, fee included."""
        return self.amount0 if self.zero_for_one else self.amount1

    @property
    def amount_out(self) -> int:
        """Output token amount paid out by the pool."""
        return -(self.amount1 if self.zero_for_one else self.amount0)


def swap(
    *,
    sqrt_price_x96: int,
    tick: int,
    liquidity: int,
    fee: int,
    tick_spacing: int,
    tick_bitmap: Mapping[int, int],
    liquidity_net: Mapping[int, int],
    zero_for_one: bool,
    amount_specified: int,
    sqrt_price_limit_x96: int | None = None,
    word_range: tuple[int, int] | None = None,
) -> SwapResult:
    """Simulate ``UniswapV3Pool.swap`` on an in-memory state, exactly.

    ``amount_specified`` > 0 is an exact input, < 0 an exact output (the pool's convention).
    ``sqrt_price_limit_x96`` defaults to the extreme the periphery uses (MIN_SQRT_RATIO + 1 or
    MAX_SQRT_RATIO - 1). ``tick_bitmap`` / ``liquidity_net`` describe the initialized ticks;
    ``word_range`` (inclusive word positions) says which bitmap words are known — walking past
    them raises :class:`TickDataMissing`; ``None`` means the bitmap is complete.

    The swap stops early at the price limit (partial fill, like the pool). Raises
    :class:`MathRevert` for a zero amount ('AS') or a limit on the wrong side of the price ('SPL'),
    :class:`InvalidInput` for a state no pool can be in (fee, spacing, liquidity, price).
    """
    _check_state(fee, tick_spacing, liquidity, sqrt_price_x96)
    _check_amount(amount_specified)
    if sqrt_price_limit_x96 is None:
        sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    if zero_for_one:
        if not MIN_SQRT_RATIO < sqrt_price_limit_x96 < sqrt_price_x96:
            raise MathRevert(
                f"price limit {sqrt_price_limit_x96} must be in (MIN_SQRT_RATIO, "
                f"{sqrt_price_x96}) for a token0 -> token1 swap (pool 'SPL')"
            )
    elif not sqrt_price_x96 < sqrt_price_limit_x96 < MAX_SQRT_RATIO:
        raise MathRevert(
            f"price limit {sqrt_price_limit_x96} must be in ({sqrt_price_x96}, "
            "MAX_SQRT_RATIO) for a token1 -> token0 swap (pool 'SPL')"
        )

    word_lo, word_hi = word_range if word_range is not None else _ALL_WORDS
    price, tick, liquidity, remaining, calculated, crossed = _swap_loop(
        sqrt_price_x96,
        tick,
        liquidity,
        fee,
        tick_spacing,
        tick_bitmap,
        liquidity_net,
        zero_for_one,
        amount_specified > 0,
        amount_specified,
        0,
        0,
        sqrt_price_limit_x96,
        word_lo,
        word_hi,
    )
    return _result(
        zero_for_one, amount_specified, remaining, calculated, price, tick, liquidity, crossed
    )


_ALL_WORDS = (-(1 << 20), 1 << 20)


def _check_state(fee: int, tick_spacing: int, liquidity: int, sqrt_price_x96: int) -> None:
    if not 0 <= fee < _FEE_DENOMINATOR:
        raise InvalidInput(f"fee must be in [0, 1000000) hundredths of a bip, got {fee}")
    if tick_spacing <= 0:
        raise InvalidInput(f"tick_spacing must be > 0, got {tick_spacing}")
    if not 0 <= liquidity <= MAX_UINT128:
        raise InvalidInput(f"liquidity must be a uint128, got {liquidity}")
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise InvalidInput(f"sqrt price {sqrt_price_x96} is outside the valid range")


def _check_amount(amount_specified: int) -> None:
    if amount_specified == 0:
        raise MathRevert("swap amount must not be zero (pool 'AS')")
    if not -_MAX_INT256 - 1 <= amount_specified <= _MAX_INT256:
        raise MathRevert(f"swap amount {amount_specified} is outside int256")


def _result(
    zero_for_one: bool,
    amount_specified: int,
    remaining: int,
    calculated: int,
    price: int,
    tick: int,
    liquidity: int,
    crossed: int,
) -> SwapResult:
    if calculated < -_MAX_INT256 - 1 or calculated > _MAX_INT256:
        raise MathRevert("swap result is outside int256")
    specified_used = amount_specified - remaining
    if specified_used == 0 and calculated == 0:
        # SwapRouter's and QuoterV2's swap callbacks both require amount0Delta > 0 or
        # amount1Delta > 0: a swap that only moves the price through ranges without liquidity
        # reverts on chain, so it is no quote of 0.
        raise NoLiquidity(
            "the swap moves only through price ranges without liquidity: nothing would be paid "
            "or received (SwapRouter and QuoterV2 revert); nothing can trade on this pool now"
        )
    if zero_for_one == (amount_specified > 0):
        return SwapResult(specified_used, calculated, price, tick, liquidity, crossed, zero_for_one)
    return SwapResult(calculated, specified_used, price, tick, liquidity, crossed, zero_for_one)


_Trace = list[tuple[int, int, int, int, int, int]]


def _swap_loop(
    price: int,
    tick: int,
    liquidity: int,
    fee: int,
    tick_spacing: int,
    tick_bitmap: Mapping[int, int],
    liquidity_net: Mapping[int, int],
    zero_for_one: bool,
    exact_input: bool,
    remaining: int,
    calculated: int,
    crossed: int,
    limit: int,
    word_lo: int,
    word_hi: int,
    max_steps: int = -1,
    trace: _Trace | None = None,
) -> tuple[int, int, int, int, int, int]:
    """The pool's swap loop from any intermediate state; returns the state where it stops.

    Stops when nothing remains, at ``limit``, or after ``max_steps`` steps (negative: never).
    With ``trace``, appends ``(price, tick, liquidity, crossed, remaining, calculated)`` after
    every step.
    """
    bitmap_get = tick_bitmap.get
    ratio_at = _sqrt_ratio_at_tick
    while remaining != 0 and price != limit and max_steps != 0:
        max_steps -= 1
        # TickBitmap.nextInitializedTickWithinOneWord, inlined.
        compressed = tick // tick_spacing
        if zero_for_one:
            bit = compressed & 0xFF
            word = compressed >> 8
            masked = bitmap_get(word, 0) & ((2 << bit) - 1)
            if masked:
                tick_next = (compressed - bit + masked.bit_length() - 1) * tick_spacing
            else:
                tick_next = (compressed - bit) * tick_spacing
        else:
            compressed += 1
            bit = compressed & 0xFF
            word = compressed >> 8
            masked = bitmap_get(word, 0) >> bit
            if masked:
                tick_next = (compressed + (masked & -masked).bit_length() - 1) * tick_spacing
            else:
                tick_next = (compressed + 255 - bit) * tick_spacing
        if not word_lo <= word <= word_hi:
            raise TickDataMissing(
                f"the swap reaches tick-bitmap word {word}, outside the loaded words "
                f"[{word_lo}, {word_hi}]; reload the pool with a wider word range"
            )
        if tick_next < MIN_TICK:
            tick_next = MIN_TICK
        elif tick_next > MAX_TICK:
            tick_next = MAX_TICK
        price_next = ratio_at(tick_next)
        if zero_for_one:
            target = limit if price_next < limit else price_next
        else:
            target = limit if price_next > limit else price_next

        price_start = price
        price, step_in, step_out, step_fee = compute_swap_step(
            price, target, liquidity, remaining, fee
        )
        if exact_input:
            remaining -= step_in + step_fee
            calculated -= step_out
        else:
            remaining += step_out
            calculated += step_in + step_fee

        if price == price_next:
            if masked:
                net = liquidity_net[tick_next]
                liquidity = add_delta(liquidity, -net if zero_for_one else net)
                crossed += 1
            tick = tick_next - 1 if zero_for_one else tick_next
        elif price != price_start:
            tick = _tick_at_sqrt_ratio(price)
        if trace is not None:
            trace.append((price, tick, liquidity, crossed, remaining, calculated))
    return price, tick, liquidity, remaining, calculated, crossed


class SwapWalk:
    """A pool state's swap path in one direction, memoized for repeated quoting.

    Every step of a swap that completes (reaches its tick or word boundary) moves the same
    amounts whatever the swap's size. The walk records the running totals after each such step,
    so a quote bisects to the last step it completes and runs the exact loop only from there:
    the result is identical to :func:`swap` with the default price limit, at a cost that no
    longer grows with the number of ticks crossed. The path is extended lazily, as far as the
    largest amount asked so far needs. Build one per (pool state, direction); a new state needs
    a new walk.
    """

    _CHUNK = 8  # steps an extension walks first, doubling while the amount needs more

    def __init__(
        self,
        *,
        sqrt_price_x96: int,
        tick: int,
        liquidity: int,
        fee: int,
        tick_spacing: int,
        tick_bitmap: Mapping[int, int],
        liquidity_net: Mapping[int, int],
        zero_for_one: bool,
        word_range: tuple[int, int] | None = None,
    ) -> None:
        _check_state(fee, tick_spacing, liquidity, sqrt_price_x96)
        self._fee = fee
        self._spacing = tick_spacing
        self._bitmap = tick_bitmap
        self._net = liquidity_net
        self._zero_for_one = zero_for_one
        self._words = word_range if word_range is not None else _ALL_WORDS
        self._limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        # Per completed step k (index 0 = the start): state and running totals.
        self._states: list[tuple[int, int, int, int]] = [(sqrt_price_x96, tick, liquidity, 0)]
        self._paid_in: list[int] = [0]  # amount in + fee
        self._paid_out: list[int] = [0]
        self._finished = sqrt_price_x96 == self._limit
        # The pool rejects a swap whose (default) limit is not beyond the price ('SPL').
        self._at_limit = (
            not self._limit < sqrt_price_x96 if zero_for_one else not sqrt_price_x96 < self._limit
        )
        self._lock = threading.Lock()

    def _extend(self, paid_in: int, paid_out: int) -> None:
        """Walk on until the totals reach ``paid_in`` / ``paid_out`` or the path ends."""
        with self._lock:
            chunk = self._CHUNK
            while not self._finished and (
                self._paid_in[-1] < paid_in or self._paid_out[-1] < paid_out
            ):
                price, tick, liquidity, crossed = self._states[-1]
                trace: _Trace = []
                try:
                    _swap_loop(
                        price,
                        tick,
                        liquidity,
                        self._fee,
                        self._spacing,
                        self._bitmap,
                        self._net,
                        self._zero_for_one,
                        True,
                        _MAX_INT256 - self._paid_in[-1],
                        -self._paid_out[-1],
                        crossed,
                        self._limit,
                        self._words[0],
                        self._words[1],
                        chunk,
                        trace,
                    )
                except TickDataMissing:
                    self._finished = True  # a swap that needs more raises from the loop
                for price, tick, liquidity, crossed, remaining, calculated in trace:
                    self._states.append((price, tick, liquidity, crossed))
                    self._paid_in.append(_MAX_INT256 - remaining)
                    self._paid_out.append(-calculated)
                if self._states[-1][0] == self._limit:
                    self._finished = True
                chunk *= 2

    def swap(self, amount_specified: int) -> SwapResult:
        """The same result as :func:`swap` on this state, direction and the default limit."""
        _check_amount(amount_specified)
        if self._at_limit:
            raise MathRevert("the price already sits at the swap's price limit (pool 'SPL')")
        exact_input = amount_specified > 0
        amount = amount_specified if exact_input else -amount_specified
        totals = self._paid_in if exact_input else self._paid_out
        if totals[-1] < amount and not self._finished:
            if exact_input:
                self._extend(amount, 0)
            else:
                self._extend(0, amount)
        # Steps 1..k complete in full while the running total stays <= the amount; the swap
        # stops right after the step whose total equals it.
        i = bisect_left(totals, amount, 0, len(self._states))
        k = i if i < len(totals) and totals[i] == amount else i - 1
        price, tick, liquidity, crossed = self._states[k]
        if exact_input:
            remaining, calculated = amount - self._paid_in[k], -self._paid_out[k]
        else:
            remaining, calculated = -(amount - self._paid_out[k]), self._paid_in[k]
        price, tick, liquidity, remaining, calculated, crossed = _swap_loop(
            price,
            tick,
            liquidity,
            self._fee,
            self._spacing,
            self._bitmap,
            self._net,
            self._zero_for_one,
            exact_input,
            remaining,
            calculated,
            crossed,
            self._limit,
            self._words[0],
            self._words[1],
        )
        return _result(
            self._zero_for_one,
            amount_specified,
            remaining,
            calculated,
            price,
            tick,
            liquidity,
            crossed,
        )


# ---------------------------------------------------------------------------------------------
# Multi-hop


class SwapPool(Protocol):
    """Anything that can simulate a swap on one pool (e.g. a ``V3PoolState``)."""

    def swap(
        self,
        zero_for_one: bool,
        amount_specified: int,
        sqrt_price_limit_x96: int | None = None,
    ) -> SwapResult:
        """Simulate the pool's swap; see :func:`swap`."""
        ...


def quote_exact_input_path(
    hops: Sequence[tuple[SwapPool, bool]], amount_in: int
) -> tuple[int, list[SwapResult]]:
    """Output of an exact-input swap along ``hops`` of ``(pool, zero_for_one)``, first to last.

    Each hop spends the previous hop's output, as SwapRouter.exactInput and QuoterV2 do. Returns
    the final output and every hop's result. Raises :class:`InvalidInput` for an empty path or a
    non-positive amount.
    """
    if not hops:
        raise InvalidInput("a swap path needs at least one pool")
    if amount_in <= 0:
        raise InvalidInput(f"amount_in must be > 0, got {amount_in}")
    results = []
    amount = amount_in
    for pool, zero_for_one in hops:
        result = pool.swap(zero_for_one, amount)
        results.append(result)
        amount = result.amount_out
    return amount, results


def quote_exact_output_path(
    hops: Sequence[tuple[SwapPool, bool]], amount_out: int
) -> tuple[int, list[SwapResult]]:
    """Input needed for an exact-output swap along ``hops`` (listed in trading order).

    Hops are solved from the last to the first, each asking for the next hop's input, as
    QuoterV2.quoteExactOutput does. Returns the first hop's input and the results in trading
    order. Raises :class:`InsufficientLiquidity` if a pool cannot deliver its full output.
    """
    if not hops:
        raise InvalidInput("a swap path needs at least one pool")
    if amount_out <= 0:
        raise InvalidInput(f"amount_out must be > 0, got {amount_out}")
    results: list[SwapResult] = []
    amount = amount_out
    for pool, zero_for_one in reversed(hops):
        result = pool.swap(zero_for_one, -amount)
        if result.amount_out != amount:
            raise InsufficientLiquidity(
                f"pool delivers only {result.amount_out} of the {amount} requested "
                "before its price limit"
            )
        results.append(result)
        amount = result.amount_in
    results.reverse()
    return amount, results
