"""Unmodified async ccxt.deribit / ccxt.pro.deribit against the local Deribit-protocol exchange:
what a real account would see, field by field."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from deribit_client import API_KEY, client

from oms_chain.devnet.deribit import DeribitSimulator

D = Decimal


def _atm_call(sim: DeribitSimulator) -> str:
    """The ETH call of the second expiry at the strike nearest the index."""
    ex = sim.exchange
    expiries = sorted({i.expiry_ms for i in ex.instruments.values() if i.expiry_ms})
    return next(
        i.name
        for i in ex.instruments.values()
        if i.currency == "ETH"
        and i.is_option
        and i.is_call
        and i.expiry_ms == expiries[1]
        and i.strike == D(3000)
    )


def _symbol(exchange: Any, instrument: str) -> str:
    return str(exchange.markets_by_id[instrument][0]["symbol"])


async def test_load_markets_lists_the_options_and_the_perpetuals(
    sim: DeribitSimulator, exchange: Any
) -> None:
    markets = exchange.markets
    assert len(markets) == len(sim.exchange.instruments) == 2 * 7 * 2 * 4 + 2
    perp = markets["ETH/USD:ETH"]
    assert (perp["id"], perp["swap"], perp["inverse"], perp["contractSize"]) == (
        "ETH-PERPETUAL",
        True,
        True,
        1.0,
    )
    assert perp["precision"]["price"] == 0.05
    name = _atm_call(sim)
    assert name == "ETH-11DEC26-3000-C"  # the clock stands at Thursday 3 Dec 2026
    assert _symbol(exchange, name) == "ETH/USD:ETH-261211-3000-C"
    option = markets[_symbol(exchange, name)]
    instrument = sim.exchange.instruments[name]
    assert option["option"] is True and option["type"] == "option"
    assert (option["strike"], option["optionType"], option["expiry"]) == (
        3000.0,
        "call",
        instrument.expiry_ms,
    )
    assert option["precision"]["price"] == 0.0001 and option["limits"]["amount"]["min"] == 1.0
    assert option["symbol"].startswith("ETH/USD:ETH-") and option["symbol"].endswith("-3000-C")
    assert markets["BTC/USD:BTC"]["contractSize"] == 10.0


async def test_fetch_option_chain_and_greeks_report_the_books_marks_and_surface(
    sim: DeribitSimulator, exchange: Any
) -> None:
    chain = await exchange.fetch_option_chain("ETH")
    eth_options = [
        i for i in sim.exchange.instruments.values() if i.is_option and i.currency == "ETH"
    ]
    assert len(chain) == len(eth_options) == 56
    name = _atm_call(sim)
    symbol = _symbol(exchange, name)
    (bid, _), (ask, _) = sim.exchange.engine.best_bid_ask(name)  # type: ignore[misc]
    mark = sim.exchange.option_mark(sim.exchange.instruments[name])
    entry = chain[symbol]
    assert (entry["bidPrice"], entry["askPrice"]) == (float(bid), float(ask))
    assert entry["markPrice"] == float(mark.price) and entry["underlyingPrice"] == 3000.0
    greeks = await exchange.fetch_greeks(symbol)
    assert greeks["markPrice"] == float(mark.price)
    assert greeks["markImpliedVolatility"] == round(mark.iv * 100, 2) == 65.0  # ATM vol
    assert greeks["delta"] == round(mark.greeks.delta, 5)
    assert 0.45 < greeks["delta"] < 0.6 and greeks["gamma"] > 0 and greeks["vega"] > 0
    assert greeks["theta"] < 0
    assert (greeks["bidPrice"], greeks["askPrice"]) == (float(bid), float(ask))
    assert greeks["bidImpliedVolatility"] < greeks["markImpliedVolatility"]
    assert greeks["askImpliedVolatility"] > greeks["markImpliedVolatility"]


async def test_fetch_order_book_matches_the_engine(sim: DeribitSimulator, exchange: Any) -> None:
    name = _atm_call(sim)
    book = await exchange.fetch_order_book(_symbol(exchange, name))
    change_id, bids, asks = sim.exchange.engine.depth(name, 20)
    assert book["bids"] == [[float(p), float(q)] for p, q in bids]
    assert book["asks"] == [[float(p), float(q)] for p, q in asks]
    assert book["nonce"] == change_id and len(book["bids"]) == 3


async def test_limit_order_rests_lists_and_cancels(sim: DeribitSimulator, exchange: Any) -> None:
    symbol = _symbol(exchange, _atm_call(sim))
    order = await exchange.create_order(symbol, "limit", "buy", 3, 0.0125)
    assert (order["status"], order["type"], order["side"]) == ("open", "limit", "buy")
    assert (order["price"], order["amount"], order["filled"]) == (0.0125, 3.0, 0.0)
    assert order["id"].startswith("ETH-")
    open_orders = await exchange.fetch_open_orders(params={"code": "ETH"})
    assert [o["id"] for o in open_orders] == [order["id"]]
    edited = await exchange.edit_order(order["id"], symbol, "limit", "buy", 4, 0.013)
    assert (edited["id"], edited["amount"], edited["price"]) == (order["id"], 4.0, 0.013)
    cancelled = await exchange.cancel_order(order["id"], symbol)
    assert cancelled["status"] == "canceled" and cancelled["id"] == order["id"]
    assert await exchange.fetch_open_orders(params={"code": "ETH"}) == []
    with pytest.raises(ccxt.InvalidOrder):
        await exchange.cancel_order(order["id"], symbol)
    with pytest.raises(ccxt.OrderNotFound):
        await exchange.cancel_order("ETH-999999", symbol)


async def test_market_buy_fills_and_shows_in_positions_trades_and_balance(
    sim: DeribitSimulator, exchange: Any
) -> None:
    name = _atm_call(sim)
    symbol = _symbol(exchange, name)
    (ask, _) = sim.exchange.engine.best_bid_ask(name)[1]  # type: ignore[misc]
    order = await exchange.create_order(symbol, "market", "buy", 2)
    assert (order["status"], order["filled"], order["average"]) == ("closed", 2.0, float(ask))
    assert (float(order["fee"]["cost"]), order["fee"]["currency"]) == (0.0006, "ETH")
    assert len(order["trades"]) == 1 and order["trades"][0]["takerOrMaker"] == "taker"
    expected_cash = D(100) - 2 * ask - D("0.0006")
    assert sim.exchange.accounts[API_KEY].balance["ETH"] == expected_cash

    positions = await exchange.fetch_positions()
    assert [(p["symbol"], p["side"], p["contracts"], p["entryPrice"]) for p in positions] == [
        (symbol, "long", 2.0, float(ask))
    ]
    mark = sim.exchange.mark_price(sim.exchange.instruments[name])
    assert positions[0]["markPrice"] == float(mark)
    assert positions[0]["unrealizedPnl"] == pytest.approx(float(2 * (mark - ask)), abs=1e-12)

    trades = await exchange.fetch_my_trades(params={"code": "ETH"})
    assert [(t["symbol"], t["side"], t["amount"], t["price"], t["order"]) for t in trades] == [
        (symbol, "buy", 2.0, float(ask), order["id"])
    ]
    assert trades[0]["fee"] == {"cost": 0.0006, "currency": "ETH"}

    balance = await exchange.fetch_balance({"code": "ETH"})
    assert balance["ETH"]["total"] == float(expected_cash + 2 * mark)  # equity
    assert balance["ETH"]["used"] == 0.0  # long options carry no maintenance margin


async def test_perpetual_market_order_opens_an_inverse_position(
    sim: DeribitSimulator, exchange: Any
) -> None:
    order = await exchange.create_order("ETH/USD:ETH", "market", "buy", 1000)
    assert order["status"] == "closed" and order["filled"] == 1000.0
    (ask, _) = sim.exchange.engine.best_bid_ask("ETH-PERPETUAL")[1] or (None, None)
    positions = await exchange.fetch_positions(params={"currency": "ETH", "kind": "future"})
    assert len(positions) == 1
    assert positions[0]["contracts"] == 1000.0 and positions[0]["side"] == "long"
    assert positions[0]["initialMargin"] == float(
        (D(1000) / D(3000) * D("0.02")).quantize(D("1e-8"))
    )
    assert ask is None or float(ask) >= order["average"]


async def test_wrong_secret_and_bad_orders_map_to_ccxt_exceptions(sim: DeribitSimulator) -> None:
    bad = client(sim, secret="wrong")
    try:
        await bad.load_markets()  # public: fine
        with pytest.raises(ccxt.AuthenticationError):
            await bad.fetch_positions()
    finally:
        await bad.close()
    good = client(sim)
    try:
        await good.load_markets()
        symbol = _symbol(good, _atm_call(sim))
        with pytest.raises(ccxt.InsufficientFunds):
            await good.create_order(symbol, "limit", "buy", 5000, 0.05)
        with pytest.raises(ccxt.InvalidOrder):  # 0.0052 is not on the 0.0005 tick
            await good.create_order(symbol, "limit", "buy", 1, 0.0052)
    finally:
        await good.close()


async def test_watch_order_book_gets_the_snapshot_then_changes(
    sim: DeribitSimulator, exchange: Any
) -> None:
    name = _atm_call(sim)
    symbol = _symbol(exchange, name)
    book = await exchange.watch_order_book(symbol)
    _, bids, asks = sim.exchange.engine.depth(name, 100)
    assert [b[:2] for b in book["bids"]] == [[float(p), float(q)] for p, q in bids]
    assert [a[:2] for a in book["asks"]] == [[float(p), float(q)] for p, q in asks]
    await exchange.create_order(symbol, "limit", "buy", 7, 0.0125)
    book = await asyncio.wait_for(exchange.watch_order_book(symbol), 10)
    assert [0.0125, 7.0] in [b[:2] for b in book["bids"]]


async def test_watch_orders_and_my_trades_stream_the_accounts_activity(
    sim: DeribitSimulator, exchange: Any
) -> None:
    symbol = _symbol(exchange, _atm_call(sim))
    orders_task = asyncio.ensure_future(exchange.watch_orders())
    trades_task = asyncio.ensure_future(exchange.watch_my_trades())
    await sim.server.wait_for_channel("user.orders.")
    await sim.server.wait_for_channel("user.trades.")
    placed = await exchange.create_order(symbol, "market", "buy", 1)
    orders = await asyncio.wait_for(orders_task, 10)
    trades = await asyncio.wait_for(trades_task, 10)
    assert orders[-1]["id"] == placed["id"] and orders[-1]["status"] == "closed"
    assert trades[-1]["order"] == placed["id"] and trades[-1]["amount"] == 1.0


async def test_watch_ticker_streams_best_prices_and_the_mark(
    sim: DeribitSimulator, exchange: Any
) -> None:
    name = _atm_call(sim)
    symbol = _symbol(exchange, name)
    ticker = await asyncio.wait_for(exchange.watch_ticker(symbol), 10)
    (bid, _), (ask, _) = sim.exchange.engine.best_bid_ask(name)  # type: ignore[misc]
    mark = sim.exchange.mark_price(sim.exchange.instruments[name])
    assert (ticker["bid"], ticker["ask"], ticker["markPrice"]) == (
        float(bid),
        float(ask),
        float(mark),
    )
    assert ticker["indexPrice"] == 3000.0
    await exchange.create_order(symbol, "limit", "buy", 1, float(bid + D("0.0005")))
    ticker = await asyncio.wait_for(exchange.watch_ticker(symbol), 10)
    assert ticker["bid"] == float(bid + D("0.0005"))


async def test_fetch_order_closed_orders_and_order_trades(
    sim: DeribitSimulator, exchange: Any
) -> None:
    symbol = _symbol(exchange, _atm_call(sim))
    filled = await exchange.create_order(symbol, "market", "buy", 1)
    resting = await exchange.create_order(symbol, "limit", "buy", 2, 0.0125)
    await exchange.cancel_order(resting["id"], symbol)
    fetched = await exchange.fetch_order(filled["id"], symbol)
    assert (fetched["id"], fetched["status"], fetched["filled"]) == (filled["id"], "closed", 1.0)
    closed = await exchange.fetch_closed_orders(params={"code": "ETH"})
    assert sorted((o["id"], o["status"]) for o in closed) == sorted(
        [(resting["id"], "canceled"), (filled["id"], "closed")]
    )
    trades = await exchange.fetch_order_trades(filled["id"], symbol)
    assert [(t["order"], t["amount"]) for t in trades] == [(filled["id"], 1.0)]


async def test_watch_order_book_raw_authenticates_first(
    sim: DeribitSimulator, exchange: Any
) -> None:
    name = _atm_call(sim)
    book = await asyncio.wait_for(
        exchange.watch_order_book(_symbol(exchange, name), params={"interval": "raw"}), 10
    )
    _, bids, _ = sim.exchange.engine.depth(name, 100)
    assert [b[:2] for b in book["bids"]] == [[float(p), float(q)] for p, q in bids]
    assert await sim.server.wait_for_channel(f"book.{name}.raw") == f"book.{name}.raw"
