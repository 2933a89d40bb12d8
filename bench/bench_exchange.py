"""Exchange simulator throughput: orders/s through the matching engine and through REST with ccxt.

Baseline measured in the same run: a bare aiohttp ``GET /api/v3/ping`` round trip against the
same server. Ratios: how many engine orders fit in one ping round trip, and how a ccxt
``create_order`` round trip (signing, parsing, matching, JSON both ways) compares to a ping.
Server and client share one event loop (one core), as a devnet test would.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async

from oms_chain.devnet.exchange import (
    ExchangeApiError,
    ExchangeSimulator,
    MatchingEngine,
    SimulatorConfig,
    default_markets,
)

ENGINE_ORDERS = 30_000
REST_ORDERS = 300
PINGS = 500
OPTIONS = {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}}


def _engine_orders_per_s() -> tuple[float, int]:
    engine = MatchingEngine(default_markets(), seed=1)
    for name in ("a", "b"):
        engine.create_account(name, {"USDC": Decimal(10**12), "ETH": Decimal(10**8)})
    rng = random.Random(1)
    tick = Decimal("0.01")
    orders = []
    for i in range(ENGINE_ORDERS):
        side = "BUY" if rng.random() < 0.5 else "SELL"
        offset = rng.randint(-200, 200)
        orders.append(
            (
                "a" if i % 2 else "b",
                side,
                Decimal(3000) + offset * tick,
                Decimal(rng.randint(1, 500)) / 100,
            )
        )
    started = time.perf_counter()
    placed = 0
    for account, side, price, qty in orders:
        try:
            result = engine.place(
                account, "ETHUSDC", side, "LIMIT", quantity=qty, price=price, time_in_force="GTC"
            )
            placed += 1
            if placed % 3 == 0 and result.order.is_open:
                engine.cancel(account, "ETHUSDC", order_id=result.order.order_id)
        except ExchangeApiError:
            pass
    elapsed = time.perf_counter() - started
    trades = engine.trades["ETHUSDC"]
    return placed / elapsed, trades[-1].trade_id if trades else 0


async def _loopback() -> dict[str, Any]:
    sim = ExchangeSimulator(
        SimulatorConfig(agents=False, weight_limit=10**9, order_limit_10s=10**9)
    )
    await sim.start()
    sim.create_account("bench", "bench-secret", {"USDC": Decimal(10**9), "ETH": Decimal(10**6)})
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(20):  # warm up the connection
                async with session.get(f"{sim.url}/api/v3/ping") as response:
                    await response.read()
            started = time.perf_counter()
            for _ in range(PINGS):
                async with session.get(f"{sim.url}/api/v3/ping") as response:
                    await response.read()
            ping_s = (time.perf_counter() - started) / PINGS

        client = ccxt_async.binance(
            {
                "apiKey": "bench",
                "secret": "bench-secret",
                "enableRateLimit": False,
                "options": OPTIONS,
            }
        )
        client.urls["api"] = sim.binance_urls(client.urls["api"])
        try:
            await client.load_markets()
            latencies = []
            for i in range(REST_ORDERS):
                side = "buy" if i % 2 else "sell"
                price = 2900 + i % 50 if side == "buy" else 3100 + i % 50
                started = time.perf_counter()
                await client.create_order("ETH/USDC", "limit", side, 0.01, price)
                latencies.append(time.perf_counter() - started)
        finally:
            await client.close()
    finally:
        await sim.stop()
    return {
        "ping_s": ping_s,
        "order_s": sum(latencies) / len(latencies),
        "order_p50_s": statistics.median(latencies),
        "order_p99_s": sorted(latencies)[int(len(latencies) * 0.99) - 1],
    }


def run() -> dict[str, Any]:
    """Run the benchmark; returns metrics with rates, latencies and ratios to the ping baseline."""
    engine_rate, engine_trades = _engine_orders_per_s()
    loop = asyncio.run(_loopback())
    ping_rate = 1 / loop["ping_s"]
    rest_rate = 1 / loop["order_s"]
    return {
        "baseline_aiohttp_ping_per_s": round(ping_rate, 1),
        "engine_orders_per_s": round(engine_rate, 1),
        "engine_trades": engine_trades,
        "ccxt_rest_orders_per_s": round(rest_rate, 1),
        "ccxt_order_p50_ms": round(loop["order_p50_s"] * 1000, 3),
        "ccxt_order_p99_ms": round(loop["order_p99_s"] * 1000, 3),
        "ping_ms": round(loop["ping_s"] * 1000, 3),
        "engine_orders_per_ping": round(engine_rate / ping_rate, 2),
        "ccxt_order_vs_ping_latency": round(loop["order_s"] / loop["ping_s"], 2),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:32} {value}")
