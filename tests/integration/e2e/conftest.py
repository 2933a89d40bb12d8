"""Fixtures of the end-to-end tests: the still exchange simulator and the trader's venues."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from e2e_world import (
    API_KEY,
    CEX_START,
    OTHER_KEY,
    OTHER_SECRET,
    SECRET,
    cex_config,
    still_config,
)

from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.devnet.world import DevAccount
from oms_chain.testing import running_simulator
from oms_chain.venues.cex import CcxtVenue


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    """Book seeded by four agent steps around ETH = 3000 USDC, then still until stepped."""
    accounts = {API_KEY: (SECRET, CEX_START), OTHER_KEY: (OTHER_SECRET, CEX_START)}
    async with running_simulator(still_config(), accounts) as simulator:
        yield simulator


@pytest.fixture
async def cex(sim: ExchangeSimulator) -> AsyncIterator[CcxtVenue]:
    venue = CcxtVenue(cex_config(sim))
    await venue.start()
    yield venue
    await venue.close()


@pytest.fixture
def trader(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[8]


@pytest.fixture
def mover(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    """Another wallet that moves the pools' price."""
    return devnet_accounts[9]
