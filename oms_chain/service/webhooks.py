"""Webhook delivery that never blocks its caller: :class:`WebhookSender` (a bounded queue and
one task per URL; the oldest payload dropped when full, failed POSTs retried with exponential
backoff, then given up; both counted). The risk monitor POSTs its alerts through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from oms_chain.model.errors import InvalidInput

__all__ = ["Sleep", "WebhookSender"]

log = logging.getLogger("oms_chain.risk_monitor")

Sleep = Callable[[float], Awaitable[None]]


class WebhookSender:
    """POSTs JSON payloads to ``url`` from a bounded queue, in one background task.

    Args:
        url: ``http://`` or ``https://`` address of the receiver.
        max_queue: payloads kept while the receiver is slow (oldest dropped beyond).
        attempts: tries per payload (>= 1); backoff_s / max_backoff_s: the wait before the
            second try, doubled each time up to the maximum.
        timeout_s: per-request timeout.
        sleep: injected sleep for the backoff (default :func:`asyncio.sleep`).

    Raises:
        InvalidInput: a bad argument (named).
    """

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 1000,
        attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 5.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(f"webhook url must start with http:// or https://, got {url!r}")
        for name, v, lo in (("max_queue", max_queue, 1), ("attempts", attempts, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidInput(f"webhook {name} must be an int >= {lo}, got {v!r}")
        for name, f in (
            ("backoff_s", backoff_s),
            ("max_backoff_s", max_backoff_s),
            ("timeout_s", timeout_s),
        ):
            if isinstance(f, bool) or not isinstance(f, int | float) or not 0 <= f <= 3600:
                raise InvalidInput(f"webhook {name} must be seconds in [0, 3600], got {f!r}")
        self.url = url
        self._queue: deque[dict[str, Any]] = deque(maxlen=max_queue)
        self._wake = asyncio.Event()
        self._attempts = attempts
        self._backoff = float(backoff_s)
        self._max_backoff = float(max_backoff_s)
        self._timeout = float(timeout_s)
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        #: Counters: payloads delivered, dropped (queue full), given up after every attempt.
        self.delivered = 0
        self.dropped = 0
        self.failed = 0

    def send(self, payload: Mapping[str, Any]) -> None:
        """Queue ``payload`` (JSON-safe); never waits. Starts the task on first use."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
            log.warning("webhook %s: queue full, dropped the oldest alert", self.url)
        self._queue.append(dict(payload))
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def pending(self) -> int:
        """Payloads waiting (not counting the one being sent)."""
        return len(self._queue)

    async def drain(self) -> None:
        """Wait until every queued payload is delivered or given up (tests, shutdown)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Stop the task (what is still queued is dropped) and close the HTTP session."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            payload = self._queue.popleft()
            await self._deliver(payload)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        assert self._session is not None
        wait = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._session.post(self.url, json=payload) as resp:
                    if resp.status < 300:
                        self.delivered += 1
                        return
                    why = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = f"{type(exc).__name__}: {exc}"
            if attempt == self._attempts:
                break
            log.info("webhook %s: attempt %d failed (%s); retrying", self.url, attempt, why)
            await self._sleep(wait)
            wait = min(wait * 2, self._max_backoff)
        self.failed += 1
        log.warning("webhook %s: gave up after %d attempts (%s)", self.url, self._attempts, why)
