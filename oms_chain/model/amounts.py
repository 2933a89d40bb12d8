"""Money and amount types: human ``Decimal`` quantities and on-chain integer base units.

The only way between the two is through an asset's ``decimals``; a conversion that would lose
precision raises :class:`~oms_chain.model.errors.AmountPrecisionError` instead of rounding.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import NewType

from oms_chain.model.checks import MAX_UINT256, check_decimal, check_int, shown
from oms_chain.model.errors import AmountPrecisionError, InvalidInput

__all__ = [
    "BaseUnits",
    "Money",
    "Price",
    "Quantity",
    "Wei",
    "from_base_units",
    "ledger_context",
    "to_base_units",
    "to_decimal",
]

#: A human quantity of an asset or instrument (e.g. ``Decimal("1.5")`` ETH).
Quantity = NewType("Quantity", Decimal)
#: A price in quote units per one unit of base.
Price = NewType("Price", Decimal)
#: An amount of money in some quote asset (notional, PnL, fees).
Money = NewType("Money", Decimal)
#: Integer base units of a token (``amount * 10**decimals``).
BaseUnits = NewType("BaseUnits", int)
#: Integer wei of a chain's native asset.
Wei = NewType("Wei", int)

_MAX_DECIMALS = 36
# Enough digits for any decimal check_decimal lets through (78 integer + 100 fractional digits)
# scaled by any supported decimals: conversions never round.
_PRECISION = 256

# The one arithmetic context of the ledger (average prices, realized PnL, daily PnL): Python's
# default precision and rounding, fixed here because the thread's context is shared with
# libraries that change it (ccxt's decimal_to_precision sets ROUND_HALF_UP on the current
# context), which made a replay in one process differ from the live fold in another.
_LEDGER = Context(
    prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


def ledger_context() -> AbstractContextManager[Context]:
    """A context manager running its block under the ledger's fixed Decimal context (28
    significant digits, half-even), whatever the thread's context is. Every fold of fills into
    orders, positions and PnL runs under it, so live and replayed state agree to the digit."""
    return localcontext(_LEDGER)


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Parse ``value`` (``Decimal``, ``int`` or decimal string of ASCII digits) into a finite
    ``Decimal``.

    Floats are refused: they cannot represent most decimal amounts exactly.

    Raises:
        InvalidInput: the value is a float, not a number, not finite, or beyond the limits of
            :func:`~oms_chain.model.checks.check_decimal` (magnitude 1e78, 100 fractional digits).
    """
    return check_decimal(value, what, strings=True)


def _check_decimals(decimals: int) -> None:
    check_int(decimals, "decimals", minimum=0, maximum=_MAX_DECIMALS)


def to_base_units(quantity: Decimal, decimals: int) -> BaseUnits:
    """Convert a human quantity to integer base units, exactly.

    Raises:
        AmountPrecisionError: ``quantity`` has more than ``decimals`` fractional digits.
        InvalidInput: ``quantity`` is not a finite decimal (see :func:`to_decimal`), the result
            is beyond uint256, or ``decimals`` is not an int in 0..36.
    """
    _check_decimals(decimals)
    q = to_decimal(quantity, what="quantity")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        scaled = q.scaleb(decimals)
        integral = scaled.to_integral_value()
    if scaled != integral:
        raise AmountPrecisionError(
            f"quantity {q} has more than {decimals} decimal places; "
            f"round it to a multiple of {Decimal(1).scaleb(-decimals)} first"
        )
    units = int(integral)
    if abs(units) > MAX_UINT256:
        raise InvalidInput(
            f"quantity {q} is {shown(units)} base units at {decimals} decimals, beyond uint256"
        )
    return BaseUnits(units)


def from_base_units(units: int, decimals: int) -> Decimal:
    """Convert integer base units (at most uint256 in magnitude) to a human ``Decimal``
    quantity (always exact).

    Raises:
        InvalidInput: ``units`` is not an int or beyond uint256; bad ``decimals``.
    """
    _check_decimals(decimals)
    check_int(units, "base units", minimum=-MAX_UINT256, maximum=MAX_UINT256)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(units).scaleb(-decimals)
