"""Risk, hedger and amend endpoints against a real TradingSession on the devnet L1: the
portfolio the engine holds priced over the API, the hedger started and stopped with a trade
token (its hedge going through the engine), and amend's refusals writing nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from api_client import DAILY, Api

Z99 = 2.3263478740408408


async def _get(api: Api, path: str, token: str | None = None) -> tuple[int, object]:
    async with api.http.get(f"{api.url}{path}", headers=api.auth(token or api.read)) as r:
        return r.status, await r.json()


async def test_risk_endpoints_price_the_engine_position_and_the_hedger_brings_delta_back(
    risk_api: Api,
) -> None:
    api = risk_api
    h = api.auth(api.trade)
    body = {"symbol": "WETH/USDC", "side": "buy", "quantity": "0.5", "intent_id": "risk-1"}
    async with api.http.post(f"{api.url}/api/v1/intents", json=body, headers=h) as r:
        assert r.status == 201, await r.text()
        parent = await r.json()
    assert (await api.session.wait(parent["order_id"], timeout=60, poll=0.05)).status.value == (
        "filled"
    )

    status, greeks = await _get(api, "/api/v1/risk/greeks")
    assert status == 200, greeks
    assert isinstance(greeks, dict)
    (weth,) = greeks["underlyings"]
    assert weth["underlying"] == "WETH"
    assert float(weth["delta"]) == pytest.approx(0.5, rel=1e-12)
    assert float(weth["delta_usd"]) == pytest.approx(1000.0, rel=1e-12)

    status, var = await _get(api, "/api/v1/risk/var?confidence=0.99&horizon_days=1")
    assert status == 200, var
    assert isinstance(var, dict)
    assert float(var["var"]) == pytest.approx(1000 * float(DAILY) * Z99, rel=1e-9)
    assert float(var["es"]) > float(var["var"])
    status, bad = await _get(api, "/api/v1/risk/var?confidence=2")
    assert status == 422 and isinstance(bad, dict) and bad["kind"] == "validation"

    status, margin = await _get(api, "/api/v1/risk/margin")
    assert status == 200 and isinstance(margin, dict)
    assert margin["worst"]["underlying"] == "WETH" and Decimal(margin["worst"]["pnl"]) < 0
    status, liq = await _get(api, "/api/v1/risk/liquidation")
    assert status == 200 and isinstance(liq, list)
    assert [row["underlying"] for row in liq] == ["WETH"]

    # the hedger: a read token may look, not start
    status, idle = await _get(api, "/api/v1/hedger")
    assert status == 200 and isinstance(idle, dict)
    assert (idle["running"], idle["evaluations"], idle["delta"]) == (False, 0, None)
    async with api.http.post(f"{api.url}/api/v1/hedger/start", headers=api.auth(api.read)) as r:
        assert r.status == 403
    before = api.session.store.last_position()
    async with api.http.post(f"{api.url}/api/v1/hedger/start", headers=h) as r:
        assert r.status == 202, await r.text()
        started = await r.json()
    assert started["running"] is True and started["evaluations"] == 1
    assert float(started["delta"]) == pytest.approx(0.5)  # decided on the delta before the hedge
    assert started["last_action"] == "hedge" and started["hedges"] == 1
    assert api.session.store.last_position() > before  # the decision and the hedge intent
    hedge = api.session.engine.order(api.session.engine.projections.intents["hedge-api-test-1"])
    assert (hedge.side.value, hedge.quantity) == ("sell", Decimal("0.5"))
    await api.session.wait(hedge.order_id, timeout=60, poll=0.05)
    status, after = await _get(api, "/api/v1/risk/greeks")
    assert isinstance(after, dict)
    delta = sum((Decimal(u["delta"]) for u in after["underlyings"]), Decimal(0))
    assert abs(delta) <= Decimal("0.1")  # back in its band (here: flat, no WETH left)

    async with api.http.post(f"{api.url}/api/v1/hedger/stop", headers=h) as r:
        assert r.status == 200
        stopped = await r.json()
    assert stopped["running"] is False and stopped["evaluations"] == 1


async def test_amend_refusals_answer_4xx_and_write_nothing(risk_api: Api) -> None:
    api = risk_api
    h = api.auth(api.trade)
    body = {"symbol": "WETH/USDC", "side": "buy", "quantity": "0.1", "intent_id": "amend-1"}
    async with api.http.post(f"{api.url}/api/v1/intents", json=body, headers=h) as r:
        parent = await r.json()
    await api.session.wait(parent["order_id"], timeout=60, poll=0.05)
    url = f"{api.url}/api/v1/orders/{parent['order_id']}/amend"
    before = api.session.store.last_position()
    cases = [
        (h, {"quantity": "0.2"}, 409, "already_terminal"),
        (h, {}, 422, "validation"),
        (h, {"quantity": "-1"}, 422, "validation"),
        (h, {"limit_price": "NaN"}, 422, "validation"),
        (h, {"quantity": "1", "side": "sell"}, 422, "validation"),
        (api.auth(api.read), {"quantity": "0.2"}, 403, "forbidden"),
        ({}, {"quantity": "0.2"}, 401, "unauthenticated"),
    ]
    for headers, payload, status, kind in cases:
        async with api.http.post(url, json=payload, headers=headers) as r:
            assert r.status == status, (payload, await r.text())
            assert (await r.json())["kind"] == kind
    async with api.http.post(
        f"{api.url}/api/v1/orders/o-nope/amend", json={"quantity": "1"}, headers=h
    ) as r:
        assert r.status == 404
    assert api.session.store.last_position() == before


async def test_risk_routes_without_a_context_say_how_to_configure_one(api: Api) -> None:
    for path in ("/api/v1/risk/greeks", "/api/v1/risk/margin", "/api/v1/hedger"):
        status, body = await _get(api, path)
        assert status == 404 and isinstance(body, dict)
        assert body["kind"] == "not_configured"
    async with api.http.get(f"{api.url}/openapi.json") as r:
        doc = await r.json()
    assert {
        "/api/v1/risk/greeks",
        "/api/v1/risk/var",
        "/api/v1/risk/margin",
        "/api/v1/risk/liquidation",
        "/api/v1/hedger",
        "/api/v1/hedger/start",
        "/api/v1/hedger/stop",
        "/api/v1/orders/{order_id}/amend",
    } <= set(doc["paths"])
