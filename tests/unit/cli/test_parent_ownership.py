"""An algo parent left open in a store is worked only by the engine that takes it over
(``Engine(resume_parents=...)``): ``oms swap`` or ``oms cancel`` on the same store never
resumes someone else's TWAP; ``oms order --resume ID`` does."""

from __future__ import annotations

from decimal import Decimal

from oms_chain.algos import ManualSleeper
from oms_chain.engine import Engine, InMemoryEventLog
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.model.orders import Order
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues import PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
MINUTE = 60 * 10**9
PRICE = Decimal(2000)


class _World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.sleeper = ManualSleeper(self.clock)
        self.store = InMemoryEventLog()
        self.venue = PaperVenue("paper", clock=self.clock, prices={PAIR.id: PRICE})

    def engine(self, resume_parents: bool | list[str] = True) -> Engine:
        engine = Engine(
            store=self.store,
            venues=[self.venue],
            risk=RiskGate(RiskLimits(max_order_notional=Decimal(10**9)), clock=self.clock),
            clock=self.clock,
            sleeper=self.sleeper,
            resume_parents=resume_parents,
        )
        engine.set_reference_price(PAIR.id, PRICE)
        return engine

    def twap(self, intent_id: str) -> Intent:
        return Intent.create(
            intent_id=intent_id,
            account="acct",
            instrument=PAIR,
            side="buy",
            quantity="4",
            venues=["paper"],
            now_ns=self.clock.now_ns(),
            algo="twap",
            algo_params={"duration": "1h", "slices": 4},
            limit_price="2100",
        )


async def _left_running(w: _World) -> tuple[Order, Intent]:
    """A TWAP whose process died after its first slice (nothing paused it)."""
    owner = w.engine()
    await owner.start()
    intent = w.twap("tw-own")
    parent = await owner.submit(intent)
    await w.sleeper.settle()
    assert owner.order(parent.order_id).filled_quantity == 1
    await owner.stop()
    return parent, intent


async def test_an_engine_that_does_not_take_a_parent_over_never_sends_its_children() -> None:
    w = _World()
    parent, intent = await _left_running(w)
    other = w.engine(resume_parents=False)
    await other.start()
    await w.sleeper.advance_to(intent.ts_init + 61 * MINUTE)
    assert other.order(parent.order_id).filled_quantity == 1  # nobody worked it
    assert len(other.order(parent.order_id).children) == 1
    assert sorted(w.venue.received().values()) == [1]
    await other.stop()


async def test_an_engine_works_only_the_parents_named_in_resume_parents() -> None:
    w = _World()
    parent, intent = await _left_running(w)
    second = await _second_twap(w)
    taker = w.engine(resume_parents=[parent.order_id])
    await taker.start()
    await w.sleeper.settle()
    await w.sleeper.advance_to(intent.ts_init + 61 * MINUTE)
    done = taker.order(parent.order_id)
    assert done.status.value == "filled" and done.filled_quantity == 4
    assert taker.order(second.order_id).filled_quantity == 1  # not named: left alone
    await taker.stop()


async def _second_twap(w: _World) -> Order:
    owner = w.engine(resume_parents=False)
    await owner.start()
    parent = await owner.submit(w.twap("tw-other"))
    await w.sleeper.settle()
    await owner.stop()
    return parent


async def test_new_intents_of_a_non_resuming_engine_are_worked_to_the_end() -> None:
    w = _World()
    engine = w.engine(resume_parents=False)
    await engine.start()
    intent = w.twap("tw-new")
    parent = await engine.submit(intent)
    await w.sleeper.settle()
    await w.sleeper.advance_to(intent.ts_init + 61 * MINUTE)
    assert engine.order(parent.order_id).filled_quantity == 4
    await engine.stop()
