"""Helpers for the exchange-simulator integration tests: unmodified ccxt clients aimed at it.

ccxt is configured only through its public options and by overriding ``exchange.urls['api']``
(see ../shared/FIELD-NOTES.md): no ccxt internals are patched.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from oms_chain.devnet.exchange import ExchangeSimulator

API_KEY = "test-key"
SECRET = "test-secret"
BALANCES = {"USDC": Decimal(100_000), "ETH": Decimal(10), "BTC": Decimal(1)}
OPTIONS = {
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchMarkets": {"types": ["spot"]},
}


class SkewClock:
    """Wall clock plus an adjustable offset, to push the server's time away from ccxt's."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ns(self) -> int:
        import time

        return time.time_ns() + self.offset_ms * 1_000_000


def point_at(exchange: Any, sim: ExchangeSimulator) -> Any:
    """Override every ``urls['api']`` entry of a ccxt binance instance to the simulator."""
    exchange.urls["api"] = sim.binance_urls(exchange.urls["api"])
    return exchange


def rest_client(sim: ExchangeSimulator, **config: Any) -> Any:
    """``ccxt.async_support.binance`` with test credentials, aimed at ``sim``."""
    settings = {"apiKey": API_KEY, "secret": SECRET, "enableRateLimit": False, "options": OPTIONS}
    settings.update(config)
    return point_at(ccxt_async.binance(settings), sim)


def pro_client(sim: ExchangeSimulator, **config: Any) -> Any:
    """``ccxt.pro.binance`` with test credentials, aimed at ``sim``."""
    settings = {"apiKey": API_KEY, "secret": SECRET, "enableRateLimit": False, "options": OPTIONS}
    settings.update(config)
    return point_at(ccxt_pro.binance(settings), sim)


SYMBOL = "ETH/USDC"


async def watch_until_nonce(client: Any, target: int, timeout: float = 5.0) -> Any:
    """Keep watching until the local book has applied update ``target``."""

    async def loop() -> Any:
        while True:
            book = client.orderbooks.get(SYMBOL)
            if book is not None and book["nonce"] is not None and book["nonce"] >= target:
                return book.limit()
            await client.watch_order_book(SYMBOL)

    return await asyncio.wait_for(loop(), timeout)


async def assert_book_equals_rest(client: Any, sim: ExchangeSimulator) -> int:
    """Freeze the agents, let the stream catch up, compare with a REST snapshot."""
    sim.pause_agents()
    target = sim.engine.update_id("ETHUSDC")
    book = await watch_until_nonce(client, target)
    snapshot = await client.fetch_order_book(SYMBOL, 1000)
    assert book["nonce"] == snapshot["nonce"] == target
    assert book["bids"] == snapshot["bids"]
    assert book["asks"] == snapshot["asks"]
    assert book["bids"][0][0] < book["asks"][0][0]
    return target


def trade_at(sim: ExchangeSimulator, price: str, qty: str = "0.01") -> None:
    """One ETHUSDC trade between the ``quiet`` fixture's helper accounts at exactly ``price``
    (plus whatever stop orders it triggers)."""
    sim.engine.place(
        "maker", "ETHUSDC", "SELL", "LIMIT_MAKER", quantity=Decimal(qty), price=Decimal(price)
    )
    result = sim.engine.place("taker", "ETHUSDC", "BUY", "MARKET", quantity=Decimal(qty))
    assert [t.price for t in result.trades] == [Decimal(price)]
