"""The engine follows on-chain settlement: a fill whose block leaves the canonical chain is
reversed (order, parent and position go back), and comes back as a new fill when the
transaction is mined again. A scripted venue stands in for the chain here; the same path runs
against Anvil in tests/faults/test_engine_reorg.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from decimal import Decimal

import pytest
from engine_world import PAIR, PRICE

from oms_chain.engine import Engine, InMemoryEventLog
from oms_chain.model import (
    ClientOrderId,
    IllegalTransition,
    Instrument,
    Intent,
    ManualClock,
    OrderStatus,
    Side,
    TradeId,
    TxHash,
    VenueId,
    VenueOrderId,
    VenueRejected,
)
from oms_chain.model.orders import SettlementState, SettlementStatus
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store.projections import Projections
from oms_chain.venues import (
    AmendOrder,
    FillReport,
    LiquidityCurve,
    OrderStatusReport,
    PlaceOrder,
    Quote,
    ReconciliationReport,
    VenueOrderStatus,
)

_T = SettlementStatus
TX = TxHash("0x" + "ab" * 32)


class ScriptedChainVenue:
    """Answers like an on-chain venue; the test decides what the chain says next."""

    venue_id = VenueId("chain")

    def __init__(self) -> None:
        self.current: dict[ClientOrderId, OrderStatusReport] = {}
        self.queue: asyncio.Queue[OrderStatusReport] = asyncio.Queue()

    def say(
        self,
        coid: ClientOrderId,
        status: VenueOrderStatus,
        settlement: SettlementState,
        fills: tuple[tuple[str, str], ...] = (),
        reason: str | None = None,
    ) -> OrderStatusReport:
        """Make the chain report ``status``; ``fills`` are (block hash, price) pairs."""
        report = OrderStatusReport(
            venue=self.venue_id,
            client_order_id=coid,
            venue_order_id=VenueOrderId(TX),
            status=status,
            quantity=Decimal(1),
            filled_quantity=Decimal(len(fills)),
            limit_price=None,
            fills=tuple(
                FillReport(
                    venue=self.venue_id,
                    trade_id=TradeId(f"{TX}@{block}"),
                    client_order_id=coid,
                    venue_order_id=VenueOrderId(TX),
                    side=Side.BUY,
                    quantity=Decimal(1),
                    price=Decimal(price),
                    fee=Decimal("0.001"),
                    fee_currency="ETH",
                    ts_event=1,
                )
                for block, price in fills
            ),
            ts_event=1,
            reason=reason,
            settlement=settlement,
        )
        self.current[coid] = report
        return report

    def push(self, *args: object, **kw: object) -> None:
        self.queue.put_nowait(self.say(*args, **kw))  # type: ignore[arg-type]

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        raise NotImplementedError

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        raise NotImplementedError

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        return self.say(order.client_order_id, VenueOrderStatus.OPEN, SettlementState(tx_hash=TX))

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        raise VenueRejected("mined orders cannot be cancelled")

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        raise VenueRejected("no amend on chain")

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        return self.current.get(client_order_id)

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        return ReconciliationReport(
            venue=self.venue_id,
            orders=tuple(self.current[c] for c in client_order_ids if c in self.current),
            unknown=tuple(c for c in client_order_ids if c not in self.current),
            balances={},
            ts_event=1,
        )

    async def balances(self) -> Mapping[str, Decimal]:
        return {}

    async def events(self) -> AsyncIterator[OrderStatusReport]:
        while True:
            yield await self.queue.get()


def included(block: int, conf: int = 0) -> SettlementState:
    status = _T.CONFIRMED if conf else _T.INCLUDED
    return SettlementState(tx_hash=TX, status=status, confirmations=conf, block_number=block)


REORGED = SettlementState(tx_hash=TX, status=_T.REORGED)
OPEN, FILLED = VenueOrderStatus.OPEN, VenueOrderStatus.FILLED


class Rig:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = InMemoryEventLog()
        self.venue = ScriptedChainVenue()
        self.engine = self.new_engine()

    def new_engine(self) -> Engine:
        risk = RiskGate(RiskLimits(), clock=self.clock)
        self.engine = Engine(store=self.store, venues=[self.venue], risk=risk, clock=self.clock)
        self.engine.set_reference_price(PAIR.id, PRICE)
        return self.engine

    def intent(self) -> Intent:
        return Intent.create(
            intent_id="swap1",
            account="acct",
            instrument=PAIR,
            side="buy",
            quantity="1",
            venues=["chain"],
            now_ns=self.clock.now_ns(),
            max_slippage_bps=100,
        )

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)
            if self.venue.queue.empty():
                break
        await asyncio.sleep(0)

    def position(self) -> Decimal:
        return sum((p.quantity for p in self.engine.positions()), Decimal(0))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    await r.engine.start()
    yield r
    await r.engine.stop()


async def test_fill_leaves_with_its_block_and_returns_with_the_next(rig: Rig) -> None:
    parent = await rig.engine.submit(rig.intent())
    child = rig.engine.order(parent.children[0])
    coid = child.client_order_id
    assert coid is not None
    assert child.status is OrderStatus.WORKING
    assert child.settlement == SettlementState(tx_hash=TX)

    rig.venue.push(coid, FILLED, included(10), fills=(("0xaaa", "2000"),))
    await rig.settle()
    assert rig.engine.order(parent.order_id).status is OrderStatus.FILLED
    assert rig.position() == 1

    rig.venue.push(coid, FILLED, included(10, conf=2), fills=(("0xaaa", "2000"),))
    rig.venue.push(coid, OPEN, REORGED)
    await rig.settle()
    child = rig.engine.order(child.order_id)
    assert child.status is OrderStatus.WORKING
    assert child.filled_quantity == 0 and child.avg_fill_price is None
    assert child.settlement is not None and child.settlement.status is _T.REORGED
    assert rig.engine.order(parent.order_id).status is OrderStatus.WORKING
    assert rig.engine.positions() == []
    assert list(rig.engine.projections.reversed_fills) == [f"chain:{TX}@0xaaa:{coid}"]

    rig.venue.push(coid, FILLED, included(11), fills=(("0xbbb", "2001"),))
    await rig.settle()
    parent = rig.engine.order(parent.order_id)
    assert parent.status is OrderStatus.FILLED
    assert parent.avg_fill_price == Decimal(2001)
    (pos,) = rig.engine.positions()
    assert (pos.quantity, pos.avg_price, pos.fill_count) == (1, 2001, 1)
    history = [
        r.payload["settlement"]["status"]
        for r in rig.store.read_all()
        if r.event_type == "SettlementUpdated"
    ]
    assert history == ["submitted", "included", "confirmed", "reorged", "included"]
    types = [r.event_type for r in rig.store.read_all()]
    assert types.count("FillRecorded") == 2 and types.count("FillReversed") == 1

    # Replaying the log and loading a snapshot both give the same state.
    replayed = Projections()
    from oms_chain.model import event_from_payload

    for r in rig.store.read_all():
        replayed.apply(event_from_payload(r.event_type, r.version, r.payload))
    assert replayed.summary() == rig.engine.projections.summary()
    again = Projections.from_snapshot(rig.engine.projections.to_snapshot())
    assert again.summary() == rig.engine.projections.summary()
    assert again.reversed_fills == rig.engine.projections.reversed_fills


async def test_restart_catches_up_with_a_reorg_it_slept_through(rig: Rig) -> None:
    parent = await rig.engine.submit(rig.intent())
    coid = rig.engine.order(parent.children[0]).client_order_id
    assert coid is not None
    rig.venue.push(coid, FILLED, included(10), fills=(("0xaaa", "2000"),))
    await rig.settle()
    await rig.engine.stop()
    # While we were down: reorged out, mined again in block 12, now 3 confirmations deep.
    rig.venue.say(coid, FILLED, included(12, conf=3), fills=(("0xccc", "1999"),))
    engine = rig.new_engine()
    await engine.start()
    try:
        child = engine.order(parent.children[0])
        assert child.status is OrderStatus.FILLED
        assert child.settlement == included(12, conf=3)
        (pos,) = engine.positions()
        assert (pos.quantity, pos.avg_price) == (1, 1999)
        moves = [
            r.payload["settlement"]["status"]
            for r in rig.store.read_all()
            if r.event_type == "SettlementUpdated"
        ]
        assert moves == ["submitted", "included", "reorged", "included", "confirmed"]
    finally:
        await engine.stop()


async def test_reorged_transaction_that_reverts_in_its_new_block_fails_the_order(
    rig: Rig,
) -> None:
    parent = await rig.engine.submit(rig.intent())
    coid = rig.engine.order(parent.children[0]).client_order_id
    assert coid is not None
    rig.venue.push(coid, FILLED, included(10), fills=(("0xaaa", "2000"),))
    await rig.settle()
    rig.venue.push(
        coid,
        VenueOrderStatus.REJECTED,
        included(11),
        reason="reverted: Too little received",
    )
    await rig.settle()
    parent = rig.engine.order(parent.order_id)
    assert parent.status is OrderStatus.FAILED
    assert parent.filled_quantity == 0
    assert rig.engine.positions() == []
    assert "Too little received" in (parent.reason or "")


def test_stale_and_skipping_settlement_reports_give_legal_moves() -> None:
    from oms_chain.model import settlement_moves as _settlement_moves

    sub = SettlementState(tx_hash=TX)
    assert _settlement_moves(None, sub) == [sub]
    assert _settlement_moves(sub, included(5, conf=2)) == [included(5), included(5, conf=2)]
    assert _settlement_moves(included(5, conf=3), included(5, conf=2)) == []
    assert _settlement_moves(included(5, conf=3), included(5)) == []
    final = SettlementState(tx_hash=TX, status=_T.FINAL, confirmations=9, block_number=5)
    assert _settlement_moves(final, included(6)) == []
    assert [s.status for s in _settlement_moves(included(5, conf=3), included(7))] == [
        _T.REORGED,
        _T.INCLUDED,
    ]
    bumped = SettlementState(tx_hash=TxHash("0x" + "cd" * 32))
    assert _settlement_moves(sub, bumped) == [bumped]
    assert _settlement_moves(REORGED, REORGED) == []
    dropped = SettlementState(tx_hash=TX, status=_T.DROPPED)
    replaced = SettlementState(tx_hash=TX, status=_T.REPLACED)
    assert [s.status for s in _settlement_moves(included(5), replaced)] == [
        _T.REORGED,
        _T.REPLACED,
    ]
    # Reported reorged before we ever saw it mined (or seen after a restart): still pending.
    assert _settlement_moves(sub, REORGED) == []
    assert _settlement_moves(None, REORGED) == [SettlementState(tx_hash=TX)]
    with pytest.raises(IllegalTransition):  # confirmed needs at least one confirmation
        _settlement_moves(included(5), SettlementState(tx_hash=TX, status=_T.CONFIRMED))
    assert [s.status for s in _settlement_moves(included(5), dropped)] == [_T.REORGED, _T.DROPPED]


def test_reversing_an_unknown_or_foreign_fill_is_refused() -> None:
    from oms_chain.model import EventId, FillReversed, OrderId

    p = Projections()
    with pytest.raises(IllegalTransition, match="not recorded"):
        p.apply(
            FillReversed(
                event_id=EventId("e"),
                ts_event=1,
                ts_init=1,
                order_id=OrderId("o"),
                fill_key="x",
                reason="test",
            )
        )


def test_a_fill_taken_back_from_an_ended_parent_leaves_it_ended_with_less_filled() -> None:
    """A split parent ended cancelled with one swap filled; that swap's block is reorged out:
    the parent stays cancelled, its filled quantity and the position go back."""
    from decimal import Decimal as D

    from oms_chain.model import (
        ChildOrderCreated,
        ClientOrderId,
        EventId,
        Fill,
        FillRecorded,
        FillReversed,
        OrderAccepted,
        OrderCancelled,
        OrderId,
        OrderInitialized,
        OrderSubmitted,
    )

    it = Intent.create(
        intent_id="ended",
        account="acct",
        instrument=PAIR,
        side="buy",
        quantity="2",
        venues=["chain"],
        now_ns=1,
    )
    env = {"event_id": EventId("e"), "ts_event": 1, "ts_init": 1}
    pid, a, b = OrderId("p"), OrderId("p/0"), OrderId("p/1")
    fill = Fill(
        trade_id=TradeId(f"{TX}@0xaaa"),
        order_id=a,
        client_order_id=ClientOrderId("c0"),
        venue=VenueId("chain"),
        account=it.account,
        instrument_id=PAIR.id,
        side=Side.BUY,
        quantity=D(1),
        price=D(2000),
        fee=D(0),
        fee_currency="ETH",
        ts_event=1,
    )
    p = Projections()
    p.apply_all(
        [
            OrderInitialized(**env, order_id=pid, intent=it, quantity=D(2), limit_price=None),
            OrderAccepted(**env, order_id=pid, checks=()),
            *(
                ev
                for seq, child in enumerate((a, b))
                for ev in (
                    ChildOrderCreated(
                        **env,
                        order_id=child,
                        parent_id=pid,
                        seq=seq,
                        client_order_id=ClientOrderId(f"c{seq}"),
                        venue=VenueId("chain"),
                        quantity=D(1),
                        limit_price=None,
                    ),
                    OrderSubmitted(
                        **env,
                        order_id=child,
                        client_order_id=ClientOrderId(f"c{seq}"),
                        venue=VenueId("chain"),
                    ),
                )
            ),
            FillRecorded(**env, fill=fill),
            OrderCancelled(**env, order_id=b, reason="cancelled by user"),
        ]
    )
    assert p.order(pid).status is OrderStatus.CANCELLED and p.order(pid).filled_quantity == 1
    p.apply(FillReversed(**env, order_id=a, fill_key=fill.key, reason="reorg"))
    parent = p.order(pid)
    assert (parent.status, parent.filled_quantity) == (OrderStatus.CANCELLED, 0)
    assert p.order(a).status is OrderStatus.WORKING  # its transaction may be mined again
    assert p.positions == {}
