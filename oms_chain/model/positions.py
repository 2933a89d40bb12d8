"""Positions (average cost, realized / unrealized PnL) and a portfolio across venues and chains."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from oms_chain.model.amounts import ledger_context
from oms_chain.model.checks import check_decimal, check_instance, check_int, check_str, shown
from oms_chain.model.errors import InvalidInput
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

    def __post_init__(self) -> None:
        check_str(self.account, "position key account")
        check_str(self.venue, "position key venue")
        check_str(self.instrument_id, "position key instrument_id")


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

    def __post_init__(self) -> None:
        check_instance(self.key, "position key", PositionKey, "a PositionKey")
        for name in ("quantity", "avg_price", "realized_pnl", "fees"):
            object.__setattr__(self, name, check_decimal(getattr(self, name), f"position {name}"))
        if self.avg_price < 0:
            raise InvalidInput(f"position avg_price must be >= 0, got {self.avg_price}")
        check_int(self.fill_count, "position fill_count", minimum=0)

    def apply(self, fill: Fill) -> Position:
        """Return the position after ``fill`` (average-cost accounting).

        Raises:
            InvalidInput: ``fill`` is not a :class:`Fill`.
        """
        check_instance(fill, "fill", Fill, "a Fill")
        with ledger_context():
            return self._apply(fill)

    def _apply(self, fill: Fill) -> Position:
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
        """PnL of the open quantity marked at ``mark`` (quote per base).

        Raises:
            InvalidInput: ``mark`` is not a finite Decimal (or int).
        """
        mark = check_decimal(mark, "mark", ge=0)
        return self.quantity * (mark - self.avg_price)


class Portfolio:
    """All positions, keyed by (account, venue, instrument). Mutable aggregate fed with fills."""

    __slots__ = ("_positions",)

    def __init__(self, positions: Mapping[PositionKey, Position] | None = None) -> None:
        if positions is not None and not isinstance(positions, Mapping):
            raise InvalidInput(
                f"positions must be a mapping of PositionKey to Position, got {shown(positions)}"
            )
        for key, pos in (positions or {}).items():
            check_instance(key, "positions key", PositionKey, "a PositionKey")
            check_instance(pos, f"positions[{key}]", Position, "a Position")
            if pos.key != key:
                raise InvalidInput(f"positions[{key}] holds the position of {pos.key}")
        self._positions: dict[PositionKey, Position] = dict(positions or {})

    def apply(self, fill: Fill) -> Position:
        """Apply ``fill`` and return the updated position.

        Raises:
            InvalidInput: ``fill`` is not a :class:`Fill`.
        """
        check_instance(fill, "fill", Fill, "a Fill")
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
        """Signed quantity of ``instrument_id`` summed over venues (and accounts unless given).

        Raises:
            InvalidInput: ``instrument_id`` or ``account`` is not a non-empty str.
        """
        check_str(instrument_id, "instrument_id")
        if account is not None:
            check_str(account, "account")
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
        with ledger_context():
            return sum((p.realized_pnl for p in self._positions.values()), _ZERO)

    def unrealized_pnl(self, marks: Mapping[InstrumentId, Decimal]) -> Decimal:
        """Sum of unrealized PnL for positions whose instrument has a mark in ``marks``.

        Raises:
            InvalidInput: ``marks`` is not a mapping or a mark is not a finite Decimal >= 0.
        """
        if not isinstance(marks, Mapping):
            raise InvalidInput(
                f"marks must be a mapping of instrument id to price, got {shown(marks)}"
            )
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
