"""TWAP: schedule, tracking error, catch-up, randomization, deadline, participation cap."""

from __future__ import annotations

from decimal import Decimal

import pytest
from algo_fakes import MINUTE, START, FakeEngine, PureSim, fill_none, make_intent
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.algos import ManualSleeper, MarketSnapshot, TwapScheduler
from oms_chain.engine.algo_runner import AlgoRunner
from oms_chain.model import ManualClock


def twap(params: dict[str, object], **kw: object) -> TwapScheduler:
    return TwapScheduler(make_intent("twap", params, **kw))  # type: ignore[arg-type]


def test_twap_slices_evenly_over_its_duration() -> None:
    s = twap({"duration": "1h", "slices": 4})
    assert s.schedule.times == tuple(START + i * 15 * MINUTE for i in range(4))
    targets = [s.target_at(Decimal(100), START + i * 15 * MINUTE) for i in range(4)]
    assert targets == [Decimal(25), Decimal(50), Decimal(75), Decimal(100)]
    assert s.target_at(Decimal(100), START - 1) == 0


def test_twap_interval_param_gives_the_number_of_slices() -> None:
    s = twap({"duration": "1h", "interval": "10m"})
    assert s.schedule.slices == 6


def test_twap_horizon_ends_at_the_deadline_when_it_is_earlier() -> None:
    s = twap({"duration": "2h", "slices": 2}, deadline_ns=START + 30 * MINUTE)
    assert s.horizon.end_ns == START + 30 * MINUTE
    assert s.schedule.times[1] == START + 15 * MINUTE


async def test_twap_runner_tracks_the_schedule_exactly_with_immediate_fills() -> None:
    clock = ManualClock(START)
    sleeper = ManualSleeper(clock)
    intent = make_intent("twap", {"duration": "1h", "slices": 4})
    engine = FakeEngine(intent, clock)
    scheduler = TwapScheduler(intent)
    runner = AlgoRunner(engine, engine.pid, scheduler=scheduler, sleeper=sleeper)
    import asyncio

    task = asyncio.create_task(runner.run())
    await sleeper.settle()
    assert engine.parent.filled_quantity == 25
    for i in range(1, 4):
        await sleeper.advance_to(START + i * 15 * MINUTE - 1)
        assert engine.parent.filled_quantity == 25 * i  # not ahead of the schedule
        await sleeper.advance_to(START + i * 15 * MINUTE)
        assert engine.parent.filled_quantity == 25 * (i + 1)
    await asyncio.wait_for(task, 1)
    assert engine.parent.is_terminal and engine.parent.filled_quantity == 100
    assert sorted(engine.sent) == [0, 1, 2, 3]
    assert set(engine.sent.values()) == {1}


def test_twap_catches_up_after_a_missed_interval() -> None:
    clock = ManualClock(START)
    intent = make_intent("twap", {"duration": "1h", "slices": 6})
    sim = PureSim(intent, TwapScheduler(intent), clock)
    sim.settle()
    assert sim.filled == Decimal("16.66666666")
    clock.set(START + 35 * MINUTE)  # slices 1, 2 and 3 were missed
    d = sim.step()
    assert len(d.spawn) == 1 and d.spawn[0].quantity == Decimal("50")
    assert sim.filled == Decimal("66.66666666")


def test_twap_without_catch_up_spawns_one_slice_per_decision() -> None:
    clock = ManualClock(START)
    intent = make_intent("twap", {"duration": "1h", "slices": 4, "catch_up": False})
    sim = PureSim(intent, TwapScheduler(intent), clock)
    sim.settle()
    clock.set(START + 31 * MINUTE)
    d = sim.step()
    assert [s.quantity for s in d.spawn] == [Decimal(25)]


def test_twap_randomization_is_reproducible_per_intent_and_bounded() -> None:
    params = {"duration": "1h", "slices": 12, "randomize": Decimal("0.4")}
    a, b = twap(params), twap(params)
    c = twap(params, intent_id="i-2")
    assert a.schedule == b.schedule
    assert a.schedule != c.schedule
    interval = 5 * MINUTE
    for i, t in enumerate(a.schedule.times):
        assert abs(t - (START + i * interval)) <= interval * 0.2
    weights = [a.schedule.cum_weights[0]] + [
        y - x for x, y in zip(a.schedule.cum_weights, a.schedule.cum_weights[1:], strict=False)
    ]
    assert all(Decimal("600000") <= w <= Decimal("1400000") for w in weights)
    assert len(set(weights)) > 1


