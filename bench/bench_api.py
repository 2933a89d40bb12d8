"""The HTTP API on loopback: submit -> acknowledged latency and sustained requests/s.

A real TradingSession on the devnet L1 (Uniswap pools on Anvil) behind ``create_app``; a
client on the same machine. Submit: ``POST /api/v1/intents`` of a small spot order until the
201 (the engine has recorded the order and sent its transaction), one at a time, p50/p90/p99.
Baseline for it, in the same run: ``TradingSession.submit`` of the same intents called
directly, interleaved with the API's (the API's own share is the difference). Throughput:
``GET /api/v1/orders`` (auth, rate limiter, pydantic serialization of every parent; about 120
parents after the submits) with 8 concurrent clients for 3 s;
baseline: a bare aiohttp handler answering a small JSON body on the same loop with the same
client. Stream: 10 websocket subscribers each reading every event of the store from position 0
(a few hundred after the submits); events/s delivered in total; baseline: a bare aiohttp
websocket handler sending the same number of messages of the same size to 10 clients.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from oms_chain.devnet.world import Devnet, DevnetConfig
from oms_chain.service import TradingSession
from oms_chain.service.api import ApiConfig, TokenStore, create_app

SUBMITS = 60
SECONDS = 3.0
CLIENTS = 8
SUBSCRIBERS = 10


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def _summary(prefix: str, samples: list[float]) -> dict[str, float]:
    return {
        f"{prefix}_p50_ms": round(_pct(samples, 0.50), 3),
        f"{prefix}_p90_ms": round(_pct(samples, 0.90), 3),
        f"{prefix}_p99_ms": round(_pct(samples, 0.99), 3),
    }


async def _throughput(url: str, headers: dict[str, str]) -> float:
    count = 0
    stop = time.perf_counter() + SECONDS
    async with aiohttp.ClientSession() as http:

        async def client() -> None:
            nonlocal count
            while time.perf_counter() < stop:
                async with http.get(url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                count += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        return count / (time.perf_counter() - started)


async def _fan_out(url: str, headers: dict[str, str], count: int) -> float:
    """Events/s delivered to SUBSCRIBERS clients each reading ``count`` event messages."""
    async with aiohttp.ClientSession() as http:

        async def one() -> None:
            async with http.ws_connect(url, headers=headers) as ws:
                got = 0
                while got < count:
                    msg = await ws.receive_json(timeout=60)
                    if msg.get("type") == "event":
                        got += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(SUBSCRIBERS)))
        return SUBSCRIBERS * count / (time.perf_counter() - started)


async def _bench(world: Devnet, tmp: Path) -> dict[str, Any]:
    url = f"sqlite:///{tmp / 'bench.db'}"
    session = TradingSession.from_devnet_runtime(
        world.describe(),
        url,
        world.l1.accounts[5].private_key,
        chain_ids=[world.l1.chain_id],
        with_exchange=False,
    )
    out: dict[str, Any] = {}
    async with session:
        tokens = TokenStore(url)
        token, _ = tokens.create("bench", "trade")
        headers = {"Authorization": f"Bearer {token}"}
        app = create_app(session, tokens, config=ApiConfig(rate_per_s=1e5, burst=1_000_000))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        bare = web.Application()

        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        sample: list[str] = []

        async def bare_ws(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            for text in sample:
                await ws.send_str(text)
            await ws.close()
            return ws

        bare.router.add_get("/", hello)
        bare.router.add_get("/ws", bare_ws)
        bare_server = TestServer(bare, host="127.0.0.1")
        await bare_server.start_server()
        try:
            direct: list[float] = []
            via_api: list[float] = []
            submit_url = str(server.make_url("/api/v1/intents"))
            async with aiohttp.ClientSession() as http:
                for i in range(SUBMITS):  # interleaved: both see the same chain and store
                    side = "buy" if i % 2 else "sell"
                    intent = session.intent("WETH/USDC", side, "0.01", intent_id=f"direct-{i}")
                    t = time.perf_counter()
                    await session.submit(intent)
                    direct.append(time.perf_counter() - t)
                    body = {
                        "symbol": "WETH/USDC",
                        "side": side,
                        "quantity": "0.01",
                        "intent_id": f"api-{i}",
                    }
                    t = time.perf_counter()
                    async with http.post(submit_url, json=body, headers=headers) as r:
                        await r.read()
                        assert r.status == 201, await r.text()
                    via_api.append(time.perf_counter() - t)
            out.update(_summary("submit_api", via_api))
            out.update(_summary("submit_direct", direct))
            out["submit_api_overhead_p50_ms"] = round(
                (statistics.median(via_api) - statistics.median(direct)) * 1000, 3
            )
            orders = await _throughput(str(server.make_url("/api/v1/orders")), headers)
            baseline = await _throughput(str(bare_server.make_url("/")), {})
            out["orders_list_size"] = len(session.engine.orders())
            out["get_orders_rps"] = round(orders, 1)
            out["bare_aiohttp_rps"] = round(baseline, 1)
            out["get_orders_vs_bare"] = round(orders / baseline, 3)
            events = session.store.last_position()
            from oms_chain.service.api.models import EventOut

            sample.extend(
                '{"type":"event","event":' + EventOut.of(r).model_dump_json() + "}"
                for r in session.store.read_all()
            )
            stream_url = str(server.make_url("/api/v1/stream")) + "?after=0"
            out["stream_events"] = events
            out["stream_events_per_s_10_subscribers"] = round(
                await _fan_out(stream_url, headers, events), 1
            )
            out["bare_ws_events_per_s_10_subscribers"] = round(
                await _fan_out(str(bare_server.make_url("/ws")), {}, events), 1
            )
        finally:
            await server.close()
            await bare_server.close()
            tokens.close()
    return out


def run() -> dict[str, Any]:
    with Devnet(DevnetConfig(with_l2=False)) as world, tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_bench(world, Path(tmp)))


if __name__ == "__main__":
    print(run())
