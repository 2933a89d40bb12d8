"""The shared Venue conformance suite (oms_chain.testing.venue) run against CcxtVenue and the
simulator: the suite's ETH/USDC pair maps onto the exchange's ETH/USDC market by symbol. The
venue declares that it does not amend, so the suite checks every amend is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oms_chain.testing.venue import VenueConformance
from oms_chain.venues import VenueCapabilities
from oms_chain.venues.cex import CcxtVenue


class TestCcxtVenueConformance(VenueConformance):
    @pytest.fixture
    async def venue(self, sim: object) -> AsyncIterator[CcxtVenue]:
        from cex_helpers import venue_config

        v = CcxtVenue(venue_config(sim))  # type: ignore[arg-type]
        await v.start()
        yield v
        await v.close()


async def test_the_ccxt_venue_declares_resting_orders_without_amend(sim: object) -> None:
    from cex_helpers import venue_config

    v = CcxtVenue(venue_config(sim))  # type: ignore[arg-type]
    assert v.capabilities == VenueCapabilities(amend=False)
