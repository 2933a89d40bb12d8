"""The end-to-end world of the routing and algo tests: one trader with a wallet on the L1 devnet
(three ETH/USDC pools: Uniswap V3 0.05 %, V3 0.3 %, V2) and an account on the exchange
simulator, whose ETH price path is held at the devnet's 3000 USDC so the book and the pools
quote the same market. The engine trades both through one store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.pro as ccxt_pro

from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig
from oms_chain.devnet.exchange.agents import ListPath
from oms_chain.devnet.world import DevnetChain
from oms_chain.engine import Engine, EngineConfig
from oms_chain.engine.algo_runner import VenueMarketData
from oms_chain.engine.split import RoutingSplitter
from oms_chain.model import Intent, SystemClock
from oms_chain.model.clock import Clock
from oms_chain.model.instruments import SpotPair
from oms_chain.model.orders import Order
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import open_store
from oms_chain.store.base import EventStore
from oms_chain.venues.amm.factory import UniswapVenues, uniswap_venues
from oms_chain.venues.base import Venue
from oms_chain.venues.cex import CcxtVenueConfig

CHAIN = 31337
V3_500 = f"uniswap-v3-500-{CHAIN}"
V3_3000 = f"uniswap-v3-3000-{CHAIN}"
V2 = f"uniswap-v2-{CHAIN}"
POOLS = (V3_500, V3_3000, V2)
CEX = "sim-binance"
ALL = (CEX, *POOLS)

API_KEY, SECRET = "e2e-key", "e2e-secret"
SIM_ACCOUNT = f"acct-{API_KEY}"
OTHER_KEY, OTHER_SECRET = "e2e-other-key", "e2e-other-secret"
OTHER_ACCOUNT = f"acct-{OTHER_KEY}"
CEX_START = {"USDC": Decimal(1_000_000), "ETH": Decimal(200)}
ETH = Decimal(3000)
SECOND = 1_000_000_000

_OPTIONS = {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}}


def still_config(**kw: Any) -> SimulatorConfig:
    """The simulator with ETH held at 3000 USD (the devnet pools' price) and BTC at 60000:
    market makers quote around that mid; agents act only when stepped (or resumed)."""
    return SimulatorConfig(
        seed=21,
        price_paths={"ETH": ListPath([ETH]), "BTC": ListPath([60000])},
        fast_depth_interval_s=0.05,
        **kw,
    )


def cex_config(sim: ExchangeSimulator, api_key: str = API_KEY, secret: str = SECRET) -> Any:
    return CcxtVenueConfig(
        exchange="binance",
        venue_id=CEX,
        api_key=api_key,
        secret=secret,
        options=_OPTIONS,
        urls=sim.binance_urls(ccxt_pro.binance().urls["api"]),
        enable_rate_limit=False,
        rate_per_s=500.0,
        burst=100,
        poll_interval_s=0.2,
        timeout_s=5.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
    )


def store_at(tmp_path: Path) -> EventStore:
    return open_store(f"sqlite:///{tmp_path / 'oms.db'}")


@asynccontextmanager
async def amm_venues(chain: DevnetChain, private_key: str, store: EventStore) -> AsyncIterator[Any]:
    venues = uniswap_venues(
        chain.chain_id,
        chain.rpc_url,
        LocalSigner(private_key),
        store,
        book=chain.book,
        poll_interval=0.05,
    )
    venues.account.start()
    try:
        yield venues
    finally:
        await venues.close()


def native_pair(amm: UniswapVenues) -> SpotPair:
    """The on-chain ETH/USDC instrument (native ETH, wrapped by the venue)."""
    found = [i for i in amm.venue(V3_500).instruments() if i.symbol == "ETH/USDC"]
    assert found, [i.symbol for i in amm.venue(V3_500).instruments()]
    return found[0]


def make_engine(
    store: EventStore,
    venues: Iterable[Venue],
    *,
    clock: Clock | None = None,
    sleeper: Any | None = None,
) -> Engine:
    clock = clock or SystemClock()
    venues = list(venues)
    return Engine(
        store=store,
        venues=venues,
        risk=RiskGate(RiskLimits(max_order_notional=Decimal(10**9)), clock=clock),
        clock=clock,
        sleeper=sleeper,
        market_data=VenueMarketData(venues),
        splitter=RoutingSplitter(),
        config=EngineConfig(split_poll_s=0.05, send_timeout_s=30),
    )


def intent(pair: SpotPair, intent_id: str, now_ns: int, **kw: Any) -> Intent:
    args: dict[str, Any] = dict(
        intent_id=intent_id,
        account="trader",
        instrument=pair,
        side="sell",
        venues=list(ALL),
        now_ns=now_ns,
        max_slippage_bps=50,
    )
    args.update(kw)
    return Intent.create(**args)


def children(engine: Engine, parent: Order) -> list[Order]:
    return [engine.order(c) for c in engine.order(parent.order_id).children]


def cex_balances(sim: ExchangeSimulator, account: str = SIM_ACCOUNT) -> dict[str, Decimal]:
    acct = sim.engine.accounts[account]
    return {a: acct.total(a) for a in ("ETH", "USDC")}


def sent_since(chain: DevnetChain, who: str, first_block: int) -> list[dict[str, Any]]:
    """Every transaction ``who`` sent in blocks ``first_block`` .. latest, with its receipt's
    ``gasUsed`` and ``effectiveGasPrice``."""
    out = []
    for n in range(first_block, chain.w3.eth.get_block("latest")["number"] + 1):
        block = chain.w3.eth.get_block(n, full_transactions=True)
        for tx in block["transactions"]:
            if tx["from"].lower() == who.lower():
                receipt = chain.w3.eth.get_transaction_receipt(tx["hash"])
                out.append({**tx, "gas_paid": receipt["gasUsed"] * receipt["effectiveGasPrice"]})
    return out


def usdc(chain: DevnetChain, who: str) -> int:
    """The wallet's USDC balance in base units."""
    token = chain.w3.eth.contract(address=chain.book.address("USDC"), abi=ERC20_ABI)
    return int(token.functions.balanceOf(who).call())
