"""The plugin's exchange fixture: unmodified ccxt (sync) trades on it by overriding URLs only."""

from __future__ import annotations

import ccxt

from oms_chain.devnet.exchange.simulator import SimulatorThread


def test_ccxt_loads_markets_and_trades_on_the_plugin_exchange(
    exchange_simulator: SimulatorThread, exchange_credentials: tuple[str, str]
) -> None:
    key, secret = exchange_credentials
    exchange = ccxt.binance(
        {
            "apiKey": key,
            "secret": secret,
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    exchange.urls["api"] = exchange_simulator.simulator.binance_urls(exchange.urls["api"])
    exchange.load_markets()
    assert "ETH/USDC" in exchange.markets
    order = exchange.create_order(
        "ETH/USDC", "market", "buy", 0.5, params={"clientOrderId": "plug-1"}
    )
    assert order["status"] == "closed" and order["filled"] == 0.5
    assert exchange.fetch_balance()["ETH"]["free"] > 200
