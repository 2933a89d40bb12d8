"""VWAP: follows a given or observed volume profile."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from algo_fakes import MINUTE, START, FakeEngine, FakeMarket, PureSim, make_intent

from oms_chain.algos import ManualSleeper, MarketSnapshot, VwapScheduler
from oms_chain.engine.algo_runner import AlgoRunner
from oms_chain.model import ManualClock


def test_vwap_follows_a_given_profile() -> None:
    clock = ManualClock(START)
    intent = make_intent("vwap", {"duration": "40m", "profile": "1,3,4,2"})
    sim = PureSim(intent, VwapScheduler(intent), clock)
    seen = []
    for k in range(4):
        clock.set(START + k * 10 * MINUTE)
        sim.settle()
        seen.append(sim.filled)
    assert seen == [Decimal(10), Decimal(40), Decimal(80), Decimal(100)]


def test_vwap_builds_its_profile_from_the_volume_before_it_started() -> None:
    clock = ManualClock(START)
    intent = make_intent("vwap", {"duration": "1h", "slices": 3})
    s = VwapScheduler(intent)
    req = s.market_request(PureSim(intent, s, clock).view())
    assert req.buckets == (START - 60 * MINUTE, 20 * MINUTE, 3)
    market = MarketSnapshot(volume_buckets=(Decimal(50), Decimal(0), Decimal(150)))
    sim = PureSim(intent, s, clock)
    sim.settle(market)
    assert sim.filled == 25
    clock.set(START + 20 * MINUTE)
    sim.settle(market)
    assert sim.filled == 25  # no volume in that bucket: nothing due
    clock.set(START + 40 * MINUTE)
    sim.settle(market)
    assert sim.filled == 100


def test_vwap_without_observed_volume_is_even() -> None:
    clock = ManualClock(START)
    intent = make_intent("vwap", {"duration": "1h", "slices": 4})
    sim = PureSim(intent, VwapScheduler(intent), clock)
    sim.settle(MarketSnapshot(volume_buckets=(Decimal(0),) * 4))
    assert sim.filled == 25


async def test_vwap_runner_reads_the_profile_through_market_data() -> None:
    clock = ManualClock(START)
    sleeper = ManualSleeper(clock)
    market = FakeMarket()
    market.buckets = (Decimal(1), Decimal(1), Decimal(2))
    intent = make_intent("vwap", {"duration": "30m", "slices": 3})
    engine = FakeEngine(intent, clock)
    runner = AlgoRunner(
        engine, engine.pid, scheduler=VwapScheduler(intent), sleeper=sleeper, market=market
    )
    task = asyncio.create_task(runner.run())
    await sleeper.settle()
    assert engine.parent.filled_quantity == 25
    await sleeper.advance_to(START + 10 * MINUTE)
    assert engine.parent.filled_quantity == 50
    await sleeper.advance_to(START + 20 * MINUTE)
    await asyncio.wait_for(task, 1)
    assert engine.parent.filled_quantity == 100
    assert set(market.bucket_calls) == {(START - 30 * MINUTE, 10 * MINUTE, 3)}
