"""Fixtures of the API tests: a real TradingSession on the devnet L1 (Uniswap pools, no
exchange), its token table, and the API served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_client import Api, prepare_risk, serve_api

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain


@pytest.fixture
async def api(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> AsyncIterator[Api]:
    async with serve_api(oms_devnet, l1, devnet_accounts, tmp_path) as served:
        yield served


@pytest.fixture
async def risk_api(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> AsyncIterator[Api]:
    async with serve_api(oms_devnet, l1, devnet_accounts, tmp_path, prepare_risk) as served:
        yield served
