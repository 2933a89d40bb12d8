"""Deribit's authentication flows on the wire, and expiry delivery seen through ccxt."""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from deribit_client import API_KEY, SECRET

from oms_chain.devnet.deribit import DeribitSimulator

D = Decimal


async def _get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.get(url, **kwargs) as response:
        return response.status, await response.json()


async def test_client_credentials_give_a_bearer_token_and_a_refresh_token(
    sim: DeribitSimulator,
) -> None:
    auth = f"{sim.url}/api/v2/public/auth"
    async with aiohttp.ClientSession() as http:
        status, body = await _get(
            http, auth,
            params={"grant_type": "client_credentials", "client_id": API_KEY,
                    "client_secret": SECRET},
        )  # fmt: skip
        assert status == 200 and body["result"]["token_type"] == "bearer"
        token, refresh = body["result"]["access_token"], body["result"]["refresh_token"]
        summary_url = f"{sim.url}/api/v2/private/get_account_summary?currency=ETH"
        status, body = await _get(http, summary_url, headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and body["result"]["equity"] == 100.0
        assert body["result"]["available_funds"] == 100.0
        status, body = await _get(http, summary_url)
        assert (status, body["error"]["code"]) == (401, 10000)
        status, body = await _get(http, summary_url, headers={"Authorization": "Bearer nope"})
        assert (status, body["error"]["code"]) == (401, 13009)
        status, body = await _get(
            http, auth, params={"grant_type": "refresh_token", "refresh_token": refresh}
        )
        assert status == 200 and body["result"]["access_token"] != token
        status, body = await _get(
            http, auth, params={"grant_type": "refresh_token", "refresh_token": refresh}
        )
        assert body["error"]["code"] == 13009  # a refresh token is used once
        status, body = await _get(
            http, auth,
            params={"grant_type": "client_credentials", "client_id": API_KEY,
                    "client_secret": "wrong"},
        )  # fmt: skip
        assert (status, body["error"]["code"]) == (401, 13004)


async def test_client_signature_on_the_websocket_authenticates_the_connection(
    sim: DeribitSimulator,
) -> None:
    now = time.time_ns() // 1_000_000  # signatures are fresh on wall time
    nonce = "abc123"
    signature = hmac.new(SECRET.encode(), f"{now}\n{nonce}\n".encode(), hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        await ws.send_json(
            {"jsonrpc": "2.0", "id": 1, "method": "private/get_positions", "params": {}}
        )
        assert (await ws.receive_json(timeout=5))["error"]["code"] == 13009
        bad = {"grant_type": "client_signature", "client_id": API_KEY, "timestamp": now,
               "nonce": nonce, "data": "", "signature": "00" * 32}  # fmt: skip
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "public/auth", "params": bad})
        assert (await ws.receive_json(timeout=5))["error"]["code"] == 13009
        good = {**bad, "signature": signature}
        await ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "public/auth", "params": good})
        assert "access_token" in (await ws.receive_json(timeout=5))["result"]
        await ws.send_json(
            {"jsonrpc": "2.0", "id": 4, "method": "private/get_positions", "params": {}}
        )
        assert (await ws.receive_json(timeout=5))["result"] == []


async def test_expiry_delivers_a_put_to_the_exact_payoff_and_closes_the_position(
    sim: DeribitSimulator, exchange: Any
) -> None:
    ex = sim.exchange
    first = min(i.expiry_ms for i in ex.instruments.values() if i.expiry_ms)
    put = next(
        i.name
        for i in ex.instruments.values()
        if i.currency == "ETH" and i.expiry_ms == first and not i.is_call and i.strike == D(3000)
    )
    symbol = exchange.markets_by_id[put][0]["symbol"]
    (ask, _) = ex.engine.best_bid_ask(put)[1]  # type: ignore[misc]
    order = await exchange.create_order(symbol, "market", "buy", 3)
    fee = D(str(order["fee"]["cost"]))
    assert fee == D("0.0009")
    cash_before = ex.accounts[API_KEY].balance["ETH"]
    assert cash_before == D(100) - 3 * ask - fee
    sim.config.clock.advance((first - ex.now_ms()) * 1_000_000)  # type: ignore[union-attr]
    assert put in sim.settle_expired({"ETH": D(2500)})
    payoff = (D(3) * D(500) / D(2500)).quantize(D("1e-8"))  # 0.6 ETH
    assert ex.accounts[API_KEY].balance["ETH"] == cash_before + payoff
    assert await exchange.fetch_positions() == []
    async with aiohttp.ClientSession() as http:
        _, body = await _get(
            http, f"{sim.url}/api/v2/public/get_delivery_prices?index_name=eth_usd"
        )
    assert body["result"]["data"][0]["delivery_price"] == 2500.0
    markets = await exchange.fetch_markets()
    assert put not in {m["id"] for m in markets}
    with pytest.raises(Exception, match="book_closed"):
        await exchange.create_order(symbol, "limit", "buy", 1, 0.01)
