"""Multi-leg option structures: a frozen :class:`Structure` of :class:`Leg` values.

A leg is one option contract bought or sold in a positive quantity of contracts; a structure is
one or more legs on one underlying, settled in one quote asset. Every check names the leg that
failed (``leg 2 (sell 2 ETH-27MAR26-2200-C)``) and raises :class:`InvalidStructure`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from oms_chain.model.checks import check_decimal, check_instance, check_str
from oms_chain.model.errors import InvalidInput, InvalidIntent
from oms_chain.model.ids import InstrumentId
from oms_chain.model.instruments import OptionContract

__all__ = ["InvalidStructure", "Leg", "Side", "Structure"]


#: Quantities at or above this many contracts are refused (no venue lists such sizes, and the
#: analytics run partly in float64).
_MAX_QTY = 10**15


def _fraction_digits(d: Decimal) -> int:
    t = d.as_tuple()
    exp = int(t.exponent)
    digits = t.digits
    while exp < 0 and digits and digits[-1] == 0:
        digits, exp = digits[:-1], exp + 1
    return max(-exp, 0)


class InvalidStructure(InvalidIntent):
    """A structure or one of its legs is malformed. ``leg`` is the index of the leg at fault
    (``None`` when the fault is the structure as a whole)."""

    def __init__(self, message: str, leg: int | None = None) -> None:
        super().__init__(message)
        self.leg = leg


class Side(Enum):
    """Whether a leg buys (long) or sells (short) its contract."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True, slots=True, kw_only=True)
class Leg:
    """``quantity`` contracts of ``contract`` on ``side`` (quantity > 0, a finite Decimal within
    the contract's ``size_decimals``).

    Raises:
        InvalidInput: ``contract`` is not an OptionContract, ``side`` not a Side, or the quantity
            is not a positive finite Decimal / int / decimal string or has too many decimals.
    """

    contract: OptionContract
    side: Side
    quantity: Decimal

    def __post_init__(self) -> None:
        check_instance(self.contract, "leg contract", OptionContract, "an OptionContract")
        check_instance(self.side, "leg side", Side, "a Side (Side.BUY or Side.SELL)")
        qty = check_decimal(self.quantity, "leg quantity", gt=0, lt=_MAX_QTY, strings=True)
        places = self.contract.size_decimals
        if _fraction_digits(qty) > places:
            raise InvalidInput(
                f"leg quantity {qty} has more than {places} decimals, the contract's size "
                f"precision; round it to {places} places"
            )
        object.__setattr__(self, "quantity", qty)

    @property
    def signed_quantity(self) -> Decimal:
        """``quantity`` for a buy, ``-quantity`` for a sell."""
        return self.quantity * self.side.sign

    def describe(self) -> str:
        """``buy 2 ETH-27MAR26-2200-C``."""
        return f"{self.side.value} {self.quantity.normalize():f} {self.contract.symbol}"


def _leg_name(i: int, leg: Leg) -> str:
    return f"leg {i} ({leg.describe()})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Structure:
    """A named combination of legs on one underlying and one quote asset.

    ``kind`` is the builder's name (``"iron_condor"``, ``"custom"``); legs keep their order.
    Validated on construction: at least one leg, every leg a :class:`Leg`, one underlying, one
    quote asset, one settlement, and no contract twice (merge repeated legs into one).

    Raises:
        InvalidStructure: naming the leg at fault.
    """

    kind: str
    legs: tuple[Leg, ...]

    def __post_init__(self) -> None:
        check_str(self.kind, "structure kind")
        if isinstance(self.legs, (str, bytes)) or not isinstance(self.legs, Iterable):
            raise InvalidStructure("structure legs must be a sequence of Leg values")
        legs = tuple(self.legs)
        if not legs:
            raise InvalidStructure("a structure needs at least one leg")
        for i, leg in enumerate(legs):
            if not isinstance(leg, Leg):
                raise InvalidStructure(
                    f"leg {i} ({type(leg).__name__}) is not a Leg; build it with Leg(contract=..., "
                    "side=..., quantity=...)",
                    i,
                )
        first = legs[0].contract
        seen: dict[InstrumentId, int] = {}
        for i, leg in enumerate(legs):
            c = leg.contract
            if c.underlying != first.underlying:
                raise InvalidStructure(
                    f"{_leg_name(i, leg)}: underlying {c.underlying.symbol} differs from leg "
                    f"0's {first.underlying.symbol}; a structure has one underlying",
                    i,
                )
            if c.quote != first.quote:
                raise InvalidStructure(
                    f"{_leg_name(i, leg)}: quote asset {c.quote.symbol} differs from leg 0's "
                    f"{first.quote.symbol}; a structure settles in one quote asset",
                    i,
                )
            if c.settlement is not first.settlement:
                raise InvalidStructure(
                    f"{_leg_name(i, leg)}: {c.settlement.value} settlement differs from leg "
                    f"0's {first.settlement.value}",
                    i,
                )
            if c.id in seen:
                raise InvalidStructure(
                    f"{_leg_name(i, leg)}: repeats the contract of leg {seen[c.id]}; merge "
                    "them into one leg",
                    i,
                )
            seen[c.id] = i
        object.__setattr__(self, "legs", legs)

    @property
    def underlying_symbol(self) -> str:
        """The underlying's symbol (``ETH``)."""
        return self.legs[0].contract.underlying.symbol

    @property
    def expiries(self) -> tuple[int, ...]:
        """The distinct expiries of the legs (ns), earliest first."""
        return tuple(sorted({leg.contract.expiry_ns for leg in self.legs}))

    @property
    def strikes(self) -> tuple[Decimal, ...]:
        """The distinct strikes of the legs, lowest first."""
        return tuple(sorted({leg.contract.strike for leg in self.legs}))

    def check_listed(self, listed: Collection[OptionContract | InstrumentId | str]) -> None:
        """Check that a venue lists every leg's series.

        ``listed`` holds the venue's contracts (or their instrument ids). Raises
        :class:`InvalidStructure` naming the first leg whose series is not listed.
        """
        if isinstance(listed, (str, bytes)) or not isinstance(listed, Collection):
            raise InvalidInput("listed must be a collection of OptionContract values or ids")
        ids = {c.id if isinstance(c, OptionContract) else str(c) for c in listed}
        for i, leg in enumerate(self.legs):
            if leg.contract.id not in ids:
                raise InvalidStructure(
                    f"{_leg_name(i, leg)}: the venue does not list this series; pick a listed "
                    "strike and expiry",
                    i,
                )

    def scaled(self, factor: Decimal) -> Structure:
        """The same structure with every quantity multiplied by ``factor`` (> 0)."""
        f = check_decimal(factor, "scale factor", gt=0, strings=True)
        return Structure(
            kind=self.kind,
            legs=tuple(
                Leg(contract=leg.contract, side=leg.side, quantity=leg.quantity * f)
                for leg in self.legs
            ),
        )
