"""Property tests over the algo and trading-state tables, the named order moves and the
settlement path."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import (
    ALGO_TRANSITIONS,
    SETTLEMENT_TRANSITIONS,
    TRADING_TRANSITIONS,
    AlgoState,
    Asset,
    IllegalTransition,
    InvalidInput,
    Order,
    OrderId,
    OrderStatus,
    SettlementState,
    SettlementStatus,
    Side,
    SpotPair,
    TradingState,
    TxHash,
    VenueOrderId,
    settlement_moves,
)
from oms_chain.model.algo_state import advance_algo_state
from oms_chain.model.trading_state import advance_trading_state

PAIR = SpotPair(base=Asset.cex("paper", "ETH", 8), quote=Asset.cex("paper", "USDC", 6))
TX = TxHash("0x" + "ab" * 32)


def order(*, parent: bool = False, qty: str = "10") -> Order:
    return Order(
        order_id=OrderId("o-1" if parent else "o-1/0"),
        intent_id="i",
        account="a",
        instrument=PAIR,
        side=Side.BUY,
        quantity=Decimal(qty),
        limit_price=None,
        parent_id=None if parent else OrderId("o-1"),
    )


def test_the_tables_cover_every_state():
    assert set(ALGO_TRANSITIONS) == set(AlgoState)
    assert set(TRADING_TRANSITIONS) == set(TradingState)
    assert ALGO_TRANSITIONS[AlgoState.CANCELLED] == frozenset()
    for targets in TRADING_TRANSITIONS.values():
        assert targets == frozenset(TradingState)  # the kill switch goes anywhere


def test_stored_state_strings_are_the_enum_values():
    # Events store these strings; changing one would break replay of existing stores.
    assert [s.value for s in AlgoState] == ["running", "paused", "cancelled"]
    assert [s.value for s in TradingState] == ["active", "reducing", "halted"]
    assert AlgoState.PAUSED == "paused"  # a str enum: old callers comparing strings still work


@given(st.lists(st.sampled_from([*AlgoState, "stopped", ""]), max_size=20))
def test_the_algo_state_moves_only_along_its_table(targets):
    state = AlgoState.RUNNING
    for to in targets:
        legal = to in {s.value for s in AlgoState} and AlgoState(to) in ALGO_TRANSITIONS[state]
        if legal:
            state = advance_algo_state(state, to, order="o-1")
            assert state is AlgoState(to)
        else:
            with pytest.raises(IllegalTransition, match="o-1"):
                advance_algo_state(state, to, order="o-1")


@given(st.lists(st.sampled_from([*TradingState, "paused", "HALTED"]), max_size=20))
def test_the_trading_state_moves_only_along_its_table(targets):
    state = TradingState.ACTIVE
    for to in targets:
        if isinstance(to, TradingState) or to in {s.value for s in TradingState}:
            state = advance_trading_state(state, to)
            assert state is TradingState(to)
        else:
            with pytest.raises(IllegalTransition, match="unknown trading state"):
                advance_trading_state(state, to)


def test_the_risk_package_reexports_the_same_trading_state():
    from oms_chain.risk import TradingState as RiskTradingState

    assert RiskTradingState is TradingState


def test_acknowledged_moves_a_sending_child_to_working_and_keeps_a_filled_one():
    sending = (
        order().transition(OrderStatus.RISK_ACCEPTED, ts=0).transition(OrderStatus.SENDING, ts=0)
    )
    acked = sending.acknowledged(VenueOrderId("v-1"), ts=5)
    assert (acked.status, acked.venue_order_id, acked.ts_last) == (OrderStatus.WORKING, "v-1", 5)
    filled = sending.with_fill(Decimal(10), Decimal(2), ts=1)
    assert filled.acknowledged(VenueOrderId("v-1"), ts=6).status is OrderStatus.FILLED
    with pytest.raises(IllegalTransition, match="parent"):
        order(parent=True).acknowledged(VenueOrderId("v-1"), ts=0)


def test_with_child_appends_once_and_only_to_an_open_parent():
    p = order(parent=True).transition(OrderStatus.RISK_ACCEPTED, ts=0)
    p = p.with_child(OrderId("o-1/0")).with_child(OrderId("o-1/1"))
    assert p.children == ("o-1/0", "o-1/1")
    with pytest.raises(IllegalTransition, match="already has"):
        p.with_child(OrderId("o-1/0"))
    with pytest.raises(IllegalTransition, match="is a child"):
        order().with_child(OrderId("o-1/0/0"))
    with pytest.raises(IllegalTransition, match="rejected"):
        order(parent=True).transition(OrderStatus.REJECTED, ts=0).with_child(OrderId("x"))


def test_with_children_filled_is_for_parents_and_keeps_the_status():
    p = order(parent=True).transition(OrderStatus.RISK_ACCEPTED, ts=0)
    rolled = p.with_children_filled(Decimal(12), Decimal("2.5"))  # an overfill is recorded
    assert (rolled.filled_quantity, rolled.avg_fill_price, rolled.status) == (
        Decimal(12),
        Decimal("2.5"),
        OrderStatus.RISK_ACCEPTED,
    )
    with pytest.raises(IllegalTransition, match="with_fill"):
        order().with_children_filled(Decimal(1), Decimal(1))
    with pytest.raises(InvalidInput):
        p.with_children_filled(Decimal(1), None)
    with pytest.raises(InvalidInput):
        p.with_children_filled(Decimal(-1), None)


def test_in_schedule_time_shifts_only_the_creation_time():
    o = order()
    assert o.in_schedule_time(0) is o
    shifted = o.in_schedule_time(7)
    assert (shifted.ts_init, shifted.status, shifted.filled_quantity) == (-7, o.status, Decimal(0))
    with pytest.raises(InvalidInput):
        o.in_schedule_time(-1)


def test_settlement_must_start_submitted_and_then_follow_the_table():
    o = order()
    with pytest.raises(IllegalTransition, match="start as submitted"):
        o.with_settlement(SettlementState(tx_hash=TX, status=SettlementStatus.INCLUDED), ts=1)
    o = o.with_settlement(SettlementState(tx_hash=TX), ts=1)
    o = o.with_settlement(
        SettlementState(tx_hash=TX, status=SettlementStatus.INCLUDED, block_number=5), ts=2
    )
    assert o.settlement is not None and o.settlement.block_number == 5
    with pytest.raises(IllegalTransition):
        o.with_settlement(SettlementState(tx_hash=TX, status=SettlementStatus.DROPPED), ts=3)


_REPORTS = st.builds(
    SettlementState,
    tx_hash=st.just(TX),
    status=st.sampled_from(list(SettlementStatus)),
    confirmations=st.integers(min_value=0, max_value=6),
    block_number=st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
)


@given(st.lists(_REPORTS, max_size=12))
def test_settlement_moves_walk_the_table_whatever_the_venue_reports(reports):
    current: SettlementState | None = None
    for reported in reports:
        try:
            path = settlement_moves(current, reported)
        except IllegalTransition:
            continue  # a report that contradicts the table is refused, not applied
        for step in path:
            if current is None:
                assert step.status is SettlementStatus.SUBMITTED
            else:
                assert step.status in SETTLEMENT_TRANSITIONS[current.status]
            current = step


#: Moves outside ORDER_TRANSITIONS that the named methods may make, all real-world edges of
#: a reorg taking a fill back (``without_fill``): filled or partially filled -> working again.
_REORG_EDGES = {
    (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED),
    (OrderStatus.FILLED, OrderStatus.WORKING),
    (OrderStatus.PARTIALLY_FILLED, OrderStatus.WORKING),
}

_MOVES = st.one_of(
    st.tuples(st.just("transition"), st.sampled_from(list(OrderStatus))),
    st.tuples(st.just("fill"), st.integers(min_value=1, max_value=6)),
    st.tuples(st.just("unfill"), st.integers(min_value=1, max_value=6)),
    st.tuples(st.just("ack"), st.just(0)),
)


@given(st.lists(_MOVES, max_size=25))
def test_named_moves_never_leave_the_table_nor_overfill(moves):
    from oms_chain.model import ORDER_TRANSITIONS

    o = order()
    for kind, arg in moves:
        before = o
        try:
            if kind == "transition":
                o = o.transition(arg, ts=1)
            elif kind == "fill":
                o = o.with_fill(Decimal(arg), Decimal(2), ts=1)
            elif kind == "unfill":
                o = o.without_fill(Decimal(arg), Decimal(2), ts=1)
            else:
                o = o.acknowledged(VenueOrderId("v"), ts=1)
        except IllegalTransition:
            assert o is before
            continue
        assert Decimal(0) <= o.filled_quantity <= o.quantity
        edge = (before.status, o.status)
        assert (
            o.status is before.status
            or o.status in ORDER_TRANSITIONS[before.status]
            or edge in _REORG_EDGES
        ), edge
        if o.filled_quantity != before.filled_quantity:
            assert kind in ("fill", "unfill")  # only fills change what is filled
