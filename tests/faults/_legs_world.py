"""The cross-venue straddle of the leg-coordinator kill -9 test, built the same way by the child
process and by the restart in the test: a put on the devnet's on-chain OptionsMarket (through
the BatchExecutor, so an unwound put is closed against the short its sale wrote) and a call on
the Deribit-protocol exchange simulator through unmodified ccxt; under ``hedge-residual`` the
hedge is a put sold on the exchange.

Time is a virtual clock (:class:`VirtualClock`): the coordinator's waits advance it and yield
briefly to the real processes, so time limits are counted in polls, not in wall-clock speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.local import LocalSigner
from oms_chain.model.clock import ManualClock
from oms_chain.model.ids import ClientOrderId
from oms_chain.model.intent import Side
from oms_chain.service.leg_coordinator import HedgeRoute, LegCoordinator, LegRoute
from oms_chain.store import EventStore
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.cex import CcxtVenueConfig
from oms_chain.venues.options import (
    DeribitOptionsConfig,
    DeribitOptionsVenue,
    OnchainOptionsConfig,
    OnchainOptionsVenue,
)
from oms_chain.venues.options.batch import AtomicOptionsBatch

D = Decimal
CALL, HEDGE_PUT = "ETH-11DEC26-3000-C", "ETH-11DEC26-3000-P"
SID = "k9-straddle"
PUT_ID, CALL_ID, HEDGE_ID = "k9-put", "k9-call", "k9-hedge"
POLL_S = 0.25  # virtual seconds per status poll
TIME_LIMIT_NS = 5 * 10**9  # 20 polls
WORK_LIMIT_NS = 120 * 10**9
RETRY_S = 1.0


class VirtualClock(ManualClock):
    """A manual clock that the coordinator's ``sleep`` advances (and yields for a moment, so
    the chain and the exchange answer meanwhile)."""

    async def sleep(self, seconds: float) -> None:
        self.advance(int(seconds * 1e9))
        await asyncio.sleep(0.01)


@dataclass
class World:
    onchain: OnchainOptionsVenue
    deribit: DeribitOptionsVenue
    routes: list[LegRoute]
    hedge: HedgeRoute


@asynccontextmanager
async def world(cfg: dict[str, Any], store: EventStore, clock: ManualClock) -> AsyncIterator[World]:
    """Both venues started on ``store`` and the legs' routes; closed on exit."""
    rpc = RpcClient([str(cfg["rpc_url"])])
    account = ChainAccount(rpc, chain_info(int(cfg["chain_id"])), LocalSigner(cfg["key"]), store)
    onchain = OnchainOptionsVenue(
        account,
        OnchainOptionsConfig(
            market=cfg["market"], makers=(cfg["maker"],), executor=cfg["executor"]
        ),
    )
    await onchain.start()
    deribit = DeribitOptionsVenue(
        DeribitOptionsConfig(
            ccxt=CcxtVenueConfig(
                exchange="deribit",
                api_key=cfg["api_key"],
                secret=cfg["secret"],
                urls=cfg["urls"],
                venue_id="deribit",
                timeout_s=2.0,
            ),
            currencies=("ETH",),
        ),
        clock=clock,
    )
    await deribit.__aenter__()
    batch = AtomicOptionsBatch(onchain)
    put = onchain.contract(int(cfg["series_id"]))

    async def close_put() -> object:
        return await batch.close_pairs(put)

    routes = [
        LegRoute(
            venue=onchain,
            order=PlaceOrder(
                client_order_id=ClientOrderId(PUT_ID), instrument=put, side=Side.BUY, quantity=D(1)
            ),
            liquidity_risk=D(1),  # the on-chain leg first
            delta_usd=D(-1500),
            after_unwind=close_put,
        ),
        LegRoute(
            venue=deribit,
            order=PlaceOrder(
                client_order_id=ClientOrderId(CALL_ID),
                instrument=deribit.contract(CALL),
                side=Side.BUY,
                quantity=D(1),
            ),
            delta_usd=D(1500),
        ),
    ]
    hedge = HedgeRoute(
        venue=deribit,
        instrument=deribit.contract(HEDGE_PUT),
        delta_usd=D(-1500),  # a put's delta: the long put leg is hedged by selling one
        band_usd=D(500),
        work_limit_ns=WORK_LIMIT_NS,
        client_order_id=HEDGE_ID,
        retry_s=RETRY_S,
        slippage_bps=D(2000),
    )
    try:
        yield World(onchain=onchain, deribit=deribit, routes=routes, hedge=hedge)
    finally:
        await deribit.__aexit__(None, None, None)
        await onchain.close()
        await account.close()
        await rpc.close()


async def run(
    w: World, store: EventStore, clock: VirtualClock, policy: str, on_step: Any = None
) -> Any:
    """Work the straddle (or continue it) to its end under ``policy``."""
    coordinator = LegCoordinator(
        store=store, clock=clock, sleep=clock.sleep, poll_s=POLL_S, on_step=on_step
    )
    return await coordinator.run(
        SID,
        kind="straddle",
        account="main",
        routes=w.routes,
        policy=policy,
        hedge=w.hedge if policy == "hedge-residual" else None,
        time_limit_ns=TIME_LIMIT_NS,
        slippage_bps=D(2000),
    )
