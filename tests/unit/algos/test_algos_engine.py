"""Algorithms through the real engine (paper venue, in-memory log, manual time)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from algo_fakes import MINUTE, PAIR, SECOND

from oms_chain.algos import ManualSleeper
from oms_chain.engine import Engine, InMemoryEventLog
from oms_chain.engine.algo_runner import VenueMarketData
from oms_chain.model import Intent, ManualClock
from oms_chain.model.orders import Order
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues import PaperVenue

PRICE = Decimal(2000)


class _World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.sleeper = ManualSleeper(self.clock)
        self.store = InMemoryEventLog()
        self.venue = PaperVenue("paper", clock=self.clock, prices={PAIR.id: PRICE})
        self.engine = self.new_engine()

    def new_engine(self) -> Engine:
        risk = RiskGate(RiskLimits(max_order_notional=Decimal(10**9)), clock=self.clock)
        engine = Engine(
            store=self.store,
            venues=[self.venue],
            risk=risk,
            clock=self.clock,
            sleeper=self.sleeper,
            market_data=VenueMarketData([self.venue]),
        )
        engine.set_reference_price(PAIR.id, PRICE)
        return engine

    def intent(self, intent_id: str, algo: str, params: dict[str, Any], **kw: Any) -> Intent:
        args: dict[str, Any] = dict(
            intent_id=intent_id,
            account="acct",
            instrument=PAIR,
            side="buy",
            quantity="4",
            venues=["paper"],
            now_ns=self.clock.now_ns(),
            algo=algo,
            algo_params=params,
            limit_price="2100",
        )
        args.update(kw)
        return Intent.create(**args)

    def children(self, parent: Order) -> list[Order]:
        return [self.engine.order(c) for c in self.engine.order(parent.order_id).children]


async def test_twap_through_the_engine_survives_a_restart_without_duplicate_children() -> None:
    w = _World()
    await w.engine.start()
    intent = w.intent("tw-1", "twap", {"duration": "1h", "slices": 4})
    parent = await w.engine.submit(intent)
    await w.sleeper.settle()
    await w.sleeper.advance_to(intent.ts_init + 15 * MINUTE)
    assert w.engine.order(parent.order_id).filled_quantity == 2
    await w.engine.stop()  # the process dies; nobody runs the schedule for a while
    await w.sleeper.advance_to(intent.ts_init + 40 * MINUTE)
    w.engine = w.new_engine()
    await w.engine.start()  # replays, reconciles, restarts the runner
    await w.sleeper.settle()
    assert w.engine.order(parent.order_id).filled_quantity == 3  # caught up with slice 2
    await w.sleeper.advance_to(intent.ts_init + 45 * MINUTE)
    final = w.engine.order(parent.order_id)
    assert final.status.value == "filled" and final.filled_quantity == 4
    assert [c.seq for c in w.children(parent)] == [0, 1, 2, 3]
    assert sorted(w.venue.received().values()) == [1, 1, 1, 1]
    await w.engine.stop()


async def test_iceberg_through_the_engine_shows_at_most_its_display_size() -> None:
    w = _World()
    await w.engine.start()
    intent = w.intent("ice-1", "iceberg", {"display_quantity": "1"}, limit_price="1990")
    parent = await w.engine.submit(intent)
    await w.sleeper.settle()

    def visible() -> Decimal:
        return sum((c.leaves_quantity for c in w.children(parent) if c.is_open), Decimal(0))

    assert visible() == 1
    for px in ("1995", "1989", "1991", "1985"):
        w.venue.set_price(PAIR.id, Decimal(px))
        await w.sleeper.settle()
        assert visible() <= 1
    assert w.engine.order(parent.order_id).filled_quantity == 4
    await w.engine.stop()


async def test_sniper_through_the_engine_fires_at_its_limit() -> None:
    w = _World()
    await w.engine.start()
    intent = w.intent("sn-1", "sniper", {"poll_interval": "1s"}, limit_price="1960", quantity="2")
    parent = await w.engine.submit(intent)
    await w.sleeper.advance(3 * SECOND)
    assert w.children(parent) == []
    w.venue.set_price(PAIR.id, Decimal(1950))
    await w.sleeper.advance(SECOND)
    children = w.children(parent)
    assert [(c.limit_price, c.quantity) for c in children] == [(Decimal(1950), Decimal(2))]
    assert w.engine.order(parent.order_id).filled_quantity == 2
    await w.engine.stop()


async def test_pause_stops_the_schedule_clock_and_resume_shifts_the_rest() -> None:
    w = _World()
    await w.engine.start()
    intent = w.intent("tw-2", "twap", {"duration": "1h", "slices": 4})
    parent = await w.engine.submit(intent)
    await w.sleeper.settle()
    w.engine.pause(parent.order_id)
    await w.sleeper.advance_to(intent.ts_init + 31 * MINUTE)
    assert w.engine.order(parent.order_id).filled_quantity == 1
    w.engine.resume(parent.order_id)
    await w.sleeper.settle()
    # 31 paused minutes do not count: the schedule stands at minute 0, no catch-up burst
    assert w.engine.order(parent.order_id).filled_quantity == 1
    await w.sleeper.advance_to(intent.ts_init + 31 * MINUTE + 15 * MINUTE)
    assert w.engine.order(parent.order_id).filled_quantity == 2
    await w.engine.stop_algo(parent.order_id, "user stop")
    await w.sleeper.advance_to(intent.ts_init + 80 * MINUTE)
    final = w.engine.order(parent.order_id)
    assert final.status.value == "cancelled" and final.filled_quantity == 2
    await w.engine.stop()


async def test_a_twap_paused_longer_than_its_window_completes_its_quantity() -> None:
    w = _World()
    await w.engine.start()
    intent = w.intent("tw-long", "twap", {"duration": "1h", "slices": 4})
    parent = await w.engine.submit(intent)
    await w.sleeper.settle()
    w.engine.pause(parent.order_id)
    await w.sleeper.advance_to(intent.ts_init + 3 * 60 * MINUTE)  # paused 3h, window 1h
    w.engine.resume(parent.order_id)
    await w.sleeper.advance_to(intent.ts_init + 3 * 60 * MINUTE + 61 * MINUTE)
    final = w.engine.order(parent.order_id)
    assert final.status.value == "filled" and final.filled_quantity == 4
    assert [c.quantity for c in w.children(parent)] == [Decimal(1)] * 4
    await w.engine.stop()


async def test_a_paused_algo_past_its_hard_deadline_ends_saying_so() -> None:
    w = _World()
    await w.engine.start()
    deadline = w.clock.now_ns() + 2 * 60 * MINUTE
    intent = w.intent("tw-dl", "twap", {"duration": "1h", "slices": 4}, deadline_ns=deadline)
    parent = await w.engine.submit(intent)
    await w.sleeper.settle()
    w.engine.pause(parent.order_id)
    await w.sleeper.advance_to(deadline + MINUTE)
    final = w.engine.order(parent.order_id)
    assert final.status.value == "cancelled" and final.filled_quantity == 1
    assert final.reason is not None
    assert "hard deadline passed while paused with 3 of 4 unfilled" in final.reason
    await w.engine.stop()


async def test_cancelling_an_algo_parent_stops_its_schedule() -> None:
    w = _World()
    await w.engine.start()
    intent = w.intent("tw-c", "twap", {"duration": "1h", "slices": 4}, limit_price="1900")
    parent = await w.engine.submit(intent)  # limit below the price: slices rest unfilled
    await w.sleeper.settle()
    assert len(w.children(parent)) == 1
    cancelled = await w.engine.cancel(parent.order_id)
    assert cancelled.status.value == "cancelled"
    assert w.engine.algo_state(parent.order_id) == "cancelled"
    await w.sleeper.advance_to(intent.ts_init + 50 * MINUTE)
    assert [c.status.value for c in w.children(parent)] == ["cancelled"]  # nothing new
    await w.engine.stop()


async def test_bad_algo_params_are_refused_before_anything_is_written() -> None:
    import pytest

    from oms_chain.model import InvalidIntent

    w = _World()
    await w.engine.start()
    n = len(w.store)
    with pytest.raises(InvalidIntent, match="slices"):
        await w.engine.submit(w.intent("tw-bad", "twap", {"duration": "1h", "slices": 0}))
    assert len(w.store) == n
    assert w.engine.orders() == []
    await w.engine.stop()


async def test_twap_slices_are_routed_over_the_intents_venues_at_their_own_time() -> None:
    from oms_chain.engine.split import RoutingSplitter
    from oms_chain.venues import LiquidityCurve, LiquidityLevel

    class Book(PaperVenue):
        async def liquidity(self, instrument: Any, side: Any) -> LiquidityCurve:
            return LiquidityCurve(
                venue=self.venue_id,
                instrument_id=instrument.id,
                side=side,
                levels=(LiquidityLevel(PRICE, Decimal("0.6")), LiquidityLevel(PRICE + 5, 9)),
                taker_fee_bps=Decimal(0),
                fixed_cost=Decimal(0),
                ts_event=0,
            )

    w = _World()
    a = Book("pa", clock=w.clock, prices={PAIR.id: PRICE})
    b = Book("pb", clock=w.clock, prices={PAIR.id: PRICE})
    w.engine = Engine(
        store=w.store,
        venues=[a, b],
        risk=RiskGate(RiskLimits(max_order_notional=Decimal(10**9)), clock=w.clock),
        clock=w.clock,
        sleeper=w.sleeper,
        splitter=RoutingSplitter(),
    )
    w.engine.set_reference_price(PAIR.id, PRICE)
    await w.engine.start()
    intent = w.intent("tw-r", "twap", {"duration": "1h", "slices": 4}, venues=["pa", "pb"])
    parent = await w.engine.submit(intent)
    await w.sleeper.settle()
    await w.sleeper.advance_to(intent.ts_init + 60 * MINUTE)
    final = w.engine.order(parent.order_id)
    assert final.status.value == "filled" and final.filled_quantity == 4
    kids = w.children(parent)
    # Each 1-ETH slice is routed on its own: both books hold 0.6 at the best price, so every
    # slice is split over both venues, none above the best level.
    assert len(kids) == 8 and [c.seq for c in kids] == list(range(8))
    for first, second in zip(kids[::2], kids[1::2], strict=True):
        assert {first.venue, second.venue} == {"pa", "pb"}
        assert first.quantity + second.quantity == 1
        assert max(first.quantity, second.quantity) <= Decimal("0.6")
    await w.engine.stop()
