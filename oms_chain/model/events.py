"""Typed, versioned domain events.

Every event carries an envelope — ``event_id``, ``ts_event`` (when it happened) and ``ts_init``
(when we learned it), both integer nanoseconds, and ``causation_id`` / ``correlation_id`` —
plus its own fields. ``to_payload()`` gives a JSON-safe dict (Decimals as strings, enums as their
values); :func:`event_from_payload` rebuilds the event through a registry keyed by
``(type name, version)``. A new shape of an event is a new version with its own class. The
envelope, the registry and the codec are in :mod:`._event_base`; the Safe proposal events in
:mod:`.safe_events`.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from oms_chain.model._event_base import Event, event_from_payload, event_types, register_event
from oms_chain.model.fills import Fill
from oms_chain.model.ids import ClientOrderId, OrderId, VenueId, VenueOrderId
from oms_chain.model.intent import Intent
from oms_chain.model.orders import SettlementState
from oms_chain.model.safe_events import (
    SafeSignaturesRequested,
    SafeSignatureSubmitted,
    SafeTransactionExecuted,
    SafeTransactionExpired,
    SafeTransactionProposed,
    SafeTransactionSigned,
)

__all__ = [
    "AddressScreeningMatched",
    "AlgoStateChanged",
    "ChildOrderCreated",
    "Event",
    "FillRecorded",
    "FillReversed",
    "HedgeDecided",
    "HedgeSkipped",
    "OrderAccepted",
    "OrderAcknowledged",
    "OrderAmended",
    "OrderCancelRequested",
    "OrderCancelled",
    "OrderExpired",
    "OrderFailed",
    "OrderInitialized",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderSubmitted",
    "PortfolioAlertCleared",
    "PortfolioAlertRaised",
    "RiskAlertRaised",
    "RiskMonitorDegraded",
    "SafeSignatureSubmitted",
    "SafeSignaturesRequested",
    "SafeTransactionExecuted",
    "SafeTransactionExpired",
    "SafeTransactionProposed",
    "SafeTransactionSigned",
    "SettlementUpdated",
    "SigningRefused",
    "StructureAccepted",
    "StructureCompleted",
    "StructureHedged",
    "StructureLegFilled",
    "StructureLegMissed",
    "StructureLegsReversed",
    "StructureLegsSubmitted",
    "StructureRejected",
    "StructureSendStarted",
    "StructureSubmitted",
    "TradingStateChanged",
    "TransferRecorded",
    "VenueReconciled",
    "VenueReconciliationFailed",
    "event_from_payload",
    "event_types",
    "register_event",
]

# --- events ---------------------------------------------------------------------------------


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderInitialized(Event):
    """A parent order was created for ``intent`` with resolved base ``quantity``.

    ``arrival_price`` is the engine's fresh reference price of the instrument at submit (quote
    per base; the benchmark of execution reports) and ``arrival_source`` where it came from
    (e.g. ``"mid of pool-a, cex"``); both ``None`` when the engine had none (and in events
    written before they were recorded).
    """

    order_id: OrderId
    intent: Intent
    quantity: Decimal
    limit_price: Decimal | None
    arrival_price: Decimal | None = None
    arrival_source: str | None = None


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(Event):
    """The pre-trade risk gate accepted the order; ``checks`` lists each check's outcome."""

    order_id: OrderId
    checks: tuple[str, ...]


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(Event):
    """The risk gate (``source='risk'``) or the venue (``source='venue'``) refused the order."""

    order_id: OrderId
    reason: str
    source: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChildOrderCreated(Event):
    """A child order for one venue was created under ``parent_id``."""

    order_id: OrderId
    parent_id: OrderId
    seq: int
    client_order_id: ClientOrderId
    venue: VenueId
    quantity: Decimal
    limit_price: Decimal | None


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(Event):
    """We are sending the child order to its venue (written before the send)."""

    order_id: OrderId
    client_order_id: ClientOrderId
    venue: VenueId


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderAcknowledged(Event):
    """The venue confirmed it holds the order."""

    order_id: OrderId
    venue_order_id: VenueOrderId


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderOutcomeUnknown(Event):
    """The send's outcome is unknown (timeout, lost response); reconciliation will tell."""

    order_id: OrderId
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FillRecorded(Event):
    """A fill of a child order."""

    fill: Fill


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FillReversed(Event):
    """A recorded fill is no longer true: its transaction left the canonical chain (reorg).

    ``fill_key`` is the :attr:`~oms_chain.model.fills.Fill.key` of the reversed fill; its order's
    filled quantity and its position go back as if it had never been recorded.
    """

    order_id: OrderId
    fill_key: str
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelRequested(Event):
    """A cancel was requested by ``requested_by``; the order changes only when the venue says."""

    order_id: OrderId
    requested_by: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(Event):
    """The order is cancelled (venue confirmed, or it was never sent)."""

    order_id: OrderId
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(Event):
    """The order's deadline / time in force ran out."""

    order_id: OrderId
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderFailed(Event):
    """The order provably did not and will not execute (further).

    ``retryable``: it failed for a passing reason (the venue was unavailable, the request
    provably never left); the same quantity may be sent again, to the same venue too.
    """

    order_id: OrderId
    reason: str
    retryable: bool = False


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderAmended(Event):
    """The order's quantity / limit price changed (venue confirmed)."""

    order_id: OrderId
    quantity: Decimal
    limit_price: Decimal | None


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SettlementUpdated(Event):
    """An on-chain child's transaction moved (included, confirmed(n), final, reorged, ...)."""

    order_id: OrderId
    settlement: SettlementState


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TradingStateChanged(Event):
    """The kill switch moved to ``state`` (``active``, ``reducing``, ``halted``)."""

    state: str
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VenueReconciled(Event):
    """Our state agrees with ``venue``'s after checking ``orders_checked`` orders."""

    venue: VenueId
    orders_checked: int
    fills_recovered: int


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VenueReconciliationFailed(Event):
    """Reconciliation with ``venue`` failed; trading there stays stopped."""

    venue: VenueId
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AlgoStateChanged(Event):
    """An algorithmic parent order was paused, resumed or stopped (``running``, ``paused``,
    ``cancelled``)."""

    order_id: OrderId
    state: str
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RiskAlertRaised(Event):
    """Something a risk officer must see happened to ``order_id`` (an alert, not a state
    change). ``kind``: ``overfill`` (the children of a parent filled more than its intent, e.g.
    a late fill of a child already replaced); ``quantity``: by how much (base)."""

    order_id: OrderId
    kind: str
    reason: str
    quantity: Decimal = Decimal(0)


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddressScreeningMatched(Event):
    """An address an intent or transfer would touch is on a block list the user supplied.
    ``role``: ``account``, ``destination``, ``counterparty`` or ``token``; ``entry``: the list
    line that matched (``source:line``) and its ``label``."""

    account: str
    address: str
    role: str
    list_name: str
    entry: str
    label: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TransferRecorded(Event):
    """A transfer out of one of our accounts (travel-rule style record): who sent what to whom,
    on which chain and in which transaction. ``amount`` is in the asset's units."""

    account: str
    chain_id: int
    tx_hash: str
    asset: str
    amount: Decimal
    sender: str
    beneficiary: str
    beneficiary_name: str = ""
    originator_name: str = ""


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SigningRefused(Event):
    """A signing policy refused a request before anything was signed; ``rule`` names the rule."""

    signer: str
    rule: str
    reason: str
    chain_id: int | None = None
    to: str | None = None


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HedgeDecided(Event):
    """Hedger ``policy`` decided its ``seq``-th hedge: ``side`` ``quantity`` of
    ``instrument_id``, sent as intent ``intent_id`` (derived from policy and seq, recorded
    before the intent is submitted). ``delta`` / ``target`` / ``band`` are in underlying
    units at ``spot``; ``mode`` is ``delta_band`` or ``gamma_scalp``."""

    policy: str
    seq: int
    intent_id: str
    mode: str
    instrument_id: str
    side: str
    quantity: Decimal
    delta: Decimal
    target: Decimal
    band: Decimal
    spot: Decimal
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HedgeSkipped(Event):
    """Hedger ``policy`` saw delta outside its band (or a decision left over from a restart)
    and did not hedge; ``reason`` says why (cool-down, hedge in flight, below minimum size,
    decided before a restart and never submitted)."""

    policy: str
    delta: Decimal
    reason: str
    seq: int = 0


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioAlertRaised(Event):
    """Portfolio alert rule ``rule`` (metric ``metric``, optional ``underlying``) crossed its
    ``threshold`` with ``value``; ``message`` says it in words."""

    rule: str
    metric: str
    value: Decimal
    threshold: Decimal
    message: str
    underlying: str | None = None


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RiskMonitorDegraded(Event):
    """The risk monitor could not evaluate one market snapshot (taken at ``snapshot_ns``):
    ``reason`` says why. Monitoring goes on with the next snapshot; until one evaluates, the
    alerts reflect the last good reading."""

    reason: str
    snapshot_ns: int


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioAlertCleared(Event):
    """Portfolio alert rule ``rule`` is back past its ``clear_at`` with ``value``."""

    rule: str
    metric: str
    value: Decimal
    clear_at: Decimal
    message: str
    underlying: str | None = None


