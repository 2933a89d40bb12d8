"""The OMS engine's command surface: intents → risk gate → child orders → venues.

Lifecycle: :meth:`Engine.start` replays the event log into the projections, then reconciles
every venue (orders whose send was in flight, open orders, fills we missed). Only then does it
accept intents; if a venue cannot be reconciled the engine refuses to trade and says why
(:attr:`Engine.refusal`).

:class:`Engine` is what users call. Every public command validates its input before anything is
opened or sent, takes the lock of the venue it uses and runs the risk gate; the work is done by
the modules beside it:

- :mod:`~oms_chain.engine.journal`: every change is an event, applied to the projections and
  appended to the store in one transaction (or neither), then fanned out to subscribers;
- :mod:`~oms_chain.engine.placement`: write-ahead place / cancel / amend at a venue (a child is
  recorded before it is sent; an unanswered send stays ``IN_FLIGHT``, never failed, and is
  never re-sent blindly);
- :mod:`~oms_chain.engine.translator`: venue reports → events (pure);
- :mod:`~oms_chain.engine.venue_sync` and :mod:`~oms_chain.engine.reconciler`: report pumps,
  per-venue locks, reconciliation on demand, before use and in the background (absence is not
  proof until a venue's receive window has closed);
- :mod:`~oms_chain.engine.runners`, :mod:`~oms_chain.engine.algo_runner`,
  :mod:`~oms_chain.engine.split_runner`: the parents worked in the background, on one
  :mod:`~oms_chain.engine.retry` policy.

The command surface is one object written in three modules: this one (lifecycle, queries,
submit, the kill switch, reconcile), :mod:`~oms_chain.engine.orders` (cancel, amend) and
:mod:`~oms_chain.engine.parents` (the commands of algorithmic and split parents:
``spawn_child``, ``spawn_routed``, ``pause``, ``resume``, ``stop_algo``, …), on the shared
:class:`~oms_chain.engine._base.EngineBase`.

(Longer than 600 lines: the lifecycle (replay, reconcile before trading), submit, the kill
switch and the queries are the surface of the one object users hold; the work behind them
lives in the modules above.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from oms_chain.engine._checks import check_amount, check_id, check_text
from oms_chain.engine.config import EngineConfig
from oms_chain.engine.eventlog import EventLog
from oms_chain.engine.fence import SendFence
from oms_chain.engine.journal import ENGINE_STREAM, SNAPSHOT_NAME, Journal
from oms_chain.engine.orders import OrderCommands
from oms_chain.engine.parents import ParentCommands
from oms_chain.engine.placement import Placement
from oms_chain.engine.reference import ReferencePrice, ReferencePrices
from oms_chain.engine.retry import RetryPolicy
from oms_chain.engine.runners import Runners
from oms_chain.engine.split import Splitter
from oms_chain.engine.venue_sync import VenueSync
from oms_chain.model.clock import Clock
from oms_chain.model.errors import (
    EngineNotReady,
    InvalidInput,
    InvalidIntent,
    ReconciliationFailed,
)
from oms_chain.model.events import (
    Event,
    OrderOutcomeUnknown,
    TradingStateChanged,
)
from oms_chain.model.ids import (
    AccountId,
    InstrumentId,
    OrderId,
    VenueId,
    parent_order_id,
)
from oms_chain.model.intent import Intent
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.model.positions import Portfolio, Position
from oms_chain.risk.limits import RiskGate, RiskView, TradingState
from oms_chain.store.integrity import check_restart_state
from oms_chain.store.projections import Projections
from oms_chain.venues.base import (
    Venue,
    VenueReport,
)

__all__ = ["ENGINE_STREAM", "SNAPSHOT_NAME", "Engine", "EnginePhase"]

log = logging.getLogger(__name__)


_UNSETTLED = (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)
_NS = 1_000_000_000


class EnginePhase(Enum):
    """Where the engine is in its life."""

    CREATED = "created"
    REPLAYING = "replaying"
    RECONCILING = "reconciling"
    READY = "ready"
    REFUSED = "refused"
    STOPPED = "stopped"


class _View:
    """The engine's state as the risk gate sees it."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def reference_price(self, instrument_id: InstrumentId) -> Decimal | None:
        return self._engine._refs.get(instrument_id, self._engine._clock.now_ns())

    def net_position(self, account: AccountId, instrument_id: InstrumentId) -> Decimal:
        return self._engine._net_position(account, instrument_id)

    def asset_exposure(self, account: AccountId, symbol: str) -> Decimal:
        return self._engine._proj.exposure.get((account, symbol), Decimal(0))

    def open_order_count(self) -> int:
        return self._engine._proj.open_parent_count()

    def daily_realized_pnl(self, currency: str) -> Decimal:
        day = self._engine._clock.now_ns() // (86_400 * 1_000_000_000)
        return self._engine._proj.daily_pnl.get((day, currency), Decimal(0))