def test_twap_stale_children_are_cancelled_and_their_rest_respawned() -> None:
    clock = ManualClock(START)
    intent = make_intent("twap", {"duration": "1h", "slices": 4})
    sim = PureSim(intent, TwapScheduler(intent), clock)
    sim.settle(fill=Decimal("0.4"))  # 10 of 25 filled, 15 resting
    clock.set(START + 15 * MINUTE)  # child ttl (one interval) reached; next slice due
    d = sim.step()
    assert [c.seq for c in d.cancel] == [0]
    assert d.spawn and d.spawn[0].quantity == Decimal(25)  # the new slice; 0 still counts
    d = sim.step()
    assert d.spawn[0].quantity == Decimal(15)  # the cancelled rest, re-spawned
    assert sim.committed == Decimal(50)


def test_twap_at_its_end_cancels_open_children_and_is_done() -> None:
    clock = ManualClock(START)
    intent = make_intent("twap", {"duration": "1h", "slices": 2, "child_ttl": "2h"})
    sim = PureSim(intent, TwapScheduler(intent), clock)
    sim.settle(fill=Decimal(0))
    clock.set(START + 60 * MINUTE)
    d = sim.step()
    assert d.done and [c.seq for c in d.cancel] == [0]


def test_twap_respects_the_participation_cap() -> None:
    clock = ManualClock(START)
    intent = make_intent("twap", {"duration": "1h", "slices": 2, "max_participation": "0.1"})
    sim = PureSim(intent, TwapScheduler(intent), clock)
    sim.settle(market=MarketSnapshot(market_volume=Decimal(300)))
    assert sim.committed == Decimal(30)
    clock.set(START + 30 * MINUTE)
    sim.settle(market=MarketSnapshot(market_volume=Decimal(2000)))
    assert sim.committed == Decimal(100)


@settings(max_examples=150, deadline=None)
@given(
    slices=st.integers(1, 20),
    randomize=st.decimals("0", "0.5", places=2),
    quantity=st.decimals("0.001", "1000", places=3),
    steps=st.lists(
        st.tuples(
            st.integers(0, 20 * MINUTE),
            st.one_of(st.just(Decimal(1)), st.decimals("0", "1", places=2)),
        ),
        max_size=25,
    ),
)
def test_twap_committed_equals_its_schedule_at_every_decision(
    slices: int,
    randomize: Decimal,
    quantity: Decimal,
    steps: list[tuple[int, Decimal]],
) -> None:
    """Tracking-error bound: after each decision (catch-up on, no cap) filled + open equals the
    schedule's cumulative target exactly, so |filled - target| <= what open children still
    hold; children never commit more than the parent."""
    clock = ManualClock(START)
    intent = make_intent(
        "twap",
        {"duration": "1h", "slices": slices, "randomize": randomize},
        quantity=str(quantity),
    )
    s = TwapScheduler(intent)
    sim = PureSim(intent, s, clock)
    all_full = True
    for advance, fill in steps:
        all_full = all_full and fill == 1
        clock.advance(advance)
        d = sim.settle(fill=fill)
        assert sim.committed <= quantity
        if d.done:
            break
        assert sim.committed == s.target_at(quantity, clock.now_ns())
        assert sim.filled <= s.target_at(quantity, clock.now_ns())
        if randomize == 0 and all_full:
            # against the straight line of a perfect TWAP: at most one slice ahead, never behind
            elapsed = Decimal(clock.now_ns() - START) / Decimal(60 * MINUTE)
            ahead = sim.filled - quantity * elapsed
            assert -Decimal("1e-8") * slices <= ahead <= quantity / slices


async def test_twap_runner_end_closes_the_parent_with_what_is_unfilled() -> None:
    import asyncio

    clock = ManualClock(START)
    sleeper = ManualSleeper(clock)
    intent = make_intent("twap", {"duration": "10m", "slices": 2, "child_ttl": "1h"})
    engine = FakeEngine(intent, clock, policy=fill_none)
    runner = AlgoRunner(engine, engine.pid, scheduler=TwapScheduler(intent), sleeper=sleeper)
    task = asyncio.create_task(runner.run())
    await sleeper.advance_to(START + 10 * MINUTE)
    await asyncio.wait_for(task, 1)
    assert engine.parent.status.value == "cancelled"
    assert all(c.is_terminal for c in engine.children())
    assert runner.final is not None and runner.final.is_terminal


@pytest.mark.parametrize("advance", [MINUTE, 7 * MINUTE])
def test_twap_wakes_at_the_next_slice(advance: int) -> None:
    clock = ManualClock(START)
    intent = make_intent("twap", {"duration": "1h", "slices": 4})
    sim = PureSim(intent, TwapScheduler(intent), clock)
    clock.advance(advance)
    d = sim.settle()
    assert d.wake_at_ns == START + 15 * MINUTE
