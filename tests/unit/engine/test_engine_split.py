"""Split execution: a direct intent naming several venues is sized by the router into children
sent concurrently; what a child fails to fill is re-routed; a restart resumes the split."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal

import pytest
from engine_world import PAIR, PRICE

from oms_chain.engine import Engine, EngineConfig, InMemoryEventLog
from oms_chain.engine.split import RoutingSplitter, SplitLeg
from oms_chain.model import (
    ConfigError,
    EngineNotReady,
    Instrument,
    Intent,
    InvalidInput,
    ManualClock,
    OrderStatus,
    Side,
    VenueId,
)
from oms_chain.risk import RiskGate, RiskLimits, TradingState
from oms_chain.venues import Fault, LiquidityCurve, LiquidityLevel, PaperVenue, Venue


class BookVenue(PaperVenue):
    """A paper venue whose liquidity is a small book: ``levels`` of (price, size) a side."""

    def __init__(
        self,
        name: str,
        clock: ManualClock,
        price: Decimal,
        size: Decimal,
        balances: dict[str, Decimal] | None = None,
    ) -> None:
        super().__init__(name, clock=clock, prices={PAIR.id: price}, balances=balances)
        self.book_price, self.size = price, size

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        step = Decimal(1) if side is Side.BUY else Decimal(-1)
        return LiquidityCurve(
            venue=self.venue_id,
            instrument_id=instrument.id,
            side=side,
            levels=tuple(LiquidityLevel(self.book_price + step * i, self.size) for i in range(5)),
            taker_fee_bps=Decimal(10),
            fixed_cost=Decimal(0),
            ts_event=0,
        )


class FixedSplitter:
    """Legs in fixed proportions over the venues it is given (in their order)."""

    def __init__(self, *weights: Decimal) -> None:
        self.weights = weights
        self.calls: list[tuple[Decimal, tuple[VenueId, ...]]] = []

    async def split(
        self, intent: Intent, quantity: Decimal, venues: Mapping[VenueId, Venue]
    ) -> list[SplitLeg]:
        self.calls.append((quantity, tuple(venues)))
        names = list(venues)
        weights = self.weights[: len(names)]
        total = sum(weights, Decimal(0))
        legs = [
            (v, (quantity * w / total).quantize(Decimal("0.01")))
            for v, w in zip(names, weights, strict=True)
        ]
        legs[0] = (legs[0][0], quantity - sum((q for _, q in legs[1:]), Decimal(0)))
        return [
            SplitLeg(venue=v, quantity=q, expected_price=PRICE, limit_price=intent.limit_price)
            for v, q in legs
        ]


class Rig:
    def __init__(self, splitter: object, *venues: PaperVenue, clock: ManualClock) -> None:
        self.clock = clock
        self.store = InMemoryEventLog()
        self.venues = venues
        self.splitter = splitter
        self.engine = self.new_engine()

    def new_engine(self) -> Engine:
        risk = RiskGate(RiskLimits(), clock=self.clock)
        self.engine = Engine(
            store=self.store,
            venues=self.venues,
            risk=risk,
            clock=self.clock,
            splitter=self.splitter,  # type: ignore[arg-type]
            config=EngineConfig(split_poll_s=0.01),
        )
        self.engine.set_reference_price(PAIR.id, PRICE)
        return self.engine

    def intent(self, qty: str = "10", side: str = "buy", **kw: object) -> Intent:
        args: dict[str, object] = dict(
            intent_id="split1",
            account="acct",
            instrument=PAIR,
            side=side,
            quantity=qty,
            venues=[v.venue_id for v in self.venues],
            now_ns=self.clock.now_ns(),
            max_slippage_bps=100,
        )
        args.update(kw)
        return Intent.create(**args)  # type: ignore[arg-type]

    async def until_done(self, pid: str) -> None:
        """Wait for the split's runners to end (no wall-clock polling: on the tasks)."""
        async with asyncio.timeout(30):
            while not (self.engine.order(pid).is_terminal and not self.engine._runners):
                runners = set(self.engine._runners.values())
                if runners:
                    await asyncio.wait(runners)
                else:
                    await asyncio.sleep(0)  # a report being applied: let it land


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_legs_go_out_concurrently_and_fill_the_parent(clock: ManualClock) -> None:
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    rig = Rig(FixedSplitter(Decimal(6), Decimal(4)), a, b, clock=clock)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent())
        await rig.until_done(parent.order_id)
        parent = rig.engine.order(parent.order_id)
        assert parent.status is OrderStatus.FILLED
        kids = [rig.engine.order(c) for c in parent.children]
        assert [(k.venue, k.quantity, k.status) for k in kids] == [
            ("pa", Decimal(6), OrderStatus.FILLED),
            ("pb", Decimal(4), OrderStatus.FILLED),
        ]
        by_venue = {p.key.venue: p.quantity for p in rig.engine.positions()}
        assert by_venue == {"pa": 6, "pb": 4}
        assert a.received_count(kids[0].client_order_id) == 1  # type: ignore[arg-type]
        assert rig.engine.algo_state(parent.order_id) == "running"  # split ended by filling
    finally:
        await rig.engine.stop()


