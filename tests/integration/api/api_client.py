"""The served API as the API tests see it (imported by their conftest and by the tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain
from oms_chain.model import ManualClock
from oms_chain.risk import AlertRule, HedgePolicy, MarketSnapshot, Metric
from oms_chain.service import TradingSession
from oms_chain.service.api import ApiConfig, TokenStore, create_app
from oms_chain.service.api.risk_routes import (
    HedgerControl,
    RiskContext,
    install_hedger,
    install_risk,
)
from oms_chain.service.hedger import Hedger


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


#: ERC-20 ``transfer`` (funding the devnet's BatchExecutor with USDC)
ERC20_TRANSFER = [
    {
        "name": "transfer",
        "type": "function",
        "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
        "stateMutability": "nonpayable",
    }
]

SPOT = Decimal(2000)
DAILY = Decimal("0.04")
Z99 = 2.3263478740408408


#: the risk context's alert rules: |delta| over 500 USD (cleared at 400), a band from 800 to
#: 1,200 (hysteresis), a VaR cap far away, a liquidation distance (none for a long spot book)
ALERT_RULES = (
    AlertRule(
        name="delta-cap",
        metric=Metric.ABS_DELTA_USD,
        threshold=Decimal(500),
        clear_at=Decimal(400),
    ),
    AlertRule(
        name="delta-band",
        metric=Metric.ABS_DELTA_USD,
        threshold=Decimal(1200),
        clear_at=Decimal(800),
        underlying="WETH",
    ),
    AlertRule(name="var-cap", metric=Metric.VAR, threshold=Decimal(1_000_000)),
    AlertRule(
        name="weth-liquidation",
        metric=Metric.LIQUIDATION_DISTANCE_PCT,
        threshold=Decimal(10),
        underlying="WETH",
    ),
)


async def _never(_: float) -> None:  # the hedger's loop waits here: only start() evaluates
    await asyncio.Event().wait()


def prepare_risk(app: web.Application, session: TradingSession, clock: ManualClock) -> None:
    """Install a risk context (WETH at SPOT, DAILY vol) and an idle hedger (band 0.1)."""

    async def market() -> MarketSnapshot:
        return MarketSnapshot(now_ns=clock.now_ns(), spots={"WETH": SPOT})

    install_risk(app, RiskContext(market=market, daily_vols={"WETH": DAILY}, alerts=ALERT_RULES))
    instrument = session.instrument("WETH/USDC")
    policy = HedgePolicy(
        name="api-test",
        underlying="WETH",
        instrument="WETH/USDC",
        venues=tuple(session.venues_for(instrument)),
        band=Decimal("0.1"),
        max_hedge=Decimal(1),
        max_slippage_bps=Decimal(500),
    )
    hedger = Hedger(
        engine=session.engine,
        store=session.store,
        policy=policy,
        instrument=instrument,
        account=session.account,
        clock=clock,
    )
    install_hedger(app, HedgerControl(hedger, market, interval_s=1.0, sleep=_never))
