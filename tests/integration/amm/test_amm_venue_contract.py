"""The shared Venue conformance suite (oms_chain.testing.venue) run against the Uniswap V3 venue
on the L1 devnet. The suite's ETH/USDC pair maps onto the venue's native ETH/USDC instrument by
symbol. AMM orders never rest and never amend; place answers once the transaction is out and the
fill comes with the receipt: the capabilities below say so, and the suite runs each test in that
form. (They are declared here until the AMM adapter declares them itself.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_amm_venue import devnet_venues, store_at

from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.testing.venue import VenueConformance
from oms_chain.venues import DeclaresCapabilities, VenueCapabilities
from oms_chain.venues.amm import UniswapV3Venue

AMM_CAPABILITIES = VenueCapabilities(resting_orders=False, amend=False, fills_on_place=False)


class TestUniswapV3VenueConformance(VenueConformance):
    @pytest.fixture
    async def venue(
        self, l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], tmp_path: Path
    ) -> AsyncIterator[UniswapV3Venue]:
        async with devnet_venues(l1, devnet_accounts[7].private_key, store_at(tmp_path)) as vs:
            v = vs.venue("uniswap-v3-500-31337")
            assert isinstance(v, UniswapV3Venue)
            yield v

    @pytest.fixture
    def venue_capabilities(self, venue: UniswapV3Venue) -> VenueCapabilities:
        if isinstance(venue, DeclaresCapabilities):
            assert venue.capabilities == AMM_CAPABILITIES
        return AMM_CAPABILITIES
