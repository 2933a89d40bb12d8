"""Fixtures: the exchange simulator in-process and a CcxtVenue pointed at it by URLs only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cex_helpers import API_KEY, BALANCES, SECRET, venue_config

from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig
from oms_chain.testing import running_simulator
from oms_chain.venues.cex import CcxtVenue


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    """A still market: agents seed the book (seed 5), then move only when stepped."""
    config = SimulatorConfig(seed=5, fast_depth_interval_s=0.05)
    async with running_simulator(config, {API_KEY: (SECRET, BALANCES)}) as simulator:
        yield simulator


@pytest.fixture
async def live_sim() -> AsyncIterator[ExchangeSimulator]:
    """A moving market: agents step every 20 ms."""
    config = SimulatorConfig(seed=13, agent_interval_s=0.02, fast_depth_interval_s=0.05)
    async with running_simulator(
        config, {API_KEY: (SECRET, BALANCES)}, seed_steps=None
    ) as simulator:
        yield simulator


@pytest.fixture
async def venue(sim: ExchangeSimulator) -> AsyncIterator[CcxtVenue]:
    v = CcxtVenue(venue_config(sim))
    await v.start()
    yield v
    await v.close()


@pytest.fixture
async def live_venue(live_sim: ExchangeSimulator) -> AsyncIterator[CcxtVenue]:
    v = CcxtVenue(venue_config(live_sim))
    await v.start(user_stream=False)
    yield v
    await v.close()
