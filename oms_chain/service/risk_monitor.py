"""The risk monitor: re-evaluates the portfolio on price updates at a bounded rate, runs the
alert rules (:func:`~oms_chain.risk.evaluate_alerts`, with hysteresis) and sends each alert
as an event, a log line and webhook POSTs.

* **Bounded rate**: at most one evaluation per ``min_interval_s`` of the injected clock. An
  update inside the interval is kept (the newest wins) and evaluated when the interval ends,
  by a timer (the injected ``sleep``, re-checked against the injected clock), so a sharp move
  followed by a quiet market still alerts; or earlier by :meth:`RiskMonitor.flush`.
* **Degraded, not dead**: a snapshot the risk functions refuse (``InvalidInput``) is logged
  and recorded as a :class:`~oms_chain.model.events.RiskMonitorDegraded` event (and POSTed to
  the webhooks with ``"kind": "monitor_degraded"``) once per distinct reason; monitoring goes
  on with the next snapshot.
* **Never blocking trading**: a webhook is a bounded queue and one task
  (:class:`~oms_chain.service.webhooks.WebhookSender`); its ``send`` never waits. When the
  queue is full the oldest payload is dropped (and counted); a POST that fails is retried with
  exponential backoff, then given up (and counted). A dead receiver stalls neither the monitor
  nor the other webhooks.
* **Restart**: raised rules are read back from the monitor's stream in the store, so an alert
  that was raised before a restart is not sent again while it stays true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.chain.oracle import oracle_answers
from oms_chain.chain.ws import WsRpcClient
from oms_chain.engine import EventLog
from oms_chain.engine.eventlog import append_event
from oms_chain.model import Instrument, Side
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput
from oms_chain.model.events import (
    Event,
    PortfolioAlertCleared,
    PortfolioAlertRaised,
    RiskMonitorDegraded,
    event_from_payload,
)
from oms_chain.model.ids import EventId
from oms_chain.risk import (
    Alert,
    AlertRule,
    AlertState,
    Holding,
    MarketSnapshot,
    PortfolioMarginConfig,
    RiskReading,
    VarResult,
    evaluate_alerts,
    liquidation_prices,
    portfolio_margin,
    portfolio_risk,
)
from oms_chain.service.webhooks import Sleep, WebhookSender
from oms_chain.venues.base import Venue

__all__ = [
    "MONITOR_STREAM",
    "RiskMonitor",
    "WebhookSender",
    "oracle_prices",
    "pool_mids",
    "push_feed",
    "quote_feed",
    "quote_mid",
]

log = logging.getLogger("oms_chain.risk_monitor")

MONITOR_STREAM = "risk-monitor"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pending:
    market: MarketSnapshot


class RiskMonitor:
    """Evaluates ``holdings()`` on each market update (at most once per ``min_interval_s``)
    and sends the alerts of ``rules``.

    Args:
        rules: the alert rules (unique names).
        holdings: what the portfolio holds now (called at each evaluation).
        clock: injected clock (nanoseconds); ``min_interval_s``: the bounded rate (>= 0).
        store: where alert events are recorded (stream ``risk-monitor``), or ``None``.
        webhooks: senders every alert is POSTed to.
        margin_config: portfolio margin parameters (default Deribit-style).
        var: optional ``(holdings, market) -> VarResult`` for ``VAR`` rules.
        liquidation: compute liquidation prices (needed by ``LIQUIDATION_DISTANCE_PCT``).
        sleep: injected sleep (seconds) of the timer that evaluates a held-back update when
            the interval ends (default :func:`asyncio.sleep`).

    Raises:
        InvalidInput: a bad argument (named), before anything is read or sent.
    """

    def __init__(
        self,
        *,
        rules: Sequence[AlertRule],
        holdings: Callable[[], Sequence[Holding]],
        clock: Clock,
        min_interval_s: float = 1.0,
        store: EventLog | None = None,
        webhooks: Sequence[WebhookSender] = (),
        margin_config: PortfolioMarginConfig | None = None,
        var: Callable[[Sequence[Holding], MarketSnapshot], VarResult] | None = None,
        liquidation: bool = True,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        # evaluate_alerts checks rules fully; an empty reading does it here, up front
        evaluate_alerts(list(rules) if isinstance(rules, Sequence) else rules, _EMPTY, AlertState())
        if not callable(holdings):
            raise InvalidInput("holdings must be a callable returning the current holdings")
        if not callable(getattr(clock, "now_ns", None)):
            raise InvalidInput("clock must have now_ns()")
        m = min_interval_s
        if isinstance(m, bool) or not isinstance(m, int | float) or not 0 <= m <= 3600:
            raise InvalidInput(f"min_interval_s must be seconds in [0, 3600], got {m!r}")
        if store is not None and not isinstance(store, EventLog):
            raise InvalidInput(f"store must be an event store, got {type(store).__name__}")
        if not all(isinstance(w, WebhookSender) for w in webhooks):
            raise InvalidInput("webhooks must be WebhookSender instances")
        if margin_config is not None and not isinstance(margin_config, PortfolioMarginConfig):
            raise InvalidInput("margin_config must be a PortfolioMarginConfig")
        if var is not None and not callable(var):
            raise InvalidInput("var must be a callable (holdings, market) -> VarResult")
        if not callable(sleep):
            raise InvalidInput("sleep must be a callable (seconds) -> awaitable")
        self._sleep = sleep
        self._timer: asyncio.Task[None] | None = None
        self._rules = tuple(rules)
        self._holdings = holdings
        self._clock = clock
        self._interval_ns = int(m * 1_000_000_000)
        self._store = store
        self._webhooks = tuple(webhooks)
        self._config = margin_config
        self._var = var
        self._liquidation = bool(liquidation)
        self._last_eval_ns: int | None = None
        self._pending: _Pending | None = None
        self._version = 0
        self.state = AlertState()
        #: Every alert sent since start, oldest first; the last reading evaluated.
        self.alerts: list[Alert] = []
        self.last_reading: RiskReading | None = None
        self.evaluations = 0
        #: Snapshots that could not be evaluated; the reason of the last one while no later
        #: snapshot has evaluated (``None``: healthy).
        self.failed_evaluations = 0
        self.degraded: str | None = None
        if store is not None:
            self._restore(store)

    def _restore(self, store: EventLog) -> None:
        active: set[str] = set()
        for rec in store.read_all(0):
            if rec.stream_id != MONITOR_STREAM:
                continue
            self._version = rec.stream_version
            e = event_from_payload(rec.event_type, rec.version, rec.payload)
            if isinstance(e, PortfolioAlertRaised):
                active.add(e.rule)
            elif isinstance(e, PortfolioAlertCleared):
                active.discard(e.rule)
        self.state = AlertState(active=frozenset(active))

    async def on_market(self, market: MarketSnapshot) -> tuple[Alert, ...] | None:
        """A price update: evaluate now if the interval has passed (returns the alerts), else
        keep it for later (returns ``None``).

        Raises:
            InvalidInput: ``market`` is not a MarketSnapshot, or the holdings / market are
                refused by the risk functions.
        """
        if not isinstance(market, MarketSnapshot):
            raise InvalidInput(f"market must be a MarketSnapshot, got {type(market).__name__}")
        now = self._clock.now_ns()
        if self._last_eval_ns is not None and now - self._last_eval_ns < self._interval_ns:
            self._pending = _Pending(market=market)
            if self._timer is None or self._timer.done():
                self._timer = asyncio.get_running_loop().create_task(self._on_timer())
            return None
        self._pending = None
        return self._evaluate(market, now)

    async def flush(self) -> tuple[Alert, ...] | None:
        """Evaluate the update kept back by the rate limit, if any (regardless of the rate).

        Raises:
            InvalidInput: the risk functions refuse the holdings / market.
        """
        await self._stop_timer()
        if self._pending is None:
            return None
        market, self._pending = self._pending.market, None
        return self._evaluate(market, self._clock.now_ns())

    async def drain(self) -> None:
        """Wait until the timer has evaluated the update held back, if any (tests, shutdown);
        returns at once when nothing is held back."""
        timer = self._timer
        if timer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def close(self) -> None:
        """Stop the timer; an update still held back is dropped (:meth:`flush` evaluates it)."""
        await self._stop_timer()

    async def run(self, feed: AsyncIterator[MarketSnapshot]) -> None:
        """Evaluate every update of ``feed`` (rate-bounded) until it ends, then the one held
        back. A snapshot that cannot be evaluated degrades the monitor (logged, an event and
        a webhook payload) and does not end it."""
        try:
            async for market in feed:
                try:
                    await self.on_market(market)
                except InvalidInput as exc:
                    self._degrade(market, exc)
            pending = self._pending
            try:
                await self.flush()
            except InvalidInput as exc:
                self._degrade(pending.market if pending else None, exc)
        finally:
            await self._stop_timer()

    async def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and not timer.done():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _on_timer(self) -> None:
        """Evaluate the held-back update once ``min_interval_s`` has passed since the last
        evaluation (on the injected clock; woken by the injected sleep)."""
        while self._pending is not None:
            last = self._last_eval_ns
            wait_ns = 0 if last is None else last + self._interval_ns - self._clock.now_ns()
            if wait_ns > 0:
                await self._sleep(wait_ns / 1_000_000_000)
                continue
            market, self._pending = self._pending.market, None
            try:
                self._evaluate(market, self._clock.now_ns())
            except InvalidInput as exc:
                self._degrade(market, exc)
            except Exception as exc:  # nobody awaits the timer: never lose a failure
                log.exception("risk monitor: evaluating a held-back update failed")
                self._degrade(market, exc)

    def _degrade(self, market: object, exc: Exception) -> None:
        """Record that ``market`` could not be evaluated (once per distinct reason)."""
        now = self._clock.now_ns()
        self._last_eval_ns = now  # a failed evaluation counts against the rate too
        self.failed_evaluations += 1
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("risk monitor degraded: snapshot not evaluated (%s)", reason)
        if reason == self.degraded:
            return
        self.degraded = reason
        snap = getattr(market, "now_ns", None)
        snapshot_ns = snap if isinstance(snap, int) and not isinstance(snap, bool) else now
        event = RiskMonitorDegraded(
            event_id=EventId("pending"),
            ts_event=now,
            ts_init=now,
            reason=reason,
            snapshot_ns=snapshot_ns,
        )
        self._record(event)
        payload = {
            "kind": "monitor_degraded",
            "reason": reason,
            "snapshot_ns": snapshot_ns,
            "ts_ns": now,
            "message": f"risk monitor degraded: a snapshot could not be evaluated ({reason})",
        }
        for hook in self._webhooks:
            hook.send(payload)

    def _evaluate(self, market: MarketSnapshot, now: int) -> tuple[Alert, ...]:
        held = list(self._holdings())
        risk = portfolio_risk(held, market)
        margin = portfolio_margin(held, market, self._config)
        liq = liquidation_prices(held, market, self._config) if self._liquidation else None
        var = self._var(held, market) if self._var is not None else None
        reading = RiskReading.from_results(now, risk=risk, margin=margin, liquidation=liq, var=var)
        alerts, self.state = evaluate_alerts(self._rules, reading, self.state)
        self._last_eval_ns = now
        self.last_reading = reading
        self.evaluations += 1
        self.degraded = None
        for alert in alerts:
            self._emit(alert)
        return alerts

    def _emit(self, alert: Alert) -> None:
        self.alerts.append(alert)
        rule = alert.rule
        if alert.raised:
            log.warning("risk alert: %s", alert.message)
        else:
            log.info("risk alert cleared: %s", alert.message)
        if self._store is not None:
            env: dict[str, Any] = {
                "event_id": EventId("pending"),
                "ts_event": alert.ts_ns,
                "ts_init": alert.ts_ns,
            }
            common: dict[str, Any] = {
                "rule": rule.name,
                "metric": rule.metric.value,
                "value": alert.value,
                "message": alert.message,
                "underlying": rule.underlying,
            }
            event: PortfolioAlertRaised | PortfolioAlertCleared = (
                PortfolioAlertRaised(**env, **common, threshold=rule.threshold)
                if alert.raised
                else PortfolioAlertCleared(**env, **common, clear_at=_clear_at(rule))
            )
            self._record(event)
        payload = {
            "rule": rule.name,
            "metric": rule.metric.value,
            "underlying": rule.underlying,
            "raised": alert.raised,
            "value": "Infinity" if not alert.value.is_finite() else str(alert.value),
            "threshold": str(rule.threshold),
            "clear_at": str(rule.clear_at),
            "ts_ns": alert.ts_ns,
            "message": alert.message,
        }
        for hook in self._webhooks:
            hook.send(payload)

    def _record(self, event: Event) -> None:
        """Append ``event`` to the monitor's stream (if there is a store)."""
        if self._store is None:
            return
        self._version = append_event(self._store, MONITOR_STREAM, self._version, event)


