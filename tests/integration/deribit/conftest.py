"""Fixtures: the Deribit-protocol exchange on a free loopback port and unmodified ccxt clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro
import pytest

from oms_chain.devnet.deribit import DeribitConfig, DeribitSimulator
from oms_chain.model.clock import ManualClock

API_KEY, SECRET = "deribit-test-key", "deribit-test-secret"
BALANCES = {"ETH": Decimal(100), "BTC": Decimal(10)}
START_NS = 1_796_288_400 * 1_000_000_000  # 2026-12-03T09:00:00Z


@pytest.fixture
async def sim() -> AsyncIterator[DeribitSimulator]:
    """A still market: the maker quotes once (seed 3) and waits; the exchange's clock stands
    at Thursday 3 Dec 2026 09:00 UTC (signatures are checked against wall time, so ccxt
    signs as usual)."""
    config = DeribitConfig(seed=3, agents_running=False, clock=ManualClock(START_NS))
    async with DeribitSimulator(config) as simulator:
        simulator.create_account(API_KEY, SECRET, BALANCES)
        yield simulator


def client(sim: DeribitSimulator, secret: str = SECRET) -> Any:
    """Unmodified ``ccxt.pro.deribit`` pointed at the simulator (only ``urls['api']``)."""
    exchange = ccxtpro.deribit({"apiKey": API_KEY, "secret": secret})
    exchange.urls["api"] = sim.deribit_urls()
    return exchange


@pytest.fixture
async def exchange(sim: DeribitSimulator) -> AsyncIterator[Any]:
    ex = client(sim)
    await ex.load_markets()
    yield ex
    await ex.close()
