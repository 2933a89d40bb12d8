"""The risk gate's reference price: learned from venues other than the executing one, refreshed
once old, and withheld when too old to trust."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_world import PAIR

from oms_chain.engine import Engine, InMemoryEventLog
from oms_chain.model import Instrument, Intent, InvalidInput, ManualClock, OrderStatus, Side
from oms_chain.model.errors import VenueUnavailable
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues import LiquidityCurve, PaperVenue

SECOND = 1_000_000_000


class FlakyVenue(PaperVenue):
    """A paper venue whose market data can be switched off."""

    down = False

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        if self.down:
            raise VenueUnavailable(f"{self.venue_id}: market data down (test)")
        return await super().liquidity(instrument, side)


def _engine(clock: ManualClock, *venues: PaperVenue, collar: str = "100") -> Engine:
    risk = RiskGate(RiskLimits(price_collar_bps=Decimal(collar)), clock=clock)
    return Engine(
        store=InMemoryEventLog(),
        venues=venues,
        risk=risk,
        clock=clock,
        reference_max_age_s=30,
    )


def _intent(clock: ManualClock, intent_id: str, venue: str, limit: str) -> Intent:
    return Intent.create(
        intent_id=intent_id,
        account="acct",
        instrument=PAIR,
        side="buy",
        quantity="1",
        venues=[venue],
        now_ns=clock.now_ns(),
        limit_price=limit,
    )


async def test_the_collar_checks_the_executing_venue_against_another_venues_mid() -> None:
    clock = ManualClock()
    executing = PaperVenue("pa", clock=clock, prices={PAIR.id: Decimal(2000)})
    other = PaperVenue("pb", clock=clock, prices={PAIR.id: Decimal(2100)})
    engine = _engine(clock, executing, other)
    await engine.start()
    try:
        order = await engine.submit(_intent(clock, "c1", "pa", "2000"))
        assert order.status is OrderStatus.REJECTED
        assert "476.2 bps from reference 2,100 USDC" in (order.reason or "")
        ref = engine.reference_price(PAIR.id)
        assert ref is not None and ref.price == Decimal(2100) and ref.source == "mid of pb"
        assert ref.independent
        assert executing.received() == {}
    finally:
        await engine.stop()


async def test_an_old_reference_price_is_refreshed_before_the_next_intent() -> None:
    clock = ManualClock()
    executing = PaperVenue("pa", clock=clock, prices={PAIR.id: Decimal(2000)})
    other = PaperVenue("pb", clock=clock, prices={PAIR.id: Decimal(2100)})
    engine = _engine(clock, executing, other)
    await engine.start()
    try:
        first = await engine.submit(_intent(clock, "r1", "pa", "2000"))
        assert first.status is OrderStatus.REJECTED
        other.set_price(PAIR.id, Decimal(2001))
        clock.advance(10 * SECOND)  # still fresh: the old price stands
        second = await engine.submit(_intent(clock, "r2", "pa", "2000"))
        assert second.status is OrderStatus.REJECTED
        clock.advance(21 * SECOND)  # 31 s old: refreshed from pb
        third = await engine.submit(_intent(clock, "r3", "pa", "2000"))
        assert third.status is not OrderStatus.REJECTED, third.reason
        ref = engine.reference_price(PAIR.id)
        assert ref is not None and ref.price == Decimal(2001) and ref.ts_ns == clock.now_ns()
    finally:
        await engine.stop()


async def test_a_reference_price_too_old_to_refresh_is_withheld_from_the_gate() -> None:
    clock = ManualClock()
    executing = PaperVenue("pa", clock=clock, prices={PAIR.id: Decimal(2000)})
    other = FlakyVenue("pb", clock=clock, prices={PAIR.id: Decimal(2000)})
    engine = _engine(clock, executing, other)
    await engine.start()
    try:
        ok = await engine.submit(_intent(clock, "a1", "pa", "2000"))
        assert ok.status is not OrderStatus.REJECTED
        other.down = True
        clock.advance(31 * SECOND)
        stale = await engine.submit(_intent(clock, "a2", "pa", "2000"))
        assert stale.status is OrderStatus.REJECTED
        assert "no reference price" in (stale.reason or "")
        assert engine.risk_view.reference_price(PAIR.id) is None
        assert list(executing.received()) == [engine.order(ok.children[0]).client_order_id]
    finally:
        await engine.stop()


async def test_with_one_venue_the_reference_is_its_own_mid_marked_not_independent() -> None:
    clock = ManualClock()
    only = PaperVenue("pa", clock=clock, prices={PAIR.id: Decimal(2000)})
    engine = _engine(clock, only)
    await engine.start()
    try:
        order = await engine.submit(_intent(clock, "s1", "pa", "2000"))
        assert order.status is not OrderStatus.REJECTED
        ref = engine.reference_price(PAIR.id)
        assert ref is not None and ref.price == Decimal(2000) and not ref.independent
    finally:
        await engine.stop()


async def test_a_price_set_by_hand_stands_until_its_own_max_age() -> None:
    clock = ManualClock()
    engine = _engine(clock, PaperVenue("pa", clock=clock, prices={PAIR.id: Decimal(2000)}))
    engine.set_reference_price(PAIR.id, Decimal(1990), max_age_s=5)
    assert engine.risk_view.reference_price(PAIR.id) == Decimal(1990)
    clock.advance(6 * SECOND)
    assert engine.risk_view.reference_price(PAIR.id) is None
    engine.set_reference_price(PAIR.id, Decimal(1995))
    clock.advance(10**6 * SECOND)
    assert engine.risk_view.reference_price(PAIR.id) == Decimal(1995)
    with pytest.raises(InvalidInput, match="max_age_s"):
        engine.set_reference_price(PAIR.id, Decimal(1995), max_age_s=float("nan"))
