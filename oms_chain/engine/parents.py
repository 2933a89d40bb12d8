"""The commands of algorithmic and split parents: what their runners call, and their control.

:class:`ParentCommands` is the part of :class:`~oms_chain.engine.Engine`'s command surface that
works parents through children: ``spawn_child`` / ``spawn_routed`` (the
:class:`~oms_chain.engine.algo_runner.AlgoEngine` calls of algorithm and split runners),
``algo_state`` / ``pause`` / ``resume`` / ``stop_algo`` / ``algo_pauses``, and the start of an
algo or split parent on submit. It is a base class of the engine (one object, its command
surface in three modules), on :class:`~oms_chain.engine._base.EngineBase`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from oms_chain.engine._base import EngineBase
from oms_chain.engine._checks import check_amount, check_id, check_int, check_text
from oms_chain.engine.split_runner import clip_limit
from oms_chain.model.algo_state import AlgoState
from oms_chain.model.errors import EngineNotReady, InvalidInput, InvalidIntent
from oms_chain.model.events import AlgoStateChanged
from oms_chain.model.ids import OrderId, VenueId, parent_order_id
from oms_chain.model.intent import Intent
from oms_chain.model.orders import Order
from oms_chain.risk.limits import TradingState

__all__ = ["ParentCommands"]

#: Highest child sequence number (a schedule of a million slices is a bug, not a plan).
MAX_SEQ = 1_000_000


class ParentCommands(EngineBase):
    """Commands of algorithmic and split parents (a base class of the engine)."""

    # --- commands -----------------------------------------------------------------------------

    async def spawn_child(
        self,
        parent_id: OrderId,
        *,
        seq: int,
        venue: VenueId,
        quantity: Decimal,
        limit_price: Decimal | None,
    ) -> Order:
        """Create and send child ``seq`` of an accepted parent (algorithms and split routes).

        Idempotent on ``(parent_id, seq)``: if that child exists it is returned and nothing is
        sent, so a schedule recomputed after a restart never sends a slice twice. The child is
        recorded (write-ahead) before the venue is called; returns it as it stands afterwards.

        Raises:
            EngineNotReady: not ready, or trading is halted.
            InvalidInput: unknown parent / venue, a child order id, a terminal parent, a
                non-positive quantity, or more than the parent's unallocated quantity.
        """
        check_id("parent_id", parent_id)
        check_int("child seq", seq, low=0, high=MAX_SEQ)
        check_id("venue", venue)
        check_amount("child quantity", quantity)
        check_amount("child limit_price", limit_price, optional=True)
        self._require_ready()
        parent = self._proj.order(parent_id)
        if parent.parent_id is not None:
            raise InvalidInput(f"order {parent_id} is a child; children hang off parents")
        if venue not in self._venues:
            raise InvalidInput(f"unknown venue {venue!r} (configured: {sorted(self._venues)})")
        async with self._sync.lock(venue):
            parent = self._proj.order(parent_id)
            for c in self._proj.children(parent):
                if c.seq == seq:
                    return c
            if parent.is_terminal:
                raise InvalidInput(f"order {parent_id} is {parent.status.value}; no new child")
            if self._risk.trading_state is TradingState.HALTED:
                raise EngineNotReady(
                    f"trading is halted ({self._proj.trading_state['reason']}); no new child orders"
                )
            allocated = sum(
                (
                    c.filled_quantity if c.is_terminal else c.quantity
                    for c in self._proj.children(parent)
                ),
                Decimal(0),
            )
            if allocated + quantity > parent.quantity:
                raise InvalidInput(
                    f"child of {quantity} would take order {parent_id} past its quantity "
                    f"({allocated} of {parent.quantity} already allocated)"
                )
            if venue in self._sync.needs:
                await self._sync.reconcile_locked(venue)
            return await self._placement.open_child(
                parent,
                self._proj.intent_data[parent.intent_id],
                seq=seq,
                venue=venue,
                quantity=quantity,
                limit_price=limit_price,
            )

    async def spawn_routed(
        self,
        parent_id: OrderId,
        *,
        seq: int,
        quantity: Decimal,
        limit_price: Decimal | None,
    ) -> list[Order]:
        """Send a slice of a parent through routing at this moment: with a splitter and several
        configured venues, one child per leg (sequence numbers ``seq``, ``seq + 1``, …, sent
        concurrently, each no worse than ``limit_price``); otherwise one child on the intent's
        first configured venue. Returns the children created (or found: idempotent per seq).

        Raises:
            like :meth:`spawn_child`; InvalidInput also when no route exists.
        """
        check_id("parent_id", parent_id)
        check_int("child seq", seq, low=0, high=MAX_SEQ)
        check_amount("slice quantity", quantity)
        check_amount("slice limit_price", limit_price, optional=True)
        self._require_ready()
        parent = self._proj.order(parent_id)
        if parent.parent_id is not None:
            raise InvalidInput(f"order {parent_id} is a child; slices hang off parents")
        intent = self._proj.intent_data[parent.intent_id]
        venues = {v: self._venues[v] for v in intent.venues if v in self._venues}
        if not venues:
            raise InvalidInput(f"none of the venues of {parent_id} is configured")
        existing = [c for c in self._proj.children(parent) if c.seq >= seq]
        if existing:
            return existing
        if self._splitter is None or len(venues) == 1:
            venue = next(iter(venues))
            child = await self.spawn_child(
                parent_id, seq=seq, venue=venue, quantity=quantity, limit_price=limit_price
            )
            return [child]
        legs = await self._splitter.split(intent, quantity, venues)

        def bounded(leg_limit: Decimal | None) -> Decimal | None:
            return clip_limit(
                intent.side, clip_limit(intent.side, leg_limit, limit_price), intent.limit_price
            )

        results = await asyncio.gather(
            *(
                self.spawn_child(
                    parent_id,
                    seq=seq + i,
                    venue=leg.venue,
                    quantity=leg.quantity,
                    limit_price=bounded(leg.limit_price),
                )
                for i, leg in enumerate(legs)
            ),
            return_exceptions=True,
        )
        kids = [r for r in results if isinstance(r, Order)]
        if not kids:
            errors = [r for r in results if isinstance(r, BaseException)]
            raise errors[0] if errors else InvalidInput(f"no leg of {parent_id} was sent")
        return kids

    def algo_state(self, parent_id: OrderId) -> AlgoState:
        """``running``, ``paused`` or ``cancelled`` for an algorithmic parent order (an
        :class:`~oms_chain.model.AlgoState`, a ``str`` enum: it compares equal to those strings).

        Raises:
            UnknownOrder / InvalidInput: no such order, or it is not an algorithmic parent.
        """
        parent = self._proj.order(OrderId(check_id("parent_id", parent_id)))
        if parent.parent_id is not None or not (
            self._is_algo(parent) or parent_id in self._proj.algo_states
        ):
            raise InvalidInput(f"order {parent_id} is not an algorithmic or split parent order")
        return self._proj.algo_states.get(parent_id, AlgoState.RUNNING)

    def pause(self, parent_id: OrderId, reason: str = "paused by user") -> None:
        """Stop an algorithm from sending new children (open children stay working).

        Raises:
            InvalidInput: not an algorithmic parent (a split route cannot be paused; cancel it),
                or a non-string id / reason.
        """
        check_id("parent_id", parent_id)
        check_text("reason", reason)
        if not self._is_algo(self._proj.order(parent_id)):
            raise InvalidInput(
                f"order {parent_id} is a split route, not an algorithm; it cannot be paused "
                f"(cancel it instead)"
            )
        self._set_algo_state(parent_id, AlgoState.PAUSED, reason)

    def resume(self, parent_id: OrderId, reason: str = "resumed by user") -> None:
        """Let a paused algorithm go on. Its schedule clock stood still while it was paused: the
        rest of the schedule shifts by the pause (the intent's deadline does not).

        Raises:
            InvalidInput: not an algorithmic parent, its algo is over, or a non-string id /
                reason.
        """
        check_id("parent_id", parent_id)
        check_text("reason", reason)
        self._set_algo_state(parent_id, AlgoState.RUNNING, reason)

    def _set_algo_state(self, parent_id: OrderId, state: AlgoState, reason: str) -> None:
        self._require_started()
        current = self.algo_state(parent_id)
        parent = self._proj.order(parent_id)
        if current is state:
            return
        if current is AlgoState.CANCELLED or parent.is_terminal:
            raise InvalidInput(f"order {parent_id} is {parent.status.value}; its algo is over")
        self._commit(
            parent_id,
            [AlgoStateChanged(**self._order_kw(parent), state=state.value, reason=reason)],
        )

    async def stop_algo(self, parent_id: OrderId, reason: str) -> Order:
        """End an algorithm: no more children; open children are cancelled; the parent ends
        (filled if everything filled, else cancelled with ``reason``).

        Raises:
            InvalidInput: not an algorithmic or split parent, or a non-string id / reason.
        """
        check_text("reason", reason)
        if self.algo_state(parent_id) is not AlgoState.CANCELLED:
            parent = self._proj.order(parent_id)
            if not parent.is_terminal:
                self._commit(
                    parent_id,
                    [
                        AlgoStateChanged(
                            **self._order_kw(parent),
                            state=AlgoState.CANCELLED.value,
                            reason=reason,
                        )
                    ],
                )
        self._runs.cancel(parent_id)
        parent = self._proj.order(parent_id)
        if any(not c.is_terminal for c in self._proj.children(parent)):
            return await self.cancel(parent_id)
        return parent

    async def _submit_algo(self, intent: Intent) -> Order:
        async with self._sync.lock(VenueId("~parents")):
            existing = self._resubmitted(intent)
            if existing is not None:
                return existing
            from oms_chain.algos import needs_market, scheduler_for

            scheduler = scheduler_for(intent)  # bad params: InvalidIntent, nothing written
            if self._market_data is None and needs_market(scheduler):
                raise InvalidIntent(
                    f"algo {intent.algo!r} needs market volume (a volume profile or traded "
                    f"volume); give the engine market_data, or a 'profile' param for vwap"
                )
            decision = self._check(intent)
            pid = parent_order_id(intent.intent_id)
            events = self._parent_events(intent, decision, pid)
            self._commit(pid, events)
            parent = self._proj.order(pid)
            if decision.accepted:
                self._runs.start_algo(parent)
            return parent

    async def _submit_split(self, intent: Intent) -> Order:
        """Parent + first round of routed children, sent concurrently; a background task
        re-routes what they fail to fill and ends the parent."""
        async with self._sync.lock(VenueId("~parents")):
            existing = self._resubmitted(intent)
            if existing is not None:
                return existing
            decision = self._check(intent)
            pid = parent_order_id(intent.intent_id)
            events = self._parent_events(intent, decision, pid)
            if decision.accepted:
                venues = [v for v in intent.venues if v in self._venues]
                events.append(
                    AlgoStateChanged(
                        event_id=self._eid(),
                        ts_event=events[0].ts_event,
                        ts_init=events[0].ts_event,
                        correlation_id=intent.intent_id,
                        order_id=pid,
                        state=AlgoState.RUNNING.value,
                        reason=f"split route over {', '.join(venues)}",
                    )
                )
            self._commit(pid, events)
            if not decision.accepted:
                return self._proj.order(pid)
        runner = self._runs.split_runner(pid)
        await runner.round()
        self._runs.start_split(pid, runner)
        return self._proj.order(pid)

    def algo_pauses(self, parent_id: OrderId) -> tuple[tuple[int, int | None], ...]:
        """When algorithmic parent ``parent_id`` was paused: ``(start_ns, end_ns)`` intervals,
        the last one ending ``None`` while it is paused now."""
        check_id("parent_id", parent_id)
        return self._journal.algo_pauses(parent_id)
