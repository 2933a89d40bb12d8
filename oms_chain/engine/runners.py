"""The engine's background runners: one task per algorithmic or split parent it works.

:class:`Runners` starts an :class:`~oms_chain.engine.algo_runner.AlgoRunner` for an algo
parent and a :class:`~oms_chain.engine.split_runner.SplitRunner` for a split parent, on submit,
at restart (the open parents this process works) and after a reorg reopened a parent whose
runner had finished. Both get the engine's one
:class:`~oms_chain.engine.retry.RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from oms_chain.engine.algo_runner import AlgoEngine, VenueMarketData, runner_for
from oms_chain.engine.config import EngineConfig
from oms_chain.engine.journal import Journal
from oms_chain.engine.retry import RetryPolicy
from oms_chain.engine.split import Splitter
from oms_chain.engine.split_runner import SplitRunner
from oms_chain.model.algo_state import AlgoState
from oms_chain.model.ids import OrderId, VenueId
from oms_chain.model.orders import Order
from oms_chain.venues.base import Venue

__all__ = ["Runners"]

log = logging.getLogger(__name__)


class Runners:
    """Starts, tracks and stops the runners of one engine.

    Args:
        engine: the engine the runners drive (an
            :class:`~oms_chain.engine.algo_runner.AlgoEngine`).
        journal: the engine's journal.
        venues: the engine's venues by id.
        splitter: sizes split legs (``None``: the engine makes no split parents).
        retry: the engine's retry policy, shared by every runner.
        sleeper: the engine's way to wait, looked up when a runner starts.
        market_data: what algorithms observe (``None``: the venues' quotes).
        config: reroute limit and poll interval of split runners.
        now_ns: the engine's clock.
    """

    def __init__(
        self,
        engine: AlgoEngine,
        *,
        journal: Journal,
        venues: Mapping[VenueId, Venue],
        splitter: Splitter | None,
        retry: RetryPolicy,
        sleeper: Callable[[], Any],
        market_data: Any | None,
        config: Callable[[], EngineConfig],
        now_ns: Callable[[], int],
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._venues = venues
        self._splitter = splitter
        self._retry = retry
        self._sleeper = sleeper
        self._market_data = market_data
        self._config = config
        self._now = now_ns
        #: Parent id -> its runner's task (while it runs).
        self.tasks: dict[OrderId, asyncio.Task[Any]] = {}
        #: Open parents found at start that another process owns (never worked here).
        self.foreign: set[OrderId] = set()

    def is_algo(self, parent: Order) -> bool:
        """Whether ``parent`` is worked by an algorithm (its intent names one)."""
        intent = self._journal.proj.intent_data.get(parent.intent_id)
        return intent is not None and intent.algo != "direct"

    def start_algo(self, parent: Order) -> None:
        """Start the algorithm of ``parent``.

        Raises:
            InvalidIntent: its algo cannot run (bad params, needs market data it lacks).
        """
        intent = self._journal.proj.intent_data[parent.intent_id]
        market = self._market_data or VenueMarketData(self._venues.values())
        runner = runner_for(
            self._engine, parent, intent, sleeper=self._sleeper(), market=market, retry=self._retry
        )
        self._track(parent.order_id, runner.run(), "algorithm")

    def split_runner(self, pid: OrderId) -> SplitRunner:
        """A runner for split parent ``pid`` (not started)."""
        assert self._splitter is not None
        config = self._config()
        return SplitRunner(
            self._engine,
            pid,
            journal=self._journal,
            venues=self._venues,
            splitter=self._splitter,
            retry=self._retry,
            sleeper=self._sleeper(),
            now_ns=self._now,
            max_reroutes=config.max_reroutes,
            poll_s=config.split_poll_s,
        )

    def start_split(self, pid: OrderId, runner: SplitRunner | None = None) -> None:
        """Run split parent ``pid`` (with ``runner`` if one did its first round already)."""
        self._track(pid, (runner or self.split_runner(pid)).run(), "split route")

    def resume(self, orders: Iterable[Order], works_on: Callable[[OrderId], bool]) -> None:
        """At start: run the open algo and split parents this process works; note the
        others as foreign."""
        algo_states = self._journal.proj.algo_states
        for order in orders:
            if order.parent_id is not None or not order.is_open:
                continue
            if not works_on(order.order_id):
                self.foreign.add(order.order_id)
            elif self.is_algo(order):
                try:
                    self.start_algo(order)
                except Exception as exc:
                    log.error("algorithm of %s not resumed: %s", order.order_id, exc)
            elif order.order_id in algo_states:
                self.start_split(order.order_id)

    def revive(self, pid: OrderId) -> None:
        """A reorg took a fill back from a split or algo parent that had finished: its task
        ended with it, so start it again to see the order through."""
        proj = self._journal.proj
        parent = proj.order(pid)
        if (
            parent.is_terminal
            or pid in self.tasks
            or proj.algo_states.get(pid) is AlgoState.CANCELLED
            or pid in self.foreign
        ):
            return
        if self.is_algo(parent):
            try:
                self.start_algo(parent)
            except Exception as exc:
                log.error("algorithm of %s not restarted after a reorg: %s", pid, exc)
        elif pid in proj.algo_states:
            self.start_split(pid)

    def cancel(self, pid: OrderId) -> None:
        """Stop the runner of ``pid`` (unless it is the caller)."""
        task = self.tasks.get(pid)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def stop(self) -> None:
        """Cancel every runner and wait for them to end."""
        runners = list(self.tasks.values())
        self.tasks.clear()
        for t in runners:
            t.cancel()
        for t in runners:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def _track(self, pid: OrderId, work: Any, what: str) -> None:
        task: asyncio.Task[Any] = asyncio.create_task(work, name=f"{what}-{pid}")
        self.tasks[pid] = task

        def done(t: asyncio.Task[Any]) -> None:
            if self.tasks.get(pid) is t:
                del self.tasks[pid]
            if not t.cancelled() and t.exception() is not None:
                log.error("%s of %s stopped on an error: %r", what, pid, t.exception())

        task.add_done_callback(done)