_EMPTY = RiskReading(ts_ns=0)


async def quote_feed(
    sources: Mapping[str, tuple[Venue, Instrument]],
    *,
    clock: Clock,
    interval_s: float,
    sleep: Sleep = asyncio.sleep,
    size: Decimal = Decimal("0.01"),
    vols: Mapping[str, Decimal] | None = None,
    updates: int | None = None,
) -> AsyncIterator[MarketSnapshot]:
    """Market snapshots from venue quotes, every ``interval_s``: the spot of each underlying
    is the mid of the venue's all-in sell and buy prices for ``size`` of its instrument (an
    exchange's book, a pool's exact swap maths: any :class:`~oms_chain.venues.base.Venue`).
    ``updates`` stops after that many snapshots (default: never).

    Raises:
        InvalidInput: empty ``sources``, a bad interval or size (before any quote is asked).
    """
    if not isinstance(sources, Mapping) or not sources:
        raise InvalidInput("sources must map each underlying to (venue, instrument)")
    if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or interval_s <= 0:
        raise InvalidInput(f"interval_s must be seconds > 0, got {interval_s!r}")
    if not isinstance(size, Decimal) or not size > 0:
        raise InvalidInput(f"size must be a Decimal > 0, got {size!r}")
    n = 0
    while updates is None or n < updates:
        spots: dict[str, Decimal] = {}
        for underlying, (venue, instrument) in sources.items():
            spots[underlying] = await quote_mid(venue, instrument, size)
        yield MarketSnapshot(now_ns=clock.now_ns(), spots=spots, vols=dict(vols or {}))
        n += 1
        if updates is None or n < updates:
            await sleep(float(interval_s))