# --- option structures (one parent per structure, one child per leg) --------------------------


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureSubmitted(Event):
    """A multi-leg structure ``structure_id`` (builder ``kind``) was submitted for ``account``
    under ``policy`` (``atomic``, ``all-or-unwind`` or ``hedge-residual``). ``legs`` holds,
    per leg in order, its instrument payload, side, quantity and venue; ``limits`` the
    structure's limits (max loss, max net premium, max margin; strings or null)."""

    structure_id: str
    kind: str
    account: str
    policy: str
    legs: tuple[dict[str, Any], ...]
    limits: dict[str, Any]


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureAccepted(Event):
    """The risk gate passed the structure as a whole, on live quotes: ``net_premium`` (quote
    asset, positive paid), ``max_loss`` at expiry (``None``: unbounded) and initial ``margin``."""

    structure_id: str
    net_premium: Decimal
    max_loss: Decimal | None
    margin: Decimal


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureRejected(Event):
    """The structure was refused before any leg was sent: ``limit`` names the check that
    failed (a limit, ``quotes`` when a leg had no fillable quote), ``reason`` says it."""

    structure_id: str
    limit: str
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureSendStarted(Event):
    """About to send ``legs`` (indices) at ``venue`` under ``reference`` (a batch or client
    order id), recorded before anything is signed so a restart asks the venue first. The
    leg-risk coordinator records one before every order it sends: a leg attempt, an unwind
    (``reference`` ending ``-u``) or, with empty ``legs``, a hedge order."""

    structure_id: str
    legs: tuple[int, ...]
    venue: str
    reference: str
    #: the coordinator's order: its side and quantity (``None`` for an atomic batch)
    side: str | None = None
    quantity: Decimal | None = None


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureLegsSubmitted(Event):
    """``legs`` went out at ``venue`` under ``reference`` as ``tx_hash`` (on-chain; ``None``
    for an exchange order)."""

    structure_id: str
    legs: tuple[int, ...]
    venue: str
    reference: str
    tx_hash: str | None = None


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureLegFilled(Event):
    """Leg ``leg`` filled ``quantity`` at ``price`` (quote per underlying) in ``reference``. A
    leg worked across venues may fill in several attempts (one event per attempt, each with its
    own ``reference``): the leg holds their sum."""

    structure_id: str
    leg: int
    quantity: Decimal
    price: Decimal
    reference: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureLegMissed(Event):
    """Attempt ``reference`` of leg ``leg`` ended short of what it asked (refused, not filled in
    its time limit, or filled in part: that part is the ``StructureLegFilled`` of the same
    ``reference`` recorded before); ``reason`` says why. Recorded by the leg-risk coordinator,
    so a restart knows the attempt is over and what the policy does next."""

    structure_id: str
    leg: int
    reference: str
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureLegsReversed(Event):
    """``legs`` no longer hold: their one transaction was dropped, replaced, reverted or
    reorged out (every leg of an atomic batch together), or they were unwound."""

    structure_id: str
    legs: tuple[int, ...]
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureCompleted(Event):
    """The structure reached its end: ``outcome`` is ``open`` (every leg filled),
    ``rejected``, ``rolled_back`` or ``unwound``. ``exposure_usd_s`` is the unintended
    exposure of the time it was partial (|delta| in USD x seconds), ``max_delta_usd`` the
    largest |delta| it left and ``legged_ns`` how long it was partial."""

    structure_id: str
    outcome: str
    exposure_usd_s: Decimal = Decimal(0)
    max_delta_usd: Decimal = Decimal(0)
    legged_ns: int = 0


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StructureHedged(Event):
    """Under ``hedge-residual`` the open delta of a partial structure was hedged (or, once the
    structure is complete or unwound, the hedge closed): ``side`` ``quantity`` of
    ``instrument_id`` at ``venue`` under ``reference``; ``delta_before_usd`` /
    ``delta_after_usd`` the open delta around it."""

    structure_id: str
    venue: str
    instrument_id: str
    side: str
    quantity: Decimal
    delta_before_usd: Decimal
    delta_after_usd: Decimal
    reference: str
