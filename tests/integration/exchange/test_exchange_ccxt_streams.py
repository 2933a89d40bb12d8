"""ccxt.pro ``binance`` against the simulator's websockets: book sync, trades, user data."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
from exchange_helpers import API_KEY, SECRET, SYMBOL, assert_book_equals_rest, pro_client

from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.devnet.exchange.security import hmac_hex


async def test_watch_order_book_stays_equal_to_the_rest_book_through_many_updates(
    live_sim: ExchangeSimulator,
) -> None:
    client = pro_client(live_sim)
    try:
        await client.load_markets()
        first = await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)
        start_nonce = first["nonce"]
        for _ in range(4):
            live_sim.resume_agents()
            for _ in range(5):
                await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)
            last = await assert_book_equals_rest(client, live_sim)
        assert last - start_nonce >= 100  # many diff updates went through
        assert live_sim.faults.fired == {}
    finally:
        await client.close()


async def test_watch_trades_receives_the_engine_trades(live_sim: ExchangeSimulator) -> None:
    client = pro_client(live_sim)
    try:
        await client.load_markets()
        seen: dict[str, Any] = {}
        while len(seen) < 3:
            for trade in await asyncio.wait_for(client.watch_trades(SYMBOL), 5):
                seen[trade["id"]] = trade
        engine_trades = {str(t.trade_id): t for t in live_sim.engine.trades["ETHUSDC"]}
        for trade_id, trade in seen.items():
            truth = engine_trades[trade_id]
            assert trade["price"] == float(truth.price) and trade["amount"] == float(truth.qty)
            assert trade["side"] == ("sell" if truth.buyer_is_maker else "buy")
    finally:
        await client.close()


async def test_watch_orders_and_watch_balance_follow_our_fills(sim: ExchangeSimulator) -> None:
    client = pro_client(sim)
    try:
        await client.load_markets()
        watching = asyncio.create_task(client.watch_orders(SYMBOL))
        # the subscription goes through the WebSocket API: wait until the exchange holds it
        deadline = asyncio.get_running_loop().time() + 30  # bounds a failure only
        while not sim.hub.user_subscribers("acct-" + API_KEY):
            assert asyncio.get_running_loop().time() < deadline, "no user-data subscription"
            await asyncio.sleep(0.01)
        created = await client.create_order(
            SYMBOL, "limit", "buy", 0.2, 2000, {"clientOrderId": "w1"}
        )
        orders = await asyncio.wait_for(watching, 5)
        assert orders[-1]["id"] == created["id"] and orders[-1]["status"] == "open"
        assert orders[-1]["clientOrderId"] == "w1"

        balance_task = asyncio.create_task(client.watch_balance())
        await asyncio.sleep(0.05)
        await client.cancel_order(created["id"], SYMBOL)
        balance = await asyncio.wait_for(balance_task, 5)
        assert balance["USDC"]["free"] == 100_000 and balance["USDC"]["used"] == 0

        await client.create_order(SYMBOL, "market", "buy", 0.05)
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            orders = await asyncio.wait_for(client.watch_orders(SYMBOL), 5)
            if orders[-1]["status"] == "closed":
                break
            assert asyncio.get_running_loop().time() < deadline
        assert orders[-1]["filled"] == 0.05
        [canceled] = [o for o in orders if o["id"] == created["id"]]
        assert canceled["status"] == "canceled" and canceled["clientOrderId"] == "w1"
        assert canceled["info"]["c"] != "w1"  # the cancel request's own id, as on Binance
        assert orders[-1]["fee"] is not None and orders[-1]["fee"]["currency"] == "ETH"
    finally:
        await client.close()


async def test_raw_streams_combined_streams_and_the_legacy_listen_key(
    sim: ExchangeSimulator,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{sim.url}/api/v3/userDataStream", headers={"X-MBX-APIKEY": API_KEY}
        ) as response:
            listen_key = (await response.json())["listenKey"]
        async with (
            session.ws_connect(
                f"{sim.ws_url}/stream?streams=ethusdc@trade/ethusdc@depth@100ms"
            ) as market,
            session.ws_connect(f"{sim.ws_url}/ws/{listen_key}") as user,
        ):
            await asyncio.sleep(0.05)
            sim.engine.place(
                f"acct-{API_KEY}", "ETHUSDC", "BUY", "MARKET", quantity=Decimal("0.01")
            )
            wanted = {"ethusdc@trade", "ethusdc@depth@100ms"}
            while wanted:
                message = json.loads((await market.receive(timeout=2)).data)
                wanted.discard(message["stream"])
                if message["stream"] == "ethusdc@depth@100ms":
                    data = message["data"]
                    assert data["e"] == "depthUpdate" and data["u"] == sim.engine.update_id(
                        "ETHUSDC"
                    )
            events = [json.loads((await user.receive(timeout=2)).data) for _ in range(3)]
            assert [e["e"] for e in events] == [
                "executionReport",
                "executionReport",
                "outboundAccountPosition",
            ]
            assert [e["x"] for e in events[:2]] == ["NEW", "TRADE"]
            assert events[1]["X"] == "FILLED" and events[1]["l"] == "0.01000000"

            await market.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 7})
            while True:
                reply = json.loads((await market.receive(timeout=2)).data)
                if reply.get("id") == 7:
                    break
            assert reply["result"] == ["ethusdc@depth@100ms", "ethusdc@trade"]
        async with session.delete(
            f"{sim.url}/api/v3/userDataStream",
            params={"listenKey": listen_key},
            headers={"X-MBX-APIKEY": API_KEY},
        ) as response:
            assert await response.json() == {}
    assert SECRET  # the listenKey endpoints need only the API key


async def test_one_second_depth_stream_on_a_raw_path_aggregates_updates(
    sim: ExchangeSimulator,
) -> None:
    account = f"acct-{API_KEY}"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.ws_url}/ws/ethusdc@depth") as ws,
    ):
        before = sim.engine.update_id("ETHUSDC")
        for price in ("2000", "2001", "2000"):
            sim.engine.place(
                account,
                "ETHUSDC",
                "BUY",
                "LIMIT",
                quantity=Decimal("0.01"),
                price=Decimal(price),
                time_in_force="GTC",
            )
        sim.hub.flush_depth("depth@100ms")  # other stream: nothing for this connection
        sim.hub.flush_depth("depth")
        event = json.loads((await ws.receive(timeout=2)).data)
        assert (event["U"], event["u"]) == (before + 1, before + 3)
        assert event["b"] == [["2001.00000000", "0.01000000"], ["2000.00000000", "0.02000000"]]
        assert event["a"] == []


async def test_websocket_api_user_stream_checks_the_signature_and_wraps_events(
    sim: ExchangeSimulator,
) -> None:
    # (ccxt 4.5.90 itself turns the -1022 answer into a KeyError inside
    # ensure_user_data_stream_ws_subscribe_signature, so this is checked on the wire)
    def signed(secret: str, timestamp: int) -> dict[str, object]:
        params: dict[str, object] = {"apiKey": API_KEY, "timestamp": timestamp}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        return {**params, "signature": hmac_hex(secret, payload)}

    now = sim.engine.now_ms()
    method = "userDataStream.subscribe.signature"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws,
    ):
        await ws.send_json({"id": "a", "method": method, "params": signed("wrong", now)})
        reply = json.loads((await ws.receive(timeout=2)).data)
        assert reply["status"] == 400 and reply["error"]["code"] == -1022
        await ws.send_json({"id": "b", "method": method, "params": signed(SECRET, now - 60_000)})
        reply = json.loads((await ws.receive(timeout=2)).data)
        assert reply["status"] == 400 and reply["error"]["code"] == -1021
        await ws.send_json({"id": "c", "method": method, "params": signed(SECRET, now)})
        reply = json.loads((await ws.receive(timeout=2)).data)
        assert reply["status"] == 200
        subscription_id = reply["result"]["subscriptionId"]
        sim.engine.place(
            f"acct-{API_KEY}",
            "ETHUSDC",
            "SELL",
            "LIMIT",
            quantity=Decimal("0.1"),
            price=Decimal(5000),
            time_in_force="GTC",
        )
        event = json.loads((await ws.receive(timeout=2)).data)
        assert event["subscriptionId"] == subscription_id
        assert event["event"]["e"] == "executionReport" and event["event"]["X"] == "NEW"


async def test_watch_ticker_and_watch_bids_asks(live_sim: ExchangeSimulator) -> None:
    client = pro_client(live_sim)
    try:
        await client.load_markets()
        mini = await asyncio.wait_for(client.watch_ticker(SYMBOL), 5)  # @miniTicker
        assert mini["symbol"] == SYMBOL and mini["last"] > 0 and mini["baseVolume"] > 0
        full = await asyncio.wait_for(client.watch_ticker("BTC/USDC", {"name": "ticker"}), 5)
        assert full["bid"] < full["ask"] and full["vwap"] > 0
        await asyncio.wait_for(client.watch_bids_asks([SYMBOL]), 5)
        live_sim.pause_agents()
        bid, ask = live_sim.engine.best_bid_ask("ETHUSDC")
        assert bid is not None and ask is not None
        # in-flight updates land in client.bidsasks: wait for the frozen top, 30 s bounds a failure
        deadline = asyncio.get_running_loop().time() + 30
        while (client.bidsasks[SYMBOL]["bid"], client.bidsasks[SYMBOL]["ask"]) != (
            float(bid[0]),
            float(ask[0]),
        ) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        latest = client.bidsasks[SYMBOL]
        assert (latest["bid"], latest["ask"]) == (float(bid[0]), float(ask[0]))
        assert (latest["bidVolume"], latest["askVolume"]) == (float(bid[1]), float(ask[1]))
    finally:
        await client.close()


async def test_listen_key_is_reused_kept_alive_and_expires_after_an_hour(
    sim: ExchangeSimulator, skew_clock: Any
) -> None:
    headers = {"X-MBX-APIKEY": API_KEY}
    url = f"{sim.url}/api/v3/userDataStream"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, headers=headers) as response:
            key = (await response.json())["listenKey"]
        async with session.post(url, headers=headers) as response:
            assert (await response.json())["listenKey"] == key  # one active key per account
        async with session.ws_connect(f"{sim.ws_url}/ws/{key}") as ws:
            skew_clock.offset_ms = 59 * 60_000
            async with session.put(url, params={"listenKey": key}, headers=headers) as response:
                assert response.status == 200
            skew_clock.offset_ms = 2 * 59 * 60_000  # 59 min after the keepalive: still valid
            assert sim.hub.expire_listen_keys() == []
            skew_clock.offset_ms = 2 * 60 * 60_000 + 1000
            assert sim.hub.expire_listen_keys() == [key]
            event = json.loads((await ws.receive(timeout=2)).data)
            assert event["e"] == "listenKeyExpired" and event["listenKey"] == key
            assert (await ws.receive(timeout=2)).type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
            )
        skew_clock.offset_ms = 0
        async with session.put(url, params={"listenKey": key}, headers=headers) as response:
            assert response.status == 400 and (await response.json())["code"] == -1125
