"""The paper venue: the shared Venue conformance suite (oms_chain.testing.venue) plus its
faults and its journal."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from engine_world import PAIR

from oms_chain.model import (
    ManualClock,
    Side,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
    client_order_id,
)
from oms_chain.testing.venue import VenueConformance
from oms_chain.venues import (
    Fault,
    PaperVenue,
    PlaceOrder,
    VenueOrderStatus,
)


def place(n: int, *, limit: str | None = None, qty: str = "1", side: Side = Side.BUY):
    return PlaceOrder(
        client_order_id=client_order_id(f"t{n}", 0),
        instrument=PAIR,
        side=side,
        quantity=Decimal(qty),
        limit_price=None if limit is None else Decimal(limit),
    )


class TestPaperVenue(VenueConformance):
    @pytest.fixture
    def instrument(self):
        return PAIR

    @pytest.fixture
    def venue(self):
        return PaperVenue("paper", clock=ManualClock(), prices={PAIR.id: Decimal(2000)})


async def test_lost_response_executes_but_reports_a_timeout():
    v = PaperVenue("paper", clock=ManualClock(), prices={PAIR.id: Decimal(2000)})
    v.inject(Fault.LOSE_RESPONSE)
    with pytest.raises(VenueTimeout, match="lost"):
        await v.place(place(1))
    assert (await v.status(place(1).client_order_id)).status is VenueOrderStatus.FILLED


async def test_timeout_before_and_unavailable_never_reach_the_venue():
    v = PaperVenue("paper", clock=ManualClock(), prices={PAIR.id: Decimal(2000)})
    v.inject(Fault.TIMEOUT_BEFORE)
    v.inject(Fault.UNAVAILABLE)
    with pytest.raises(VenueTimeout):
        await v.place(place(1))
    with pytest.raises(VenueUnavailable):
        await v.place(place(1))
    assert v.received() == {}


async def test_partial_fills_leave_the_rest_resting_until_the_price_moves():
    v = PaperVenue(
        "paper", clock=ManualClock(), prices={PAIR.id: Decimal(2000)}, rng=random.Random(1)
    )
    v.inject(Fault.PARTIAL)
    r = await v.place(place(1, limit="2000", qty="10"))
    assert r.status is VenueOrderStatus.PARTIALLY_FILLED
    assert Decimal(0) < r.filled_quantity < Decimal(10)
    reports = v.set_price(PAIR.id, Decimal(1999))
    assert reports[-1].status is VenueOrderStatus.FILLED


async def test_the_journal_survives_the_process_and_a_torn_last_line(tmp_path):
    path = tmp_path / "venue.jsonl"
    clock = ManualClock()
    v = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(2000)}, journal_path=path)
    await v.place(place(1))
    await v.place(place(2, limit="1000"))
    v.close()
    with path.open("a") as fh:
        fh.write('{"op":"place","coid":"half')  # killed mid-write
    again = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(2000)}, journal_path=path)
    assert again.received() == {place(1).client_order_id: 1, place(2).client_order_id: 1}
    with pytest.raises(VenueRejected, match="duplicate"):
        await again.place(place(1))
    r = await again.place(place(3))  # trade ids continue, never repeat
    ids = [f.trade_id for rep in again.reports() for f in rep.fills]
    assert len(ids) == len(set(ids)) == 2
    assert r.fills[0].trade_id == "paper-t2"
    again.close()