async def test_a_rejected_leg_is_rerouted_to_the_venues_left(clock: ManualClock) -> None:
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    b.inject(Fault.REJECT)
    splitter = FixedSplitter(Decimal(5), Decimal(5))
    rig = Rig(splitter, a, b, clock=clock)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent())
        await rig.until_done(parent.order_id)
        parent = rig.engine.order(parent.order_id)
        assert parent.status is OrderStatus.FILLED
        kids = [rig.engine.order(c) for c in parent.children]
        assert [(k.venue, k.quantity, k.status) for k in kids] == [
            ("pa", Decimal(5), OrderStatus.FILLED),
            ("pb", Decimal(5), OrderStatus.REJECTED),
            ("pa", Decimal(5), OrderStatus.FILLED),
        ]
        assert [k.seq for k in kids] == [0, 1, 2]
        assert splitter.calls == [(Decimal(10), ("pa", "pb")), (Decimal(5), ("pa",))]
    finally:
        await rig.engine.stop()


async def test_split_that_cannot_finish_ends_cancelled_with_the_reason(clock: ManualClock) -> None:
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    b.inject(Fault.REJECT)
    a.inject(Fault.REJECT)
    rig = Rig(FixedSplitter(Decimal(1), Decimal(1)), a, b, clock=clock)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent())
        await rig.until_done(parent.order_id)
        parent = rig.engine.order(parent.order_id)
        assert parent.status is OrderStatus.CANCELLED
        assert parent.reason is not None
        assert parent.reason.startswith("split route ended with 0 of 10 filled: no venue left")
        assert rig.engine.algo_state(parent.order_id) == "cancelled"
    finally:
        await rig.engine.stop()


async def test_restart_resumes_a_split_without_resending(clock: ManualClock) -> None:
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    b.inject(Fault.REJECT)
    rig = Rig(FixedSplitter(Decimal(5), Decimal(5)), a, b, clock=clock)
    await rig.engine.start()
    parent = await rig.engine.submit(rig.intent())
    # Stop before the background task re-routes the rejected half.
    await rig.engine.stop()
    assert rig.engine.order(parent.order_id).filled_quantity == 5
    engine = rig.new_engine()
    await engine.start()
    try:
        await rig.until_done(parent.order_id)
        parent = engine.order(parent.order_id)
        assert parent.status is OrderStatus.FILLED
        assert len(parent.children) == 3
        assert sum(a.received().values()) == 2 and sum(b.received().values()) == 1
    finally:
        await engine.stop()


async def test_routing_splitter_sizes_legs_by_depth_and_they_sum_exactly(
    clock: ManualClock,
) -> None:
    a = BookVenue("pa", clock, PRICE, Decimal(3))
    b = BookVenue("pb", clock, PRICE + 1, Decimal(3))
    splitter = RoutingSplitter()
    rig = Rig(splitter, a, b, clock=clock)
    intent = rig.intent(qty="7.5", side="sell")
    legs = await splitter.split(intent, Decimal("7.5"), {v.venue_id: v for v in (a, b)})
    assert sum((leg.quantity for leg in legs), Decimal(0)) == Decimal("7.5")
    by_venue = {leg.venue: leg.quantity for leg in legs}
    assert set(by_venue) == {"pa", "pb"}
    # Selling into bids: pb's bids are 1 higher, so it takes at least as much as pa.
    assert by_venue["pb"] >= by_venue["pa"] > 0
    assert all(leg.limit_price is None for leg in legs)  # book legs: market with slippage
    with pytest.raises(InvalidInput, match="positive"):
        await splitter.split(intent, Decimal(0), {v.venue_id: v for v in (a, b)})


