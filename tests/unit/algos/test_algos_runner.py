"""AlgoRunner against a fake engine: wakes, pause / resume / cancel, kill and restart."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from algo_fakes import (
    MINUTE,
    SECOND,
    START,
    FakeEngine,
    FakeMarket,
    curve,
    fill_all,
    fill_none,
    make_intent,
)

from oms_chain.algos import ManualSleeper, SniperScheduler, TwapScheduler, scheduler_for
from oms_chain.engine.algo_runner import AlgoRunner, runner_for
from oms_chain.engine.retry import RetryPolicy
from oms_chain.model import ManualClock
from oms_chain.model.errors import EngineNotReady
from oms_chain.model.ids import OrderId, VenueId


def _twap_world(
    policy: Any = fill_all, **params: Any
) -> tuple[ManualClock, ManualSleeper, FakeEngine, Any]:
    clock = ManualClock(START)
    sleeper = ManualSleeper(clock)
    intent = make_intent("twap", {"duration": "1h", "slices": 4, **params})
    engine = FakeEngine(intent, clock, policy=policy)
    return clock, sleeper, engine, intent


def _start(engine: FakeEngine, intent: Any, sleeper: ManualSleeper, **kw: Any) -> Any:
    runner = AlgoRunner(engine, engine.pid, scheduler=scheduler_for(intent), sleeper=sleeper, **kw)
    return runner, asyncio.create_task(runner.run())


async def test_paused_algo_spawns_nothing_and_its_schedule_resumes_where_it_stood() -> None:
    _clock, sleeper, engine, intent = _twap_world()
    _runner, task = _start(engine, intent, sleeper)
    await sleeper.settle()
    assert engine.parent.filled_quantity == 25
    engine.set_state("paused")
    await sleeper.advance_to(START + 31 * MINUTE)
    assert engine.parent.filled_quantity == 25
    engine.set_state("running")
    await sleeper.settle()
    assert engine.parent.filled_quantity == 25  # the 31 paused minutes do not count
    await sleeper.advance_to(START + 31 * MINUTE + 15 * MINUTE)
    assert engine.parent.filled_quantity == 50  # slice 1, 15 schedule minutes in
    assert engine.spawn_log[-1][2] == Decimal(25)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_cancelled_algo_cancels_its_open_children_and_stops() -> None:
    _clock, sleeper, engine, intent = _twap_world(policy=fill_none)
    _runner, task = _start(engine, intent, sleeper)
    await sleeper.settle()
    assert engine.children()[0].is_open
    engine.set_state("cancelled")
    await asyncio.wait_for(task, 1)
    assert all(c.is_terminal for c in engine.children())
    assert engine.parent.status.value == "cancelled"


async def test_runner_stops_when_the_engine_stream_ends() -> None:
    _clock, sleeper, engine, intent = _twap_world()
    _runner, task = _start(engine, intent, sleeper)
    await sleeper.settle()
    engine.close_stream()
    await asyncio.wait_for(task, 1)
    assert not engine.parent.is_terminal  # the engine restarts it after its own restart


@pytest.mark.parametrize("kill_at_seq", [0, 1, 2, 3])
@pytest.mark.parametrize("policy", [fill_all, fill_none])
async def test_runner_killed_during_a_send_and_restarted_spawns_no_duplicate(
    kill_at_seq: int, policy: Any
) -> None:
    clock, sleeper, engine, intent = _twap_world(policy=policy)
    _runner, task = _start(engine, intent, sleeper)
    original = engine.spawn_child

    async def spawn_then_die(parent_id: OrderId, **kw: Any) -> Any:
        if kw["seq"] == kill_at_seq:
            task.cancel()  # lands at the send's suspension point, after the write-ahead record
        return await original(parent_id, **kw)

    engine.spawn_child = spawn_then_die  # type: ignore[method-assign]
    for t in (0, 15, 30, 45):
        await sleeper.advance_to(START + t * MINUTE)
        if task.done():
            break
    assert task.cancelled()
    engine.spawn_child = original  # type: ignore[method-assign]
    killed_at = clock.now_ns()
    # restart: a new runner (and scheduler) over the same state
    _runner2, task2 = _start(engine, intent, sleeper)
    await sleeper.settle()
    for t in range(0, 61, 5):
        await sleeper.advance_to(max(killed_at, START + t * MINUTE))
    await asyncio.wait_for(task2, 1)
    assert all(n == 1 for n in engine.recorded.values())
    assert all(n <= 1 for n in engine.sent.values())
    assert engine.max_committed <= 100
    if policy is fill_all:
        # the slice recorded before the kill never went out; it is cancelled when stale and
        # its quantity re-spawned under a new seq
        assert engine.sent[kill_at_seq] == 0
        # (the last slice's stuck child goes stale only when the schedule ends)
        expected = 100 if kill_at_seq < 3 else 75
        assert engine.parent.filled_quantity == expected


async def test_runner_killed_while_sleeping_resumes_where_the_schedule_stands() -> None:
    _clock, sleeper, engine, intent = _twap_world()
    _runner, task = _start(engine, intent, sleeper)
    await sleeper.advance_to(START + 20 * MINUTE)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert engine.parent.filled_quantity == 50
    await sleeper.advance_to(START + 50 * MINUTE)  # nobody running: two slices missed
    _runner2, task2 = _start(engine, intent, sleeper)
    await sleeper.settle()
    # the two missed slices come as one catch-up child of 50, and the order is done
    assert engine.spawn_log[-1][2] == Decimal(50)
    assert engine.parent.filled_quantity == 100
    assert [s[1] for s in engine.spawn_log] == [0, 1, 2]
    task2.cancel()
    await asyncio.gather(task2, return_exceptions=True)


async def test_runner_backs_off_when_the_engine_refuses_a_child() -> None:
    _clock, sleeper, engine, intent = _twap_world()
    original = engine.spawn_child
    refusals = [2]

    async def refuse(parent_id: OrderId, **kw: Any) -> Any:
        if refusals[0]:
            refusals[0] -= 1
            raise EngineNotReady("reconciling")
        return await original(parent_id, **kw)

    engine.spawn_child = refuse  # type: ignore[method-assign]
    _runner, task = _start(engine, intent, sleeper, retry=RetryPolicy(initial_s=1, max_s=60))
    await sleeper.settle()
    assert engine.children() == [] and sleeper.pending[0] == START + SECOND
    await sleeper.advance_to(START + SECOND)
    assert engine.children() == [] and sleeper.pending[0] == START + 3 * SECOND
    await sleeper.advance_to(START + 3 * SECOND)
    assert engine.parent.filled_quantity == 25
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_sniper_runner_fires_when_the_market_reaches_its_limit() -> None:
    clock = ManualClock(START)
    sleeper = ManualSleeper(clock)
    market = FakeMarket()
    market.curves[VenueId("paper")] = curve("paper", [("2010", "10")], fee_bps="10")
    market.curves[VenueId("other")] = curve("other", [("2005", "10")])
    intent = make_intent("sniper", {"poll_interval": "5s"}, limit_price="2000", quantity="4")
    engine = FakeEngine(intent, clock)
    runner = runner_for(engine, engine.parent, intent, sleeper=sleeper, market=market)
    assert isinstance(runner._scheduler, SniperScheduler)
    task = asyncio.create_task(runner.run())
    await sleeper.advance_to(START + 5 * SECOND)
    assert engine.children() == []
    market.curves[VenueId("paper")] = curve("paper", [("1997", "3"), ("1999", "9")], fee_bps="10")
    await sleeper.advance_to(START + 9 * SECOND)
    assert engine.children() == []  # looks again at its next poll
    await sleeper.advance_to(START + 10 * SECOND)
    # 1997 * 1.001 = 1998.997 <= 2000; 1999 * 1.001 > 2000: only the first level
    assert [(c.venue, c.quantity, c.limit_price) for c in engine.children()] == [
        ("paper", Decimal(3), Decimal(1997)),
    ]
    # the child filled at once, but the next take waits for the next look; and the book
    # still shows the 3 it took (it has not applied the take): they are not taken again
    await sleeper.advance_to(START + 14 * SECOND)
    assert len(engine.children()) == 1
    await sleeper.advance_to(START + 15 * SECOND)
    assert len(engine.children()) == 1
    # the venue moves the level (a maker re-posted 1 there): that 1 is real
    market.curves[VenueId("paper")] = curve("paper", [("1997", "1"), ("1999", "9")], fee_bps="10")
    await sleeper.advance_to(START + 20 * SECOND)
    assert [(c.venue, c.quantity, c.limit_price) for c in engine.children()] == [
        ("paper", Decimal(3), Decimal(1997)),
        ("paper", Decimal(1), Decimal(1997)),
    ]
    assert engine.parent.is_terminal
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_runner_respects_the_participation_cap_as_volume_grows() -> None:
    clock = ManualClock(START)
    sleeper = ManualSleeper(clock)
    market = FakeMarket()
    intent = make_intent("twap", {"duration": "1h", "slices": 2, "max_participation": "0.25"})
    engine = FakeEngine(intent, clock)
    runner = AlgoRunner(
        engine, engine.pid, scheduler=TwapScheduler(intent), sleeper=sleeper, market=market
    )
    market.volume = Decimal(40)
    task = asyncio.create_task(runner.run())
    await sleeper.settle()
    assert engine.parent.filled_quantity == 10
    market.volume = Decimal(1000)
    await sleeper.advance_to(START + 30 * MINUTE)
    assert engine.parent.filled_quantity == 100
    assert engine.max_committed <= 100
    await asyncio.wait_for(task, 1)
