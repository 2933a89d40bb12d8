"""Fixtures of the API tests: a real TradingSession on the devnet L1 (Uniswap pools, no
exchange), its token table, and the API served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from api_client import Api

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain
from oms_chain.model import ManualClock
from oms_chain.service import TradingSession
from oms_chain.service.api import ApiConfig, TokenStore, create_app


@pytest.fixture
async def api(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> AsyncIterator[Api]:
    store_url = f"sqlite:///{tmp_path / 'api.db'}"
    session = TradingSession.from_devnet_runtime(
        oms_devnet.describe(),
        store_url,
        devnet_accounts[6].private_key,
        chain_ids=[l1.chain_id],
        with_exchange=False,
        poll_interval=0.05,
    )
    clock = ManualClock()
    async with session:
        tokens = TokenStore(store_url)
        trade, _ = tokens.create("trader", "trade")
        read, _ = tokens.create("viewer", "read")
        app = create_app(
            session, tokens, config=ApiConfig(ws_idle_poll_s=0.2, burst=1_000_000), clock=clock
        )
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                yield Api(
                    str(server.make_url("")).rstrip("/"), http, session, tokens, clock, trade, read
                )
        finally:
            await server.close()
            tokens.close()