async def test_spawn_child_is_idempotent_and_guards_the_parent(clock: ManualClock) -> None:
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    b.inject(Fault.REJECT, times=10)
    rig = Rig(FixedSplitter(Decimal(1), Decimal(1)), a, b, clock=clock)
    rig.engine._config = EngineConfig(split_poll_s=0.01, max_reroutes=0)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent())
        await rig.until_done(parent.order_id)
        pid = parent.order_id
        first = rig.engine.order(rig.engine.order(pid).children[0])
        again = await rig.engine.spawn_child(
            pid, seq=0, venue=VenueId("pa"), quantity=Decimal(1), limit_price=None
        )
        assert again == first  # nothing sent
        assert sum(a.received().values()) == 1
        with pytest.raises(InvalidInput, match="no new child"):
            await rig.engine.spawn_child(
                pid, seq=9, venue=VenueId("pa"), quantity=Decimal(1), limit_price=None
            )
        with pytest.raises(InvalidInput, match="unknown venue"):
            await rig.engine.spawn_child(
                pid, seq=9, venue=VenueId("zz"), quantity=Decimal(1), limit_price=None
            )
        with pytest.raises(InvalidInput, match="positive"):
            await rig.engine.spawn_child(
                pid, seq=9, venue=VenueId("pa"), quantity=Decimal(0), limit_price=None
            )
        rig.engine.set_trading_state(TradingState.HALTED, "test")
        with pytest.raises((EngineNotReady, InvalidInput)):
            await rig.engine.spawn_child(
                pid, seq=9, venue=VenueId("pa"), quantity=Decimal(1), limit_price=None
            )
    finally:
        await rig.engine.stop()


def test_split_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="max_reroutes"):
        EngineConfig(max_reroutes=11)
    with pytest.raises(ConfigError, match="split_poll_s"):
        EngineConfig(split_poll_s=0)


async def test_routing_splitter_buys_an_exact_quantity_over_two_books(clock: ManualClock) -> None:
    a = BookVenue("pa", clock, PRICE, Decimal(2))
    b = BookVenue("pb", clock, PRICE + 1, Decimal(2))
    splitter = RoutingSplitter()
    rig = Rig(splitter, a, b, clock=clock)
    intent = rig.intent(qty="5", side="buy")
    legs = await splitter.split(intent, Decimal(5), {v.venue_id: v for v in (a, b)})
    assert sum((leg.quantity for leg in legs), Decimal(0)) == 5
    by_venue = {leg.venue: leg for leg in legs}
    # Asks: pa 2000 (2), 2001 (2), ...; pb 2001 (2), 2002 (2): the cheapest 5 take pa's 2000
    # level and most of the 2001s; pa's legs are never dearer than pb's.
    assert by_venue["pa"].quantity >= 2
    assert by_venue["pa"].expected_price <= by_venue["pb"].expected_price
    # All-in prices: the 10 bps taker fee on top of levels between 2000 and 2002.
    assert all(PRICE * Decimal("1.001") <= leg.expected_price for leg in legs)
    assert all(leg.expected_price <= (PRICE + 2) * Decimal("1.0011") for leg in legs)


async def test_legs_respect_an_exchanges_quantity_step(clock: ManualClock) -> None:
    class Stepped(BookVenue):
        def quantity_step(self, instrument: Instrument) -> Decimal:
            return Decimal("0.5")

    a = Stepped("pa", clock, PRICE, Decimal("2.3"))
    b = BookVenue("pb", clock, PRICE - 1, Decimal("2.3"))
    splitter = RoutingSplitter()
    rig = Rig(splitter, a, b, clock=clock)
    intent = rig.intent(qty="3.37", side="sell")
    legs = {
        leg.venue: leg.quantity
        for leg in await splitter.split(intent, Decimal("3.37"), {v.venue_id: v for v in (a, b)})
    }
    assert legs["pa"] % Decimal("0.5") == 0  # the exchange's grid
    assert legs["pa"] + legs["pb"] == Decimal("3.37")  # the fine-grid venue takes the rest


async def test_a_split_keeps_rerouting_after_quiet_polls(clock: ManualClock) -> None:
    """Regression: a poll that timed out with no event used to end the split's task."""
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    rig = Rig(FixedSplitter(Decimal(1), Decimal(1)), a, b, clock=clock)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent(limit_price="1900"))  # both legs rest
        await asyncio.sleep(0.1)  # ten quiet polls of 10 ms
        assert parent.order_id in rig.engine._runners
        first = rig.engine.order(parent.order_id).children
        events = rig.engine.subscribe()
        for child in first:  # both legs go away (cancelled, not failed): all 10 re-routed
            await rig.engine.cancel(child)
        async with asyncio.timeout(30):  # woken by events, not by polling the clock
            while len(rig.engine.order(parent.order_id).children) <= 2:
                await anext(events)
        kids = [rig.engine.order(c) for c in rig.engine.order(parent.order_id).children]
        assert [(k.venue, k.quantity) for k in kids[2:]] == [
            ("pa", Decimal(5)),
            ("pb", Decimal(5)),
        ]
    finally:
        await rig.engine.stop()


