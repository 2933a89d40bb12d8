"""Drives a split parent: one direct intent over several venues, routed and re-routed.

A :class:`SplitRunner` works one split parent beside the
:class:`~oms_chain.engine.algo_runner.AlgoRunner`s, on the same engine calls (``spawn_child``,
``stop_algo``) and the same :class:`~oms_chain.engine.retry.RetryPolicy`. Each *round* routes
what is left of the parent over its venues that have not failed it finally
(:class:`~oms_chain.engine.split.Splitter`) and sends the legs concurrently; the runner waits
while children are open, routes again what they failed to fill, backs off on retryable errors
(unavailable venue, timeout, a venue under reconciliation) and ends the parent — filled, or
cancelled with the reason the route could not go on (deadline, no venue left, re-routed
``max_reroutes`` times).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from oms_chain.engine.algo_runner import AlgoEngine
from oms_chain.engine.journal import CLOSE, Journal
from oms_chain.engine.retry import RetryPolicy, is_retryable
from oms_chain.engine.split import Splitter
from oms_chain.engine.translator import not_sent
from oms_chain.model.algo_state import AlgoState
from oms_chain.model.errors import ReconciliationFailed
from oms_chain.model.ids import OrderId, VenueId
from oms_chain.model.intent import Side
from oms_chain.model.orders import OrderStatus
from oms_chain.venues.base import Venue

__all__ = ["RetryLater", "SplitRunner", "clip_limit"]

log = logging.getLogger(__name__)


def clip_limit(side: Side, limit: Decimal | None, bound: Decimal | None) -> Decimal | None:
    """``limit`` made no worse than ``bound`` (a sell never below it, a buy never above)."""
    if bound is None:
        return limit
    if limit is None:
        return bound
    return max(limit, bound) if side is Side.SELL else min(limit, bound)


def _passing(exc: BaseException) -> bool:
    """An error a split round waits out: retryable, or a venue under reconciliation (the
    background reconciler is settling it; the order itself did nothing wrong)."""
    return is_retryable(exc) or isinstance(exc, ReconciliationFailed)


class RetryLater(str):
    """Why a split round could not go on *now* (retryable errors only)."""

    __slots__ = ()


class SplitRunner:
    """Runs one split parent until it is terminal or its split is cancelled.

    Args:
        engine: the engine (the calls of
            :class:`~oms_chain.engine.algo_runner.AlgoEngine`: ``spawn_child``, ``stop_algo``).
        parent_id: the split parent.
        journal: the engine's journal (the projections read, the events waited on).
        venues: the engine's venues by id.
        splitter: sizes the legs.
        retry: backoff after a round that only retryable errors stopped.
        sleeper: how the runner waits (an ``oms_chain.algos`` ``Sleeper``).
        now_ns: the engine's clock.
        max_reroutes: rounds after the first, per venue of the intent.
        poll_s: longest wait for an event while children are open.
    """

    def __init__(
        self,
        engine: AlgoEngine,
        parent_id: OrderId,
        *,
        journal: Journal,
        venues: Mapping[VenueId, Venue],
        splitter: Splitter,
        retry: RetryPolicy,
        sleeper: Any,
        now_ns: Callable[[], int],
        max_reroutes: int,
        poll_s: float,
    ) -> None:
        self._engine = engine
        self._pid = parent_id
        self._journal = journal
        self._venues = venues
        self._splitter = splitter
        self._retry = retry
        self._sleeper = sleeper
        self._now = now_ns
        self._max_reroutes = max_reroutes
        self._poll_s = poll_s

    async def round(self) -> str | RetryLater | None:
        """Route what is left of the parent over its venues that have not failed it finally
        and send the legs concurrently. Returns why it cannot go on, a :class:`RetryLater`
        when only retryable errors stood in the way (back off and route again), or ``None``."""
        proj = self._journal.proj
        pid = self._pid
        parent = proj.order(pid)
        intent = proj.intent_data[parent.intent_id]
        kids = proj.children(parent)
        allocated = sum(
            (k.filled_quantity if k.is_terminal else k.quantity for k in kids), Decimal(0)
        )
        rest = parent.quantity - allocated
        if rest <= 0:
            return None
        if intent.deadline_ns is not None and self._now() >= intent.deadline_ns:
            return "deadline passed"
        failed = {
            k.venue
            for k in kids
            if k.status in (OrderStatus.REJECTED, OrderStatus.FAILED)
            and not not_sent(k)
            and not k.filled_quantity
        }
        venues = {
            v: self._venues[v] for v in intent.venues if v in self._venues and v not in failed
        }
        if not venues:
            last = next((k.reason for k in reversed(kids) if k.reason), "no reason given")
            return f"no venue left to route to (last failure: {last})"
        sent = [k for k in kids if not not_sent(k)]
        if sent and len(sent) >= len(intent.venues) * (1 + self._max_reroutes):
            return f"re-routed {self._max_reroutes} times"
        try:
            legs = await self._splitter.split(intent, rest, venues)
        except Exception as exc:
            if _passing(exc):
                return RetryLater(f"no route for {rest} now: {exc}")
            return f"no route for {rest}: {exc}"
        first_seq = max((k.seq for k in kids), default=-1) + 1
        results = await asyncio.gather(
            *(
                self._engine.spawn_child(
                    pid,
                    seq=first_seq + i,
                    venue=leg.venue,
                    quantity=leg.quantity,
                    # whatever the splitter says, never worse than the intent's limit
                    limit_price=clip_limit(intent.side, leg.limit_price, intent.limit_price),
                )
                for i, leg in enumerate(legs)
            ),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and len(errors) == len(results):
            if all(_passing(e) for e in errors):
                return RetryLater(f"could not send any leg now: {errors[0]!r}")
            return f"could not send any leg: {errors[0]!r}"
        proj = self._journal.proj
        kids_now = proj.children(proj.order(pid))
        new = [k for k in kids_now if k.seq >= first_seq]
        if new and all(not_sent(k) for k in new):
            return RetryLater(f"no leg left: {new[-1].reason}")
        return None

    async def run(self) -> None:
        """Route, wait and re-route until the parent is terminal or its split cancelled."""
        events = self._journal.listen()
        pid = self._pid
        attempts = 0
        try:
            while True:
                proj = self._journal.proj
                parent = proj.order(pid)
                if parent.is_terminal or proj.algo_states.get(pid) is AlgoState.CANCELLED:
                    return
                kids = proj.children(parent)
                if any(not k.is_terminal for k in kids):
                    with contextlib.suppress(TimeoutError):
                        if await asyncio.wait_for(events.get(), self._poll_s) is CLOSE:
                            return
                    continue
                if parent.filled_quantity >= parent.quantity:
                    return
                why = await self.round()
                if isinstance(why, RetryLater):
                    attempts += 1
                    log.info("split %s: %s; routing again (attempt %d)", pid, why, attempts + 1)
                    sleeper = self._sleeper
                    await sleeper.sleep_until(sleeper.now_ns() + self._retry.delay_ns(attempts))
                    continue
                attempts = 0
                if why is not None:
                    filled = self._journal.proj.order(pid).filled_quantity
                    await self._engine.stop_algo(
                        pid, f"split route ended with {filled} of {parent.quantity} filled: {why}"
                    )
                    return
        finally:
            self._journal.unlisten(events)
