"""Money and amount types: human ``Decimal`` quantities and on-chain integer base units.

The only way between the two is through an asset's ``decimals``; a conversion that would lose
precision raises :class:`~oms_chain.model.errors.AmountPrecisionError` instead of rounding.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext
from typing import NewType

from oms_chain.model.errors import AmountPrecisionError, InvalidInput

__all__ = [
    "BaseUnits",
    "Money",
    "Price",
    "Quantity",
    "Wei",
    "from_base_units",
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
# Enough digits for any uint256 amount at any supported decimals.
_PRECISION = 120


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Parse ``value`` (``Decimal``, ``int`` or decimal string) into a finite ``Decimal``.

    Floats are refused: they cannot represent most decimal amounts exactly.

    Raises:
        InvalidInput: the value is a float, not a number, or not finite.
    """
    if isinstance(value, (bool, float)):
        raise InvalidInput(f"{what} must be a Decimal, int or decimal string, not {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise InvalidInput(f"{what} {value!r} is not a decimal number") from None
    else:
        raise InvalidInput(f"{what} must be a Decimal, int or decimal string, not {value!r}")
    if not d.is_finite():
        raise InvalidInput(f"{what} must be finite, got {value!r}")
    return d


def _check_decimals(decimals: int) -> None:
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise InvalidInput(f"decimals must be an int, got {decimals!r}")
    if not 0 <= decimals <= _MAX_DECIMALS:
        raise InvalidInput(f"decimals must be within 0..{_MAX_DECIMALS}, got {decimals}")


def to_base_units(quantity: Decimal, decimals: int) -> BaseUnits:
    """Convert a human quantity to integer base units, exactly.

    Raises:
        AmountPrecisionError: ``quantity`` has more than ``decimals`` fractional digits.
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
    return BaseUnits(int(integral))


def from_base_units(units: int, decimals: int) -> Decimal:
    """Convert integer base units to a human ``Decimal`` quantity (always exact)."""
    _check_decimals(decimals)
    if not isinstance(units, int) or isinstance(units, bool):
        raise InvalidInput(f"base units must be an int, got {units!r}")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(units).scaleb(-decimals)
