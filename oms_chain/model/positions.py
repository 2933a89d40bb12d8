"""Positions (average cost, realized / unrealized PnL) and a portfolio across venues and chains."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from oms_chain.model.fills import Fill
from oms_chain.model.ids import AccountId, InstrumentId, VenueId

__all__ = ["Portfolio", "Position", "PositionKey"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, order=True)
class PositionKey:
    """A position is held by an account, on a venue (or chain venue), in an instrument."""

    account: AccountId
    venue: VenueId
    instrument_id: InstrumentId


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """Signed ``quantity`` (long > 0, short < 0) at average entry price ``avg_price``.

    ``realized_pnl`` is in the instrument's quote and excludes fees; ``fees`` accumulates the
    fees of every fill as reported (assumed to be in the quote currency).
    """

    key: PositionKey
    quantity: Decimal = _ZERO
    avg_price: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    fill_count: int = 0

    def apply(self, fill: Fill) -> Position:
        """Return the position after ``fill`` (average-cost accounting)."""
        signed = fill.quantity * fill.side.sign
        qty, avg, realized = self.quantity, self.avg_price, self.realized_pnl
        if qty == 0 or (qty > 0) == (signed > 0):
            new_qty = qty + signed
            avg = (abs(qty) * avg + fill.quantity * fill.price) / abs(new_qty)
        else:
            closed = min(abs(qty), fill.quantity)
            direction = 1 if qty > 0 else -1
            realized += closed * (fill.price - avg) * direction
            new_qty = qty + signed
            if new_qty == 0:
                avg = _ZERO
            elif (new_qty > 0) != (qty > 0):
                avg = fill.price  # flipped: the remainder opens at this fill's price
        return replace(
            self,
            quantity=new_qty,
            avg_price=avg,
            realized_pnl=realized,
            fees=self.fees + fill.fee,
            fill_count=self.fill_count + 1,
        )

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """PnL of the open quantity marked at ``mark`` (quote per base)."""
        return self.quantity * (mark - self.avg_price)


class Portfolio:
    """All positions, keyed by (account, venue, instrument). Mutable aggregate fed with fills."""

    __slots__ = ("_positions",)

    def __init__(self, positions: Mapping[PositionKey, Position] | None = None) -> None:
        self._positions: dict[PositionKey, Position] = dict(positions or {})

    def apply(self, fill: Fill) -> Position:
        """Apply ``fill`` and return the updated position."""
        key = PositionKey(fill.account, fill.venue, fill.instrument_id)
        pos = self._positions.get(key) or Position(key=key)
        pos = pos.apply(fill)
        self._positions[key] = pos
        return pos

    def get(self, key: PositionKey) -> Position | None:
        return self._positions.get(key)

    def __iter__(self) -> Iterator[Position]:
        return iter(sorted(self._positions.values(), key=lambda p: p.key))

    def __len__(self) -> int:
        return len(self._positions)

    def net_quantity(
        self, instrument_id: InstrumentId, account: AccountId | None = None
    ) -> Decimal:
        """Signed quantity of ``instrument_id`` summed over venues (and accounts unless given)."""
        return sum(
            (
                p.quantity
                for p in self._positions.values()
                if p.key.instrument_id == instrument_id
                and (account is None or p.key.account == account)
            ),
            _ZERO,
        )

    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self._positions.values()), _ZERO)

    def unrealized_pnl(self, marks: Mapping[InstrumentId, Decimal]) -> Decimal:
        """Sum of unrealized PnL for positions whose instrument has a mark in ``marks``."""
        return sum(
            (
                p.unrealized_pnl(marks[p.key.instrument_id])
                for p in self._positions.values()
                if p.key.instrument_id in marks
            ),
            _ZERO,
        )

    def snapshot(self) -> dict[PositionKey, Position]:
        return dict(self._positions)
