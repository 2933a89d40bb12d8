"""Background reconciliation: ambiguity resolved actively, not when the next order happens.

As soon as a send's outcome is unknown (a timeout, a 503 after the request may have left, a lost
answer) or a venue's report cannot be applied, the engine pokes the :class:`Reconciler`. It
reconciles each venue that needs it at once, then again with backoff
(:class:`~oms_chain.engine.retry.RetryPolicy`) until nothing of that venue is unsettled — and, for
a venue with a receive window, exactly when the window of a still-missing order closes, so that
"never received" is declared as early as it is true and no earlier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from oms_chain.engine.retry import RetryPolicy
from oms_chain.model.ids import VenueId

__all__ = ["Reconciler"]

log = logging.getLogger(__name__)


class Reconciler:
    """Reconciles venues in the background.

    Args:
        reconcile: reconciles one venue now (raises on failure).
        wanted: venue -> earliest time (ns) a reconciliation is useful, for every venue that
            needs one (``None``: no deadline, backoff only).
        now_ns: the engine's clock.
        sleep_until: waits until a time of that clock (an algos ``Sleeper.sleep_until``).
        policy: the backoff between attempts on one venue.
    """

    def __init__(
        self,
        *,
        reconcile: Callable[[VenueId], Awaitable[None]],
        wanted: Callable[[], Mapping[VenueId, int | None]],
        now_ns: Callable[[], int],
        sleep_until: Callable[[int], Awaitable[None]],
        policy: RetryPolicy,
    ) -> None:
        self._reconcile = reconcile
        self._wanted = wanted
        self._now = now_ns
        self._sleep_until = sleep_until
        self._policy = policy
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._attempts: dict[VenueId, int] = {}
        self._next: dict[VenueId, int] = {}
        #: Reconciliations run (for tests and operators).
        self.runs = 0

    def poke(self, venue_id: VenueId | None = None) -> None:
        """Something became ambiguous (at ``venue_id``): look now, backoff from scratch.
        Starts the background task on the running event loop if it is not running there."""
        if venue_id is not None:
            self._attempts.pop(venue_id, None)
            self._next.pop(venue_id, None)
        if self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            if task is not None and not task.done():
                task.cancel()
            self._wake = asyncio.Event()
            self._task = loop.create_task(self.run(), name="reconciler")
        self._wake.set()

    async def stop(self) -> None:
        """Stop the background task (for good)."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            if task.get_loop() is asyncio.get_running_loop():
                await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """Run until cancelled (normally started by :meth:`poke`)."""
        # A cancellation can be swallowed by a venue call finishing at the same moment
        # (asyncio.wait_for), so the loop also checks the stop flag.
        while not self._stopped:
            self._wake.clear()
            wanted = self._wanted()
            for vid in list(self._attempts):
                if vid not in wanted:  # settled: the next ambiguity starts from scratch
                    del self._attempts[vid]
                    self._next.pop(vid, None)
            now = self._now()
            for vid, deadline in wanted.items():
                if self._stopped:
                    return
                if self._next.get(vid, now) > now:
                    continue
                try:
                    self.runs += 1
                    await self._reconcile(vid)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.info("background reconciliation of %s failed: %s", vid, exc)
                attempt = self._attempts[vid] = self._attempts.get(vid, 0) + 1
                after = self._now()
                at = after + self._policy.delay_ns(attempt)
                if deadline is not None and after < deadline < at:
                    at = deadline
                self._next[vid] = at
            wanted = self._wanted()
            if self._stopped:
                return
            if not wanted:
                await self._wake.wait()
                continue
            wake_at = min(self._next.get(v, self._now()) for v in wanted)
            await self._wait(wake_at)

    async def _wait(self, wake_at_ns: int) -> None:
        if self._wake.is_set() or wake_at_ns <= self._now():
            return
        tasks: list[asyncio.Task[object]] = [
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(self._sleep_until(wake_at_ns)),  # type: ignore[arg-type]
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
