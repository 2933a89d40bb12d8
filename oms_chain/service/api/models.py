"""The API's request and response bodies as pydantic 2 models; the OpenAPI document's schemas
are generated from them. Money and quantities are decimal strings on the wire (a JSON number
is accepted on input); times are nanoseconds since the epoch (UTC)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from oms_chain.model.checks import MAX_NS
from oms_chain.model.fills import Fill
from oms_chain.model.orders import Order
from oms_chain.model.positions import Position
from oms_chain.store.events import RecordedEvent

__all__ = [
    "BalanceOut",
    "CancelOut",
    "ErrorOut",
    "EventOut",
    "EventPage",
    "FillOut",
    "OrderDetail",
    "OrderOut",
    "PositionOut",
    "SettlementOut",
    "SubmitIntent",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?", re.ASCII)


def _ascii_number(value: Any) -> Any:
    """Decimal strings in ASCII digits only (``Decimal()`` itself takes other scripts'
    digits, such as ``'\u0661'``)."""
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise ValueError("must be a decimal number in ASCII digits, such as '0.5'")
    return value


_Num = BeforeValidator(_ascii_number)
Amount = Annotated[
    Decimal, _Num, Field(gt=0, allow_inf_nan=False, max_digits=40, decimal_places=18)
]
Bps = Annotated[Decimal, _Num, Field(ge=0, le=10_000, allow_inf_nan=False, max_digits=12)]
VenueName = Annotated[str, Field(min_length=1, max_length=128, pattern=_ID)]
ParamName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
ParamValue = Annotated[
    StrictBool | StrictInt | Annotated[str, Field(max_length=128)],
    Field(union_mode="left_to_right"),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class SubmitIntent(_In):
    """An intent to trade: ``side`` a ``quantity`` of the base of ``symbol`` (or a ``notional``
    in its quote), on ``venues`` (default: every venue of the session trading it; several are
    split by the router), directly or by an algorithm with its parameters."""

    symbol: str = Field(
        min_length=3,
        max_length=40,
        pattern=r"^[A-Za-z0-9.]{1,19}/[A-Za-z0-9.]{1,19}$",
        examples=["WETH/USDC"],
    )
    side: Literal["buy", "sell"]
    quantity: Amount | None = Field(None, examples=["0.5"])
    notional: Amount | None = None
    venues: list[VenueName] | None = Field(None, min_length=1, max_length=32)
    exchange: StrictBool = True
    limit_price: Amount | None = None
    max_slippage_bps: Bps | None = None
    algo: Literal["direct", "twap", "vwap", "iceberg", "sniper"] = "direct"
    algo_params: dict[ParamName, ParamValue] | None = Field(None, max_length=32)
    intent_id: str | None = Field(None, min_length=1, max_length=128, pattern=_ID)
    deadline_ns: StrictInt | None = Field(None, gt=0, le=MAX_NS)
    reduce_only: StrictBool = False

    @model_validator(mode="after")
    def _one_size(self) -> SubmitIntent:
        if (self.quantity is None) == (self.notional is None):
            raise ValueError("give exactly one of quantity (base) or notional (quote)")
        return self


class ErrorOut(_Out):
    """Every 4xx answer: what was wrong and what to do, a machine-readable ``kind``, and for
    a 422 the failing fields (for a 409 ``intent_conflict``: the fields that differ from the
    intent already submitted under that id)."""

    error: str
    kind: str
    status: int
    details: list[dict[str, Any]] | None = None


class SettlementOut(_Out):
    """Where a child order's transaction is."""

    order_id: str
    tx_hash: str
    status: str
    confirmations: int
    block_number: int | None

    @classmethod
    def of(cls, order_id: str, st: Any) -> SettlementOut:
        return cls(
            order_id=order_id,
            tx_hash=str(st.tx_hash),
            status=st.status.value,
            confirmations=st.confirmations,
            block_number=st.block_number,
        )


class OrderOut(_Out):
    """An order as it stands (a parent, or a child when ``parent_id`` is set)."""

    order_id: str
    intent_id: str
    parent_id: str | None
    account: str
    symbol: str
    instrument_id: str
    side: str
    quantity: Decimal
    limit_price: Decimal | None
    status: str
    venue: str | None
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    reason: str | None
    settlement: SettlementOut | None
    children: list[str]
    ts_init: int
    ts_last: int

    @classmethod
    def of(cls, o: Order) -> OrderOut:
        st = o.settlement
        return cls(
            order_id=o.order_id,
            intent_id=o.intent_id,
            parent_id=o.parent_id,
            account=o.account,
            symbol=o.instrument.symbol,
            instrument_id=o.instrument.id,
            side=o.side.value,
            quantity=o.quantity,
            limit_price=o.limit_price,
            status=o.status.value,
            venue=o.venue,
            filled_quantity=o.filled_quantity,
            avg_fill_price=o.avg_fill_price,
            reason=o.reason,
            settlement=None if st is None else SettlementOut.of(o.order_id, st),
            children=list(o.children),
            ts_init=o.ts_init,
            ts_last=o.ts_last,
        )


class OrderDetail(_Out):
    """A parent order with its children in full."""

    order: OrderOut
    children: list[OrderOut]


class CancelOut(_Out):
    """The order after a cancel was requested (children leave when their venue confirms)."""

    order: OrderOut


class FillOut(_Out):
    """One execution of a child order."""

    key: str
    trade_id: str
    order_id: str
    venue: str
    account: str
    instrument_id: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts_event: int

    @classmethod
    def of(cls, f: Fill) -> FillOut:
        return cls(
            key=f.key,
            trade_id=f.trade_id,
            order_id=f.order_id,
            venue=f.venue,
            account=f.account,
            instrument_id=f.instrument_id,
            side=f.side.value,
            quantity=f.quantity,
            price=f.price,
            fee=f.fee,
            fee_currency=f.fee_currency,
            ts_event=f.ts_event,
        )


class PositionOut(_Out):
    """A position of an account on a venue in an instrument."""

    account: str
    venue: str
    instrument_id: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    fill_count: int

    @classmethod
    def of(cls, p: Position) -> PositionOut:
        return cls(
            account=p.key.account,
            venue=p.key.venue,
            instrument_id=p.key.instrument_id,
            quantity=p.quantity,
            avg_price=p.avg_price,
            realized_pnl=p.realized_pnl,
            fees=p.fees,
            fill_count=p.fill_count,
        )


class BalanceOut(_Out):
    """What a venue says the account holds, by asset (``error`` when it did not answer)."""

    venue: str
    balances: dict[str, Decimal]
    error: str | None = None


class EventOut(_Out):
    """An event as recorded in the hash-chained store."""

    position: int
    event_id: str
    event_type: str
    version: int
    stream_id: str
    stream_version: int
    ts_event: int
    correlation_id: str | None
    causation_id: str | None
    payload: dict[str, Any]
    hash: str
    prev_hash: str

    @classmethod
    def of(cls, r: RecordedEvent) -> EventOut:
        return cls(
            position=r.position,
            event_id=r.event_id,
            event_type=r.event_type,
            version=r.version,
            stream_id=r.stream_id,
            stream_version=r.stream_version,
            ts_event=r.ts_event,
            correlation_id=r.correlation_id,
            causation_id=r.causation_id,
            payload=r.payload,
            hash=r.hash,
            prev_hash=r.prev_hash,
        )


class EventPage(_Out):
    """Events with ``position > after``, oldest first; ask again with ``after=next_after``."""

    events: list[EventOut]
    next_after: int
    last_position: int
