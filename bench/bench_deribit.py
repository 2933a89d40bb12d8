"""Deribit-protocol exchange: place -> ack latency on loopback, REST (ccxt) and websocket.

Baselines measured in the same run against the same server: ``public/get_time`` round trips
over HTTP (aiohttp) and over the websocket. Place -> ack is ``private/buy`` of a resting limit
order (option premium in the underlying) until its answer is parsed: through unmodified
``ccxt.deribit`` (HMAC-signed GET) and as a raw JSON-RPC message on an authenticated websocket.
Server and client share one event loop (one core), as a devnet test would.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async

from oms_chain.devnet.deribit import DeribitConfig, DeribitSimulator

ROUNDS = 300
WARMUP = 20


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def _summary(name: str, samples: list[float]) -> dict[str, float]:
    return {
        f"{name}_p50_ms": round(statistics.median(samples) * 1000, 3),
        f"{name}_p90_ms": round(_pct(samples, 0.90), 3),
        f"{name}_p99_ms": round(_pct(samples, 0.99), 3),
    }


async def _run() -> dict[str, Any]:
    sim = await DeribitSimulator(DeribitConfig(seed=1, agents_running=False)).start()
    sim.create_account("bench", "bench-secret", {"ETH": Decimal(10**6), "BTC": Decimal(10**5)})
    name = next(
        i.name
        for i in sim.exchange.instruments.values()
        if i.is_option and i.currency == "ETH" and i.is_call
    )
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as http:
            samples = []
            for i in range(WARMUP + ROUNDS):
                started = time.perf_counter()
                async with http.get(f"{sim.url}/api/v2/public/get_time") as response:
                    await response.read()
                if i >= WARMUP:
                    samples.append(time.perf_counter() - started)
            out.update(_summary("baseline_http_get_time", samples))

            async with http.ws_connect(sim.ws_url) as ws:
                await ws.send_json(
                    {"jsonrpc": "2.0", "id": 0, "method": "public/auth",
                     "params": {"grant_type": "client_credentials", "client_id": "bench",
                                "client_secret": "bench-secret"}}
                )  # fmt: skip
                await ws.receive_json()
                for label, method, params in (
                    ("baseline_ws_get_time", "public/get_time", {}),
                    ("ws_place_ack", "private/buy",
                     {"instrument_name": name, "amount": 1, "price": 0.0001}),
                ):  # fmt: skip
                    samples = []
                    for i in range(WARMUP + ROUNDS):
                        started = time.perf_counter()
                        await ws.send_str(
                            json.dumps(
                                {"jsonrpc": "2.0", "id": i + 1, "method": method, "params": params}
                            )
                        )
                        answer = json.loads((await ws.receive()).data)
                        assert "result" in answer, answer
                        if i >= WARMUP:
                            samples.append(time.perf_counter() - started)
                    out.update(_summary(label, samples))

        client = ccxt_async.deribit(
            {"apiKey": "bench", "secret": "bench-secret", "enableRateLimit": False}
        )
        client.urls["api"] = sim.deribit_urls()
        try:
            markets = await client.load_markets()
            symbol = next(s for s, m in markets.items() if m["id"] == name)
            samples = []
            for i in range(WARMUP + ROUNDS):
                started = time.perf_counter()
                await client.create_order(symbol, "limit", "buy", 1, 0.0001)
                if i >= WARMUP:
                    samples.append(time.perf_counter() - started)
            out.update(_summary("ccxt_rest_place_ack", samples))
        finally:
            await client.close()
    finally:
        await sim.stop()
    out["ccxt_place_vs_http_baseline_p50"] = round(
        out["ccxt_rest_place_ack_p50_ms"] / out["baseline_http_get_time_p50_ms"], 2
    )
    out["ws_place_vs_ws_baseline_p50"] = round(
        out["ws_place_ack_p50_ms"] / out["baseline_ws_get_time_p50_ms"], 2
    )
    return out


def run() -> dict[str, Any]:
    """Run the benchmark; returns p50 / p90 / p99 latencies and ratios to the baselines."""
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:36} {value}")
