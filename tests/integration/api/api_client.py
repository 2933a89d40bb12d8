"""The served API as the API tests see it (imported by their conftest and by the tests)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain
from oms_chain.model import ManualClock
from oms_chain.service import TradingSession
from oms_chain.service.api import ApiConfig, TokenStore, create_app


@dataclass
class Api:
    """The served API: its base URL, an HTTP client, the session, the tokens and the clock."""

    url: str
    http: aiohttp.ClientSession
    session: TradingSession
    tokens: TokenStore
    clock: ManualClock
    trade: str
    read: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def serve_api(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
    prepare: Callable[[web.Application, TradingSession, ManualClock], None] | None = None,
) -> AsyncIterator[Api]:
    """The API over a fresh session; ``prepare(app, session, clock)`` runs before it serves
    (to install the risk context, a hedger...)."""
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
        if prepare is not None:
            prepare(app, session, clock)
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
