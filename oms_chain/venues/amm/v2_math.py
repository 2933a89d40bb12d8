"""Uniswap V2 constant-product math, integer-exact as UniswapV2Library.

``fee_bps`` is the swap fee in basis points of 10,000 (Uniswap V2: 30, i.e. 997/1000). Every
amount and reserve is in token base units. Where the library reverts (zero amounts, empty
reserves, uint256 overflow in SafeMath) these functions raise.
"""

from __future__ import annotations

from collections.abc import Sequence

from oms_chain.model.errors import InvalidInput

__all__ = [
    "DEFAULT_FEE_BPS",
    "InsufficientReserves",
    "get_amount_in",
    "get_amount_out",
    "get_amounts_in",
    "get_amounts_out",
]

DEFAULT_FEE_BPS = 30
_BPS = 10_000
_MAX_UINT256 = (1 << 256) - 1
_MAX_UINT112 = (1 << 112) - 1


class InsufficientReserves(InvalidInput):
    """A pool has no reserves, or the requested output is not below its reserve of that token."""


def _check(amount: int, reserve_in: int, reserve_out: int, fee_bps: int, what: str) -> None:
    if amount <= 0:
        raise InvalidInput(f"{what} must be > 0 base units, got {amount}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientReserves(
            f"pool reserves must both be > 0, got {reserve_in} and {reserve_out}"
        )
    if reserve_in > _MAX_UINT112 or reserve_out > _MAX_UINT112:
        raise InvalidInput("V2 reserves are uint112; got a larger value")
    if not 0 <= fee_bps < _BPS:
        raise InvalidInput(f"fee_bps must be in [0, 10000), got {fee_bps}")


def _fee_fraction(fee_bps: int) -> tuple[int, int]:
    """``(denominator, denominator - fee)`` as the library writes them: Uniswap V2 and forks
    with a whole-tenth fee use thousandths (997 / 1000), others basis points (9975 / 10000).
    The SafeMath overflow bounds depend on that scale, so it must be the library's."""
    if fee_bps % 10 == 0:
        return 1000, 1000 - fee_bps // 10
    return _BPS, _BPS - fee_bps


def _mul(a: int, b: int, what: str) -> int:
    """SafeMath ``mul``: reverts ('ds-math-mul-overflow') when the product exceeds uint256."""
    product = a * b
    if product > _MAX_UINT256:
        raise InvalidInput(
            f"{what} overflows uint256 (UniswapV2Library reverts: ds-math-mul-overflow)"
        )
    return product


def _add(a: int, b: int, what: str) -> int:
    total = a + b
    if total > _MAX_UINT256:
        raise InvalidInput(
            f"{what} overflows uint256 (UniswapV2Library reverts: ds-math-add-overflow)"
        )
    return total


def get_amount_out(
    amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = DEFAULT_FEE_BPS
) -> int:
    """Output for ``amount_in`` into a pool with these reserves (UniswapV2Library.getAmountOut),
    raising :class:`InvalidInput` exactly where its SafeMath overflows."""
    _check(amount_in, reserve_in, reserve_out, fee_bps, "amount_in")
    scale, keep = _fee_fraction(fee_bps)
    what = f"amount_in {amount_in}"
    with_fee = _mul(amount_in, keep, what)
    numerator = _mul(with_fee, reserve_out, what)
    denominator = _add(_mul(reserve_in, scale, what), with_fee, what)
    return numerator // denominator


def get_amount_in(
    amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = DEFAULT_FEE_BPS
) -> int:
    """Input needed to receive ``amount_out`` (UniswapV2Library.getAmountIn, rounded up by 1).

    Raises :class:`InsufficientReserves` if ``amount_out`` is not below ``reserve_out``, and
    :class:`InvalidInput` exactly where the library's SafeMath overflows.
    """
    _check(amount_out, reserve_in, reserve_out, fee_bps, "amount_out")
    if amount_out >= reserve_out:
        raise InsufficientReserves(
            f"amount_out {amount_out} must be below the pool's reserve {reserve_out}"
        )
    scale, keep = _fee_fraction(fee_bps)
    what = f"amount_out {amount_out}"
    numerator = _mul(_mul(reserve_in, amount_out, what), scale, what)
    denominator = _mul(reserve_out - amount_out, keep, what)
    return _add(numerator // denominator, 1, what)


def get_amounts_out(
    amount_in: int, reserves: Sequence[tuple[int, int]], fee_bps: int = DEFAULT_FEE_BPS
) -> list[int]:
    """Amounts along a path (UniswapV2Library.getAmountsOut): ``[amount_in, out1, ..., outN]``.

    ``reserves`` lists each hop's ``(reserve_in, reserve_out)`` in trading order.
    """
    if not reserves:
        raise InvalidInput("a swap path needs at least one pool")
    amounts = [amount_in]
    for reserve_in, reserve_out in reserves:
        amounts.append(get_amount_out(amounts[-1], reserve_in, reserve_out, fee_bps))
    return amounts


def get_amounts_in(
    amount_out: int, reserves: Sequence[tuple[int, int]], fee_bps: int = DEFAULT_FEE_BPS
) -> list[int]:
    """Amounts along a path for an exact output (UniswapV2Library.getAmountsIn).

    ``reserves`` lists each hop's ``(reserve_in, reserve_out)`` in trading order; the result is
    ``[amount_in, ..., amount_out]`` in trading order.
    """
    if not reserves:
        raise InvalidInput("a swap path needs at least one pool")
    amounts = [amount_out]
    for reserve_in, reserve_out in reversed(reserves):
        amounts.append(get_amount_in(amounts[-1], reserve_in, reserve_out, fee_bps))
    amounts.reverse()
    return amounts
