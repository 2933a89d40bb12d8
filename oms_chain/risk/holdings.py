"""What a portfolio holds, for risk: one :class:`Holding` per balance or position.

A holding is a wallet or exchange balance of an :class:`~oms_chain.model.Asset` (on any chain or
venue), a spot pair position, a perpetual, or an option, with a signed ``Decimal`` quantity
(long > 0, short < 0). The same asset held on several chains and venues is the same underlying
(its symbol), so exposures add up across them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_chain.model.assets import Asset
from oms_chain.model.checks import check_decimal, check_instance, check_str
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import Instrument, OptionContract, Perpetual, SpotPair
from oms_chain.model.positions import Position

__all__ = ["Holding"]

_KINDS = (Asset, SpotPair, Perpetual, OptionContract)


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """A signed ``quantity`` of ``instrument`` (an asset balance or a position) held at ``venue``.

    ``quantity`` counts units of the asset, of a spot pair's base, of a perpetual's base, or
    option contracts of one underlying unit each. ``entry_price`` (perpetuals only, quote per
    base) makes the unrealized PnL part of equity; without it the perpetual is marked at the
    snapshot's spot (zero unrealized PnL). ``venue`` is a free label (``"deribit"``,
    ``"wallet:42161"``) used in reports and per-venue margin.

    Raises:
        InvalidInput: ``instrument`` is not an Asset / SpotPair / Perpetual / OptionContract,
            ``quantity`` is not a finite Decimal, ``entry_price`` is given for a non-perpetual or
            is not positive, or ``venue`` is not a string.
    """

    instrument: Asset | Instrument
    quantity: Decimal
    venue: str = "default"
    entry_price: Decimal | None = None

    def __post_init__(self) -> None:
        check_instance(
            self.instrument,
            "holding instrument",
            _KINDS,
            "an Asset, SpotPair, Perpetual or OptionContract",
        )
        object.__setattr__(self, "quantity", check_decimal(self.quantity, "holding quantity"))
        check_str(self.venue, "holding venue")
        if self.entry_price is not None:
            if not isinstance(self.instrument, Perpetual):
                raise InvalidInput(
                    "holding entry_price is only used for perpetuals (their unrealized PnL); "
                    f"{self.label} is not one, leave it out"
                )
            object.__setattr__(
                self,
                "entry_price",
                check_decimal(self.entry_price, "holding entry_price", gt=Decimal(0)),
            )

    @property
    def underlying(self) -> str:
        """The symbol whose price moves this holding (an asset's own symbol, else the base)."""
        if isinstance(self.instrument, Asset):
            return self.instrument.symbol
        return self.instrument.base.symbol

    @property
    def label(self) -> str:
        """A short human name: ``"ETH-27JUN25-2000-C @ deribit"``."""
        return f"{self.instrument.symbol} @ {self.venue}"

    @classmethod
    def from_position(cls, position: Position, instrument: Instrument) -> Holding:
        """The holding of a model :class:`~oms_chain.model.Position` in ``instrument``; a
        perpetual's average price becomes its entry price.

        Raises:
            InvalidInput: ``position`` is not a Position or belongs to another instrument.
        """
        check_instance(position, "position", Position, "a Position")
        check_instance(instrument, "instrument", _KINDS[1:], "a SpotPair, Perpetual or option")
        if position.key.instrument_id != instrument.id:
            raise InvalidInput(
                f"position {position.key.instrument_id!r} is not in instrument {instrument.id!r}"
            )
        entry = (
            position.avg_price
            if isinstance(instrument, Perpetual) and position.avg_price > 0
            else None
        )
        return cls(
            instrument=instrument,
            quantity=position.quantity,
            venue=str(position.key.venue),
            entry_price=entry,
        )