class Engine(OrderCommands, ParentCommands):
    """Order management engine.

    Args:
        store: event log (any :class:`~oms_chain.store.EventStore` backend, or
            :class:`~oms_chain.engine.eventlog.InMemoryEventLog`).
        venues: venue adapters by their ``venue_id``.
        risk: the pre-trade gate.
        clock: injected clock (integer nanoseconds).
        config: timeouts and naming.
        sleeper: how algorithmic parents wait (an ``oms_chain.algos`` ``Sleeper``; default:
            real time on ``clock``). Tests pass a manual one to run schedules in simulated time.
        market_data: what algorithms observe (volumes, all-in prices); ``None``: the venues'
            quotes only.
        splitter: sizes direct intents naming several configured venues into concurrent
            children (:class:`~oms_chain.engine.split.RoutingSplitter`); ``None``: such intents
            go whole to their first configured venue.
        resume_parents: which open algo / split parents found in the store :meth:`start`
            works on: ``True`` every one (a restart of the process that owns them), ``False``
            none (a process that only queries, cancels or trades its own new intents), or the
            ids of those this process takes over (``oms order --resume ID``). Parents not
            taken over stay as they are in the store for their owner.
        retry: one backoff for background reconciliation, split rounds that hit a retryable
            error and algorithm runners whose engine call failed (default
            :class:`~oms_chain.engine.retry.RetryPolicy`: 0.25 s doubling to 5 s).
        reference_max_age_s: how long a learned reference price may be used before it is
            refreshed (and, if it cannot be, withheld from the risk gate). See
            :mod:`oms_chain.engine.reference`.
        fence: one of several workers on one store (:mod:`oms_chain.engine.fence`): the
            engine works only the parents ``fence`` owns (``resume_parents`` is then ignored;
            see :meth:`take_over`) and every send passes ``fence.before_send`` first.
    """

    def __init__(
        self,
        *,
        store: EventLog,
        venues: Iterable[Venue],
        risk: RiskGate,
        clock: Clock,
        config: EngineConfig | None = None,
        sleeper: Any | None = None,
        market_data: Any | None = None,
        splitter: Splitter | None = None,
        resume_parents: bool | Iterable[str] = True,
        retry: RetryPolicy | None = None,
        reference_max_age_s: float = 30.0,
        fence: SendFence | None = None,
    ) -> None:
        if fence is not None and not isinstance(fence, SendFence):
            raise InvalidInput(f"fence must be a SendFence, got {type(fence).__name__}")
        self._fence = fence
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidInput(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        self._store = store
        self._resume_parents: bool | frozenset[str] = (
            resume_parents if isinstance(resume_parents, bool) else frozenset(resume_parents)
        )
        self._venues: dict[VenueId, Venue] = {}
        for v in venues:
            if v.venue_id in self._venues:
                raise InvalidInput(f"venue {v.venue_id!r} registered twice")
            self._venues[v.venue_id] = v
        self._risk = risk
        self._clock = clock
        self._config = config or EngineConfig()
        self._journal = Journal(
            store,
            now_ns=clock.now_ns,
            snapshot_every=self._config.snapshot_every,
            on_committed=self._committed,
            on_store_lost=self._store_lost,
        )
        if (
            isinstance(reference_max_age_s, bool)
            or not isinstance(reference_max_age_s, int | float)
            or not 0 < reference_max_age_s <= 86_400
        ):
            raise InvalidInput(
                f"reference_max_age_s must be a number of seconds in (0, 86400], got "
                f"{reference_max_age_s!r}"
            )
        self._refs = ReferencePrices(
            max_age_ns=int(reference_max_age_s * 1_000_000_000),
            timeout_s=(config or EngineConfig()).send_timeout_s,
        )
        self._phase = EnginePhase.CREATED
        self._refusal: str | None = None
        self._view = _View(self)
        self._report_errors: list[str] = []
        self._sleeper = sleeper
        self._market_data = market_data
        self._splitter = splitter
        self._retry = retry or RetryPolicy()
        self._runs = Runners(
            self,
            journal=self._journal,
            venues=self._venues,
            splitter=splitter,
            retry=self._retry,
            sleeper=self._sleeper_now,
            market_data=market_data,
            config=lambda: self._config,
            now_ns=clock.now_ns,
        )
        sending: set[OrderId] = set()
        self._sync = VenueSync(
            journal=self._journal,
            venues=self._venues,
            config=self._config,
            now_ns=clock.now_ns,
            sending=sending,
            retry=self._retry,
            sleeper=self._sleeper_now,
            ready=lambda: self._phase is EnginePhase.READY,
            reconcile_in_background=self._background_reconcile,
            on_fill_reversed=self._revive,
            owns=None if fence is None else fence.owns,
        )
        self._placement = Placement(
            journal=self._journal,
            store=store,
            venues=self._venues,
            config=self._config,
            now_ns=clock.now_ns,
            lock=self._sync.lock,
            want_reconcile=self._sync.want,
            reconcile_locked=self._sync.reconcile_locked,
            translate=self._sync.translate,
            sending=sending,
            fence=fence,
        )
        #: Events folded at start after the snapshot (restart cost).
        self.replayed_at_start = 0

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def phase(self) -> EnginePhase:
        return self._phase

    @property
    def refusal(self) -> str | None:
        """Why the engine refuses to trade, or ``None``."""
        return self._refusal

    async def start(self) -> None:
        """Replay the event log, reconcile every venue, start the venue report pumps.

        Raises:
            StoreTampered: the store's chain, a snapshot or a client order id does not match
                the events (edited outside oms-chain); nothing is loaded or sent.
            ReconciliationFailed: a venue could not be reconciled; the engine stays in
                ``REFUSED`` and :attr:`refusal` says why. Cancels and queries still work.
        """
        if self._phase is not EnginePhase.CREATED:
            raise EngineNotReady(f"engine already started (phase {self._phase.value})")
        self._phase = EnginePhase.REPLAYING
        # Snapshots and client order ids are trusted below: check them against the chain first
        # (and the projections snapshot against the events it claims to fold: a seal can be
        # recomputed by whoever edits the store, the events' chain is anchored).
        check_restart_state(
            self._store,
            projections_snapshot=SNAPSHOT_NAME,
            rederive_projections=self._config.rederive_snapshot,
        )
        self._sync.started_ns = self._clock.now_ns()
        self._journal.load_snapshot()
        self.replayed_at_start = self.replay()
        self._phase = EnginePhase.RECONCILING
        failures: list[str] = []
        for vid in self._venues:
            self._sync.needs.add(vid)
            try:
                async with self._sync.lock(vid):
                    await self._sync.reconcile_locked(vid)
            except Exception as exc:
                failures.append(f"venue {vid!r}: {exc}")
        self._sync.start_pumps()
        if failures:
            self._phase = EnginePhase.REFUSED
            self._refusal = "reconciliation failed, not trading: " + "; ".join(failures)
            log.error("%s", self._refusal)
            raise ReconciliationFailed(self._refusal)
        self._phase = EnginePhase.READY
        if self._sync.wanted():  # sends still in their receive window: settle them
            self._sync.reconciler.poke()
        self._runs.resume(list(self._proj.orders.values()), self._works_on)

    def _works_on(self, parent_id: OrderId) -> bool:
        """Whether this engine works parent ``parent_id`` found in the store at start."""
        if self._fence is not None:
            return self._fence.owns(parent_id)
        if isinstance(self._resume_parents, bool):
            return self._resume_parents
        return parent_id in self._resume_parents

    def catch_up(self) -> int:
        """Fold what other workers of the store recorded since this engine last read it;
        return how many events."""
        return self._journal.catch_up()

    async def take_over(self, parent_id: OrderId) -> Order:
        """Work parent ``parent_id`` from now on (a worker claimed its lease): read the store,
        reconcile the venues of its unsettled children, and run its algorithm or split route
        again if it is still open. Its fence must own it already.

        Raises:
            EngineNotReady: not started, or refused to trade.
            UnknownOrder: the store has no such parent.
            ReconciliationFailed: a venue of its children could not be reconciled.
        """
        self._require_ready()
        self.catch_up()
        parent = self.order(parent_id)
        self._runs.foreign.discard(parent.order_id)
        venues = {
            c.venue
            for c in self._proj.orders.values()
            if c.parent_id == parent.order_id and c.venue is not None
        }
        for vid in sorted(venues):
            async with self._sync.lock(vid):
                self._sync.needs.add(vid)
                await self._sync.reconcile_locked(vid)
        if self._sync.wanted():  # sends of the last holder still in their receive window
            self._sync.reconciler.poke()
        parent = self.order(parent.order_id)
        if parent.order_id not in self._runs.tasks:
            self._runs.resume([parent], lambda _pid: True)
        return parent

    async def add_venues(self, venues: Iterable[Venue]) -> None:
        """Trade on ``venues`` too from now on (a worker that took over a signer's account
        lease opens its on-chain venues then): each is reconciled, then its reports pumped.

        Raises:
            EngineNotReady: not started, or refused to trade.
            InvalidInput: a venue id the engine has already (nothing is added).
            ReconciliationFailed: a new venue could not be reconciled (it stays added; the
                background reconciler tries again).
        """
        self._require_ready()
        new = list(venues)
        ids = [v.venue_id for v in new]
        dup = sorted({i for i in ids if i in self._venues or ids.count(i) > 1})
        if dup:
            raise InvalidInput(f"venues {dup} are registered already")
        for v in new:
            self._venues[v.venue_id] = v
            self._sync.start_pump(v.venue_id, v)
        for vid in ids:
            async with self._sync.lock(vid):
                self._sync.needs.add(vid)
                await self._sync.reconcile_locked(vid)

    def hand_over(self, parent_id: OrderId) -> None:
        """Stop working parent ``parent_id`` here (its lease was lost or released): its runner
        is cancelled and it is left to the store's next holder."""
        pid = OrderId(check_id("parent_id", parent_id))
        self._runs.foreign.add(pid)
        task = self._runs.tasks.get(pid)
        if task is None:
            return
        if task is asyncio.current_task():  # the runner's own send was refused: end it there
            asyncio.get_running_loop().call_soon(task.cancel)
        else:
            task.cancel()

    def runs_parent(self, parent_id: OrderId) -> bool:
        """Whether an algorithm or split runner of ``parent_id`` is running here."""
        return parent_id in self._runs.tasks

    def save_snapshot(self) -> bool:
        """Save the projections at the current position (if the store keeps snapshots)."""
        return self._journal.save_snapshot()

    def replay(self) -> int:
        """Fold every stored event into the projections; return how many were applied."""
        n = self._journal.replay()
        st = self._proj.trading_state
        self._risk.set_trading_state(TradingState(st["state"]), st["reason"])
        return n

    @property
    def last_position(self) -> int:
        """Position in the store of the last event folded into the projections."""
        return self._journal.last_position

    @property
    def alerts(self) -> list[str]:
        """Alerts raised (overfills), newest last, for operators and tests."""
        return self._journal.alerts

    async def stop(self) -> None:
        """Stop the algorithm runners, the background reconciler and the pumps, and end
        every subscription."""
        self._sync.stopping = True
        await self._sync.reconciler.stop()
        await self._runs.stop()
        await self._sync.stop_pumps()
        self._journal.close()
        self._phase = EnginePhase.STOPPED

    # --- queries ---------------------------------------------------------------------------

    @property
    def risk_view(self) -> RiskView:
        """The state the risk gate reads (positions, open orders, PnL, reference prices)."""
        return self._view

    @property
    def report_errors(self) -> list[str]:
        """Venue reports that could not be applied (each also schedules a reconciliation)."""
        return list(self._report_errors)

    @property
    def projections(self) -> Projections:
        """The live state (read-only by convention)."""
        return self._proj

    def order(self, order_id: OrderId) -> Order:
        """The order with ``order_id``; raises ``UnknownOrder`` (``InvalidInput`` for a
        non-string id)."""
        return self._proj.order(OrderId(check_id("order_id", order_id)))

    def orders(self) -> list[Order]:
        return list(self._proj.orders.values())

    def open_orders(self) -> list[Order]:
        return [o for o in self._proj.orders.values() if o.is_open]

    def positions(self) -> list[Position]:
        return list(self._proj.portfolio())

    def portfolio(self) -> Portfolio:
        return self._proj.portfolio()

    @property
    def trading_state(self) -> TradingState:
        return self._risk.trading_state

    def set_reference_price(
        self, instrument_id: InstrumentId, price: Decimal, *, max_age_s: float | None = None
    ) -> None:
        """Reference price for the risk gate (notional, collar), quote per base. It stands
        until replaced, or for ``max_age_s`` seconds (then the engine learns one from the
        venues again).

        Raises:
            InvalidInput: ``instrument_id`` is not a string, ``price`` not a positive, finite
                Decimal, or ``max_age_s`` not a positive number.
        """
        check_id("instrument_id", instrument_id)
        check_amount("reference price", price)
        if max_age_s is not None and (
            isinstance(max_age_s, bool)
            or not isinstance(max_age_s, int | float)
            or not 0 < max_age_s <= 86_400
        ):
            raise InvalidInput(f"max_age_s must be seconds in (0, 86400], got {max_age_s!r}")
        self._refs.set(
            instrument_id,
            price,
            now_ns=self._clock.now_ns(),
            max_age_ns=None if max_age_s is None else int(max_age_s * _NS),
        )

    def reference_price(self, instrument_id: InstrumentId) -> ReferencePrice | None:
        """The reference price of ``instrument_id`` with its age and source (fresh or not)."""
        return self._refs.entry(InstrumentId(check_id("instrument_id", instrument_id)))

    def subscribe(self) -> AsyncIterator[Event]:
        """Async iterator over every event committed from now on (ends on :meth:`stop`)."""
        return self._journal.subscribe()

    # --- commands --------------------------------------------------------------------------

    def set_trading_state(self, state: TradingState, reason: str) -> None:
        """Kill switch: takes effect for the next intent, recorded as an event.

        Raises:
            EngineNotReady: before :meth:`start` has replayed the log (the state would be
                recorded against a stale view).
            InvalidInput: ``state`` is not a :class:`TradingState` or ``reason`` not a string.
        """
        if not isinstance(state, TradingState):
            raise InvalidInput(
                f"state must be a TradingState ({', '.join(s.name for s in TradingState)}), "
                f"got {state!r}"
            )
        check_text("reason", reason)
        if self._phase in (EnginePhase.CREATED, EnginePhase.REPLAYING, EnginePhase.STOPPED):
            raise EngineNotReady(f"engine is {self._phase.value}; start it before switching")
        now = self._clock.now_ns()
        self._commit(
            ENGINE_STREAM,
            [
                TradingStateChanged(
                    event_id=self._eid(),
                    ts_event=now,
                    ts_init=now,
                    state=state.value,
                    reason=reason,
                )
            ],
        )
        self._risk.set_trading_state(state, reason)

    async def submit(self, intent: Intent) -> Order:
        """Check ``intent`` and, if accepted, send it; returns the parent order.

        Idempotent on ``intent.intent_id``: submitting an intent again with the same content
        (every field but ``ts_init``, also after a restart) returns its order.

        Raises:
            EngineNotReady: not started, or refused to trade (message says why).
            InvalidIntent: not an Intent, or none of its venues is registered. Nothing written.
            IntentConflict: (an InvalidIntent) the intent id is known with different content;
                ``fields`` names what differs. Nothing written.
            VenueTimeout / VenueUnavailable: the venue is being reconciled and could not be;
                nothing written, retry later.
        """
        if not isinstance(intent, Intent):
            raise InvalidIntent(f"submit() takes an Intent, got {type(intent).__name__}")
        self._require_ready()
        existing = self._resubmitted(intent)
        if existing is not None:
            return existing
        venue_id = next((v for v in intent.venues if v in self._venues), None)
        if venue_id is None:
            raise InvalidIntent(
                f"none of the intent's venues {list(intent.venues)} is configured "
                f"(configured: {sorted(self._venues)})"
            )
        await self._refresh_reference_price(intent, venue_id)
        if intent.algo != "direct":
            return await self._submit_algo(intent)
        if self._splitter is not None and sum(v in self._venues for v in intent.venues) > 1:
            return await self._submit_split(intent)
        async with self._sync.lock(venue_id):
            existing = self._resubmitted(intent)
            if existing is not None:
                return existing
            if venue_id in self._sync.needs:
                await self._sync.reconcile_locked(venue_id)
            return await self._submit_locked(intent, venue_id)

    async def _refresh_reference_price(self, intent: Intent, venue_id: VenueId) -> None:
        """Refresh the intent's reference price if missing or old, from the venues that will
        not execute it (:meth:`~oms_chain.engine.reference.ReferencePrices.refresh_for`)."""
        split = intent.algo != "direct" or (
            self._splitter is not None and sum(v in self._venues for v in intent.venues) > 1
        )
        executing = [v for v in intent.venues if v in self._venues] if split else [venue_id]
        await self._refs.refresh_for(intent, self._venues, executing, now_ns=self._clock.now_ns())

    async def reconcile(self, venue_id: VenueId) -> None:
        """Reconcile one venue now (also done automatically after an ambiguous outcome).

        If the engine refused to trade because reconciliation failed at start, and this brings
        every venue in line, the engine becomes ``READY``.

        Raises:
            ReconciliationFailed: the venue's answer contradicts our state, or it did not answer.
            InvalidInput: not a configured venue id.
        """
        check_id("venue_id", venue_id)
        if venue_id not in self._venues:
            raise InvalidInput(f"unknown venue {venue_id!r}")
        async with self._sync.lock(venue_id):
            self._sync.needs.add(venue_id)
            await self._sync.reconcile_locked(venue_id)
        if (
            self._phase is EnginePhase.REFUSED
            and self._refusal is not None
            and self._refusal.startswith("reconciliation failed")
            and not self._sync.needs
        ):
            log.info("all venues reconciled; engine is ready to trade")
            self._phase = EnginePhase.READY
            self._refusal = None

    # --- internals: submit -----------------------------------------------------------------

    def _require_started(self, doing: str = "") -> None:
        if self._phase not in (EnginePhase.READY, EnginePhase.REFUSED):
            raise EngineNotReady(f"engine is {self._phase.value}{doing}")

    def _now(self) -> int:
        return self._clock.now_ns()

    def _require_ready(self) -> None:
        if self._phase is EnginePhase.READY:
            return
        if self._phase is EnginePhase.REFUSED:
            raise EngineNotReady(self._refusal or "engine refused to trade")
        raise EngineNotReady(
            f"engine is {self._phase.value}; call start() and wait for replay and reconciliation"
        )

    def _sleeper_now(self) -> Any:
        if self._sleeper is not None:
            return self._sleeper
        from oms_chain.algos.base import ClockSleeper

        return ClockSleeper(self._clock)

    async def _background_reconcile(self, venue_id: VenueId) -> None:
        if self._phase is not EnginePhase.READY:
            return
        await self.reconcile(venue_id)

    async def _submit_locked(self, intent: Intent, venue_id: VenueId) -> Order:
        decision = self._check(intent)
        pid = parent_order_id(intent.intent_id)
        events = self._parent_events(intent, decision, pid)
        if not decision.accepted:
            self._commit(pid, events)
            return self._proj.order(pid)
        await self._placement.open_direct(intent, venue_id, pid, events)
        return self._proj.order(pid)

    # --- internals: reports and reconciliation ---------------------------------------------

    def _on_report(self, venue_id: VenueId, report: VenueReport) -> None:
        self._sync.on_report(venue_id, report)

    def _revive(self, pid: OrderId) -> None:
        if self._phase is EnginePhase.READY:
            self._runs.revive(pid)

    def _net_position(self, account: AccountId, instrument_id: InstrumentId) -> Decimal:
        return self._proj.net_positions.get((account, instrument_id), Decimal(0))

    # --- internals: persistence ------------------------------------------------------------

    def _committed(self, events: Sequence[Event]) -> None:
        if any(isinstance(e, OrderOutcomeUnknown) for e in events):
            self._sync.reconciler.poke()

    def _store_lost(self, reason: str) -> None:
        self._phase = EnginePhase.REFUSED
        self._refusal = reason
