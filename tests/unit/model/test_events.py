import json
from decimal import Decimal

import pytest

from oms_chain.model import (
    Asset,
    ChildOrderCreated,
    Fill,
    FillRecorded,
    Intent,
    InvalidInput,
    OrderAmended,
    OrderInitialized,
    SettlementState,
    SettlementStatus,
    SettlementUpdated,
    Side,
    SpotPair,
    UnknownEventType,
    event_from_payload,
    event_types,
)

PAIR = SpotPair(base=Asset.cex("paper", "ETH", 8), quote=Asset.cex("paper", "USDC", 6))
ENV = dict(event_id="e-1", ts_event=10, ts_init=11, causation_id="e-0", correlation_id="i-1")


def samples():
    intent = Intent.create(
        intent_id="i-1",
        account="a",
        instrument=PAIR,
        side="sell",
        notional="100.5",
        venues=["paper"],
        now_ns=5,
    )
    fill = Fill(
        trade_id="t1",
        order_id="o-i-1/0",
        client_order_id="oms-x-0",
        venue="paper",
        account="a",
        instrument_id=PAIR.id,
        side=Side.SELL,
        quantity=Decimal("0.1"),
        price=Decimal("2000.01"),
        fee=Decimal("0.2"),
        fee_currency="USDC",
        ts_event=9,
    )
    return [
        OrderInitialized(
            **ENV, order_id="o-i-1", intent=intent, quantity=Decimal("0.05"), limit_price=None
        ),
        ChildOrderCreated(
            **ENV,
            order_id="o-i-1/0",
            parent_id="o-i-1",
            seq=0,
            client_order_id="oms-x-0",
            venue="paper",
            quantity=Decimal("0.05"),
            limit_price=Decimal("1999.5"),
        ),
        FillRecorded(**ENV, fill=fill),
        OrderAmended(**ENV, order_id="o-i-1/0", quantity=Decimal(1), limit_price=None),
        SettlementUpdated(
            **ENV,
            order_id="o-i-1/0",
            settlement=SettlementState(
                tx_hash="0xab", status=SettlementStatus.CONFIRMED, confirmations=3, block_number=7
            ),
        ),
    ]


@pytest.mark.parametrize("event", samples(), ids=lambda e: e.TYPE)
def test_events_round_trip_through_json(event):
    text = json.dumps(event.to_payload())  # no default=: the payload must be JSON-safe as is
    again = event_from_payload(event.TYPE, event.VERSION, json.loads(text))
    assert again == event
    assert '"ts_event": 10' in text


def test_every_registered_event_is_past_tense_and_versioned():
    for (name, version), cls in event_types().items():
        assert version >= 1
        assert name == cls.__name__
        assert name.endswith(("ed", "Unknown", "Failed")), name


def test_unknown_event_type_or_version_is_refused():
    with pytest.raises(UnknownEventType, match="'OrderAmended' version 9"):
        event_from_payload("OrderAmended", 9, {})


def test_malformed_payload_is_refused_not_half_built():
    p = samples()[3].to_payload()
    del p["quantity"]
    with pytest.raises(InvalidInput, match="OrderAmended"):
        event_from_payload("OrderAmended", 1, p)
    p = samples()[3].to_payload()
    p["surprise"] = 1
    with pytest.raises(InvalidInput, match="unknown fields"):
        event_from_payload("OrderAmended", 1, p)
