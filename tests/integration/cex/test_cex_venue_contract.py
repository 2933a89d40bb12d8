"""The shared Venue contract (tests/unit/engine/test_paper_venue.py) run against CcxtVenue and
the simulator: the paper test pair ETH/USDC maps onto the exchange's ETH/USDC market by symbol."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "engine"))

from test_paper_venue import VenueContract, place

from oms_chain.model import VenueRejected
from oms_chain.venues import AmendOrder
from oms_chain.venues.cex import CcxtVenue


class TestCcxtVenueContract(VenueContract):
    @pytest.fixture
    async def venue(self, sim: object) -> AsyncIterator[CcxtVenue]:
        from cex_helpers import venue_config

        v = CcxtVenue(venue_config(sim))  # type: ignore[arg-type]
        await v.start()
        yield v
        await v.close()

    async def test_amend_below_filled_is_refused(self, venue: CcxtVenue) -> None:
        """Amend is not offered by the ccxt venue: every amend is refused with advice."""
        r = await venue.place(place(5, limit="1000", qty="2"))
        with pytest.raises(VenueRejected, match="cancel it and place a new order"):
            await venue.amend(
                AmendOrder(
                    client_order_id=r.client_order_id,
                    quantity=Decimal(3),
                    limit_price=Decimal(1001),
                )
            )
