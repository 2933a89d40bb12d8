"""Every endpoint's happy path against a real TradingSession on the devnet L1."""

from __future__ import annotations

import itertools
from decimal import Decimal

from api_client import Api


async def test_submit_fills_and_every_view_shows_it(api: Api) -> None:
    h = api.auth(api.trade)
    body = {"symbol": "WETH/USDC", "side": "buy", "quantity": "0.5", "intent_id": "api-1"}
    async with api.http.post(f"{api.url}/api/v1/intents", json=body, headers=h) as r:
        assert r.status == 201, await r.text()
        parent = await r.json()
    assert parent["intent_id"] == "api-1"
    assert parent["side"] == "buy" and Decimal(parent["quantity"]) == Decimal("0.5")
    # the same intent again: the same order, 200
    async with api.http.post(f"{api.url}/api/v1/intents", json=body, headers=h) as r:
        assert r.status == 200
        assert (await r.json())["order_id"] == parent["order_id"]
    done = await api.session.wait(parent["order_id"], timeout=60, poll=0.05)
    assert done.status.value == "filled"

    hr = api.auth(api.read)
    async with api.http.get(f"{api.url}/api/v1/orders/{parent['order_id']}", headers=hr) as r:
        assert r.status == 200
        detail = await r.json()
    assert detail["order"]["status"] == "filled"
    assert Decimal(detail["order"]["filled_quantity"]) == Decimal("0.5")
    assert len(detail["children"]) >= 1
    child = detail["children"][0]
    assert child["parent_id"] == parent["order_id"]

    async with api.http.get(f"{api.url}/api/v1/orders", headers=hr) as r:
        orders = await r.json()
    assert [o["order_id"] for o in orders] == [parent["order_id"]]
    async with api.http.get(f"{api.url}/api/v1/orders?status=open", headers=hr) as r:
        assert await r.json() == []

    async with api.http.get(
        f"{api.url}/api/v1/fills", params={"order_id": parent["order_id"]}, headers=hr
    ) as r:
        fills = await r.json()
    assert sum(Decimal(f["quantity"]) for f in fills) == Decimal("0.5")
    assert {f["order_id"] for f in fills} <= set(detail["order"]["children"])

    async with api.http.get(f"{api.url}/api/v1/positions", headers=hr) as r:
        positions = await r.json()
    assert sum(Decimal(p["quantity"]) for p in positions) == Decimal("0.5")

    async with api.http.get(f"{api.url}/api/v1/settlements", headers=hr) as r:
        settlements = await r.json()
    assert {s["order_id"] for s in settlements} == {c["order_id"] for c in detail["children"]}
    assert all(s["tx_hash"].startswith("0x") and len(s["tx_hash"]) == 66 for s in settlements)
    assert all(s["block_number"] is not None for s in settlements)

    async with api.http.get(f"{api.url}/api/v1/balances", headers=hr) as r:
        balances = await r.json()
    assert balances and all(b["error"] is None for b in balances)
    assert {b["venue"] for b in balances} == set(api.session.venues())

    async with api.http.get(f"{api.url}/api/v1/events?limit=3", headers=hr) as r:
        page = await r.json()
    assert [e["position"] for e in page["events"]] == [1, 2, 3]
    assert page["next_after"] == 3
    last = page["last_position"]
    seen = page["events"]
    after = 3
    while after < last:
        async with api.http.get(
            f"{api.url}/api/v1/events", params={"after": after, "limit": 2}, headers=hr
        ) as r:
            page = await r.json()
        seen += page["events"]
        after = page["next_after"]
    assert [e["position"] for e in seen] == list(range(1, last + 1))
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(seen))

    async with api.http.get(f"{api.url}/api/v1/health", headers=hr) as r:
        health = await r.json()
    assert health == {"phase": "ready", "trading_state": "active", "last_position": last}


async def test_cancel_an_open_algo_parent(api: Api) -> None:
    h = api.auth(api.trade)
    body = {
        "symbol": "WETH/USDC",
        "side": "sell",
        "quantity": "0.3",
        "algo": "twap",
        "algo_params": {"duration": "1h", "slices": 6},
    }
    async with api.http.post(f"{api.url}/api/v1/intents", json=body, headers=h) as r:
        assert r.status == 201, await r.text()
        parent = await r.json()
    async with api.http.post(
        f"{api.url}/api/v1/orders/{parent['order_id']}/cancel", headers=h
    ) as r:
        assert r.status == 202, await r.text()
        out = await r.json()
    assert out["order"]["order_id"] == parent["order_id"]
    assert (out["order"]["status"], out["order"]["reason"]) == ("cancelled", "cancelled by user")
    assert api.session.engine.algo_state(parent["order_id"]) == "cancelled"
    before = api.session.store.last_position()
    async with api.http.post(
        f"{api.url}/api/v1/orders/{parent['order_id']}/cancel", headers=h
    ) as r:
        assert r.status == 409
        again = await r.json()
    assert again["kind"] == "already_terminal" and "nothing to cancel" in again["error"]
    assert api.session.store.last_position() == before


async def test_openapi_is_3_1_and_names_every_route(api: Api) -> None:
    async with api.http.get(f"{api.url}/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/api/v1/intents",
        "/api/v1/orders/{order_id}/cancel",
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/api/v1/fills",
        "/api/v1/positions",
        "/api/v1/balances",
        "/api/v1/settlements",
        "/api/v1/events",
        "/api/v1/stream",
        "/api/v1/health",
        "/api/v1/orders/{order_id}/amend",
        "/api/v1/risk/greeks",
        "/api/v1/risk/var",
        "/api/v1/risk/margin",
        "/api/v1/risk/liquidation",
        "/api/v1/risk/alerts",
        "/api/v1/hedger",
        "/api/v1/hedger/start",
        "/api/v1/hedger/stop",
        "/api/v1/structures",
        "/api/v1/structures/{structure_id}",
    }
    submit = doc["paths"]["/api/v1/intents"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SubmitIntent"
    }
    assert set(submit["responses"]) == {"201", "401", "403", "409", "422", "429"}
    cancel = doc["paths"]["/api/v1/orders/{order_id}/cancel"]["post"]
    assert set(cancel["responses"]) == {"202", "401", "403", "404", "409", "422", "429"}
    assert doc["components"]["schemas"]["SubmitIntent"]["properties"]["side"]["enum"] == [
        "buy",
        "sell",
    ]
