"""The hedger: runs a :class:`~oms_chain.risk.HedgePolicy` against the live portfolio and sends
its hedges through the engine (risk gate and router included), every decision an event.

Restart safety: the ``seq``-th hedge of policy ``P`` is intent ``hedge-P-seq``. Its
:class:`~oms_chain.model.events.HedgeDecided` event is appended to the stream ``hedger-P``
(at the expected stream version, so two processes cannot both decide) *before* the intent is
submitted. A restarted hedger reads its stream: a decision the engine knows (an order exists
for its intent id) is a hedge sent, counted in delta while it is open; a decision the engine
never saw was not sent and is closed with a :class:`~oms_chain.model.events.HedgeSkipped`
(it is not re-sent, the policy decides afresh on the new delta). While a hedge is open no
other is sent. Because :meth:`Engine.submit` is idempotent on the intent id, re-submitting a
recorded decision could never send a second order either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from oms_chain.engine import Engine, EventLog
from oms_chain.engine.eventlog import append_event
from oms_chain.model import Instrument, Intent, Order, Side
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.model.events import Event, HedgeDecided, HedgeSkipped, event_from_payload
from oms_chain.model.ids import EventId, IntentId
from oms_chain.risk import (
    HedgeDecision,
    HedgePolicy,
    HedgeState,
    Holding,
    MarketSnapshot,
    ScalpLedger,
    decide_hedge,
    portfolio_risk,
)

__all__ = ["HedgeStatus", "Hedger", "engine_holdings"]

log = logging.getLogger("oms_chain.hedger")


def engine_holdings(engine: Engine, account: str | None = None) -> list[Holding]:
    """The engine's positions (of ``account``, or every account) as risk holdings.

    A position's instrument is taken from the engine's orders (positions carry only its id).

    Raises:
        InvalidInput: a non-zero position's instrument appears in none of the engine's orders
            (leaving it out would give a wrong delta); the message names it.
    """
    instruments = {o.instrument.id: o.instrument for o in engine.orders()}
    out: list[Holding] = []
    for p in engine.positions():
        if p.quantity == 0 or (account is not None and p.key.account != account):
            continue
        inst = instruments.get(p.key.instrument_id)
        if inst is None:
            raise InvalidInput(
                f"position {p.quantity} of {p.key.instrument_id} (account {p.key.account}, "
                f"venue {p.key.venue}) has no order naming its instrument, so its delta "
                "cannot be computed; pass the instrument's holding explicitly instead of "
                "relying on the engine's positions"
            )
        out.append(Holding.from_position(p, inst))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeStatus:
    """What the hedger last saw: ``delta`` (underlying units, open hedges' unfilled
    remainder included), the band, the hedges decided, the one in flight, the scalped PnL
    (quote units, :class:`~oms_chain.risk.ScalpLedger`) and the last decision."""

    delta: Decimal
    target: Decimal
    band: Decimal
    spot: Decimal
    hedges: int
    in_flight: str | None
    scalped_pnl: Decimal
    decision: HedgeDecision


class Hedger:
    """Keeps one underlying's delta in its policy's band through ``engine``.

    Args:
        engine: a started engine; hedges go through :meth:`Engine.submit`.
        store: the engine's event store (decisions are recorded there, stream ``hedger-<name>``).
        policy: the policy; ``instrument``: the instrument its ``instrument`` symbol names.
        account: the account the hedges trade for (and whose engine positions count).
        clock: injected clock (nanoseconds).
        holdings: holdings outside the engine's positions (options held at a venue, wallet
            balances); the engine's positions of ``account`` are added to them.

    Raises:
        InvalidInput: a bad argument (named), before anything is read or sent.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        store: EventLog,
        policy: HedgePolicy,
        instrument: Instrument,
        account: str,
        clock: Clock,
        holdings: Callable[[], Sequence[Holding]] = tuple,
    ) -> None:
        if not isinstance(engine, Engine):
            raise InvalidInput(f"engine must be an Engine, got {type(engine).__name__}")
        if not isinstance(store, EventLog):
            raise InvalidInput(f"store must be an event store, got {type(store).__name__}")
        if not isinstance(policy, HedgePolicy):
            raise InvalidInput(f"policy must be a HedgePolicy, got {type(policy).__name__}")
        if not isinstance(instrument, Instrument):  # type: ignore[arg-type,misc]
            raise InvalidInput(f"instrument must be an Instrument, got {instrument!r}")
        if not isinstance(account, str) or not account:
            raise InvalidInput("account must be a non-empty account name")
        if not callable(holdings) or not callable(getattr(clock, "now_ns", None)):
            raise InvalidInput("holdings must be a callable and clock must have now_ns()")
        self._engine = engine
        self._store = store
        self.policy = policy
        self._instrument = instrument
        self._account = account
        self._clock = clock
        self._holdings = holdings
        self.stream = f"hedger-{policy.name}"
        self._version = 0
        self._decided: list[HedgeDecided] = []
        self._closed: set[int] = set()  # seqs closed by a HedgeSkipped (never submitted)
        self._last_skip: str | None = None
        self._started = False
        #: Events this hedger recorded since start, oldest first (for surfaces and tests).
        self.events: list[Event] = []

    # --- state -------------------------------------------------------------------------------

    def start(self) -> int:
        """Read this policy's stream and close decisions the engine never saw; returns how
        many decisions were found. Call after the engine has started (replayed)."""
        self._decided.clear()
        self._closed.clear()
        for rec in self._store.read_all(0):
            if rec.stream_id != self.stream:
                continue
            e = event_from_payload(rec.event_type, rec.version, rec.payload)
            self._version = rec.stream_version
            if isinstance(e, HedgeDecided):
                self._decided.append(e)
            elif isinstance(e, HedgeSkipped) and e.seq:
                self._closed.add(e.seq)
        self._started = True
        for d in self._decided:
            if d.seq not in self._closed and self._order(d) is None:
                self._record_skip(
                    d.delta,
                    f"hedge {d.intent_id} was decided before a restart and never reached the "
                    "engine: not sent; deciding again on the current delta",
                    seq=d.seq,
                )
        return len(self._decided)

    def _order(self, d: HedgeDecided) -> Order | None:
        oid = self._engine.projections.intents.get(IntentId(d.intent_id))
        return None if oid is None else self._engine.order(oid)

    def _in_flight(self) -> tuple[HedgeDecided, Order] | None:
        for d in reversed(self._decided):
            o = self._order(d)
            if o is not None and o.is_open:
                return d, o
        return None

    def status_in_flight(self) -> str | None:
        """The intent id of the hedge still open in the engine, or ``None``."""
        flying = self._in_flight()
        return None if flying is None else flying[0].intent_id

    def state(self) -> HedgeState:
        """Time and spot of the last hedge sent (what cool-down and scalping use).

        A decision closed by a :class:`~oms_chain.model.events.HedgeSkipped` (the engine
        refused it, or a restart found it never reached the engine) was never sent: it
        starts no cool-down and moves no scalping reference. A hedge the engine recorded and
        its risk gate rejected does count (it reached the engine; retrying at once would be
        rejected again).
        """
        last = next((d for d in reversed(self._decided) if d.seq not in self._closed), None)
        if last is None:
            return HedgeState()
        return HedgeState(last_hedge_ns=last.ts_event, last_hedge_spot=last.spot)

    def ledger(self) -> ScalpLedger:
        """The filled part of every hedge, at its average fill price."""
        ledger = ScalpLedger()
        for d in self._decided:
            o = self._order(d)
            if o is not None and o.filled_quantity > 0 and o.avg_fill_price is not None:
                sign = 1 if o.side is Side.BUY else -1
                ledger = ledger.add(sign * o.filled_quantity, o.avg_fill_price)
        return ledger

    def delta(self, market: MarketSnapshot) -> Decimal:
        """Delta of the underlying (units): holdings, engine positions, open hedges' rest."""
        held = [*self._holdings(), *engine_holdings(self._engine, self._account)]
        risk = portfolio_risk(held, market)
        u = risk.by_underlying.get(self.policy.underlying)
        delta = Decimal(0) if u is None else u.delta
        flying = self._in_flight()
        if flying is not None:
            _, o = flying
            sign = 1 if o.side is Side.BUY else -1
            delta += sign * o.leaves_quantity * self.policy.hedge_delta
        return delta

    # --- one evaluation ----------------------------------------------------------------------

    async def step(self, market: MarketSnapshot) -> HedgeStatus:
        """Evaluate the policy on ``market`` and, if it asks, record and send one hedge.

        Raises:
            InvalidInput: ``market`` is not a MarketSnapshot or has no spot for the underlying,
                or an engine position's instrument is unknown (:func:`engine_holdings`).
            OmsError: :meth:`start` was not called.
        """
        if not self._started:
            raise OmsError("call Hedger.start() (after the engine has started) before step()")
        if not isinstance(market, MarketSnapshot):
            raise InvalidInput(f"market must be a MarketSnapshot, got {type(market).__name__}")
        spot = market.spots.get(self.policy.underlying)
        if spot is None:
            raise InvalidInput(
                f"market has no spot for {self.policy.underlying!r}; the hedger needs one"
            )
        p = self.policy
        delta = self.delta(market)
        now = self._clock.now_ns()
        flying = self._in_flight()
        decision = decide_hedge(p, delta=delta, spot=spot, now_ns=now, state=self.state())
        if decision.action != "none" and flying is not None:
            decision = HedgeDecision(
                action="skip",
                reason=f"{decision.reason}; hedge {flying[0].intent_id} is still in flight",
                delta_after=delta,
            )
        if decision.action == "skip":
            kind = decision.reason.rsplit("; ", 1)[-1].split(":")[0]
            if kind != self._last_skip:  # a skip that stays the same is recorded once
                self._record_skip(delta, decision.reason)
                self._last_skip = kind
        elif decision.action == "none":
            self._last_skip = None
        else:
            self._last_skip = None
            decision = await self._hedge(decision, delta, spot, now)
        flying = self._in_flight()
        return HedgeStatus(
            delta=delta,
            target=p.target,
            band=p.band,
            spot=spot,
            hedges=len(self._decided),
            in_flight=None if flying is None else flying[0].intent_id,
            scalped_pnl=self.ledger().pnl(spot),
            decision=decision,
        )

    async def _hedge(
        self, d: HedgeDecision, delta: Decimal, spot: Decimal, now: int
    ) -> HedgeDecision:
        """Record and submit ``d``; returns the decision as sent (or as skipped)."""
        p = self.policy
        seq = (self._decided[-1].seq if self._decided else 0) + 1
        intent_id = f"hedge-{p.name}-{seq}"
        side = d.side
        assert side is not None
        # the instrument's precision may be coarser than the policy's quantity step
        step = Decimal(1).scaleb(-self._instrument.size_decimals)
        quantity = d.quantity.quantize(step, rounding=ROUND_DOWN)
        if quantity <= 0:
            why = f"{d.reason}; below the precision of {self._instrument.symbol} ({step})"
            self._record_skip(delta, why)
            return HedgeDecision(action="skip", reason=why, delta_after=delta)
        if quantity != d.quantity:
            change = (quantity - d.quantity) * p.hedge_delta * (-1 if side == "sell" else 1)
            d = replace(d, quantity=quantity, delta_after=d.delta_after + change)
        # Build the intent first: a bad one is refused before anything is recorded.
        intent = Intent.create(
            intent_id=intent_id,
            account=self._account,
            instrument=self._instrument,
            side=side,
            quantity=d.quantity,
            venues=p.venues,
            now_ns=now,
            max_slippage_bps=p.max_slippage_bps,
        )
        event = HedgeDecided(
            event_id=EventId("pending"),
            ts_event=now,
            ts_init=now,
            correlation_id=intent_id,
            policy=p.name,
            seq=seq,
            intent_id=intent_id,
            mode=p.mode,
            instrument_id=str(self._instrument.id),
            side=side,
            quantity=d.quantity,
            delta=delta,
            target=p.target,
            band=p.band,
            spot=spot,
            reason=d.reason,
        )
        self._append(event)  # recorded BEFORE the intent is submitted
        self._decided.append(event)
        log.info("hedger %s: %s", p.name, d.reason)
        try:
            order = await self._engine.submit(intent)
        except OmsError as exc:
            if self._order(event) is None:
                self._record_skip(delta, f"hedge {intent_id} not submitted: {exc}", seq=seq)
            log.warning("hedger %s: hedge %s not submitted: %s", p.name, intent_id, exc)
            return d
        if order.reason and not order.is_open and order.filled_quantity == 0:
            log.warning("hedger %s: hedge %s ended: %s", p.name, intent_id, order.reason)
        return d

    def _record_skip(self, delta: Decimal, reason: str, *, seq: int = 0) -> None:
        now = self._clock.now_ns()
        event = HedgeSkipped(
            event_id=EventId("pending"),
            ts_event=now,
            ts_init=now,
            policy=self.policy.name,
            delta=delta,
            reason=reason,
            seq=seq,
        )
        self._append(event)
        if seq:
            self._closed.add(seq)
        log.info("hedger %s: skipped: %s", self.policy.name, reason)

    def _append(self, event: HedgeDecided | HedgeSkipped) -> None:
        self._version = append_event(self._store, self.stream, self._version, event)
        self.events.append(event)
