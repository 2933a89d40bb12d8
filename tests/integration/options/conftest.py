"""Fixtures for the options venues: the Deribit-protocol exchange on a loopback port with a
still market and our ccxt options venue on it; the RFQ maker agent of the on-chain market."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from options_venue_config import API_KEY, SECRET, START_NS, venue_config

from oms_chain.devnet.deribit import DeribitConfig, DeribitSimulator
from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker
from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.clock import ManualClock
from oms_chain.venues.options import DeribitOptionsVenue


@pytest.fixture
def sim_clock() -> ManualClock:
    return ManualClock(START_NS)


@pytest.fixture
async def sim(sim_clock: ManualClock) -> AsyncIterator[DeribitSimulator]:
    """The maker quotes once (seed 3) and waits; ETH index 3,000 USD; 100 ETH in the account."""
    config = DeribitConfig(seed=3, agents_running=False, clock=sim_clock)
    async with DeribitSimulator(config) as simulator:
        simulator.create_account(API_KEY, SECRET, {"ETH": Decimal(100), "BTC": Decimal(10)})
        yield simulator


@pytest.fixture
async def deribit_venue(
    sim: DeribitSimulator, sim_clock: ManualClock
) -> AsyncIterator[DeribitOptionsVenue]:
    async with DeribitOptionsVenue(venue_config(sim), clock=sim_clock) as venue:
        yield venue


# --- the on-chain market ------------------------------------------------------------------------


@pytest.fixture
def maker_account(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[3]


@pytest.fixture
def trader(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[5]


@pytest.fixture
async def maker(l1: DevnetChain, maker_account: DevAccount) -> AsyncIterator[OptionsMaker]:
    """The RFQ maker agent on loopback, approved for the market's tokens."""
    agent = OptionsMaker(
        OptionsMarketClient.from_book(l1.w3, l1.book),
        maker_account.private_key,
        config=MakerConfig(max_size=1_000_000),
    )
    await asyncio.to_thread(agent.prepare)
    async with agent:
        yield agent
