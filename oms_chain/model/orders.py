"""Orders and their state machines.

An :class:`Order` moves only along :data:`ORDER_TRANSITIONS`; on-chain child orders also carry a
:class:`SettlementState` that moves only along :data:`SETTLEMENT_TRANSITIONS`. Any other move
raises :class:`~oms_chain.model.errors.IllegalTransition`.

Parent orders stand for an intent; child orders are what is sent to one venue. A child's client
order id is derived from the intent id and the child's sequence number (see
:func:`~oms_chain.model.ids.client_order_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum

from oms_chain.model.amounts import ledger_context
from oms_chain.model.errors import IllegalTransition, InvalidInput
from oms_chain.model.ids import (
    AccountId,
    ClientOrderId,
    IntentId,
    OrderId,
    TxHash,
    VenueId,
    VenueOrderId,
)
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side

__all__ = [
    "LATE_FILL_STATUSES",
    "OPEN_STATUSES",
    "ORDER_TRANSITIONS",
    "SETTLEMENT_TRANSITIONS",
    "TERMINAL_STATUSES",
    "Order",
    "OrderStatus",
    "SettlementState",
    "SettlementStatus",
    "settlement_moves",
]


class OrderStatus(Enum):
    """Lifecycle of an order.

    ``SENDING``: the send is recorded and under way. ``IN_FLIGHT``: the send's outcome is
    unknown (timeout, lost response, crash); only reconciliation may move it on.
    """

    NEW = "new"
    RISK_ACCEPTED = "risk_accepted"
    REJECTED = "rejected"
    SENDING = "sending"
    IN_FLIGHT = "in_flight"
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"


_S = OrderStatus
_ENDS = frozenset({_S.FILLED, _S.CANCELLED, _S.EXPIRED, _S.FAILED})

#: Allowed moves. Keys absent from a value's set are illegal; terminal states map to nothing.
ORDER_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset({_S.RISK_ACCEPTED, _S.REJECTED}),
    _S.RISK_ACCEPTED: frozenset({_S.SENDING, _S.WORKING, _S.CANCELLED, _S.EXPIRED, _S.FAILED}),
    _S.SENDING: frozenset({_S.IN_FLIGHT, _S.WORKING, _S.REJECTED, _S.PARTIALLY_FILLED} | _ENDS),
    _S.IN_FLIGHT: frozenset({_S.WORKING, _S.REJECTED, _S.PARTIALLY_FILLED} | _ENDS),
    _S.WORKING: frozenset({_S.PARTIALLY_FILLED} | _ENDS),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED} | _ENDS),
    _S.REJECTED: frozenset(),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.FAILED: frozenset(),
}

TERMINAL_STATUSES = frozenset(s for s, nxt in ORDER_TRANSITIONS.items() if not nxt)

#: Real-world edges of the table (NautilusTrader calls them "real world possibility"): an order
#: that ended without filling completely may still take fills the venue executed — a cancel that
#: crossed a fill, an expiry racing the last trade, a request that arrived after a lookup found
#: nothing. Such a *late fill* is recorded and the order keeps its ended status
#: (``CANCELLED -> CANCELLED`` with more filled); see :meth:`Order.with_fill`.
LATE_FILL_STATUSES = frozenset({_S.CANCELLED, _S.EXPIRED, _S.FAILED})
OPEN_STATUSES = frozenset(OrderStatus) - TERMINAL_STATUSES - {_S.NEW}


class SettlementStatus(Enum):
    """Settlement of an on-chain child order's transaction."""

    SUBMITTED = "submitted"
    INCLUDED = "included"
    CONFIRMED = "confirmed"
    FINAL = "final"
    REORGED = "reorged"
    DROPPED = "dropped"
    REPLACED = "replaced"


