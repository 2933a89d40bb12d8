"""Fixtures: the Deribit-protocol exchange on a free loopback port and unmodified ccxt clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from deribit_client import API_KEY, BALANCES, SECRET, START_NS, client

from oms_chain.devnet.deribit import DeribitConfig, DeribitSimulator
from oms_chain.model.clock import ManualClock

__all__ = ["API_KEY", "BALANCES", "SECRET", "START_NS", "client"]


@pytest.fixture
async def sim() -> AsyncIterator[DeribitSimulator]:
    """A still market: the maker quotes once (seed 3) and waits; the exchange's clock stands
    at Thursday 3 Dec 2026 09:00 UTC (signatures are checked against wall time, so ccxt
    signs as usual)."""
    config = DeribitConfig(seed=3, agents_running=False, clock=ManualClock(START_NS))
    async with DeribitSimulator(config) as simulator:
        simulator.create_account(API_KEY, SECRET, BALANCES)
        yield simulator


@pytest.fixture
async def exchange(sim: DeribitSimulator) -> AsyncIterator[Any]:
    ex = client(sim)
    await ex.load_markets()
    yield ex
    await ex.close()