async def test_a_venue_never_gets_more_than_its_balance(clock: ManualClock) -> None:
    rich = BookVenue("pa", clock, PRICE + 5, Decimal(9), balances={"ETH": Decimal("1.5")})
    poor = BookVenue("pb", clock, PRICE, Decimal(9))  # no balance reported: no cap
    splitter = RoutingSplitter()
    rig = Rig(splitter, rich, poor, clock=clock)
    intent = rig.intent(qty="4", side="sell")
    legs = {
        leg.venue: leg.quantity
        for leg in await splitter.split(intent, Decimal(4), {v.venue_id: v for v in (rich, poor)})
    }
    # pa bids 5 higher and would take everything, but holds only 1.5 ETH to sell.
    assert legs == {"pa": Decimal("1.5"), "pb": Decimal("2.5")}


async def test_legs_never_go_beyond_the_intents_limit_and_a_split_cannot_be_paused(
    clock: ManualClock,
) -> None:
    class Careless(FixedSplitter):
        async def split(self, intent, quantity, venues):  # type: ignore[no-untyped-def]
            legs = await super().split(intent, quantity, venues)
            return [
                SplitLeg(
                    venue=leg.venue, quantity=leg.quantity, expected_price=PRICE, limit_price=None
                )
                for leg in legs
            ]

    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    rig = Rig(Careless(Decimal(1), Decimal(1)), a, b, clock=clock)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent(limit_price="1990"))
        kids = [rig.engine.order(c) for c in parent.children]
        assert [k.limit_price for k in kids] == [Decimal(1990), Decimal(1990)]
        assert all(k.filled_quantity == 0 for k in kids)  # the market is at 2000
        with pytest.raises(InvalidInput, match="cannot be paused"):
            rig.engine.pause(parent.order_id)
    finally:
        await rig.engine.stop()


class _SleepRig(Rig):
    """A rig whose engine waits on a manual sleeper (backoff in simulated time)."""

    def __init__(self, splitter: object, *venues: PaperVenue, clock: ManualClock) -> None:
        from oms_chain.algos import ManualSleeper

        self.sleeper = ManualSleeper(clock)
        super().__init__(splitter, *venues, clock=clock)

    def new_engine(self) -> Engine:
        self.engine = Engine(
            store=self.store,
            venues=self.venues,
            risk=RiskGate(RiskLimits(), clock=self.clock),
            clock=self.clock,
            splitter=self.splitter,  # type: ignore[arg-type]
            sleeper=self.sleeper,
            config=EngineConfig(split_poll_s=0.01),
        )
        self.engine.set_reference_price(PAIR.id, PRICE)
        return self.engine


async def test_a_split_parent_survives_rounds_of_venue_unavailable_and_completes(
    clock: ManualClock,
) -> None:
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    a.inject(Fault.UNAVAILABLE, times=2)  # the first two rounds cannot reach either venue
    b.inject(Fault.UNAVAILABLE, times=3)  # and b is down one round longer
    rig = _SleepRig(FixedSplitter(Decimal(6), Decimal(4)), a, b, clock=clock)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent())
        for _ in range(6):  # backoff waits run on the manual sleeper: let them pass
            await rig.sleeper.advance(10 * 1_000_000_000)
            if rig.engine.order(parent.order_id).is_terminal:
                break
        await rig.until_done(parent.order_id)
        parent = rig.engine.order(parent.order_id)
        assert parent.status is OrderStatus.FILLED
        assert parent.filled_quantity == Decimal(10)
        kids = [rig.engine.order(c) for c in parent.children]
        not_sent = [k for k in kids if k.status is OrderStatus.FAILED]
        assert len(not_sent) == 5 and all("not sent" in (k.reason or "") for k in not_sent)
        assert all(k.filled_quantity == 0 for k in not_sent)
        filled = sum((k.filled_quantity for k in kids), Decimal(0))
        assert filled == Decimal(10)
        # every quantity that executed was received exactly once
        assert len(a.received()) + len(b.received()) == len(kids) - len(not_sent)
    finally:
        await rig.engine.stop()


async def test_a_final_rejection_still_takes_a_venue_out_of_the_split(clock: ManualClock) -> None:
    a = PaperVenue("pa", clock=clock, prices={PAIR.id: PRICE})
    b = PaperVenue("pb", clock=clock, prices={PAIR.id: PRICE})
    b.inject(Fault.REJECT)
    rig = _SleepRig(FixedSplitter(Decimal(6), Decimal(4)), a, b, clock=clock)
    await rig.engine.start()
    try:
        parent = await rig.engine.submit(rig.intent())
        await rig.until_done(parent.order_id)
        parent = rig.engine.order(parent.order_id)
        assert parent.status is OrderStatus.FILLED
        kids = [rig.engine.order(c) for c in parent.children]
        assert [k.venue for k in kids if k.status is OrderStatus.REJECTED] == ["pb"]
        assert all(k.venue == "pa" for k in kids[2:])  # never routed to pb again
    finally:
        await rig.engine.stop()
