"""Unmodified ccxt ``binance`` against the simulator's REST API: markets, data, orders, errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from exchange_helpers import API_KEY, SECRET, point_at, rest_client

from oms_chain.devnet.exchange import ExchangeSimulator


async def test_load_markets_lists_the_three_default_spot_markets_with_their_filters(
    exchange: Any,
) -> None:
    assert set(exchange.markets) == {"ETH/USDC", "BTC/USDC", "ETH/BTC"}
    market = exchange.market("ETH/USDC")
    assert market["id"] == "ETHUSDC" and market["spot"] and market["active"]
    assert market["precision"] == {"amount": 0.0001, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert market["limits"]["cost"]["min"] == 5
    assert exchange.market("ETH/BTC")["precision"]["price"] == 0.00001


async def test_order_book_ticker_and_trades_match_the_engine(
    exchange: Any, sim: ExchangeSimulator
) -> None:
    book = await exchange.fetch_order_book("ETH/USDC")
    update_id, bids, asks = sim.engine.depth("ETHUSDC", 100)
    assert book["nonce"] == update_id
    assert book["bids"] == [[float(p), float(q)] for p, q in bids]
    assert book["asks"] == [[float(p), float(q)] for p, q in asks]
    assert bids[0][0] < asks[0][0] and 2900 < bids[0][0] < 3100

    ticker = await exchange.fetch_ticker("ETH/USDC")
    assert ticker["bid"] == float(bids[0][0]) and ticker["ask"] == float(asks[0][0])
    assert ticker["last"] == float(sim.engine.last_price["ETHUSDC"])

    trades = await exchange.fetch_trades("ETH/USDC")
    assert [t["id"] for t in trades] == [str(t.trade_id) for t in sim.engine.trades["ETHUSDC"]]


async def test_fetch_balance_reports_free_and_used(exchange: Any) -> None:
    balance = await exchange.fetch_balance()
    assert balance["USDC"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    await exchange.create_order("ETH/USDC", "limit", "buy", 1, 2000)
    balance = await exchange.fetch_balance()
    assert balance["USDC"] == {"free": 98000.0, "used": 2000.0, "total": 100000.0}


async def test_limit_order_with_client_id_is_found_by_id_and_by_client_id_then_canceled(
    exchange: Any,
) -> None:
    created = await exchange.create_order(
        "ETH/USDC", "limit", "buy", 0.5, 2500, {"clientOrderId": "oms-child-1"}
    )
    assert created["status"] == "open" and created["clientOrderId"] == "oms-child-1"
    by_id = await exchange.fetch_order(created["id"], "ETH/USDC")
    by_client_id = await exchange.fetch_order(None, "ETH/USDC", {"clientOrderId": "oms-child-1"})
    assert by_id["id"] == by_client_id["id"] == created["id"]
    assert by_id["amount"] == 0.5 and by_id["price"] == 2500 and by_id["remaining"] == 0.5

    open_orders = await exchange.fetch_open_orders("ETH/USDC")
    assert [o["id"] for o in open_orders] == [created["id"]]

    canceled = await exchange.cancel_order(created["id"], "ETH/USDC")
    assert canceled["status"] == "canceled"
    assert await exchange.fetch_open_orders("ETH/USDC") == []
    assert (await exchange.fetch_order(created["id"], "ETH/USDC"))["status"] == "canceled"


async def test_cancel_by_client_order_id(exchange: Any) -> None:
    await exchange.create_order("ETH/USDC", "limit", "sell", 0.5, 4000, {"clientOrderId": "c-2"})
    canceled = await exchange.cancel_order(None, "ETH/USDC", {"clientOrderId": "c-2"})
    assert canceled["status"] == "canceled"
    assert canceled["info"]["origClientOrderId"] == "c-2"


async def test_market_order_fills_against_the_book_and_shows_in_my_trades(
    exchange: Any, sim: ExchangeSimulator
) -> None:
    best_ask = sim.engine.best_bid_ask("ETHUSDC")[1]
    assert best_ask is not None
    order = await exchange.create_order(
        "ETH/USDC", "market", "buy", 0.01, None, {"clientOrderId": "mkt-1"}
    )
    assert order["status"] == "closed" and order["filled"] == 0.01
    assert order["average"] == float(best_ask[0])
    assert order["fee"] == {"currency": "ETH", "cost": 0.00001}

    trades = await exchange.fetch_my_trades("ETH/USDC")
    assert len(trades) == 1
    assert trades[0]["order"] == order["id"] and trades[0]["side"] == "buy"
    assert trades[0]["takerOrMaker"] == "taker"
    assert trades[0]["fee"] == {"currency": "ETH", "cost": 0.00001}
    balance = await exchange.fetch_balance()
    assert balance["ETH"]["free"] == 10 + 0.01 - 0.00001


async def test_market_buy_by_cost_uses_quote_order_qty(exchange: Any) -> None:
    order = await exchange.create_market_buy_order_with_cost("ETH/USDC", 100)
    assert order["status"] == "closed"
    assert 0 < order["cost"] <= 100
    assert order["info"]["origQuoteOrderQty"] == "100.00000000"


async def test_partial_fill_of_a_resting_order_is_visible(
    exchange: Any, sim: ExchangeSimulator
) -> None:
    bid, ask = sim.engine.best_bid_ask("ETHUSDC")
    assert bid is not None and ask is not None and ask[0] - bid[0] > Decimal("0.01")
    price = ask[0] - Decimal("0.01")  # inside the spread: we become the best ask
    resting = await exchange.create_order("ETH/USDC", "limit", "sell", 0.3, float(price))
    sim.create_account("other", SECRET, {"USDC": Decimal(10_000)})
    sim.engine.place(
        "acct-other",
        "ETHUSDC",
        "BUY",
        "LIMIT",
        quantity=Decimal("0.1"),
        price=price,
        time_in_force="IOC",
    )
    order = await exchange.fetch_order(resting["id"], "ETH/USDC")
    assert order["status"] == "open"
    assert (order["filled"], order["remaining"]) == (0.1, 0.2)
    [trade] = await exchange.fetch_my_trades("ETH/USDC")
    assert trade["takerOrMaker"] == "maker" and trade["side"] == "sell"
    assert trade["fee"]["currency"] == "USDC"


async def test_self_trade_is_allowed(exchange: Any) -> None:
    await exchange.create_order("ETH/USDC", "limit", "sell", 0.01, 3100.5)
    taken = await exchange.create_order(
        "ETH/USDC", "limit", "buy", 0.01, 3100.5, {"timeInForce": "IOC"}
    )
    assert taken["filled"] == 0.01


async def test_insufficient_balance_maps_to_insufficient_funds(exchange: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        await exchange.create_order("ETH/USDC", "limit", "buy", 100, 2000)


async def test_unknown_order_maps_to_order_not_found(exchange: Any) -> None:
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await exchange.fetch_order("987654", "ETH/USDC")
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await exchange.cancel_order("987654", "ETH/USDC")


async def test_duplicate_client_order_id_among_open_orders_is_rejected(exchange: Any) -> None:
    await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2000, {"clientOrderId": "dup"})
    await exchange.cancel_order(None, "ETH/USDC", {"clientOrderId": "dup"})
    again = await exchange.create_order(
        "ETH/USDC", "limit", "buy", 0.1, 2000, {"clientOrderId": "dup"}
    )  # reusable once the first one is closed
    assert again["status"] == "open"


async def test_filter_failures_are_rejected_with_binance_codes(exchange: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        await exchange.create_order("ETH/USDC", "limit", "buy", 9001, 1)
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        await exchange.create_order("ETH/USDC", "limit", "sell", 1, 2_000_000)
    # ccxt maps a bare -1013 (NOTIONAL) to BadRequest, exactly as against Binance itself
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        await exchange.create_order("ETH/USDC", "limit", "buy", 0.001, 2000)


async def test_post_only_order_that_would_take_is_rejected(
    exchange: Any, sim: ExchangeSimulator
) -> None:
    best_ask = sim.engine.best_bid_ask("ETHUSDC")[1]
    assert best_ask is not None
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await exchange.create_order(
            "ETH/USDC", "limit", "buy", 0.01, float(best_ask[0]), {"postOnly": True}
        )


async def test_invalid_symbol_maps_to_bad_symbol(exchange: Any) -> None:
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        await exchange.public_get_depth({"symbol": "NOPEUSDC"})


async def test_bad_signature_and_unknown_key_map_to_authentication_error(
    sim: ExchangeSimulator,
) -> None:
    for config in ({"secret": "wrong"}, {"apiKey": "nobody"}):
        client = rest_client(sim, **config)
        try:
            await client.load_markets()
            with pytest.raises(ccxt.AuthenticationError):
                await client.fetch_balance()
        finally:
            await client.close()


async def test_timestamp_outside_recv_window_maps_to_invalid_nonce(
    exchange: Any, skew_clock: Any
) -> None:
    skew_clock.offset_ms = 20_000  # ccxt sends recvWindow=10000 by default
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        await exchange.fetch_balance()
    skew_clock.offset_ms = -2_000  # ccxt is 2 s ahead of the server
    with pytest.raises(ccxt.InvalidNonce, match="ahead"):
        await exchange.fetch_balance()


async def test_rate_limit_answers_429_with_retry_after(
    exchange: Any, sim: ExchangeSimulator
) -> None:
    sim.throttle(30)
    with pytest.raises((ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        for _ in range(10):
            await exchange.fetch_order_book("ETH/USDC")
    assert exchange.last_response_headers["Retry-After"].isdigit()
    assert 1 <= int(exchange.last_response_headers["Retry-After"]) <= 60
    sim.throttle(None)
    await exchange.fetch_order_book("ETH/USDC")


async def test_tickers_bids_asks_last_prices_ohlcv_and_time(
    exchange: Any, sim: ExchangeSimulator
) -> None:
    tickers = await exchange.fetch_tickers()
    assert set(tickers) == {"ETH/USDC", "BTC/USDC", "ETH/BTC"}
    assert tickers["BTC/USDC"]["baseVolume"] == float(
        sum(t.qty for t in sim.engine.trades["BTCUSDC"])
    )
    bids_asks = await exchange.fetch_bids_asks(["ETH/USDC"])
    bid, ask = sim.engine.best_bid_ask("ETHUSDC")
    assert bid is not None and ask is not None
    assert bids_asks["ETH/USDC"]["bid"] == float(bid[0])
    assert bids_asks["ETH/USDC"]["ask"] == float(ask[0])
    last = await exchange.fetch_last_prices(["ETH/BTC"])
    assert last["ETH/BTC"]["price"] == float(sim.engine.last_price["ETHBTC"])
    candles = await exchange.fetch_ohlcv("ETH/USDC", "1m")
    trades = list(sim.engine.trades["ETHUSDC"])
    assert sum(c[5] for c in candles) == pytest.approx(float(sum(t.qty for t in trades)))
    assert candles[-1][4] == float(trades[-1].price)  # close = last trade
    assert abs(await exchange.fetch_time() - sim.engine.now_ms()) < 1000


async def test_fetch_orders_closed_orders_and_cancel_all(exchange: Any) -> None:
    await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2000)
    await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2001)
    await exchange.create_order("ETH/USDC", "market", "buy", 0.01)
    assert len(await exchange.fetch_orders("ETH/USDC")) == 3
    assert [o["status"] for o in await exchange.fetch_closed_orders("ETH/USDC")] == ["closed"]
    canceled = await exchange.cancel_all_orders("ETH/USDC")
    assert sorted(o["status"] for o in canceled) == ["canceled", "canceled"]
    assert await exchange.fetch_open_orders("ETH/USDC") == []


async def test_order_rate_limit_answers_429_minus_1015(
    exchange: Any, sim: ExchangeSimulator
) -> None:
    sim.order_counter.limit = 2
    await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2000)
    assert exchange.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2000)
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2000)
    assert "Retry-After" not in exchange.last_response_headers


async def test_malformed_parameters_get_binance_errors_not_500(exchange: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="-1100"):
        await exchange.private_get_allorders({"symbol": "ETHUSDC", "orderId": "x1"})
    with pytest.raises(ccxt.BadRequest, match="-1102"):
        await exchange.private_post_order({"symbol": "ETHUSDC", "side": "BUY"})


async def test_client_ids_with_url_encoded_characters_sign_and_round_trip(exchange: Any) -> None:
    cid = "desk.1:twap/child_7-a"  # every character class Binance allows; '/' and ':' get encoded
    created = await exchange.create_order(
        "ETH/USDC", "limit", "buy", 0.1, 2000, {"clientOrderId": cid}
    )
    assert created["clientOrderId"] == cid
    assert (await exchange.fetch_order(None, "ETH/USDC", {"clientOrderId": cid}))["id"] == created[
        "id"
    ]
    with pytest.raises(ccxt.BadRequest, match="-1100"):
        await exchange.create_order("ETH/USDC", "limit", "buy", 0.1, 2000, {"clientOrderId": "a b"})


async def test_historical_trades_need_an_api_key(exchange: Any, sim: ExchangeSimulator) -> None:
    trades = await exchange.fetch_trades(
        "ETH/USDC", params={"fetchTradesMethod": "publicGetHistoricalTrades", "fromId": 1}
    )
    assert [t["id"] for t in trades] == [str(t.trade_id) for t in sim.engine.trades["ETHUSDC"]]
    anonymous = rest_client(sim, apiKey="", secret="")
    try:
        await anonymous.load_markets()
        with pytest.raises(ccxt.AuthenticationError):
            await anonymous.fetch_trades(
                "ETH/USDC", params={"fetchTradesMethod": "publicGetHistoricalTrades"}
            )
    finally:
        await anonymous.close()


async def test_ccxt_with_default_options_needs_only_the_url_override(
    sim: ExchangeSimulator,
) -> None:
    client = point_at(ccxt_async.binance({"apiKey": API_KEY, "secret": SECRET}), sim)
    try:
        await client.load_markets()  # also calls sapi currencies/margin pairs, fapi/dapi info
        assert {"ETH/USDC", "BTC/USDC", "ETH/BTC"} <= set(client.markets)
        assert client.currencies["ETH"]["id"] == "ETH"
        order = await client.create_order("ETH/USDC", "limit", "buy", 0.1, 2000)
        assert order["status"] == "open"
    finally:
        await client.close()
