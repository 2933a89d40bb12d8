"""The plugin's Deribit fixture: unmodified ccxt.deribit (sync) trades on it by overriding URLs."""

from __future__ import annotations

import ccxt

from oms_chain.devnet.deribit.simulator import DeribitThread


def test_ccxt_deribit_loads_markets_and_buys_a_put_on_the_plugin_exchange(
    deribit_simulator: DeribitThread, deribit_credentials: tuple[str, str]
) -> None:
    client_id, secret = deribit_credentials
    exchange = ccxt.deribit({"apiKey": client_id, "secret": secret})
    exchange.urls["api"] = deribit_simulator.simulator.deribit_urls()
    exchange.load_markets()
    assert "ETH/USD:ETH" in exchange.markets
    put = next(
        s for s, m in exchange.markets.items() if m["option"] and m["base"] == "ETH"
        and m["optionType"] == "put" and m["strike"] == 3000.0
    )  # fmt: skip
    order = exchange.create_order(put, "market", "buy", 1)
    assert order["status"] == "closed" and order["filled"] == 1.0
    positions = exchange.fetch_positions(params={"currency": "ETH"})
    assert [(p["symbol"], p["contracts"]) for p in positions] == [(put, 1.0)]
