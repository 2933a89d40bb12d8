"""The commands on one order: cancel and amend (a base class of the engine).

A cancel stops an algorithm or split route first (so it sends nothing more), then cancels the
open children at their venues; an amend changes a parent's quantity or limit through its one
open child, the added quantity through the risk gate.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from oms_chain.engine._base import EngineBase
from oms_chain.engine._checks import check_amount, check_id
from oms_chain.model.algo_state import AlgoState
from oms_chain.model.errors import InvalidInput
from oms_chain.model.events import AlgoStateChanged, OrderCancelled
from oms_chain.model.ids import OrderId
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.risk.limits import TradingState

__all__ = ["OrderCommands"]

_UNSETTLED = (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)


class OrderCommands(EngineBase):
    """Cancel and amend (a base class of the engine)."""

    async def cancel(self, order_id: OrderId) -> Order:
        """Cancel a parent order (all its open children) or one child. Passes in every trading
        state. Returns the (parent) order as it stands afterwards.

        For a parent that no runner of this process works (its owner is gone, e.g. ``oms
        cancel``), a child whose send's outcome is unknown is waited for until its venue's
        receive window has closed and then reconciled, so the parent ends here (a child that
        arrived late is cancelled too) instead of staying open in a store nobody works.

        Raises:
            UnknownOrder: no such order.
            VenueTimeout: the venue did not answer; the order stays open until reconciled.
            InvalidInput: ``order_id`` is not a string.
            LeaseLost: (a worker's engine) another worker holds the parent now: the cancel
                did not leave.
        """
        check_id("order_id", order_id)
        self._require_started("; cannot cancel yet")
        order = self._proj.order(order_id)
        parent = order if order.parent_id is None else self._proj.order(order.parent_id)
        if order.is_terminal:
            return parent
        if (
            order.parent_id is None
            and self._proj.algo_states.get(order.order_id) is not AlgoState.CANCELLED
            and (self._is_algo(order) or order.order_id in self._proj.algo_states)
        ):
            # An algorithm or split route: stop it first, so it sends nothing more.
            self._commit(
                order.order_id,
                [
                    AlgoStateChanged(
                        **self._order_kw(order),
                        state=AlgoState.CANCELLED.value,
                        reason="cancelled by user",
                    )
                ],
            )
            self._runs.cancel(order.order_id)
            order = parent = self._proj.order(order.order_id)
            if order.is_terminal:
                return order
        targets = (
            [order]
            if order.parent_id is not None
            else [c for c in self._proj.children(order) if not c.is_terminal]
        )
        if not targets:
            cancelled = OrderCancelled(**self._order_kw(order), reason="cancelled before sending")
            self._commit(order.order_id, [cancelled])
            return self._proj.order(parent.order_id)
        await self._placement.cancel(parent, targets)
        if parent.order_id in self._runs.foreign and await self._await_proof(parent):
            # Proven now: children that arrived late are open at their venue; cancel them too.
            late = [c for c in self._proj.children(parent) if not c.is_terminal]
            if late:
                await self._placement.cancel(parent, late)
        return self._proj.order(parent.order_id)

    async def _await_proof(self, parent: Order) -> bool:
        """Wait until the receive windows of ``parent``'s children whose outcome is unknown have
        closed, then reconcile their venues so that each is proven executed or never received.

        Only for a parent no runner of this process works (its owner is gone, or another
        process owns it): nothing else here would settle those children before this process
        exits. Returns whether it waited."""
        unknown = [c for c in self._proj.children(parent) if c.status in _UNSETTLED]
        deadlines = [d for c in unknown if (d := self._sync.acceptance_deadline(c)) is not None]
        if not deadlines:
            return False
        await self._sleeper_now().sleep_until(max(deadlines))
        for vid in sorted({c.venue for c in unknown if c.venue in self._venues}):
            async with self._sync.lock(vid):
                self._sync.want(vid)
                await self._sync.reconcile_locked(vid)
        return True

    async def amend(
        self,
        order_id: OrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
    ) -> Order:
        """Change a parent order's total quantity and/or limit price.

        The parent must have exactly one open child. An increase goes through the risk gate for
        the added quantity; a decrease always passes (even when halted).

        Raises:
            InvalidInput: nothing to change, bad values, or the order has no single open child.
            VenueRejected: the venue refused; nothing changed.
            VenueTimeout: no answer; the child is reconciled before the venue is used again.
            LeaseLost: (a worker's engine) another worker holds the parent now: the amend did
                not leave.
        """
        check_id("order_id", order_id)
        check_amount("amend quantity", quantity, optional=True)
        check_amount("amend limit_price", limit_price, optional=True)
        if quantity is None and limit_price is None:
            raise InvalidInput("amend needs a new quantity and/or limit_price")
        self._require_ready()
        parent = self._proj.order(order_id)
        if parent.parent_id is not None:
            parent = self._proj.order(parent.parent_id)
        open_kids = [c for c in self._proj.children(parent) if not c.is_terminal]
        if len(open_kids) != 1:
            raise InvalidInput(
                f"order {parent.order_id} has {len(open_kids)} open child orders; amend needs one"
            )
        child = open_kids[0]
        venue_id = child.venue
        assert venue_id is not None and child.client_order_id is not None
        new_total = parent.quantity if quantity is None else quantity
        others_filled = parent.filled_quantity - child.filled_quantity
        new_child_qty = new_total - others_filled
        new_limit = child.limit_price if limit_price is None else limit_price
        if new_child_qty < child.filled_quantity:
            raise InvalidInput(
                f"amend quantity {new_total} is below what is already filled "
                f"({parent.filled_quantity})"
            )
        await self._refresh_reference_price(self._proj.intent_data[parent.intent_id], venue_id)
        async with self._sync.lock(venue_id):
            if venue_id in self._sync.needs:
                await self._sync.reconcile_locked(venue_id)
            child = self._proj.order(child.order_id)
            if child.is_terminal or child.status in _UNSETTLED:
                raise InvalidInput(f"order {child.order_id} is {child.status.value}; cannot amend")
            added = new_total - parent.quantity
            if added > 0 or (
                limit_price is not None
                and self._risk.trading_state is not TradingState.ACTIVE
                and added >= 0
            ):
                intent = self._proj.intent_data[parent.intent_id]
                probe = replace(
                    intent,
                    quantity=added if added > 0 else child.leaves_quantity,
                    notional=None,
                    limit_price=new_limit,
                )
                decision = self._check(probe)
                if not decision.accepted:
                    raise InvalidInput(f"amend rejected by risk: {decision.reason}")
            await self._placement.amend(parent, child, new_child_qty, new_limit)
        return self._proj.order(parent.order_id)