async def quote_mid(venue: Venue, instrument: Instrument, size: Decimal) -> Decimal:
    """The mid of ``venue``'s all-in sell and buy prices for ``size`` of ``instrument``."""
    sell = await venue.quote(instrument, Side.SELL, size)
    buy = await venue.quote(instrument, Side.BUY, size)
    return (sell.avg_price + buy.avg_price) / 2


async def pool_mids(
    heads: AsyncIterator[object], venue: Venue, instrument: Instrument, size: Decimal
) -> AsyncIterator[Decimal]:
    """A pool's price pushed by its follower: the venue's mid (:func:`quote_mid`) on each
    update of ``heads`` (:meth:`~oms_chain.venues.amm.PoolFollower.updates`: new heads,
    swaps applied, reorgs)."""
    async for _ in heads:
        yield await quote_mid(venue, instrument, size)


async def oracle_prices(client: WsRpcClient, feed: str) -> AsyncIterator[Decimal]:
    """A Chainlink-style feed's price pushed on each new round: the latest answer at once,
    then each ``AnswerUpdated`` log of the feed (:func:`~oms_chain.chain.oracle.oracle_answers`:
    a log subscription that survives reconnects, repeats and reorgs), in whole units. A round
    whose answer is not positive (a broken or paused feed) is logged and skipped, so it
    neither ends the feed nor reaches the risk functions. A source for :func:`push_feed`.

    Raises:
        InvalidInput: ``feed`` is not an address or not a feed.
    """
    async for answer in oracle_answers(client, feed):
        if answer.answer <= 0:
            log.warning(
                "oracle %s round %d answered %d: not a price, skipped",
                answer.feed,
                answer.round_id,
                answer.answer,
            )
            continue
        yield answer.price


