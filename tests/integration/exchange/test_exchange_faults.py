"""Fault injection seen through unmodified ccxt and raw clients: drops, gaps, timeouts, 5xx."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest
from exchange_helpers import API_KEY, SYMBOL, assert_book_equals_rest, pro_client, rest_client

from oms_chain.devnet.exchange import ExchangeSimulator


async def test_after_dropped_websockets_ccxt_reconnects_and_the_book_resyncs(
    live_sim: ExchangeSimulator,
) -> None:
    client = pro_client(live_sim)
    try:
        await client.load_markets()
        await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)
        dropped = await live_sim.drop_websockets()
        assert dropped == 1
        with pytest.raises(ccxt.NetworkError):
            for _ in range(50):
                await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)
        # the next watch call reconnects, resubscribes and re-fetches the snapshot
        await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)
        assert len(live_sim.hub.conns) == 1
        await assert_book_equals_rest(client, live_sim)
    finally:
        await client.close()


async def test_a_skipped_depth_update_id_is_visible_as_a_gap_in_u(sim: ExchangeSimulator) -> None:
    account = f"acct-{API_KEY}"
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{sim.ws_url}/ws") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdc@depth@100ms"], "id": 1})
        assert json.loads((await ws.receive(timeout=2)).data) == {"result": None, "id": 1}

        async def one_event(price: str) -> dict[str, Any]:
            sim.engine.place(
                account,
                "ETHUSDC",
                "BUY",
                "LIMIT",
                quantity=Decimal("0.01"),
                price=Decimal(price),
                time_in_force="GTC",
            )
            sim.hub.flush_depth("depth@100ms")
            return json.loads((await ws.receive(timeout=2)).data)

        first = await one_event("2000")
        second = await one_event("2001")
        assert second["U"] == first["u"] + 1  # contiguous
        sim.skip_depth_updates("ETHUSDC")
        sim.engine.place(
            account,
            "ETHUSDC",
            "BUY",
            "LIMIT",
            quantity=Decimal("0.01"),
            price=Decimal("2002"),
            time_in_force="GTC",
        )
        sim.hub.flush_depth("depth@100ms")  # this event is dropped
        third = await one_event("2003")
        assert third["U"] == second["u"] + 2  # the gap a client must detect and resync on
        assert sim.faults.fired["skip_depth"] == 1


async def test_ccxt_detects_the_skipped_update_and_resyncs(live_sim: ExchangeSimulator) -> None:
    client = pro_client(live_sim)
    try:
        await client.load_markets()
        await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)
        live_sim.skip_depth_updates("ETHUSDC")
        with pytest.raises(ccxt.ChecksumError):
            for _ in range(50):
                await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)
        await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)  # resubscribe + new snapshot
        await assert_book_equals_rest(client, live_sim)
    finally:
        await client.close()


async def test_timeout_after_the_order_was_accepted_leaves_exactly_one_order(
    sim: ExchangeSimulator,
) -> None:
    client = rest_client(sim, timeout=300)
    try:
        await client.load_markets()
        sim.inject_rest_fault("timeout", method="POST", path="/api/v3/order", delay_s=0.6)
        with pytest.raises(ccxt.RequestTimeout):
            await client.create_order(SYMBOL, "limit", "buy", 0.1, 2000, {"clientOrderId": "amb-1"})
        # the ambiguous outcome is resolved by looking the order up by its client id
        found = await client.fetch_order(None, SYMBOL, {"clientOrderId": "amb-1"})
        assert found["status"] == "open"
        assert [o["clientOrderId"] for o in await client.fetch_open_orders(SYMBOL)] == ["amb-1"]
        await asyncio.sleep(0.4)  # let the held answer finish before shutdown
    finally:
        await client.close()


async def test_connection_dropped_after_accept_and_5xx_before_processing(
    sim: ExchangeSimulator,
) -> None:
    client = rest_client(sim)
    try:
        await client.load_markets()
        sim.inject_rest_fault("drop", method="POST", path="/api/v3/order")
        with pytest.raises(ccxt.NetworkError):
            await client.create_order(
                SYMBOL, "limit", "buy", 0.1, 2000, {"clientOrderId": "drop-1"}
            )
        assert (await client.fetch_order(None, SYMBOL, {"clientOrderId": "drop-1"}))[
            "status"
        ] == "open"

        sim.inject_rest_fault("fail", method="POST", path="/api/v3/order", status=503)
        with pytest.raises(ccxt.OperationFailed):
            await client.create_order(
                SYMBOL, "limit", "buy", 0.1, 2000, {"clientOrderId": "fail-1"}
            )
        with pytest.raises(ccxt.OrderNotFound):
            await client.fetch_order(None, SYMBOL, {"clientOrderId": "fail-1"})
        assert len(await client.fetch_open_orders(SYMBOL)) == 1
    finally:
        await client.close()


async def test_delay_fault_slows_matching_requests_only(sim: ExchangeSimulator) -> None:
    client = rest_client(sim)
    try:
        await client.load_markets()
        sim.inject_rest_fault("delay", path="/api/v3/depth", delay_s=0.3, count=1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.fetch_ticker(SYMBOL)
        fast = loop.time() - started
        started = loop.time()
        await client.fetch_order_book(SYMBOL)
        slow = loop.time() - started
        assert slow >= 0.3 > fast
    finally:
        await client.close()


async def test_admin_endpoints_drive_the_same_controls(sim: ExchangeSimulator) -> None:
    async with aiohttp.ClientSession(base_url=sim.url) as http:

        async def post(path: str, body: dict[str, Any] | None = None) -> Any:
            async with http.post(path, json=body or {}) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        await post("/_sim/accounts", {"api_key": "k2", "secret": "s2", "balances": {"USDC": "5"}})
        await post("/_sim/faults/throttle", {"weight_limit": 3})
        await post("/_sim/faults/skip_depth", {"symbol": "ETHUSDC", "count": 2})
        await post("/_sim/faults/rest", {"kind": "fail", "path": "/api/v3/time", "count": 1})
        steps = (await post("/_sim/agents/step", {"steps": 2}))["steps"]
        async with http.get("/_sim/state") as response:
            state = await response.json()
        assert "acct-k2" in state["accounts"]
        assert state["faults"]["weight_limit"] == 3
        assert state["faults"]["skip_depth"] == {"ETHUSDC": 2}
        assert state["faults"]["rest"] == ["fail * /api/v3/time x1"]
        assert state["agents"]["steps"] == steps == 7
        async with http.get("/api/v3/time") as response:
            assert response.status == 503
            assert (await response.json())["code"] == -1001
        async with http.get("/api/v3/exchangeInfo") as response:  # weight 20 > 3
            assert response.status == 429 and response.headers["Retry-After"].isdigit()
            assert (await response.json())["code"] == -1003
        await post("/_sim/faults/clear")
        async with http.get("/api/v3/exchangeInfo") as response:
            assert response.status == 200
            assert int(response.headers["X-MBX-USED-WEIGHT-1M"]) >= 20
        async with http.get("/_sim/prices") as response:
            prices = await response.json()
        assert set(prices) >= {"ETH", "BTC", "USDC"}
        assert (await post("/_sim/faults/drop_ws"))["dropped"] == 0
