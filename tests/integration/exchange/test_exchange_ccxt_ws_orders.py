"""ccxt.pro ``binance`` against the simulator's websockets: kline streams (``watch_ohlcv``) and
the WebSocket API's order requests (``create_order_ws``, ``fetch_order_ws``, ``edit_order_ws``,
``cancel_order_ws``, ``fetch_open_orders_ws``, ``cancel_all_orders_ws``).

Markets are still (the ``quiet`` fixture): trades happen only where a test makes them, at
exact prices; the clock is the wall clock plus an offset the kline test moves to cross candles.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest
from exchange_helpers import API_KEY, SECRET, SYMBOL, SkewClock, pro_client, trade_at

from oms_chain.devnet.exchange import ExchangeSimulator, check_invariants
from oms_chain.devnet.exchange.security import hmac_hex


@pytest.fixture
async def pro(quiet: ExchangeSimulator) -> AsyncIterator[Any]:
    client = pro_client(quiet)
    await client.load_markets()
    yield client
    await client.close()


def urls_of(client: Any) -> dict[str, str]:
    return dict(client.urls["api"]["ws"]["ws-api"])


async def test_the_websocket_api_url_ccxt_uses_points_at_the_simulator(
    pro: Any, quiet: ExchangeSimulator
) -> None:
    assert urls_of(pro)["spot"] == f"{quiet.ws_url}/ws-api/v3"


async def test_create_order_ws_places_through_the_websocket_api_and_rest_sees_it(
    pro: Any, quiet: ExchangeSimulator
) -> None:
    created = await asyncio.wait_for(
        pro.create_order_ws(SYMBOL, "limit", "buy", 0.5, 2500, {"clientOrderId": "ws-1"}), 5
    )
    assert created["status"] == "open" and created["clientOrderId"] == "ws-1"
    assert created["amount"] == 0.5 and created["price"] == 2500
    engine_order = quiet.engine.get_order("acct-" + API_KEY, "ETHUSDC", int(created["id"]))
    assert engine_order.client_order_id == "ws-1" and engine_order.price == 2500

    status = await asyncio.wait_for(pro.fetch_order_ws(created["id"], SYMBOL), 5)
    assert status["id"] == created["id"] and status["remaining"] == 0.5
    listed = await asyncio.wait_for(pro.fetch_open_orders_ws(SYMBOL), 5)
    assert [o["id"] for o in listed] == [created["id"]]

    canceled = await asyncio.wait_for(pro.cancel_order_ws(created["id"], SYMBOL), 5)
    assert canceled["status"] == "canceled"
    assert quiet.engine.open_orders("acct-" + API_KEY) == []
    assert check_invariants(quiet.engine) == []


async def test_create_order_ws_market_order_fills_against_the_book_with_fee(
    pro: Any, quiet: ExchangeSimulator
) -> None:
    quiet.engine.place(
        "maker", "ETHUSDC", "SELL", "LIMIT_MAKER", quantity=Decimal(1), price=Decimal(3001)
    )
    filled = await asyncio.wait_for(pro.create_order_ws(SYMBOL, "market", "buy", 0.25), 5)
    assert filled["status"] == "closed" and filled["filled"] == 0.25
    assert filled["average"] == 3001 and filled["cost"] == 750.25
    assert filled["fee"] == {"cost": 0.00025, "currency": "ETH"}


async def test_edit_order_ws_cancels_and_replaces(pro: Any, quiet: ExchangeSimulator) -> None:
    first = await asyncio.wait_for(pro.create_order_ws(SYMBOL, "limit", "sell", 1, 3500), 5)
    edited = await asyncio.wait_for(
        pro.edit_order_ws(first["id"], SYMBOL, "limit", "sell", 0.5, 3400), 5
    )
    assert edited["id"] != first["id"] and edited["price"] == 3400 and edited["amount"] == 0.5
    orders = quiet.engine.all_orders("acct-" + API_KEY, "ETHUSDC")
    assert [(o.order_id, o.status) for o in orders] == [
        (int(first["id"]), "CANCELED"),
        (int(edited["id"]), "NEW"),
    ]


async def test_cancel_all_orders_ws_cancels_every_open_order_of_the_symbol(
    pro: Any, quiet: ExchangeSimulator
) -> None:
    for price in (2500, 2600):
        await asyncio.wait_for(pro.create_order_ws(SYMBOL, "limit", "buy", 0.1, price), 5)
    canceled = await asyncio.wait_for(pro.cancel_all_orders_ws(SYMBOL), 5)
    assert sorted(o["price"] for o in canceled) == [2500, 2600]
    assert quiet.engine.open_orders("acct-" + API_KEY) == []


async def test_websocket_api_order_errors_are_binance_errors_for_ccxt(
    pro: Any, quiet: ExchangeSimulator
) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        await asyncio.wait_for(pro.create_order_ws(SYMBOL, "limit", "buy", 100, 2500), 5)
    with pytest.raises(ccxt.OrderNotFound):
        await asyncio.wait_for(pro.cancel_order_ws("424242", SYMBOL), 5)
    with pytest.raises(ccxt.OrderNotFound):
        await asyncio.wait_for(pro.fetch_order_ws("424242", SYMBOL), 5)
    assert quiet.engine.open_orders("acct-" + API_KEY) == []


async def test_websocket_api_order_place_refuses_a_bad_signature(
    quiet: ExchangeSimulator,
) -> None:
    params = {
        "apiKey": API_KEY,
        "symbol": "ETHUSDC",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.1",
        "price": "2500",
        "timestamp": quiet.engine.now_ms(),
    }
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{quiet.ws_url}/ws-api/v3") as ws:
        await ws.send_str(
            json.dumps(
                {"id": "a", "method": "order.place", "params": {**params, "signature": "00" * 32}}
            )
        )
        refused = json.loads((await ws.receive(timeout=5)).data)
        assert refused == {
            "id": "a",
            "status": 400,
            "error": {"code": -1022, "msg": "Signature for this request is not valid."},
        }
        signature = hmac_hex(SECRET, payload)
        await ws.send_str(
            json.dumps(
                {"id": "b", "method": "order.place", "params": {**params, "signature": signature}}
            )
        )
        placed = json.loads((await ws.receive(timeout=5)).data)
        assert placed["id"] == "b" and placed["status"] == 200
        assert placed["result"]["status"] == "NEW" and placed["result"]["price"] == "2500.00000000"
    assert len(quiet.engine.open_orders("acct-" + API_KEY)) == 1


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", -1135),
        ('["a list"]', -1135),
        ('{"id": 1, "method": "order.place", "params": ["x"]}', -1135),
        ('{"id": 2, "method": "order.place", "params": {}}', -2014),
        ('{"id": 3, "method": "order.place", "params": {"apiKey": "nobody"}}', -2015),
        ('{"id": 4, "method": "order.place", "params": {"apiKey": "test-key"}}', -1022),
        ('{"id": 5, "method": "order.teleport", "params": {}}', -1020),
        ('{"id": 6, "method": "ping", "params": 5}', -1135),
    ],
)
async def test_hostile_websocket_api_requests_get_an_error_and_the_connection_stays_up(
    quiet: ExchangeSimulator, message: str, code: int
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{quiet.ws_url}/ws-api/v3") as ws:
        await ws.send_str(message)
        answer = json.loads((await ws.receive(timeout=5)).data)
        assert answer["status"] in (400, 401) and answer["error"]["code"] == code
        await ws.send_str('{"id": "still-there", "method": "ping"}')
        pong = json.loads((await ws.receive(timeout=5)).data)
        assert pong["id"] == "still-there" and pong["status"] == 200
    assert quiet.engine.open_orders("acct-" + API_KEY) == []


async def test_watch_orders_reports_a_stop_order_waiting_then_filled_after_its_trigger(
    pro: Any, quiet: ExchangeSimulator
) -> None:
    trade_at(quiet, "3000")
    watching = asyncio.ensure_future(pro.watch_orders(SYMBOL))
    for _ in range(500):  # bounded wait for the ws-api user-data subscription
        if quiet.hub.user_subscribers("acct-" + API_KEY):
            break
        await asyncio.sleep(0.01)
    created = await pro.create_order(
        SYMBOL, "STOP_LOSS_LIMIT", "sell", 0.3, 2950, {"stopPrice": 2960}
    )
    (event,) = await asyncio.wait_for(watching, 5)
    assert event["id"] == created["id"] and event["status"] == "open"
    assert event["triggerPrice"] == 2960 and event["info"]["x"] == "NEW"
    assert "W" not in event["info"]  # not working on the book yet
    quiet.engine.place(
        "taker",
        "ETHUSDC",
        "BUY",
        "LIMIT",
        quantity=Decimal(1),
        price=Decimal(2955),
        time_in_force="GTC",
    )
    trade_at(quiet, "2960")  # triggers: the stop sells 0.3 into the 2955 bid
    filled = None
    for _ in range(5):
        for order in await asyncio.wait_for(pro.watch_orders(SYMBOL), 5):
            if order["id"] == created["id"] and order["status"] == "closed":
                filled = order
        if filled is not None:
            break
    assert filled is not None and filled["filled"] == 0.3 and filled["average"] == 2955
    assert filled["info"]["W"] > 0


async def test_watch_ohlcv_follows_trades_and_closes_the_candle_when_the_minute_is_over(
    quiet: ExchangeSimulator, skew_clock: SkewClock
) -> None:
    # put the server's clock 100 ms into a fresh minute: the test has ~59 s before it rolls over
    now = quiet.engine.now_ms()
    skew_clock.offset_ms += (60_000 - now % 60_000) + 100
    minute = quiet.engine.now_ms() // 60_000 * 60_000
    client = pro_client(quiet)
    try:
        await client.load_markets()
        trade_at(quiet, "3000")  # before the subscription: the stream starts from history
        watching = asyncio.ensure_future(client.watch_ohlcv(SYMBOL, "1m"))
        await _until_subscribed(quiet, "ethusdc@kline_1m")
        trade_at(quiet, "3010", "0.02")
        candles = await asyncio.wait_for(watching, 5)
        assert candles[-1] == [minute, 3000.0, 3010.0, 3000.0, 3010.0, 0.03]
        trade_at(quiet, "2990")
        candles = await asyncio.wait_for(client.watch_ohlcv(SYMBOL, "1m"), 5)
        assert candles[-1] == [minute, 3000.0, 3010.0, 2990.0, 2990.0, 0.04]

        skew_clock.offset_ms += 60_000  # next minute: a trade there closes the first candle
        trade_at(quiet, "2995")
        closed = await asyncio.wait_for(client.watch_ohlcv(SYMBOL, "1m"), 5)  # the final event
        assert closed[0] == [minute, 3000.0, 3010.0, 2990.0, 2990.0, 0.04]
        trade_at(quiet, "2996")  # one more message, whether or not the new candle came along
        candles = await asyncio.wait_for(client.watch_ohlcv(SYMBOL, "1m"), 5)
        assert candles[-1] == [minute + 60_000, 2995.0, 2996.0, 2995.0, 2996.0, 0.02]
        candles = client.ohlcvs[SYMBOL]["1m"]
        rest = await client.fetch_ohlcv(SYMBOL, "1m")
        assert (
            rest[-2:]
            == candles[-2:]
            == [
                [minute, 3000.0, 3010.0, 2990.0, 2990.0, 0.04],
                [minute + 60_000, 2995.0, 2996.0, 2995.0, 2996.0, 0.02],
            ]
        )
    finally:
        await client.close()


async def test_kline_stream_events_have_binance_fields_and_a_final_event(
    quiet: ExchangeSimulator, skew_clock: SkewClock
) -> None:
    now = quiet.engine.now_ms()
    skew_clock.offset_ms += (60_000 - now % 60_000) + 100
    minute = quiet.engine.now_ms() // 60_000 * 60_000
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{quiet.ws_url}/ws/ethusdc@kline_1m") as ws,
    ):
        await _until_subscribed(quiet, "ethusdc@kline_1m")
        trade_at(quiet, "3000", "0.5")
        event = json.loads((await ws.receive(timeout=5)).data)
        assert event["e"] == "kline" and event["s"] == "ETHUSDC"
        assert event["k"] == {
            "t": minute,
            "T": minute + 59_999,
            "s": "ETHUSDC",
            "i": "1m",
            "f": 1,
            "L": 1,
            "o": "3000.00000000",
            "c": "3000.00000000",
            "h": "3000.00000000",
            "l": "3000.00000000",
            "v": "0.50000000",
            "n": 1,
            "x": False,
            "q": "1500.00000000",
            "V": "0.50000000",
            "Q": "1500.00000000",
            "B": "0",
        }
        skew_clock.offset_ms += 60_000
        quiet.hub.flush_klines()  # what the ticker loop does every second
        final = json.loads((await ws.receive(timeout=5)).data)
        assert final["k"]["x"] is True and final["k"]["t"] == minute and final["k"]["n"] == 1


async def test_subscribing_to_an_unknown_kline_interval_is_an_invalid_stream(
    quiet: ExchangeSimulator,
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{quiet.ws_url}/ws") as ws:
        await ws.send_str(
            json.dumps({"method": "SUBSCRIBE", "params": ["ethusdc@kline_7m"], "id": 1})
        )
        answer = json.loads((await ws.receive(timeout=5)).data)
        assert answer == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1}


async def _until_subscribed(sim: ExchangeSimulator, stream: str) -> None:
    """Wait (on the event loop, bounded) until the simulator has the subscription."""
    for _ in range(500):
        if sim.hub.subscribers(stream):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{stream} never subscribed")