_T = SettlementStatus
SETTLEMENT_TRANSITIONS: Mapping[SettlementStatus, frozenset[SettlementStatus]] = {
    # submitted -> submitted: replaced by a fee bump (same nonce, new hash) and still pending.
    _T.SUBMITTED: frozenset({_T.SUBMITTED, _T.INCLUDED, _T.DROPPED, _T.REPLACED}),
    _T.INCLUDED: frozenset({_T.CONFIRMED, _T.FINAL, _T.REORGED}),
    _T.CONFIRMED: frozenset({_T.CONFIRMED, _T.FINAL, _T.REORGED}),
    _T.REORGED: frozenset({_T.SUBMITTED, _T.INCLUDED, _T.DROPPED, _T.REPLACED}),
    _T.FINAL: frozenset(),
    _T.DROPPED: frozenset(),
    _T.REPLACED: frozenset(),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementState:
    """Where a transaction is: status, confirmations (blocks on top of inclusion) and block."""

    tx_hash: TxHash
    status: SettlementStatus = SettlementStatus.SUBMITTED
    confirmations: int = 0
    block_number: int | None = None

    def advance(
        self,
        to: SettlementStatus,
        *,
        confirmations: int | None = None,
        block_number: int | None = None,
        tx_hash: TxHash | None = None,
    ) -> SettlementState:
        """Move to ``to``; ``CONFIRMED → CONFIRMED`` must increase ``confirmations``.

        Raises:
            IllegalTransition: the edge is not in :data:`SETTLEMENT_TRANSITIONS`.
        """
        if to not in SETTLEMENT_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"settlement of tx {self.tx_hash} cannot go from {self.status.value} to {to.value}"
            )
        conf = self.confirmations if confirmations is None else confirmations
        if to is SettlementStatus.CONFIRMED and (
            conf < 1 or (self.status is SettlementStatus.CONFIRMED and conf <= self.confirmations)
        ):
            raise IllegalTransition(
                f"tx {self.tx_hash}: confirmations must grow past {self.confirmations}, got {conf}"
            )
        block = self.block_number if block_number is None else block_number
        if to in (SettlementStatus.REORGED, SettlementStatus.SUBMITTED, SettlementStatus.DROPPED):
            conf, block = 0, None
        return SettlementState(
            tx_hash=tx_hash or self.tx_hash, status=to, confirmations=conf, block_number=block
        )


_MINED = (_T.INCLUDED, _T.CONFIRMED)
_SETTLED = (_T.FINAL, _T.DROPPED, _T.REPLACED)


def settlement_moves(
    current: SettlementState | None, reported: SettlementState
) -> list[SettlementState]:
    """The legal settlement moves from ``current`` to what a venue ``reported`` (which may skip
    steps we missed: a report seen after a restart can say ``confirmed(4)`` of a transaction we
    last saw ``submitted``, or ``included`` in another block than the one we recorded).

    Stale reports (fewer confirmations, a settled transaction) give no moves. Each move is one
    edge of :data:`SETTLEMENT_TRANSITIONS` (taken through :meth:`SettlementState.advance`).

    Raises:
        IllegalTransition: the report contradicts the settlement table.
    """
    out: list[SettlementState] = []
    cur = current
    if cur is None:
        cur = SettlementState(tx_hash=reported.tx_hash)
        out.append(cur)
    if _same(cur, reported) or cur.status in _SETTLED:
        return out
    new = reported.status
    if new is _T.REORGED and cur.status in (_T.SUBMITTED, _T.REORGED):
        return out  # never seen mined (or already reorged): still pending, nothing to move
    if cur.status in _MINED and new is not _T.REORGED:
        moved_block = new in (*_MINED, _T.FINAL) and reported.block_number != cur.block_number
        if new not in (*_MINED, _T.FINAL) or moved_block:
            cur = cur.advance(_T.REORGED)
            out.append(cur)
    if cur.status in (_T.SUBMITTED, _T.REORGED) and new in (_T.CONFIRMED, _T.FINAL):
        cur = cur.advance(_T.INCLUDED, block_number=reported.block_number, tx_hash=reported.tx_hash)
        out.append(cur)
    if cur.status is _T.REORGED and new is _T.REORGED:
        return out
    if cur.status is _T.INCLUDED and new is _T.INCLUDED:
        return out
    if (
        cur.status is _T.CONFIRMED
        and new is _T.CONFIRMED
        and reported.confirmations <= cur.confirmations
    ):
        return out
    if cur.status is _T.CONFIRMED and new is _T.INCLUDED:
        return out
    out.append(
        cur.advance(
            new,
            confirmations=reported.confirmations,
            block_number=reported.block_number,
            tx_hash=reported.tx_hash,
        )
    )
    return out


