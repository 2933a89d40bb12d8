"""Fault injection on the Deribit-protocol exchange, seen through unmodified ccxt."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from oms_chain.devnet.deribit import DeribitSimulator


async def test_a_failed_call_is_deribit_retry_and_nothing_is_placed(
    sim: DeribitSimulator, exchange: Any
) -> None:
    sim.inject_fault("fail", "private/buy")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await exchange.create_order("ETH/USD:ETH", "limit", "buy", 10, 2000)
    assert sim.exchange.open_orders(exchange.apiKey) == []
    assert sim.faults.fired == {"fail": 1}
    order = await exchange.create_order("ETH/USD:ETH", "limit", "buy", 10, 2000)  # disarmed
    assert order["status"] == "open"


async def test_a_timed_out_order_is_placed_anyway_the_ambiguous_case(
    sim: DeribitSimulator, exchange: Any
) -> None:
    exchange.timeout = 300  # ms
    sim.inject_fault("timeout", "private/buy", delay_s=1.0)
    with pytest.raises(ccxt.RequestTimeout):
        await exchange.create_order("ETH/USD:ETH", "limit", "buy", 10, 2000)
    exchange.timeout = 10_000
    opened = await exchange.fetch_open_orders(params={"code": "ETH"})
    assert [(o["symbol"], o["amount"], o["price"]) for o in opened] == [
        ("ETH/USD:ETH", 10.0, 2000.0)
    ]


async def test_a_dropped_connection_after_processing_is_a_network_error_and_may_duplicate(
    sim: DeribitSimulator, exchange: Any
) -> None:
    # ccxt sends Deribit orders as GET; aiohttp re-sends a GET once when a reused keep-alive
    # connection drops, so one create_order can place two orders: reconcile by label.
    await exchange.fetch_open_orders(params={"code": "ETH"})  # a keep-alive connection
    sim.inject_fault("drop", "private/sell", count=2)
    with pytest.raises(ccxt.NetworkError):
        await exchange.create_order("ETH/USD:ETH", "limit", "sell", 10, 4000, {"label": "intent-1"})
    opened = sim.exchange.open_orders(exchange.apiKey)
    assert sim.faults.fired == {"drop": 2}
    assert [r.label for r in opened] == ["intent-1", "intent-1"]


async def test_skipped_book_changes_leave_a_change_id_gap_and_drops_close_websockets(
    sim: DeribitSimulator, exchange: Any
) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        await ws.send_json(
            {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
             "params": {"channels": ["book.ETH-PERPETUAL.raw", "book.ETH-PERPETUAL.100ms"]}}
        )  # fmt: skip
        answer = await ws.receive_json(timeout=5)
        assert answer["result"] == ["book.ETH-PERPETUAL.100ms"]  # raw needs auth
        snapshot = (await ws.receive_json(timeout=5))["params"]["data"]
        assert snapshot["type"] == "snapshot"
        sim.skip_book_changes("ETH-PERPETUAL")
        await exchange.create_order("ETH/USD:ETH", "limit", "buy", 10, 2000)  # skipped
        await exchange.create_order("ETH/USD:ETH", "limit", "buy", 10, 2001)
        change = (await ws.receive_json(timeout=5))["params"]["data"]
        assert change["prev_change_id"] == snapshot["change_id"] + 1  # one change missing
        assert change["bids"] == [["new", 2001.0, 10.0]]
        assert await sim.drop_connections() == 1
        closing = await ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
