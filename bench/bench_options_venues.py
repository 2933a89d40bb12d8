"""Options venues: RFQ round trip on loopback and the on-chain venue's checked quote, and the
Deribit-protocol venue's place -> report.

Baselines in the same run: the maker's ``GET /health`` (one loopback HTTP round trip, no
pricing, no signing) and raw ``ccxt.deribit`` ``create_order`` against the same exchange. The
RFQ round trip is ``POST /rfq`` (the maker reads the feed and the chain's time, prices with
``risk.pricing``, signs EIP-712); the venue's quote adds its own checks (nonce ``eth_call``,
``eth_getCode``, signature recovery for this chain and market). The Deribit venue's place is a
resting limit order labelled with our client order id, until our report.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from decimal import Decimal
from typing import Any

import aiohttp

ROUNDS = 100
WARMUP = 10


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def _summary(name: str, samples: list[float]) -> dict[str, float]:
    return {
        f"{name}_p50_ms": round(statistics.median(samples) * 1000, 3),
        f"{name}_p90_ms": round(_pct(samples, 0.90), 3),
        f"{name}_p99_ms": round(_pct(samples, 0.99), 3),
    }


async def _timed(fn: Any, rounds: int = ROUNDS) -> list[float]:
    samples = []
    for i in range(WARMUP + rounds):
        started = time.perf_counter()
        await fn(i)
        if i >= WARMUP:
            samples.append(time.perf_counter() - started)
    return samples


async def _onchain(out: dict[str, Any]) -> None:
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody.local import LocalSigner
    from oms_chain.devnet.options_maker import OptionsMaker, OptionsMakerThread
    from oms_chain.devnet.options_market import OptionsMarketClient
    from oms_chain.devnet.world import Devnet, DevnetConfig
    from oms_chain.model.intent import Side
    from oms_chain.store import open_store
    from oms_chain.venues.amm.account import ChainAccount
    from oms_chain.venues.options import OnchainOptionsConfig, OnchainOptionsVenue

    with Devnet(DevnetConfig(with_l2=False)) as world:
        l1 = world.l1
        m = OptionsMarketClient.from_book(l1.w3, l1.book)
        agent = OptionsMaker(m, l1.accounts[3].private_key)
        agent.prepare()
        maker = OptionsMakerThread(agent).start()
        try:
            rpc = RpcClient([l1.rpc_url])
            account = ChainAccount(
                rpc,
                chain_info(l1.chain_id),
                LocalSigner(l1.accounts[5].private_key),
                open_store("sqlite:///:memory:"),
            )
            cfg = OnchainOptionsConfig(market=m.address, makers=(maker.url,))
            async with aiohttp.ClientSession() as http, OnchainOptionsVenue(account, cfg) as v:
                put = next(c for c in v.instruments() if c.option_kind.value == "put")
                sid = v.series_id(put)

                async def health(_: int) -> None:
                    async with http.get(f"{maker.url}/health") as r:
                        await r.read()

                async def rfq(_: int) -> None:
                    body = {"series_id": sid, "side": "buy", "size": 10, "taker": account.address}
                    async with http.post(f"{maker.url}/rfq", json=body) as r:
                        await r.read()

                async def checked(_: int) -> None:
                    await v.quote(put, Side.BUY, Decimal(1))

                base = await _timed(health)
                out.update(_summary("baseline_maker_health", base))
                trip = await _timed(rfq)
                out.update(_summary("rfq_round_trip", trip))
                full = await _timed(checked)
                out.update(_summary("venue_checked_quote", full))
                out["rfq_vs_baseline_p50"] = round(
                    statistics.median(trip) / statistics.median(base), 2
                )
            await account.close()
            await rpc.close()
        finally:
            maker.stop()


async def _deribit(out: dict[str, Any]) -> None:
    import ccxt.async_support as ccxt_async

    from oms_chain.devnet.deribit import DeribitConfig, DeribitSimulator
    from oms_chain.model.ids import ClientOrderId
    from oms_chain.model.intent import Side
    from oms_chain.venues.base import PlaceOrder
    from oms_chain.venues.cex import CcxtVenueConfig
    from oms_chain.venues.options import DeribitOptionsConfig, DeribitOptionsVenue

    sim = await DeribitSimulator(DeribitConfig(seed=1, agents_running=False)).start()
    sim.create_account("bench", "bench-secret", {"ETH": Decimal(10**6), "BTC": Decimal(10**5)})
    try:
        raw = ccxt_async.deribit({"apiKey": "bench", "secret": "bench-secret"})
        raw.urls["api"] = sim.deribit_urls()
        await raw.load_markets()
        symbol = next(
            s for s, mk in raw.markets.items() if mk.get("option") and mk["base"] == "ETH"
        )

        async def baseline(i: int) -> None:
            await raw.create_order(symbol, "limit", "buy", 1, 0.0001, {"label": f"raw-{i}"})

        cfg = DeribitOptionsConfig(
            ccxt=CcxtVenueConfig(
                exchange="deribit",
                api_key="bench",
                secret="bench-secret",
                urls=sim.deribit_urls(),
                rate_per_s=10_000,
                burst=10_000,
                enable_rate_limit=False,
            )
        )
        async with DeribitOptionsVenue(cfg) as venue:
            contract = venue.market(symbol).instrument

            async def place(i: int) -> None:
                await venue.place(
                    PlaceOrder(
                        client_order_id=ClientOrderId(f"bench-{i}"),
                        instrument=contract,
                        side=Side.BUY,
                        quantity=Decimal(1),
                        limit_price=Decimal("0.0001"),
                    )
                )

            raw.enableRateLimit = False
            base = await _timed(baseline)
            out.update(_summary("baseline_ccxt_create_order", base))
            ours = await _timed(place)
            out.update(_summary("deribit_venue_place", ours))
            out["deribit_place_vs_baseline_p50"] = round(
                statistics.median(ours) / statistics.median(base), 2
            )
        await raw.close()
    finally:
        await sim.stop()


def run() -> dict[str, Any]:
    out: dict[str, Any] = {}
    asyncio.run(_deribit(out))
    asyncio.run(_onchain(out))
    return out


if __name__ == "__main__":
    print(run())