def _same(a: SettlementState, b: SettlementState) -> bool:
    return (a.tx_hash, a.status, a.confirmations, a.block_number) == (
        b.tx_hash,
        b.status,
        b.confirmations,
        b.block_number,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order (parent: one per intent; child: one placement on one venue).

    ``quantity`` and ``filled_quantity`` are in the instrument's base; ``avg_fill_price`` is the
    quantity-weighted average fill price in quote per base. Immutable: every change returns a new
    ``Order`` through :meth:`transition`, :meth:`with_fill` and the other named moves; no
    method rewrites the status or the filled quantity around the order table.
    """

    order_id: OrderId
    intent_id: IntentId
    account: AccountId
    instrument: Instrument
    side: Side
    quantity: Decimal
    limit_price: Decimal | None
    status: OrderStatus = OrderStatus.NEW
    parent_id: OrderId | None = None
    seq: int = 0
    client_order_id: ClientOrderId | None = None
    venue: VenueId | None = None
    venue_order_id: VenueOrderId | None = None
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    reason: str | None = None
    settlement: SettlementState | None = None
    children: tuple[OrderId, ...] = ()
    ts_init: int = 0
    ts_last: int = 0

    def __post_init__(self) -> None:
        if self.quantity < 0:
            raise InvalidInput(f"order {self.order_id}: quantity must not be negative")

    @property
    def is_parent(self) -> bool:
        return self.parent_id is None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves_quantity(self) -> Decimal:
        """Quantity not yet filled (zero once terminal)."""
        return Decimal(0) if self.is_terminal else self.quantity - self.filled_quantity

    def can_transition(self, to: OrderStatus) -> bool:
        return to in ORDER_TRANSITIONS[self.status]

    def transition(self, to: OrderStatus, *, ts: int, reason: str | None = None) -> Order:
        """Return this order in status ``to``.

        Raises:
            IllegalTransition: ``to`` is not reachable from the current status.
        """
        if to not in ORDER_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"order {self.order_id} cannot go from {self.status.value} to {to.value}"
            )
        return replace(self, status=to, ts_last=ts, reason=reason or self.reason)

    def with_fill(self, quantity: Decimal, price: Decimal, *, ts: int) -> Order:
        """Add a fill of ``quantity`` at ``price``; moves to partially filled / filled.

        A late fill of an order that ended cancelled, expired or failed
        (:data:`LATE_FILL_STATUSES`) is taken too: the order stays ended, with more filled.

        Raises:
            IllegalTransition: the order cannot take fills now, or the fill would overfill it.
        """
        if quantity <= 0 or price <= 0:
            raise InvalidInput(f"order {self.order_id}: fill quantity and price must be positive")
        with ledger_context():
            filled = self.filled_quantity + quantity
            prev = self.avg_fill_price or Decimal(0)
            avg = (prev * self.filled_quantity + price * quantity) / filled
        if filled > self.quantity:
            raise IllegalTransition(
                f"order {self.order_id}: fill of {quantity} would overfill "
                f"({self.filled_quantity} of {self.quantity} already filled)"
            )
        if self.status in LATE_FILL_STATUSES:
            return replace(self, filled_quantity=filled, avg_fill_price=avg, ts_last=ts)
        to = OrderStatus.FILLED if filled == self.quantity else OrderStatus.PARTIALLY_FILLED
        moved = self.transition(to, ts=ts)
        return replace(moved, filled_quantity=filled, avg_fill_price=avg)

    def without_fill(
        self,
        quantity: Decimal,
        price: Decimal,
        *,
        ts: int,
        remaining_avg_price: Decimal | None = None,
    ) -> Order:
        """Take back a fill of ``quantity`` at ``price`` that left the canonical chain.

        ``remaining_avg_price``: the exact average price of the fills that remain (the caller
        holds them); default: derived from the current average.

        The one way out of ``FILLED``: the order is working again (partially filled if other
        fills remain), as the transaction may be mined again. An order that ended cancelled,
        expired or failed with a fill stays ended, with the fill taken off.

        Raises:
            IllegalTransition: the order is not filled / partially filled, or holds less than
                ``quantity``.
        """
        ended = self.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.FAILED)
        if self.status not in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED) and not ended:
            raise IllegalTransition(
                f"order {self.order_id} is {self.status.value}; it has no fill to take back"
            )
        if quantity <= 0 or quantity > self.filled_quantity:
            raise IllegalTransition(
                f"order {self.order_id}: cannot take back {quantity} of {self.filled_quantity} "
                f"filled"
            )
        with ledger_context():
            filled = self.filled_quantity - quantity
            if filled:
                avg: Decimal | None = (
                    (self.avg_fill_price or Decimal(0)) * self.filled_quantity - price * quantity
                ) / filled
                to = OrderStatus.PARTIALLY_FILLED
            else:
                avg, to = None, OrderStatus.WORKING
        if ended:  # cancelled / expired / failed with a fill: it stays ended, with less filled
            to = self.status
        if filled and remaining_avg_price is not None:
            avg = remaining_avg_price
        return replace(self, status=to, filled_quantity=filled, avg_fill_price=avg, ts_last=ts)

    def reopened(self, to: OrderStatus, *, ts: int) -> Order:
        """A filled parent whose child lost a fill to a reorg goes back to working.

        Raises:
            IllegalTransition: not ``FILLED``, or ``to`` is not working / partially filled.
        """
        if self.status is not OrderStatus.FILLED or to not in (
            OrderStatus.WORKING,
            OrderStatus.PARTIALLY_FILLED,
        ):
            raise IllegalTransition(
                f"order {self.order_id} cannot reopen from {self.status.value} to {to.value}"
            )
        return replace(self, status=to, ts_last=ts)

    def with_quantity(self, quantity: Decimal, limit_price: Decimal | None, *, ts: int) -> Order:
        """Amend quantity / limit of an open order; quantity may not drop below what is filled.

        Raises:
            IllegalTransition: the order is terminal or the new quantity is below the filled one.
        """
        if self.is_terminal:
            raise IllegalTransition(f"order {self.order_id} is {self.status.value}; cannot amend")
        if quantity < self.filled_quantity or quantity <= 0:
            raise IllegalTransition(
                f"order {self.order_id}: new quantity {quantity} is below filled "
                f"{self.filled_quantity}"
            )
        return replace(self, quantity=quantity, limit_price=limit_price, ts_last=ts)

    def with_settlement(self, settlement: SettlementState, *, ts: int) -> Order:
        """Move the settlement of this order's transaction to ``settlement``.

        The first settlement must be ``SUBMITTED``; after that the move goes through
        :meth:`SettlementState.advance` (:data:`SETTLEMENT_TRANSITIONS`).

        Raises:
            IllegalTransition: the move is not in the settlement table.
        """
        if self.settlement is None:
            if settlement.status is not SettlementStatus.SUBMITTED:
                raise IllegalTransition(
                    f"order {self.order_id}: settlement must start as submitted, got "
                    f"{settlement.status.value}"
                )
            new = settlement
        else:
            new = self.settlement.advance(
                settlement.status,
                confirmations=settlement.confirmations,
                block_number=settlement.block_number,
                tx_hash=settlement.tx_hash,
            )
        return replace(self, settlement=new, ts_last=ts)

    def acknowledged(self, venue_order_id: VenueOrderId, *, ts: int) -> Order:
        """The venue acknowledged this child under ``venue_order_id``: a child whose send was
        under way or in flight is working now; any other keeps its status.

        Raises:
            IllegalTransition: a parent order (parents are never at a venue).
        """
        if self.parent_id is None:
            raise IllegalTransition(f"order {self.order_id} is a parent; it has no venue order")
        moved = replace(self, venue_order_id=venue_order_id)
        if self.status in (OrderStatus.SENDING, OrderStatus.IN_FLIGHT):
            moved = moved.transition(OrderStatus.WORKING, ts=ts)
        return moved

    def with_child(self, child_id: OrderId) -> Order:
        """This parent with child ``child_id`` appended to :attr:`children`.

        Raises:
            IllegalTransition: a child order, a terminal parent, or ``child_id`` already there.
        """
        if self.parent_id is not None:
            raise IllegalTransition(f"order {self.order_id} is a child; children hang off parents")
        if self.is_terminal:
            raise IllegalTransition(f"order {self.order_id} is {self.status.value}; no child")
        if child_id in self.children:
            raise IllegalTransition(f"order {self.order_id} already has child {child_id}")
        return replace(self, children=(*self.children, child_id))

    def with_children_filled(self, filled: Decimal, avg_fill_price: Decimal | None) -> Order:
        """This parent with the fill its children add up to (``filled`` base at
        ``avg_fill_price``); the status is moved separately, along the table.

        ``filled`` may exceed :attr:`quantity`: an overfill (a late fill of a child already
        replaced) is what the venues did, so it is recorded.

        Raises:
            IllegalTransition: a child order (its fills come only through :meth:`with_fill`).
            InvalidInput: a negative ``filled``, or an average without a fill.
        """
        if self.parent_id is not None:
            raise IllegalTransition(
                f"order {self.order_id} is a child; its fills come through with_fill()"
            )
        if filled < 0 or (avg_fill_price is not None) != (filled > 0):
            raise InvalidInput(
                f"order {self.order_id}: filled {filled} at {avg_fill_price} is not a fill"
            )
        return replace(self, filled_quantity=filled, avg_fill_price=avg_fill_price)

    def in_schedule_time(self, shift_ns: int) -> Order:
        """A copy created ``shift_ns`` later (an algorithm's view of a child in schedule time,
        which stands still while the algorithm is paused). Status and fills are unchanged.

        Raises:
            InvalidInput: a negative shift.
        """
        if shift_ns < 0:
            raise InvalidInput(f"order {self.order_id}: schedule shift must not be negative")
        return replace(self, ts_init=self.ts_init - shift_ns) if shift_ns else self
