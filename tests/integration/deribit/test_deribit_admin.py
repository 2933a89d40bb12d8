"""The ``/_sim/`` admin endpoints: another process moves the index, delivers expiries, opens
accounts and arms faults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp

from oms_chain.devnet.deribit import DeribitSimulator


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_admin_moves_the_index_settles_and_opens_accounts(sim: DeribitSimulator) -> None:
    base = f"{sim.url}/_sim"
    async with aiohttp.ClientSession() as http:
        status, index = await _post(http, f"{base}/index", {"currency": "ETH", "price": "3300"})
        assert status == 200 and index == {"BTC": "60000", "ETH": "3300"}
        status, requoted = await _post(http, f"{base}/agents/step", {})
        assert requoted["requoted"] > 0
        async with http.get(
            f"{sim.url}/api/v2/public/ticker?instrument_name=ETH-PERPETUAL"
        ) as response:
            ticker = (await response.json())["result"]
        assert ticker["index_price"] == 3300.0 and ticker["best_bid_price"] < 3300.0
        assert ticker["best_ask_price"] > 3300.0
        status, body = await _post(
            http, f"{base}/accounts",
            {"client_id": "other", "client_secret": "s", "balances": {"ETH": "5"}},
        )  # fmt: skip
        assert status == 200 and sim.exchange.accounts["other"].balance["ETH"] == Decimal(5)
        status, body = await _post(http, f"{base}/settle", {"delivery_usd": {"ETH": "3000"}})
        assert status == 200 and body == {"settled": []}  # nothing has expired yet
        status, body = await _post(http, f"{base}/index", {"currency": "ETH", "price": "-1"})
        assert status == 400 and "positive" in body["error"]
        status, body = await _post(http, f"{base}/faults/rpc", {"kind": "explode"})
        assert status == 400
        status, _ = await _post(
            http, f"{base}/faults/rpc", {"kind": "fail", "method": "public/ticker"}
        )
        async with http.get(
            f"{sim.url}/api/v2/public/ticker?instrument_name=ETH-PERPETUAL"
        ) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == 10040
        async with http.get(f"{base}/state") as response:
            state = await response.json()
        assert state["faults"]["fired"] == {"fail": 1} and "other" in state["accounts"]
