"""Fixtures: a simulator on a free loopback port and unmodified ccxt clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from exchange_helpers import API_KEY, BALANCES, SECRET, SkewClock, rest_client

from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig
from oms_chain.testing import running_simulator


@pytest.fixture
def skew_clock() -> SkewClock:
    return SkewClock()


@pytest.fixture
async def sim(skew_clock: SkewClock) -> AsyncIterator[ExchangeSimulator]:
    """A still market: agents seed the book with 5 steps (seed 7), then stay paused."""
    config = SimulatorConfig(seed=7, clock=skew_clock)
    async with running_simulator(config, {API_KEY: (SECRET, BALANCES)}) as simulator:
        yield simulator


@pytest.fixture
async def live_sim() -> AsyncIterator[ExchangeSimulator]:
    """A moving market: agents step every 20 ms, tickers stream every 200 ms."""
    config = SimulatorConfig(seed=11, agent_interval_s=0.02, ticker_interval_s=0.2)
    async with running_simulator(
        config, {API_KEY: (SECRET, BALANCES)}, seed_steps=None
    ) as simulator:
        yield simulator


@pytest.fixture
async def quiet(skew_clock: SkewClock) -> AsyncIterator[ExchangeSimulator]:
    """An empty, still market (no agents) with helper accounts ``maker`` and ``taker`` (100 ETH,
    1,000,000 USDC each) for trades at exact prices (see ``exchange_helpers.trade_at``)."""
    config = SimulatorConfig(seed=1, agents=False, clock=skew_clock)
    async with running_simulator(config, {API_KEY: (SECRET, BALANCES)}, seed_steps=None) as sim:
        for name in ("maker", "taker"):
            sim.engine.create_account(name, {"ETH": 100, "USDC": 1_000_000})
        yield sim


@pytest.fixture
async def exchange(sim: ExchangeSimulator) -> AsyncIterator[Any]:
    client = rest_client(sim)
    await client.load_markets()
    yield client
    await client.close()
