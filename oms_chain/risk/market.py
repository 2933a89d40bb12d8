"""Market inputs for portfolio risk: one frozen snapshot of index prices, vols and rates.

Prices are in USD (every cash asset in :attr:`MarketSnapshot.cash_symbols` counts as one USD);
vols are annualized decimals (``0.65`` is 65 %); rates and carries are continuously compounded per
year. Values enter as ``Decimal`` and are checked here, once; the vectorized risk code reads the
float views (:meth:`MarketSnapshot.spot_float` and friends).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from oms_chain.model.checks import (
    check_callable,
    check_decimal,
    check_instance,
    check_ns,
    check_str,
)
from oms_chain.model.errors import InvalidInput
from oms_chain.risk.pricing import NS_PER_YEAR, VolSurface

__all__ = ["NS_PER_YEAR", "MarketSnapshot", "VolFunction"]

#: ``surface(underlying, strikes, t_years) -> vols``: annualized vols for arrays of strikes and
#: times to expiry (years) of one underlying, same shape as ``strikes``.
VolFunction = Callable[[str, npt.NDArray[np.float64], npt.NDArray[np.float64]], Any]

_DEFAULT_CASH = frozenset({"USD", "USDC", "USDT", "DAI"})
_MAX_VOL = Decimal(20)


def _frozen_decimals(
    value: object, name: str, *, gt: Decimal | None = None, le: Decimal | None = None
) -> Mapping[str, Decimal]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{name} must be a mapping of str to Decimal, got {type(value).__name__}"
        )
    out: dict[str, Decimal] = {}
    for key, v in value.items():
        check_str(key, f"{name} key")
        out[key] = check_decimal(v, f"{name}[{key!r}]", gt=gt, le=le)
    return MappingProxyType(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSnapshot:
    """What the market looked like at ``now_ns``: everything a revaluation needs.

    Attributes:
        now_ns: the snapshot instant (integer ns since the epoch); times to expiry count from it.
        spots: index price in USD per underlying symbol (``{"ETH": Decimal("2000")}``), > 0.
        vols: annualized implied vol per option instrument id, > 0 and <= 20.
        surfaces: per underlying, a fitted :class:`~oms_chain.risk.pricing.VolSurface` (SVI)
            for options without an entry in ``vols``.
        surface: optional :data:`VolFunction` for options found in neither.
        rate: risk-free rate (continuous, per year), between -1 and 1.
        carry: continuous carry / dividend yield per underlying (default 0), between -1 and 1.
        cash_symbols: asset symbols valued at one USD with no market risk.

    Raises:
        InvalidInput: a price is not a positive finite Decimal, a vol is out of (0, 20], a rate
            out of [-1, 1], a surface is not a VolSurface, ``surface`` is not callable, or a
            symbol is empty.
    """

    now_ns: int
    spots: Mapping[str, Decimal]
    vols: Mapping[str, Decimal] = field(default_factory=dict)
    surfaces: Mapping[str, VolSurface] = field(default_factory=dict)
    surface: VolFunction | None = None
    rate: Decimal = Decimal(0)
    carry: Mapping[str, Decimal] = field(default_factory=dict)
    cash_symbols: frozenset[str] = _DEFAULT_CASH

    def __post_init__(self) -> None:
        check_ns(self.now_ns, "market now_ns")
        object.__setattr__(
            self, "spots", _frozen_decimals(self.spots, "market spots", gt=Decimal(0))
        )
        object.__setattr__(
            self, "vols", _frozen_decimals(self.vols, "market vols", gt=Decimal(0), le=_MAX_VOL)
        )
        if not isinstance(self.surfaces, Mapping):
            raise InvalidInput("market surfaces must map underlying symbol to a VolSurface")
        for key, surf in self.surfaces.items():
            check_str(key, "market surfaces key")
            check_instance(surf, f"market surfaces[{key!r}]", VolSurface, "a pricing.VolSurface")
        object.__setattr__(self, "surfaces", MappingProxyType(dict(self.surfaces)))
        if self.surface is not None:
            check_callable(self.surface, "market surface", "a function (underlying, strikes, t)")
        object.__setattr__(
            self, "rate", check_decimal(self.rate, "market rate", ge=Decimal(-1), le=Decimal(1))
        )
        object.__setattr__(
            self,
            "carry",
            _frozen_decimals(self.carry, "market carry", gt=Decimal(-1), le=Decimal(1)),
        )
        check_instance(self.cash_symbols, "market cash_symbols", frozenset, "a frozenset of str")
        for sym in self.cash_symbols:
            check_str(sym, "market cash_symbols entry")
        clash = self.cash_symbols & set(self.spots)
        if clash:
            raise InvalidInput(
                f"market: {sorted(clash)} listed both as cash and with a spot price; a cash "
                "asset is worth one USD, remove it from one of the two"
            )

    def spot_float(self, underlying: str) -> float:
        """The spot of ``underlying`` as a float.

        Raises:
            InvalidInput: no spot price for ``underlying`` in this snapshot.
        """
        try:
            return float(self.spots[underlying])
        except KeyError:
            raise InvalidInput(
                f"no spot price for {underlying!r} in the market snapshot (have "
                f"{sorted(self.spots)}); add it to MarketSnapshot.spots"
            ) from None

    def carry_float(self, underlying: str) -> float:
        """The carry of ``underlying`` (0 when not given) as a float."""
        return float(self.carry.get(underlying, Decimal(0)))

    def with_spots(self, spots: Mapping[str, Decimal]) -> MarketSnapshot:
        """This snapshot with some spot prices replaced (the others kept)."""
        merged = dict(self.spots)
        merged.update(spots)
        return MarketSnapshot(
            now_ns=self.now_ns,
            spots=merged,
            vols=self.vols,
            surfaces=self.surfaces,
            surface=self.surface,
            rate=self.rate,
            carry=self.carry,
            cash_symbols=self.cash_symbols,
        )