async def push_feed(
    sources: Mapping[str, AsyncIterator[Decimal]],
    *,
    clock: Clock,
    vols: Mapping[str, Decimal] | None = None,
) -> AsyncIterator[MarketSnapshot]:
    """Market snapshots driven by pushed prices rather than polling: each source yields the
    newest spot of its underlying when its venue says it moved (a pool follower's new head or
    swap through :func:`pool_mids`, an exchange's ticker websocket through
    :meth:`~oms_chain.venues.cex.CcxtVenue.ticker_mids`, an oracle's new round through
    :func:`oracle_prices`). A snapshot (every underlying at its
    latest price, stamped by ``clock``) follows each price once every underlying has one.
    Feed it to :meth:`RiskMonitor.run`, which bounds the evaluation rate. Ends when every
    source has ended; a source that fails ends the feed with its error.

    Raises:
        InvalidInput: empty ``sources`` or a source that is not an async iterator.
    """
    if not isinstance(sources, Mapping) or not sources:
        raise InvalidInput("sources must map each underlying to an async iterator of prices")
    for name, src in sources.items():
        if not hasattr(src, "__anext__"):
            raise InvalidInput(f"source of {name!r} must be an async iterator of Decimal prices")
    queue: asyncio.Queue[tuple[str, Decimal] | BaseException | None] = asyncio.Queue()

    async def pump(name: str, src: AsyncIterator[Decimal]) -> None:
        try:
            async for price in src:
                await queue.put((name, price))
        except Exception as exc:
            await queue.put(exc)
            return
        await queue.put(None)

    tasks = [asyncio.create_task(pump(n, s)) for n, s in sources.items()]
    latest: dict[str, Decimal] = {}
    running = len(tasks)
    try:
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            name, price = item
            latest[name] = price
            if len(latest) == len(sources):
                yield MarketSnapshot(
                    now_ns=clock.now_ns(), spots=dict(latest), vols=dict(vols or {})
                )
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t


def _clear_at(rule: AlertRule) -> Decimal:
    return rule.threshold if rule.clear_at is None else rule.clear_at
