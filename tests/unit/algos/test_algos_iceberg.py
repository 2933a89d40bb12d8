"""Iceberg: never shows more than its display size; replenishes on fill."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from algo_fakes import MINUTE, START, FakeEngine, PureSim, fill_none, make_intent
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.algos import IcebergScheduler, ManualSleeper, MarketSnapshot
from oms_chain.engine.algo_runner import AlgoRunner
from oms_chain.model import ManualClock


def iceberg_intent(display: str = "10", **params: object) -> object:
    return make_intent(
        "iceberg", {"display_quantity": display, **params}, limit_price="1990", quantity="35"
    )


def test_iceberg_shows_one_display_child_at_the_limit_on_one_venue() -> None:
    clock = ManualClock(START)
    intent = iceberg_intent(venue="other")
    sim = PureSim(intent, IcebergScheduler(intent), clock)  # type: ignore[arg-type]
    d = sim.step(fill=Decimal(0))
    assert [(s.quantity, s.limit_price, s.venue) for s in d.spawn] == [
        (Decimal(10), Decimal(1990), "other")
    ]
    assert not sim.step(fill=Decimal(0)).spawn  # still resting: nothing more shown


@settings(max_examples=200, deadline=None)
@given(
    display=st.decimals("0.5", "35", places=1),
    fills=st.lists(st.decimals("0.01", "1", places=2), max_size=60),
)
def test_iceberg_never_shows_more_than_its_display_size(
    display: Decimal, fills: list[Decimal]
) -> None:
    clock = ManualClock(START)
    intent = iceberg_intent(str(display))
    sim = PureSim(intent, IcebergScheduler(intent), clock)  # type: ignore[arg-type]
    for fraction in fills:
        sim.step(fill=Decimal(0))
        view = sim.view()
        visible = sum((c.leaves for c in view.open_children), Decimal(0))
        assert visible <= display
        assert view.committed <= Decimal(35)
        if view.open_children:
            child = view.open_children[0]
            sim.fill(
                child.seq,
                max(Decimal("0.01"), (child.leaves * fraction).quantize(Decimal("0.01"))).min(
                    child.leaves
                ),
            )
    assert sim.filled <= Decimal(35)


async def test_iceberg_runner_replenishes_when_the_shown_child_fills() -> None:
    clock = ManualClock(START)
    sleeper = ManualSleeper(clock)
    intent = iceberg_intent()
    engine = FakeEngine(intent, clock, policy=fill_none)  # type: ignore[arg-type]
    runner = AlgoRunner(
        engine,
        engine.pid,
        scheduler=IcebergScheduler(intent),  # type: ignore[arg-type]
        sleeper=sleeper,
    )
    task = asyncio.create_task(runner.run())
    await sleeper.settle()
    assert [c.quantity for c in engine.children()] == [Decimal(10)]
    engine.fill(0, Decimal(4))
    await sleeper.settle()
    assert len(engine.children()) == 1 and engine.visible == 6
    engine.fill(0, Decimal(6))  # the shown child filled: the next one is shown at once
    await sleeper.settle()
    assert [c.quantity for c in engine.children()] == [Decimal(10), Decimal(10)]
    engine.fill(1, Decimal(10))
    await sleeper.settle()
    engine.fill(2, Decimal(10))
    await sleeper.settle()
    assert engine.children()[-1].quantity == Decimal(5)  # the last one: what is left
    engine.fill(3, Decimal(5))
    await asyncio.wait_for(task, 1)
    assert engine.parent.filled_quantity == 35 and engine.parent.is_terminal
    assert clock.now_ns() == START  # no time had to pass
    assert engine.max_committed <= 35


def test_iceberg_refreshes_a_child_resting_past_its_ttl() -> None:
    clock = ManualClock(START)
    intent = iceberg_intent(child_ttl="5m")
    sim = PureSim(intent, IcebergScheduler(intent), clock)  # type: ignore[arg-type]
    d = sim.step(fill=Decimal(0))
    assert d.wake_at_ns is None
    d = sim.step(fill=Decimal(0))
    assert d.wake_at_ns == START + 5 * MINUTE
    clock.set(START + 5 * MINUTE)
    d = sim.step(fill=Decimal(0))
    assert [c.seq for c in d.cancel] == [0] and not d.spawn
    d = sim.step(fill=Decimal(0))
    assert [s.seq for s in d.spawn] == [1]


def test_iceberg_participation_cap_shrinks_the_shown_child() -> None:
    clock = ManualClock(START)
    intent = iceberg_intent(max_participation="0.2")
    sim = PureSim(intent, IcebergScheduler(intent), clock)  # type: ignore[arg-type]
    d = sim.step(market=MarketSnapshot(market_volume=Decimal(30)), fill=Decimal(0))
    assert [s.quantity for s in d.spawn] == [Decimal(6)]
    sim.fill(0, Decimal(6))
    d = sim.step(market=MarketSnapshot(market_volume=Decimal(30)), fill=Decimal(0))
    assert not d.spawn and d.wake_at_ns is not None  # capped: look again later
