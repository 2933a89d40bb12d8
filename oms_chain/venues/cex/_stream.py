"""The ccxt venue's order stream: ``watch_orders`` while it delivers, REST polls of tracked
orders while it is down, and a REST pass after every reconnect (private streams lose events
across reconnects)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

from oms_chain.model.errors import (
    InvalidInput,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from oms_chain.model.ids import ClientOrderId, VenueOrderId
from oms_chain.venues.base import (
    VenueReport,
)
from oms_chain.venues.cex._core import _CcxtCore, _log, _with_coid
from oms_chain.venues.cex.normalize import (
    fill_report_from_ccxt,
    order_report_from_ccxt,
)
from oms_chain.venues.cex.throttle import Backoff

__all__: list[str] = []


class _OrderStream(_CcxtCore):
    """Reports the ccxt venue pushes, and the polls that stand in for them."""

    async def events(self) -> AsyncIterator[VenueReport]:  # type: ignore[override]
        while True:
            yield await self._queue.get()

    async def poll(self) -> None:
        """Refresh every order we track as open over REST, pushing changes to :meth:`events`."""
        async with self._poll_lock:
            self.stats["rest_polls"] += 1
            for coid in sorted(self._open):
                found = await self._locate(coid)
                if found is not None:
                    self.stats["polled_reports"] += self._observe(found)

    async def _safe_poll(self) -> None:
        try:
            await self.poll()
        except (VenueTimeout, VenueUnavailable, VenueRejected) as exc:
            _log.info("%s: REST poll failed: %s", self._id, exc)
        except Exception:  # a background loop must outlive one malformed answer
            _log.exception("%s: REST poll failed unexpectedly", self._id)

    async def _poll_for(self, seconds: float) -> None:
        """Poll REST every ``poll_interval_s`` for ``seconds`` (the stream is down)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            await self._safe_poll()
            left = end - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, self._cfg.poll_interval_s))

    async def _user_loop(self) -> None:
        backoff = Backoff(self._cfg.backoff_initial_s, self._cfg.backoff_max_s, rng=self._rng)
        recovering = False
        while True:
            watch = asyncio.ensure_future(self._ex.watch_orders())
            try:
                while True:
                    done, _ = await asyncio.wait({watch}, timeout=self._cfg.poll_interval_s)
                    if done:
                        break
                    if self.stream_up:
                        continue
                    if self._ws_connected():  # subscribed a poll interval ago, no error since
                        recovering = await self._stream_restored(backoff, recovering)
                    else:  # not confirmed (yet): REST is the source
                        await self._safe_poll()
                orders = watch.result()
            except asyncio.CancelledError:
                watch.cancel()
                raise
            except Exception as exc:
                self.stream_up = False
                recovering = True
                self.stats["stream_errors"] += 1
                _log.info("%s: user stream lost (%s); polling REST", self._id, exc)
                await self._poll_for(backoff.next_delay())
                continue
            if not self.stream_up:
                recovering = await self._stream_restored(backoff, recovering)
            for raw in orders:
                try:
                    await self._on_stream_order(raw)
                except Exception:  # keep the stream alive; polling will pick the order up
                    _log.exception("%s: stream order update not handled", self._id)

    async def _stream_restored(self, backoff: Backoff, recovering: bool) -> bool:
        self.stream_up = True
        backoff.reset()
        if recovering:  # private streams lose events across reconnects: ask REST
            self.stats["stream_reconnects"] += 1
            await self._safe_poll()
        return False

    def _ws_connected(self) -> bool:
        """True when ccxt holds websocket connections and every one of them is open."""
        clients = list((self._ex.clients or {}).values())  # ccxt: a dict on every exchange

        def is_open(client: Any) -> bool:
            fut = client.connected
            return (
                bool(fut.done() and not fut.cancelled() and fut.exception() is None)
                and not client.closed()
            )

        return bool(clients) and all(is_open(c) for c in clients)

    async def _on_stream_order(self, raw: Mapping[str, Any]) -> None:
        symbol = raw.get("symbol")
        if symbol not in self._markets or raw.get("id") is None:
            return
        market = self._markets[str(symbol)]
        voi = VenueOrderId(str(raw["id"]))
        coid = self._coid_of.get(voi) or raw.get("clientOrderId")
        if not coid:
            return
        coid = ClientOrderId(str(coid))
        try:
            fills = [
                fill_report_from_ccxt(
                    t, market, venue=self._id, client_order_id=coid, ts_default=self._now()
                )
                for t in raw.get("trades") or ()
                if t.get("id") is not None
            ]
            filled = market.amount(raw.get("filled") or 0)
            if sum((f.quantity for f in fills), Decimal(0)) != filled:
                # the stream missed trades of this order: take the full picture from REST
                report = await self._report(raw, coid)
            else:
                report = order_report_from_ccxt(
                    raw,
                    market,
                    venue=self._id,
                    fills=fills,
                    client_order_id=coid,
                    ts_default=self._now(),
                )
                report = _with_coid(report, coid)
                self._track(report, market.symbol)
        except (InvalidInput, VenueTimeout, VenueUnavailable, VenueRejected) as exc:
            _log.warning("%s: stream order %s not usable (%s); polling", self._id, voi, exc)
            self._open.add(coid)
            self._symbol_of.setdefault(coid, market.symbol)
            return
        self._observe(report)
