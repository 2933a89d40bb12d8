"""The shared Venue conformance suite (oms_chain.testing.venue) run against the Uniswap V3 venue
on the L1 devnet. The suite's ETH/USDC pair maps onto the venue's native ETH/USDC instrument by
symbol. AMM orders never rest and never amend; place answers once the transaction is out and the
fill comes with the receipt: the adapter declares so (``capabilities``), and the suite runs each
test in that form."""

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
        assert isinstance(venue, DeclaresCapabilities)
        assert venue.capabilities == AMM_CAPABILITIES
        return venue.capabilities


async def test_every_uniswap_venue_declares_that_its_orders_neither_rest_nor_amend(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], tmp_path: Path
) -> None:
    async with devnet_venues(l1, devnet_accounts[7].private_key, store_at(tmp_path)) as vs:
        assert vs.venues
        for v in vs.venues:
            assert isinstance(v, DeclaresCapabilities)
            assert v.capabilities == AMM_CAPABILITIES, v.venue_id
