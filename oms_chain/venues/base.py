"""The :class:`Venue` protocol every adapter implements, and the report types it returns.

Reports are our own immutable types: adapters turn a venue's shapes (ccxt dicts, RPC receipts)
into them at the edge. Errors: :class:`~oms_chain.model.errors.VenueRejected` (final: the venue
received the request and refused it), :class:`~oms_chain.model.errors.VenueTimeout` (ambiguous:
the request may have been executed — reconcile, never retry blindly) and
:class:`~oms_chain.model.errors.VenueUnavailable` (the request provably never left).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Protocol, runtime_checkable

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import ClientOrderId, InstrumentId, TradeId, VenueId, VenueOrderId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.model.orders import SettlementState

__all__ = [
    "AmendOrder",
    "BoundedAcceptance",
    "DeclaresCapabilities",
    "DeclaresDestinations",
    "FillReport",
    "LiquidityCurve",
    "LiquidityLevel",
    "ListsInstruments",
    "OrderStatusReport",
    "PlaceOrder",
    "QuantityGrid",
    "Quote",
    "ReconciliationReport",
    "SendBudget",
    "SpendableInventory",
    "Venue",
    "VenueCapabilities",
    "VenueOrderStatus",
    "VenueReport",
]


class VenueOrderStatus(Enum):
    """An order's status as the venue reports it."""

    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self not in (VenueOrderStatus.OPEN, VenueOrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    """Request to place one order. ``limit_price`` ``None`` = market order bounded by
    ``max_slippage_bps`` against the venue's price; ``deadline_ns`` ends its life."""

    client_order_id: ClientOrderId
    instrument: Instrument
    side: Side
    quantity: Decimal
    limit_price: Decimal | None = None
    max_slippage_bps: Decimal | None = None
    deadline_ns: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AmendOrder:
    """Request to change an open order's total quantity and/or limit price."""

    client_order_id: ClientOrderId
    quantity: Decimal
    limit_price: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FillReport:
    """One execution as reported by the venue (``fee`` in ``fee_currency``)."""

    venue: VenueId
    trade_id: TradeId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts_event: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusReport:
    """The venue's full view of one order, with every fill it knows of.

    On-chain venues also set ``settlement`` (where the order's transaction is: submitted,
    included, confirmed(n), final, reorged, ...). Their ``fills`` are then authoritative: they
    are exactly the fills on the canonical chain now, so a fill the engine recorded earlier and
    that is missing from a report with ``settlement`` set has left the chain (reorg) and is
    reversed. Trade ids of on-chain fills name the block they were mined in, so the same
    transaction re-mined in another block is a new fill.
    """

    venue: VenueId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId
    status: VenueOrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    limit_price: Decimal | None
    fills: tuple[FillReport, ...]
    ts_event: int
    reason: str | None = None
    settlement: SettlementState | None = None


VenueReport = OrderStatusReport | FillReport


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconciliationReport:
    """Answer to :meth:`Venue.reconcile`: reports for the asked ids and every open order;
    ``unknown`` lists asked ids the venue does not know *now*. For a venue that is
    :class:`BoundedAcceptance` that is "not yet" until its acceptance window has passed since
    the send; for any other venue it is proof the request was never received."""

    venue: VenueId
    orders: tuple[OrderStatusReport, ...]
    unknown: tuple[ClientOrderId, ...]
    balances: Mapping[str, Decimal]
    ts_event: int


@dataclass(frozen=True, slots=True)
class LiquidityLevel:
    """``quantity`` of base available at ``price`` (quote per base)."""

    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquidityCurve:
    """What a venue offers on one side: price levels best first, taker fee and fixed cost
    (gas, in quote) per execution."""

    venue: VenueId
    instrument_id: InstrumentId
    side: Side
    levels: tuple[LiquidityLevel, ...]
    taker_fee_bps: Decimal
    fixed_cost: Decimal
    ts_event: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """Expected execution of ``quantity``: volume-weighted ``avg_price`` and ``fee`` in quote."""

    venue: VenueId
    instrument_id: InstrumentId
    side: Side
    quantity: Decimal
    avg_price: Decimal
    fee: Decimal
    ts_event: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueCapabilities:
    """What a venue's orders can do, declared by the adapter (never guessed from its methods).

    ``resting_orders``: a limit order away from the price rests until filled or cancelled (an
    AMM swap executes when mined or not at all). ``amend``: :meth:`Venue.amend` changes an open
    order (otherwise it always raises :class:`~oms_chain.model.errors.VenueRejected`).
    ``fills_on_place``: a marketable order's fills are in the report :meth:`Venue.place`
    returns (an on-chain venue answers once the transaction is out; fills come with the
    receipt, through :meth:`Venue.status` and :meth:`Venue.events`).
    """

    resting_orders: bool = True
    amend: bool = True
    fills_on_place: bool = True

    def __post_init__(self) -> None:
        for name in ("resting_orders", "amend", "fills_on_place"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"venue capability {name!r} must be a bool")


@runtime_checkable
class DeclaresCapabilities(Protocol):
    """A venue that declares its :class:`VenueCapabilities` (the conformance suite in
    :mod:`oms_chain.testing.venue` reads them to choose which form of each test applies)."""

    @property
    def capabilities(self) -> VenueCapabilities:
        """This venue's order capabilities."""
        ...


@runtime_checkable
class DeclaresDestinations(Protocol):
    """A venue whose orders call contracts and move tokens to addresses it can name before
    anything is built (an on-chain venue): the pre-trade gate screens them against the
    compliance block lists."""

    def destinations(self, instrument: Instrument) -> Mapping[str, Sequence[str]]:
        """Addresses an order on ``instrument`` would touch, by role: ``destination`` (every
        contract called: router, pools, wrapper) and ``recipient`` (who receives the tokens
        bought)."""
        ...


@runtime_checkable
class SpendableInventory(Protocol):
    """A venue that knows what its wallet can spend better than :meth:`Venue.balances` (an
    on-chain venue: native asset wrappable, a gas reserve, a balance shared by every venue of
    one wallet on one chain). The split runner uses it to size legs."""

    async def spendable(self, instrument: Instrument, side: Side) -> tuple[str, Decimal]:
        """``(balance group, amount)`` spendable on ``side`` (``SELL`` spends base, ``BUY``
        quote), in whole units; one group names one balance, so it is never spent twice."""
        ...


@runtime_checkable
class ListsInstruments(Protocol):
    """A venue that knows every instrument it trades (its listings, pools or series)."""

    def instruments(self) -> Sequence[Instrument]:
        """Every instrument the venue trades now."""
        ...


@runtime_checkable
class QuantityGrid(Protocol):
    """A venue whose order quantities must lie on a grid (an exchange's lot step)."""

    def quantity_step(self, instrument: Instrument) -> Decimal | None:
        """The quantity step for ``instrument``, ``None`` when it has none."""
        ...


@runtime_checkable
class SendBudget(Protocol):
    """A venue whose :meth:`Venue.place` may take longer than the engine's send timeout (it
    waits for approvals or wraps to be mined first); the engine gives it at least this long."""

    @property
    def send_timeout_s(self) -> float:
        """Seconds :meth:`Venue.place` may take."""
        ...


@runtime_checkable
class BoundedAcceptance(Protocol):
    """A venue that may still accept a request for a while after it was sent (a signed
    exchange request is valid for its receive window). Absence of an order there proves
    nothing until :attr:`acceptance_window_ns` has passed since the last moment the request can
    have been signed; the engine keeps such an order in flight until then."""

    @property
    def acceptance_window_ns(self) -> int:
        """Receive window plus clock-skew margin, in nanoseconds."""
        ...


@runtime_checkable
class Venue(Protocol):
    """One trading venue (CEX, AMM, options protocol), all behind the same calls."""

    @property
    def venue_id(self) -> VenueId:
        """Short lower-case name, e.g. ``binance`` or ``uniswap-v3-arbitrum``."""
        ...

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        """Liquidity on ``side`` (``BUY`` = what we can buy: the asks)."""
        ...

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        """Expected execution of ``quantity`` now (no state change)."""
        ...

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        """Place ``order``. Client order ids are idempotency keys: a venue must never execute
        the same id twice.

        Raises:
            VenueRejected: refused (bad price, no funds, duplicate id).
            VenueTimeout: outcome unknown; reconcile.
            VenueUnavailable: not sent.
        """
        ...

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel an open order; returns its final report (which may show it filled first)."""
        ...

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        """Change an open order's quantity / limit price."""
        ...

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """The venue's report for one order, ``None`` if it never received it."""
        ...

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        """Reports for ``client_order_ids`` and every open order, plus balances.

        Raises:
            VenueTimeout / VenueUnavailable: could not reconcile now.
        """
        ...

    async def balances(self) -> Mapping[str, Decimal]:
        """Free balance per asset code."""
        ...

    def events(self) -> AsyncIterator[VenueReport]:
        """Endless stream of reports the venue pushes (fills, status changes)."""
        ...
