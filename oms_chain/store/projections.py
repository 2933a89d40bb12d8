"""Projections: orders, fills and positions folded from domain events.

:class:`Projections` applies :mod:`oms_chain.model.events` one by one; every order change goes
through the order's transition table, so an event stream that would make an illegal move raises
:class:`~oms_chain.model.errors.IllegalTransition`. :meth:`Projections.transaction` undoes every
change made inside it if an exception escapes — callers apply events, then append them to the
store, inside one transaction, so state and store never diverge.

Parent orders are derived from their children: filled quantity and average price are the
children's sums, and the status follows (working → partially filled → filled; once every child
is terminal: cancelled, expired or failed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from oms_chain.model.algo_state import AlgoState, advance_algo_state
from oms_chain.model.amounts import ledger_context
from oms_chain.model.errors import IllegalTransition, InvalidInput, UnknownOrder
from oms_chain.model.events import (
    AddressScreeningMatched,
    AlgoStateChanged,
    ChildOrderCreated,
    Event,
    FillRecorded,
    FillReversed,
    HedgeDecided,
    HedgeSkipped,
    OrderAccepted,
    OrderAcknowledged,
    OrderAmended,
    OrderCancelled,
    OrderCancelRequested,
    OrderExpired,
    OrderFailed,
    OrderInitialized,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderSubmitted,
    PortfolioAlertCleared,
    PortfolioAlertRaised,
    RiskAlertRaised,
    RiskMonitorDegraded,
    SafeSignaturesRequested,
    SafeSignatureSubmitted,
    SafeTransactionExecuted,
    SafeTransactionExpired,
    SafeTransactionProposed,
    SafeTransactionSigned,
    SettlementUpdated,
    StructureAccepted,
    StructureCompleted,
    StructureHedged,
    StructureLegFilled,
    StructureLegMissed,
    StructureLegsReversed,
    StructureLegsSubmitted,
    StructureRejected,
    StructureSendStarted,
    StructureSubmitted,
    TradingStateChanged,
    VenueReconciled,
    VenueReconciliationFailed,
)
from oms_chain.model.fills import Fill
from oms_chain.model.ids import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    IntentId,
    OrderId,
    VenueId,
)
from oms_chain.model.intent import Intent
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.model.positions import Portfolio, Position, PositionKey
from oms_chain.model.trading_state import TradingState, advance_trading_state
from oms_chain.store._order_payload import order_from_payload, order_to_payload

__all__ = ["SNAPSHOT_VERSION", "Projections"]

#: Version of the :meth:`Projections.to_snapshot` format; other versions are replayed instead.
SNAPSHOT_VERSION = 1

_ZERO = Decimal(0)
_DAY_NS = 86_400 * 1_000_000_000
_MISSING = object()
_S = OrderStatus


class Projections:
    """Current state folded from events: orders, fills, positions, daily PnL, trading state."""

    def __init__(self) -> None:
        self.orders: dict[OrderId, Order] = {}
        self.intents: dict[IntentId, OrderId] = {}
        self.intent_data: dict[IntentId, Intent] = {}
        self.by_client_order_id: dict[ClientOrderId, OrderId] = {}
        self.fills: dict[str, Fill] = {}
        self.positions: dict[PositionKey, Position] = {}
        self.exposure: dict[tuple[AccountId, str], Decimal] = {}
        self.net_positions: dict[tuple[AccountId, InstrumentId], Decimal] = {}
        self.open_parents: dict[OrderId, bool] = {}
        self.daily_pnl: dict[tuple[int, str], Decimal] = {}
        self.trading_state: dict[str, str] = {"state": "active", "reason": "initial state"}
        self.reconciled: dict[VenueId, str] = {}
        #: State of algorithmic parents (``running``/``paused``/``cancelled``) once changed.
        self.algo_states: dict[OrderId, AlgoState] = {}
        #: Reversed fills (reorged out) by key, with the reason; no longer in :attr:`fills`.
        self.reversed_fills: dict[str, str] = {}
        self.event_count = 0
        self._undo: list[tuple[dict[Any, Any], Any, Any]] | None = None

    # --- transactions ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo every change made inside the block if it raises."""
        if self._undo is not None:
            yield
            return
        self._undo = []
        count = self.event_count
        try:
            yield
        except BaseException:
            for d, key, old in reversed(self._undo):
                if old is _MISSING:
                    d.pop(key, None)
                else:
                    d[key] = old
            self.event_count = count
            raise
        finally:
            self._undo = None

    def _discard(self, d: dict[Any, Any], key: Any) -> None:
        if self._undo is not None:
            self._undo.append((d, key, d.get(key, _MISSING)))
        d.pop(key, None)

    def _set(self, d: dict[Any, Any], key: Any, value: Any) -> None:
        if self._undo is not None:
            self._undo.append((d, key, d.get(key, _MISSING)))
        d[key] = value

    # --- queries ---------------------------------------------------------------------------

    def order(self, order_id: OrderId) -> Order:
        try:
            return self.orders[order_id]
        except KeyError:
            raise UnknownOrder(f"no order {order_id!r}") from None

    def portfolio(self) -> Portfolio:
        return Portfolio(self.positions)

    def open_parent_count(self) -> int:
        """Parent orders accepted and not yet terminal (O(1))."""
        return len(self.open_parents)

    def children(self, parent: Order) -> list[Order]:
        return [self.orders[c] for c in parent.children]

    def summary(self) -> dict[str, Any]:
        """JSON-safe digest of the whole state (equal states give equal digests)."""

        def num(d: Decimal | None) -> str | None:
            return None if d is None else str(d.normalize())

        return {
            "orders": {
                oid: {
                    "status": o.status.value,
                    "quantity": num(o.quantity),
                    "filled": num(o.filled_quantity),
                    "avg_price": num(o.avg_fill_price),
                    "client_order_id": o.client_order_id,
                    "venue_order_id": o.venue_order_id,
                    "children": list(o.children),
                }
                for oid, o in sorted(self.orders.items())
            },
            "fills": sorted(self.fills),
            "positions": {
                f"{k.account}|{k.venue}|{k.instrument_id}": {
                    "quantity": num(p.quantity),
                    "avg_price": num(p.avg_price),
                    "realized_pnl": num(p.realized_pnl),
                    "fees": num(p.fees),
                }
                for k, p in sorted(self.positions.items())
            },
            "trading_state": dict(self.trading_state),
        }

    # --- snapshots -------------------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        """JSON-safe state: orders, intents and fills (in recorded order) plus engine flags.

        Positions, exposure and daily PnL are not stored: :meth:`from_snapshot` re-folds them
        from the fills, so they cannot disagree with them.
        """
        return {
            "format": SNAPSHOT_VERSION,
            "event_count": self.event_count,
            "orders": [order_to_payload(o) for o in self.orders.values()],
            "intents": [i.to_payload() for i in self.intent_data.values()],
            "fills": [f.to_payload() for f in self.fills.values()],
            "trading_state": dict(self.trading_state),
            "reconciled": dict(self.reconciled),
            "algo_states": {k: v.value for k, v in self.algo_states.items()},
            "reversed_fills": dict(self.reversed_fills),
        }

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> Projections:
        """Rebuild from :meth:`to_snapshot`.

        Raises:
            InvalidInput: unknown snapshot format or malformed content.
        """
        if state.get("format") != SNAPSHOT_VERSION:
            raise InvalidInput(
                f"projection snapshot format {state.get('format')!r} is not "
                f"{SNAPSHOT_VERSION}; replay from the start instead"
            )
        p = cls()
        try:
            for raw in state["intents"]:
                it = Intent.from_payload(raw)
                p.intent_data[it.intent_id] = it
            for raw in state["orders"]:
                o = order_from_payload(raw)
                p.orders[o.order_id] = o
                if o.parent_id is None:
                    p.intents[o.intent_id] = o.order_id
                    if o.is_open:
                        p.open_parents[o.order_id] = True
                if o.client_order_id is not None:
                    p.by_client_order_id[o.client_order_id] = o.order_id
            for raw in state["fills"]:
                f = Fill.from_payload(raw)
                p.fills[f.key] = f
                with ledger_context():
                    p._fold_fill_money(f, p.orders[f.order_id])
            p.trading_state = dict(state["trading_state"])
            p.reconciled = {VenueId(k): v for k, v in state["reconciled"].items()}
            p.algo_states = {
                OrderId(k): AlgoState(v) for k, v in state.get("algo_states", {}).items()
            }
            p.reversed_fills = dict(state.get("reversed_fills", {}))
            p.event_count = int(state["event_count"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput(f"malformed projection snapshot: {exc!r}") from exc
        return p

    # --- folding ---------------------------------------------------------------------------

    def apply_all(self, events: Iterable[Event]) -> None:
        for e in events:
            self.apply(e)

    def apply(self, event: Event) -> None:
        """Fold one event into the state.

        Raises:
            IllegalTransition: the event asks for a move the transition tables do not allow
                (or records a fill twice).
            UnknownOrder: the event names an order that does not exist.
        """
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise IllegalTransition(f"projections cannot apply {type(event).__name__}")
        with ledger_context():  # the same digits whatever context the thread was left in
            handler(self, event)
        self.event_count += 1

    def _put(self, order: Order) -> None:
        self._set(self.orders, order.order_id, order)
        if order.parent_id is None:
            if order.is_open:
                if order.order_id not in self.open_parents:
                    self._set(self.open_parents, order.order_id, True)
            elif order.order_id in self.open_parents:
                self._discard(self.open_parents, order.order_id)

    def _on_initialized(self, e: OrderInitialized) -> None:
        if e.order_id in self.orders:
            raise IllegalTransition(f"order {e.order_id} initialized twice")
        it = e.intent
        self._put(
            Order(
                order_id=e.order_id,
                intent_id=it.intent_id,
                account=it.account,
                instrument=it.instrument,
                side=it.side,
                quantity=e.quantity,
                limit_price=e.limit_price,
                ts_init=e.ts_init,
                ts_last=e.ts_event,
            )
        )
        self._set(self.intents, it.intent_id, e.order_id)
        self._set(self.intent_data, it.intent_id, it)

    def _on_accepted(self, e: OrderAccepted) -> None:
        self._put(self.order(e.order_id).transition(_S.RISK_ACCEPTED, ts=e.ts_event))

    def _on_rejected(self, e: OrderRejected) -> None:
        o = self.order(e.order_id)
        to = _S.REJECTED if o.can_transition(_S.REJECTED) else _S.FAILED
        self._put(o.transition(to, ts=e.ts_event, reason=f"{e.source}: {e.reason}"))
        self._sync_parent(o, e.ts_event)

    def _on_child(self, e: ChildOrderCreated) -> None:
        parent = self.order(e.parent_id)
        if e.order_id in self.orders:
            raise IllegalTransition(f"child order {e.order_id} created twice")
        if parent.is_terminal:
            raise IllegalTransition(f"order {parent.order_id} is {parent.status.value}; no child")
        child = Order(
            order_id=e.order_id,
            intent_id=parent.intent_id,
            account=parent.account,
            instrument=parent.instrument,
            side=parent.side,
            quantity=e.quantity,
            limit_price=e.limit_price,
            parent_id=parent.order_id,
            seq=e.seq,
            client_order_id=e.client_order_id,
            venue=e.venue,
            ts_init=e.ts_init,
            ts_last=e.ts_event,
        ).transition(_S.RISK_ACCEPTED, ts=e.ts_event)
        self._put(child)
        self._set(self.by_client_order_id, e.client_order_id, e.order_id)
        self._put(parent.with_child(e.order_id))
        self._sync_parent(child, e.ts_event)

    def _on_submitted(self, e: OrderSubmitted) -> None:
        self._put(self.order(e.order_id).transition(_S.SENDING, ts=e.ts_event))

    def _on_ack(self, e: OrderAcknowledged) -> None:
        self._put(self.order(e.order_id).acknowledged(e.venue_order_id, ts=e.ts_event))

    def _on_unknown(self, e: OrderOutcomeUnknown) -> None:
        o = self.order(e.order_id)
        self._put(o.transition(_S.IN_FLIGHT, ts=e.ts_event, reason=e.reason))

    def _on_fill(self, e: FillRecorded) -> None:
        f = e.fill
        if f.key in self.fills:
            raise IllegalTransition(f"fill {f.key} recorded twice")
        o = self.order(f.order_id)
        if o.parent_id is None:
            raise IllegalTransition(f"fill {f.key} names parent order {o.order_id}")
        self._put(o.with_fill(f.quantity, f.price, ts=e.ts_event))
        self._set(self.fills, f.key, f)
        self._fold_fill_money(f, o)
        self._sync_parent(o, e.ts_event)

    def _fold_fill_money(self, f: Fill, o: Order) -> None:
        """Positions, net positions, exposure and daily PnL after fill ``f`` of order ``o``."""
        key = PositionKey(f.account, f.venue, f.instrument_id)
        before = self.positions.get(key) or Position(key=key)
        after = before.apply(f)
        self._set(self.positions, key, after)
        nk = (f.account, f.instrument_id)
        signed = f.quantity * f.side.sign
        self._set(self.net_positions, nk, self.net_positions.get(nk, _ZERO) + signed)
        ek = (f.account, o.instrument.base.symbol)
        self._set(self.exposure, ek, self.exposure.get(ek, _ZERO) + signed)
        quote = o.instrument.quote.symbol
        pnl = after.realized_pnl - before.realized_pnl
        if f.fee_currency == quote:
            pnl -= f.fee
        dk = (f.ts_event // _DAY_NS, quote)
        self._set(self.daily_pnl, dk, self.daily_pnl.get(dk, _ZERO) + pnl)

    def _on_fill_reversed(self, e: FillReversed) -> None:
        f = self.fills.get(e.fill_key)
        if f is None:
            raise IllegalTransition(f"fill {e.fill_key} is not recorded; nothing to reverse")
        if f.order_id != e.order_id:
            raise IllegalTransition(f"fill {e.fill_key} belongs to {f.order_id}, not {e.order_id}")
        o = self.order(f.order_id)
        self._discard(self.fills, e.fill_key)
        self._set(self.reversed_fills, e.fill_key, e.reason)
        rest = [g for g in self.fills.values() if g.order_id == o.order_id]
        left = sum((g.quantity for g in rest), _ZERO)
        avg = sum((g.quantity * g.price for g in rest), _ZERO) / left if left else None
        self._put(o.without_fill(f.quantity, f.price, ts=e.ts_event, remaining_avg_price=avg))
        self._unfold_fill_money(f, o)
        if o.parent_id is not None:
            parent = self.order(o.parent_id)
            if parent.status is _S.FILLED:
                kids = self.children(parent)
                filled = sum((k.filled_quantity for k in kids), _ZERO)
                to = _S.PARTIALLY_FILLED if filled else _S.WORKING
                self._put(parent.reopened(to, ts=e.ts_event))
            self._sync_parent(o, e.ts_event)

    def _unfold_fill_money(self, f: Fill, o: Order) -> None:
        """Positions etc. after fill ``f`` (already removed from :attr:`fills`) is taken back:
        the position is re-folded from the remaining fills, in recorded order."""
        key = PositionKey(f.account, f.venue, f.instrument_id)
        before = self.positions.get(key) or Position(key=key)
        after = Position(key=key)
        for g in self.fills.values():
            if PositionKey(g.account, g.venue, g.instrument_id) == key:
                after = after.apply(g)
        if after.fill_count:
            self._set(self.positions, key, after)
        else:
            self._discard(self.positions, key)
        nk = (f.account, f.instrument_id)
        signed = f.quantity * f.side.sign
        self._set(self.net_positions, nk, self.net_positions.get(nk, _ZERO) - signed)
        ek = (f.account, o.instrument.base.symbol)
        self._set(self.exposure, ek, self.exposure.get(ek, _ZERO) - signed)
        quote = o.instrument.quote.symbol
        pnl = after.realized_pnl - before.realized_pnl
        if f.fee_currency == quote:
            pnl += f.fee
        dk = (f.ts_event // _DAY_NS, quote)
        self._set(self.daily_pnl, dk, self.daily_pnl.get(dk, _ZERO) + pnl)

    def _on_algo_state(self, e: AlgoStateChanged) -> None:
        o = self.order(e.order_id)
        if o.parent_id is not None:
            raise IllegalTransition(f"order {o.order_id} is a child; algo state is per parent")
        current = self.algo_states.get(e.order_id, AlgoState.RUNNING)
        state = advance_algo_state(current, e.state, order=o.order_id)
        self._set(self.algo_states, e.order_id, state)
        if state is AlgoState.CANCELLED and not o.is_terminal:
            self._sync(o, e.ts_event, e.reason)

    def _on_cancel_requested(self, e: OrderCancelRequested) -> None:
        self.order(e.order_id)

    def _terminal(self, order_id: OrderId, to: OrderStatus, ts: int, reason: str) -> None:
        o = self.order(order_id)
        self._put(o.transition(to, ts=ts, reason=reason))
        self._sync_parent(o, ts)

    def _on_cancelled(self, e: OrderCancelled) -> None:
        self._terminal(e.order_id, _S.CANCELLED, e.ts_event, e.reason)

    def _on_expired(self, e: OrderExpired) -> None:
        self._terminal(e.order_id, _S.EXPIRED, e.ts_event, e.reason)

    def _on_failed(self, e: OrderFailed) -> None:
        self._terminal(e.order_id, _S.FAILED, e.ts_event, e.reason)

    def _on_alert(self, e: RiskAlertRaised) -> None:
        self.order(e.order_id)  # an alert changes no state; it must name a known order

    def _on_noted(self, e: Event) -> None:
        """Risk monitor, hedger, screening and Safe proposal events are recorded for the audit
        and change no order."""

    def _on_amended(self, e: OrderAmended) -> None:
        o = self.order(e.order_id)
        self._put(o.with_quantity(e.quantity, e.limit_price, ts=e.ts_event))
        if o.parent_id is not None:
            parent = self.order(o.parent_id)
            total = sum(
                (
                    (c.quantity if not c.is_terminal else c.filled_quantity)
                    for c in self.children(parent)
                ),
                _ZERO,
            )
            if total > 0:
                self._put(parent.with_quantity(total, e.limit_price, ts=e.ts_event))
            self._sync_parent(o, e.ts_event)

    def _on_settlement(self, e: SettlementUpdated) -> None:
        self._put(self.order(e.order_id).with_settlement(e.settlement, ts=e.ts_event))

    def _on_trading_state(self, e: TradingStateChanged) -> None:
        current = TradingState(self.trading_state["state"])
        self._set(self.trading_state, "state", advance_trading_state(current, e.state).value)
        self._set(self.trading_state, "reason", e.reason)

    def _on_reconciled(self, e: VenueReconciled) -> None:
        self._set(self.reconciled, e.venue, "ok")

    def _on_reconcile_failed(self, e: VenueReconciliationFailed) -> None:
        self._set(self.reconciled, e.venue, f"failed: {e.reason}")

    def _is_algo(self, parent: Order) -> bool:
        intent = self.intent_data.get(parent.intent_id)
        return intent is not None and intent.algo != "direct"

    def _sync_parent(self, child: Order, ts: int, reason: str | None = None) -> None:
        if child.parent_id is not None:
            self._sync(self.order(child.parent_id), ts, reason)

    def _sync(self, p: Order, ts: int, reason: str | None = None) -> None:
        """Derive parent ``p``'s fill and status from its children (and its algo's state)."""
        kids = self.children(p)
        filled = sum((k.filled_quantity for k in kids), _ZERO)
        avg = (
            sum(((k.avg_fill_price or _ZERO) * k.filled_quantity for k in kids), _ZERO) / filled
            if filled
            else None
        )
        # filled > p.quantity: an overfill (a late fill of a child already replaced). It is what
        # the venues did, so it is recorded; the engine raises a RiskAlertRaised for it.
        algo = self._is_algo(p) or p.order_id in self.algo_states
        algo_live = algo and self.algo_states.get(p.order_id) is not AlgoState.CANCELLED
        if filled >= p.quantity:
            target = _S.FILLED
        elif any(not k.is_terminal for k in kids) or algo_live:
            target = _S.PARTIALLY_FILLED if filled else _S.WORKING
        elif algo:
            target = _S.CANCELLED
        else:
            ends = {k.status for k in kids}
            target = (
                _S.CANCELLED
                if _S.CANCELLED in ends
                else _S.EXPIRED
                if _S.EXPIRED in ends
                else _S.FAILED
            )
        p = p.with_children_filled(filled, avg)
        if p.is_terminal and p.status is not _S.FILLED:
            # Ended (cancelled, expired, failed, rejected): it stays so; a late fill or a fill
            # taken back by a reorg only changes what it filled.
            self._put(p)
            return
        if target is not p.status:
            if target in (_S.CANCELLED, _S.EXPIRED, _S.FAILED) and reason is None:
                reason = next((k.reason for k in reversed(kids) if k.reason), None)
            if target is _S.PARTIALLY_FILLED and p.status is _S.RISK_ACCEPTED:
                p = p.transition(_S.WORKING, ts=ts)
            p = p.transition(target, ts=ts, reason=reason)
        self._put(p)


_HANDLERS: dict[type[Event], Any] = {
    OrderInitialized: Projections._on_initialized,
    OrderAccepted: Projections._on_accepted,
    OrderRejected: Projections._on_rejected,
    ChildOrderCreated: Projections._on_child,
    OrderSubmitted: Projections._on_submitted,
    OrderAcknowledged: Projections._on_ack,
    OrderOutcomeUnknown: Projections._on_unknown,
    FillRecorded: Projections._on_fill,
    FillReversed: Projections._on_fill_reversed,
    AlgoStateChanged: Projections._on_algo_state,
    OrderCancelRequested: Projections._on_cancel_requested,
    OrderCancelled: Projections._on_cancelled,
    OrderExpired: Projections._on_expired,
    OrderFailed: Projections._on_failed,
    RiskAlertRaised: Projections._on_alert,
    OrderAmended: Projections._on_amended,
    SettlementUpdated: Projections._on_settlement,
    TradingStateChanged: Projections._on_trading_state,
    VenueReconciled: Projections._on_reconciled,
    VenueReconciliationFailed: Projections._on_reconcile_failed,
    # risk monitor / hedger decisions share the store (audit) but change no order
    HedgeDecided: Projections._on_noted,
    HedgeSkipped: Projections._on_noted,
    PortfolioAlertRaised: Projections._on_noted,
    PortfolioAlertCleared: Projections._on_noted,
    RiskMonitorDegraded: Projections._on_noted,
    # compliance screening and Safe proposals: audit trail, no order changes
    AddressScreeningMatched: Projections._on_noted,
    SafeTransactionProposed: Projections._on_noted,
    SafeTransactionSigned: Projections._on_noted,
    SafeTransactionExecuted: Projections._on_noted,
    # structure parents: their legs' orders have events of their own
    StructureSubmitted: Projections._on_noted,
    StructureAccepted: Projections._on_noted,
    StructureRejected: Projections._on_noted,
    StructureSendStarted: Projections._on_noted,
    StructureLegsSubmitted: Projections._on_noted,
    StructureLegFilled: Projections._on_noted,
    StructureLegMissed: Projections._on_noted,
    StructureLegsReversed: Projections._on_noted,
    StructureCompleted: Projections._on_noted,
    StructureHedged: Projections._on_noted,
    SafeSignaturesRequested: Projections._on_noted,
    SafeSignatureSubmitted: Projections._on_noted,
    SafeTransactionExpired: Projections._on_noted,
}
