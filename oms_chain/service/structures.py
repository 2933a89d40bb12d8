"""Structure intents: one parent per multi-leg option structure, one child per leg, every step
an event in the structure's own stream ``structure-<id>``, resumable after a crash.

:class:`StructureRunner` works a :class:`StructureRequest` through these steps, each recorded
before the next one starts:

1. ``StructureSubmitted``: the legs, their venue, the policy and the limits (a known id with
   other content is refused: an id names one structure for life);
2. quotes for every leg, then the risk gate on the structure as a whole
   (:func:`~oms_chain.strategies.check_structure`: max loss at expiry, net premium of the live
   quotes, initial margin from the risk engine): ``StructureAccepted`` or ``StructureRejected``;
3. ``StructureSendStarted`` (write-ahead), then the legs go out: on the on-chain options market
   all of them as ONE ``BatchExecutor`` transaction guarded at the limit's net premium (or at the
   quoted one) — ``StructureLegsSubmitted`` with its hash;
4. the transaction mined: ``StructureLegFilled`` per leg and ``StructureCompleted(open)``; dropped,
   reverted or reorged out: ``StructureLegsReversed`` of every leg together.

A restart calls :meth:`StructureRunner.resume`: a structure found at step 3 asks the batch
journal first (journaled means sent: never sent twice; not journaled means never signed: it is
quoted, gated and sent afresh under the same batch id), one found at step 4 waits for its
transaction. :meth:`StructureRunner.reconcile` re-reads an open structure's transaction after a
reorg. :func:`read_structure` / :func:`list_structures` fold the streams for surfaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oms_chain.engine.eventlog import EventLog, append_event
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput, VenueRejected
from oms_chain.model.events import (
    Event,
    StructureAccepted,
    StructureCompleted,
    StructureHedged,
    StructureLegFilled,
    StructureLegMissed,
    StructureLegsReversed,
    StructureLegsSubmitted,
    StructureRejected,
    StructureSendStarted,
    StructureSubmitted,
    event_from_payload,
)
from oms_chain.model.ids import ClientOrderId, EventId, IntentId, client_order_id
from oms_chain.model.intent import Side
from oms_chain.risk import MarketSnapshot
from oms_chain.store.base import EventStore
from oms_chain.strategies import (
    Structure,
    StructureLimitExceeded,
    StructureLimits,
    check_structure,
    structure_margin,
)
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.options.batch import AtomicOptionsBatch, BatchStatus, PreparedBatch

__all__ = [
    "POLICIES",
    "StructureRecord",
    "StructureRequest",
    "StructureRunner",
    "list_structures",
    "read_structure",
    "structure_stream",
]

log = logging.getLogger(__name__)

#: Execution policies of a structure: all legs in one on-chain transaction, or (across
#: venues) the leg-risk coordinator's two policies.
POLICIES = ("atomic", "all-or-unwind", "hedge-residual")
_PREFIX = "structure-"
_STRUCTURE_EVENTS = {
    cls.TYPE
    for cls in (
        StructureSubmitted,
        StructureAccepted,
        StructureRejected,
        StructureSendStarted,
        StructureLegsSubmitted,
        StructureLegFilled,
        StructureLegMissed,
        StructureLegsReversed,
        StructureCompleted,
        StructureHedged,
    )
}


def structure_stream(structure_id: str) -> str:
    """The event stream of structure ``structure_id``."""
    return f"{_PREFIX}{structure_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StructureRequest:
    """What to execute: ``structure`` (from a builder) as ``structure_id`` for ``account``,
    within ``limits``; ``market`` is the snapshot the risk engine computes the margin from
    (spot of the underlying, a vol per leg); ``policy`` one of :data:`POLICIES`."""

    structure_id: str
    structure: Structure
    account: str
    limits: StructureLimits
    market: MarketSnapshot
    policy: str = "atomic"

    def __post_init__(self) -> None:
        sid = self.structure_id
        if not isinstance(sid, str) or not 1 <= len(sid) <= 64 or not sid.isascii():
            raise InvalidInput(f"structure_id must be 1-64 ASCII characters, got {sid!r}")
        if any(c.isspace() for c in sid):
            raise InvalidInput(f"structure_id must not contain spaces, got {sid!r}")
        if not isinstance(self.structure, Structure):
            raise InvalidInput("structure must be a Structure (build it with oms_chain.strategies)")
        if not isinstance(self.account, str) or not self.account:
            raise InvalidInput("account must be a non-empty account name")
        if not isinstance(self.limits, StructureLimits):
            raise InvalidInput("limits must be StructureLimits")
        if not isinstance(self.market, MarketSnapshot):
            raise InvalidInput("market must be a MarketSnapshot (for the structure's margin)")
        if self.policy not in POLICIES:
            raise InvalidInput(f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")


@dataclass(slots=True, kw_only=True)
class StructureRecord:
    """A structure as its stream tells it. ``status``: ``submitted``, ``accepted``,
    ``sending``, ``sent``, ``open``, ``rejected``, ``rolled_back``; worked by the leg-risk
    coordinator also ``unwound`` or ``exposed`` (an unwind missed). ``filled`` is, per leg, the
    quantity it holds and its average price: the sum over the leg's attempts (one
    ``StructureLegFilled`` per attempt ``reference``; the same reference again replaces it)."""

    structure_id: str
    kind: str
    account: str
    policy: str
    legs: tuple[dict[str, Any], ...]
    limits: dict[str, Any]
    status: str = "submitted"
    net_premium: Decimal | None = None
    max_loss: Decimal | None = None
    margin: Decimal | None = None
    venue: str | None = None
    reference: str | None = None
    tx_hash: str | None = None
    filled: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict)
    fills: dict[int, dict[str, tuple[Decimal, Decimal]]] = field(default_factory=dict)
    reason: str | None = None
    exposure_usd_s: Decimal = Decimal(0)
    max_delta_usd: Decimal = Decimal(0)
    legged_ns: int = 0
    ts_submitted: int = 0
    ts_last: int = 0
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        """Nothing is left to do (it may still be rolled back by a reorg while ``open``)."""
        return self.status in ("open", "rejected", "rolled_back", "unwound", "exposed")

    def apply(self, event: Event, version: int) -> None:
        """Fold one event of the stream."""
        self.version = version
        self.ts_last = event.ts_event
        self.events.append(event)
        if isinstance(event, StructureAccepted):
            self.status = "accepted"
            self.net_premium, self.max_loss, self.margin = (
                event.net_premium,
                event.max_loss,
                event.margin,
            )
        elif isinstance(event, StructureRejected):
            self.status, self.reason = "rejected", event.reason
        elif isinstance(event, StructureSendStarted) and event.legs:  # empty: a hedge order
            self.status, self.venue, self.reference = "sending", event.venue, event.reference
        elif isinstance(event, StructureLegsSubmitted) and event.legs:
            self.status, self.tx_hash = "sent", event.tx_hash
        elif isinstance(event, StructureLegFilled):
            self.fills.setdefault(event.leg, {})[event.reference] = (event.quantity, event.price)
            parts = self.fills[event.leg].values()
            qty = sum((q for q, _ in parts), Decimal(0))
            avg = sum((q * p for q, p in parts), Decimal(0)) / qty if qty else event.price
            self.filled[event.leg] = (qty, avg)
        elif isinstance(event, StructureLegsReversed):
            self.status, self.reason = "rolled_back", event.reason
            for i in event.legs:
                self.filled.pop(i, None)
                self.fills.pop(i, None)
        elif isinstance(event, StructureCompleted):
            self.status = event.outcome
            self.exposure_usd_s = event.exposure_usd_s
            self.max_delta_usd = event.max_delta_usd
            self.legged_ns = event.legged_ns

    def to_json(self) -> dict[str, Any]:
        """JSON-safe summary (CLI ``--json``)."""
        return {
            "structure_id": self.structure_id,
            "kind": self.kind,
            "account": self.account,
            "policy": self.policy,
            "status": self.status,
            "legs": [
                {
                    **leg,
                    "filled": None if i not in self.filled else str(self.filled[i][0]),
                    "price": None if i not in self.filled else str(self.filled[i][1]),
                }
                for i, leg in enumerate(self.legs)
            ],
            "limits": self.limits,
            "net_premium": None if self.net_premium is None else str(self.net_premium),
            "max_loss": None if self.max_loss is None else str(self.max_loss),
            "margin": None if self.margin is None else str(self.margin),
            "venue": self.venue,
            "reference": self.reference,
            "tx_hash": self.tx_hash,
            "reason": self.reason,
            "exposure_usd_s": str(self.exposure_usd_s),
            "max_delta_usd": str(self.max_delta_usd),
            "legged_ns": self.legged_ns,
            "ts_submitted": self.ts_submitted,
            "ts_last": self.ts_last,
            "events": [{"type": e.TYPE, "ts_event": e.ts_event, **_brief(e)} for e in self.events],
        }


def _brief(e: Event) -> dict[str, Any]:
    skip = {"event_id", "ts_event", "ts_init", "causation_id", "correlation_id", "structure_id"}
    skip |= {"legs", "limits"} if isinstance(e, StructureSubmitted) else set()
    return {k: v for k, v in e.to_payload().items() if k not in skip}


def _fold(records: Iterable[Any]) -> dict[str, StructureRecord]:
    out: dict[str, StructureRecord] = {}
    for rec in records:
        if not rec.stream_id.startswith(_PREFIX) or rec.event_type not in _STRUCTURE_EVENTS:
            continue
        e = event_from_payload(rec.event_type, rec.version, rec.payload)
        sid = rec.stream_id[len(_PREFIX) :]
        if isinstance(e, StructureSubmitted):
            out[sid] = StructureRecord(
                structure_id=e.structure_id,
                kind=e.kind,
                account=e.account,
                policy=e.policy,
                legs=e.legs,
                limits=e.limits,
                ts_submitted=e.ts_event,
            )
        if sid in out:
            out[sid].apply(e, rec.stream_version)
    return out


def read_structure(store: EventLog, structure_id: str) -> StructureRecord | None:
    """Structure ``structure_id`` folded from its stream (``None``: never submitted)."""
    stream = structure_stream(structure_id)
    if isinstance(store, EventStore):  # a store reads one stream without scanning the rest
        return _fold(store.read_stream(stream)).get(structure_id)
    return _fold(r for r in store.read_all(0) if r.stream_id == stream).get(structure_id)


def list_structures(store: EventLog) -> list[StructureRecord]:
    """Every structure in ``store``, oldest first."""
    return sorted(_fold(store.read_all(0)).values(), key=lambda r: r.ts_submitted)


def check_store_and_clock(store: object, clock: object) -> None:
    """The checks of a structure worker's ``store`` and ``clock`` arguments.

    Raises:
        InvalidInput: not an event store, or a clock without ``now_ns()``.
    """
    if not isinstance(store, EventLog):
        raise InvalidInput(f"store must be an event store, got {type(store).__name__}")
    if not callable(getattr(clock, "now_ns", None)):
        raise InvalidInput("clock must have now_ns()")


def envelope(clock: Clock) -> dict[str, Any]:
    """The envelope fields of an event recorded now (its id is given when appended)."""
    now = clock.now_ns()
    return {"event_id": EventId(""), "ts_event": now, "ts_init": now}


def require_structure(store: EventLog, structure_id: str) -> StructureRecord:
    """:func:`read_structure`, for a structure that must exist.

    Raises:
        InvalidInput: unknown structure.
    """
    rec = read_structure(store, structure_id)
    if rec is None:
        raise InvalidInput(f"unknown structure {structure_id!r}")
    return rec


def _leg_payloads(structure: Structure, venue: str) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "instrument": leg.contract.to_payload(),
            "symbol": leg.contract.symbol,
            "side": leg.side.value,
            "quantity": str(leg.quantity),
            "venue": venue,
        }
        for leg in structure.legs
    )


class StructureRunner:
    """Works structure requests on the on-chain options market (policy ``atomic``), recording
    every step in ``store`` (see the module doc). ``on_step`` is called with each step's name
    after its event is recorded (progress for surfaces; fault injection for tests).

    Raises:
        InvalidInput: a bad argument (named).
    """

    def __init__(
        self,
        *,
        store: EventLog,
        clock: Clock,
        batch: AtomicOptionsBatch,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        check_store_and_clock(store, clock)
        if not isinstance(batch, AtomicOptionsBatch):
            raise InvalidInput(f"batch must be an AtomicOptionsBatch, got {type(batch).__name__}")
        self._store = store
        self._clock = clock
        self._batch = batch
        self._on_step = on_step or (lambda _step: None)
        self._prepared: dict[str, PreparedBatch] = {}

    # --- commands ----------------------------------------------------------------------------

    async def run(self, request: StructureRequest) -> StructureRecord:
        """Submit ``request`` (or continue it, when its id is known with the same legs) and work
        it to its end. Returns the structure as recorded.

        Raises:
            InvalidInput: a bad request, or a known id with other legs, policy or limits.
        """
        if not isinstance(request, StructureRequest):
            raise InvalidInput(f"expected a StructureRequest, got {type(request).__name__}")
        if request.policy != "atomic":
            raise InvalidInput(
                f"policy {request.policy!r} is worked across venues by "
                "oms_chain.service.leg_coordinator.LegCoordinator; this runner takes 'atomic' "
                "(all legs on the on-chain market)"
            )
        self._batch_listing(request.structure)
        legs = _leg_payloads(request.structure, self._batch.venue_id)
        limits = request.limits.to_payload()
        rec = read_structure(self._store, request.structure_id)
        if rec is None:
            self._append(
                request.structure_id,
                0,
                StructureSubmitted(
                    **self._envelope(),
                    structure_id=request.structure_id,
                    kind=request.structure.kind,
                    account=request.account,
                    policy=request.policy,
                    legs=legs,
                    limits=limits,
                ),
                "submitted",
            )
        elif (rec.legs, rec.policy, rec.limits) != (legs, request.policy, limits):
            raise InvalidInput(
                f"structure {request.structure_id} is known with other legs, policy or limits; "
                "an id names one structure for life: pick a new id"
            )
        return await self._advance(request)

    async def resume(self, request: StructureRequest) -> StructureRecord:
        """Continue a structure recorded before a restart (the same as :meth:`run` with the
        request it was submitted with)."""
        return await self.run(request)

    async def reconcile(self, structure_id: str) -> StructureRecord:
        """Re-read an open structure's transaction: when a reorg or drop took it out, record
        every leg rolled back. Returns the structure as recorded.

        Raises:
            InvalidInput: unknown structure.
        """
        rec = self._record(structure_id)
        if rec.status == "open" and rec.reference is not None:
            status = await self._batch.status(ClientOrderId(rec.reference))
            if status is not None and status.rolled_back:
                self._rolled_back(rec, status)
        return self._record(structure_id)

    # --- the steps ---------------------------------------------------------------------------

    async def _advance(self, req: StructureRequest) -> StructureRecord:
        sid = req.structure_id
        rec = self._record(sid)
        batch_id = client_order_id(IntentId(sid), 0, prefix="sx")
        if rec.status == "sending":
            known = await self._batch.status(batch_id)
            if known is not None:  # signed and journaled: it went out (or will): never resend
                self._sent(rec, known)
                rec = self._record(sid)
            else:  # never signed: quote, gate and send afresh under the same batch id
                rec.status = "submitted"
        if rec.status in ("submitted", "accepted"):
            prepared = await self._gate(req, rec, batch_id)
            if prepared is None:
                return self._record(sid)
            rec = self._record(sid)
            self._append(
                sid,
                rec.version,
                StructureSendStarted(
                    **self._envelope(),
                    structure_id=sid,
                    legs=tuple(range(len(req.structure.legs))),
                    venue=self._batch.venue_id,
                    reference=batch_id,
                ),
                "sending",
            )
            try:
                status = await self._batch.send(prepared)
            except VenueRejected as exc:
                rec = self._record(sid)
                self._reject(rec, "quotes", str(exc))
                return self._record(sid)
            self._sent(self._record(sid), status)
            rec = self._record(sid)
        if rec.status == "sent":
            status = await self._batch.wait(batch_id)
            rec = self._record(sid)
            if status.all_filled:
                self._filled(rec, req.structure, status)
            elif status.rolled_back:
                self._rolled_back(rec, status)
        return self._record(sid)

    async def _gate(
        self, req: StructureRequest, rec: StructureRecord, batch_id: ClientOrderId
    ) -> PreparedBatch | None:
        orders = [
            PlaceOrder(
                client_order_id=client_order_id(IntentId(req.structure_id), i + 1, prefix="sx"),
                instrument=leg.contract,
                side=Side(leg.side.value),
                quantity=leg.quantity,
                limit_price=None,
            )
            for i, leg in enumerate(req.structure.legs)
        ]
        loose = Decimal(10) ** 30  # the guard is set below, once the quotes are known
        try:
            prepared = await self._batch.prepare(batch_id, orders, max_net_premium=loose)
        except VenueRejected as exc:
            self._reject(rec, "quotes", str(exc))
            return None
        quote = req.structure.legs[0].contract.quote
        net = Decimal(prepared.net_premium).scaleb(-quote.decimals)
        margin = structure_margin(req.structure, req.market).initial
        try:
            checked = check_structure(req.structure, req.limits, net_premium=net, margin=margin)
        except StructureLimitExceeded as exc:
            self._reject(rec, exc.limit, str(exc))
            return None
        guard = req.limits.max_net_premium if req.limits.max_net_premium is not None else net
        self._append(
            req.structure_id,
            rec.version,
            StructureAccepted(
                **self._envelope(),
                structure_id=req.structure_id,
                net_premium=checked.net_premium,
                max_loss=checked.max_loss,
                margin=checked.margin,
            ),
            "accepted",
        )
        return self._batch.guarded(prepared, guard)

    def _reject(self, rec: StructureRecord, limit: str, reason: str) -> None:
        v = self._append(
            rec.structure_id,
            rec.version,
            StructureRejected(
                **self._envelope(), structure_id=rec.structure_id, limit=limit, reason=reason
            ),
            "rejected",
        )
        self._append(
            rec.structure_id,
            v,
            StructureCompleted(
                **self._envelope(), structure_id=rec.structure_id, outcome="rejected"
            ),
            "completed",
        )

    def _sent(self, rec: StructureRecord, status: BatchStatus) -> None:
        self._append(
            rec.structure_id,
            rec.version,
            StructureLegsSubmitted(
                **self._envelope(),
                structure_id=rec.structure_id,
                legs=tuple(range(len(rec.legs))),
                venue=self._batch.venue_id,
                reference=status.batch_id,
                tx_hash=status.tx_hash,
            ),
            "sent",
        )

    def _filled(self, rec: StructureRecord, structure: Structure, status: BatchStatus) -> None:
        v = rec.version
        for i, leg in enumerate(structure.legs):
            quote = leg.contract.quote
            price = Decimal(status.premiums[i]).scaleb(-quote.decimals) / leg.quantity
            v = self._append(
                rec.structure_id,
                v,
                StructureLegFilled(
                    **self._envelope(),
                    structure_id=rec.structure_id,
                    leg=i,
                    quantity=leg.quantity,
                    price=price,
                    reference=status.tx_hash,
                ),
                f"leg {i} filled",
            )
        self._append(
            rec.structure_id,
            v,
            StructureCompleted(**self._envelope(), structure_id=rec.structure_id, outcome="open"),
            "completed",
        )

    def _rolled_back(self, rec: StructureRecord, status: BatchStatus) -> None:
        reason = (
            f"transaction {status.tx_hash} {status.settlement.value}"
            + (" (reverted)" if status.succeeded is False else "")
            + ": every leg rolled back together"
        )
        self._append(
            rec.structure_id,
            rec.version,
            StructureLegsReversed(
                **self._envelope(),
                structure_id=rec.structure_id,
                legs=tuple(range(len(rec.legs))),
                reason=reason,
            ),
            "rolled back",
        )

    # --- helpers -----------------------------------------------------------------------------

    def _batch_listing(self, structure: Structure) -> None:
        for i, leg in enumerate(structure.legs):
            try:
                self._batch.listing(leg.contract)
            except (InvalidInput, VenueRejected) as exc:
                raise InvalidInput(
                    f"leg {i} ({leg.describe()}): not listed on {self._batch.venue_id}: {exc}"
                ) from None

    def _record(self, structure_id: str) -> StructureRecord:
        return require_structure(self._store, structure_id)

    def _envelope(self) -> dict[str, Any]:
        return envelope(self._clock)

    def _append(self, structure_id: str, version: int, event: Event, step: str) -> int:
        v = append_event(self._store, structure_stream(structure_id), version, event)
        log.info("structure %s: %s", structure_id, step)
        self._on_step(step)
        return v
