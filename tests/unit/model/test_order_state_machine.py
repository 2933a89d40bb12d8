from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import (
    ORDER_TRANSITIONS,
    SETTLEMENT_TRANSITIONS,
    TERMINAL_STATUSES,
    Asset,
    IllegalTransition,
    Order,
    OrderId,
    OrderStatus,
    SettlementState,
    SettlementStatus,
    Side,
    SpotPair,
    TxHash,
)

PAIR = SpotPair(base=Asset.cex("paper", "ETH", 8), quote=Asset.cex("paper", "USDC", 6))


def new_order(qty: str = "10") -> Order:
    return Order(
        order_id=OrderId("o-1/0"),
        intent_id="i",
        account="a",
        instrument=PAIR,
        side=Side.BUY,
        quantity=Decimal(qty),
        limit_price=None,
        parent_id=OrderId("o-1"),
    )


def test_the_table_covers_every_status_and_terminals_have_no_exit():
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    assert {
        OrderStatus.REJECTED,
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
        OrderStatus.FAILED,
    } == TERMINAL_STATUSES
    # an ambiguous send can never be declared failed without evidence: only reconciliation
    # events move it, but the table must allow every proven outcome
    assert OrderStatus.IN_FLIGHT in ORDER_TRANSITIONS[OrderStatus.SENDING]
    assert OrderStatus.NEW not in ORDER_TRANSITIONS[OrderStatus.IN_FLIGHT]


@given(st.lists(st.sampled_from(list(OrderStatus)), max_size=30))
def test_no_illegal_transition_is_ever_accepted(targets):
    order = new_order()
    for to in targets:
        legal = to in ORDER_TRANSITIONS[order.status]
        if legal:
            moved = order.transition(to, ts=1)
            assert moved.status is to
            order = moved
        else:
            with pytest.raises(IllegalTransition, match=f"cannot go from {order.status.value}"):
                order.transition(to, ts=1)


@given(
    st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("6"), places=2), max_size=20)
)
def test_fills_never_exceed_the_order_quantity(fills):
    order = new_order().transition(OrderStatus.RISK_ACCEPTED, ts=0)
    order = order.transition(OrderStatus.SENDING, ts=0)
    for q in fills:
        if order.filled_quantity + q > order.quantity or order.is_terminal:
            with pytest.raises(IllegalTransition):
                order.with_fill(q, Decimal(100), ts=1)
        else:
            order = order.with_fill(q, Decimal(100), ts=1)
        assert order.filled_quantity <= order.quantity
    if order.filled_quantity == order.quantity:
        assert order.status is OrderStatus.FILLED


def test_average_fill_price_is_quantity_weighted():
    o = (
        new_order()
        .transition(OrderStatus.RISK_ACCEPTED, ts=0)
        .transition(OrderStatus.SENDING, ts=0)
    )
    o = o.with_fill(Decimal(2), Decimal(100), ts=1).with_fill(Decimal(6), Decimal(104), ts=2)
    assert o.avg_fill_price == Decimal(103)
    assert o.status is OrderStatus.PARTIALLY_FILLED


def test_status_cannot_be_assigned_directly():
    assert not hasattr(Order, "updated")  # no copy-with-anything around the table
    with pytest.raises(AttributeError):
        new_order().status = OrderStatus.FILLED  # type: ignore[misc]


@given(
    st.lists(
        st.tuples(st.sampled_from(list(SettlementStatus)), st.integers(min_value=0, max_value=20)),
        max_size=25,
    )
)
def test_settlement_moves_only_along_its_table(steps):
    s = SettlementState(tx_hash=TxHash("0xabc"))
    for to, n in steps:
        legal = to in SETTLEMENT_TRANSITIONS[s.status]
        if legal and to is SettlementStatus.CONFIRMED:
            legal = n >= 1 and not (s.status is SettlementStatus.CONFIRMED and n <= s.confirmations)
        if legal:
            s = s.advance(to, confirmations=n)
            assert s.status is to
        else:
            with pytest.raises(IllegalTransition):
                s.advance(to, confirmations=n)


def test_reorg_resets_confirmations_and_can_be_reincluded():
    s = SettlementState(tx_hash=TxHash("0x1"))
    s = s.advance(SettlementStatus.INCLUDED, block_number=10)
    s = s.advance(SettlementStatus.CONFIRMED, confirmations=3)
    s = s.advance(SettlementStatus.REORGED)
    assert (s.confirmations, s.block_number) == (0, None)
    s = s.advance(SettlementStatus.INCLUDED, block_number=12)
    s = s.advance(SettlementStatus.FINAL, confirmations=64)
    with pytest.raises(IllegalTransition, match="final to reorged"):
        s.advance(SettlementStatus.REORGED)
