"""``GET /api/v1/risk/alerts`` against a real TradingSession on the devnet L1: the risk context's
rules evaluated on the engine's position (exact values), the hysteresis taken from what the
risk monitor recorded in the same store, the recorded alert events paged by position, and bad
paging answering 4xx (hypothesis), never a 500, writing nothing."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from api_client import ALERT_RULES, DAILY, Z99, Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_chain.risk import MarketSnapshot
from oms_chain.service.hedger import engine_holdings
from oms_chain.service.risk_monitor import MONITOR_STREAM, RiskMonitor


async def _get(api: Api, path: str, token: str | None = None) -> tuple[int, Any]:
    async with api.http.get(f"{api.url}{path}", headers=api.auth(token or api.read)) as r:
        return r.status, await r.json()


async def _buy(api: Api, quantity: str, intent_id: str) -> None:
    body = {"symbol": "WETH/USDC", "side": "buy", "quantity": quantity, "intent_id": intent_id}
    async with api.http.post(
        f"{api.url}/api/v1/intents", json=body, headers=api.auth(api.trade)
    ) as r:
        assert r.status == 201, await r.text()
        parent = await r.json()
    done = await api.session.wait(parent["order_id"], timeout=60, poll=0.05)
    assert done.status.value == "filled"


async def test_alerts_evaluate_the_rules_now_and_page_the_recorded_events(
    risk_api: Api,
) -> None:
    api = risk_api
    status, empty = await _get(api, "/api/v1/risk/alerts")
    assert status == 200, empty
    assert [r["name"] for r in empty["rules"]] == [r.name for r in ALERT_RULES]
    assert empty["active"] == [] and empty["events"] == []
    assert not any(r["breached"] for r in empty["rules"])

    await _buy(api, "0.5", "alerts-1")  # delta 0.5 WETH x 2,000 = 1,000 USD
    # the monitor sees a spot of 3,000 first: |delta| 1,500 raises both delta rules
    monitor = RiskMonitor(
        rules=ALERT_RULES,
        holdings=lambda: engine_holdings(api.session.engine),
        clock=api.clock,
        min_interval_s=0,
        store=api.session.store,
    )
    mark = api.session.store.last_position()
    alerts = await monitor.on_market(
        MarketSnapshot(now_ns=api.clock.now_ns(), spots={"WETH": Decimal(3000)})
    )
    assert alerts is not None
    assert sorted(a.rule.name for a in alerts) == ["delta-band", "delta-cap"]
    recorded = [r for r in api.session.store.read_all(mark) if r.stream_id == MONITOR_STREAM]
    assert [r.event_type for r in recorded] == ["PortfolioAlertRaised"] * 2

    status, out = await _get(api, "/api/v1/risk/alerts")
    assert status == 200, out
    assert out["ts_ns"] == api.clock.now_ns()
    rules = {r["name"]: r for r in out["rules"]}
    cap, band = rules["delta-cap"], rules["delta-band"]
    assert Decimal(cap["value"]) == Decimal(1000)
    assert (cap["breached"], cap["active"]) == (True, True)
    assert cap["message"] == "delta-cap: abs_delta_usd 1000.0 is above the limit 500"
    # 1,000 is below the band's threshold (1,200) but above its clear_at (800): not breached
    # now, still active because the monitor raised it and it has not come back
    assert Decimal(band["value"]) == Decimal(1000)
    assert (band["breached"], band["active"], band["message"]) == (False, True, None)
    var = rules["var-cap"]
    assert float(var["value"]) == pytest.approx(1000 * float(DAILY) * Z99, rel=1e-9)
    assert (var["breached"], var["active"]) == (False, False)
    liq = rules["weth-liquidation"]
    assert (liq["value"], liq["breached"], liq["active"]) == (None, False, False)
    assert out["active"] == ["delta-band", "delta-cap"]

    events = out["events"]
    assert [(e["event_type"], e["rule"]) for e in events] == [
        ("PortfolioAlertRaised", r.payload["rule"]) for r in recorded
    ]
    assert [e["position"] for e in events] == [r.position for r in recorded]
    by_rule = {e["rule"]: e for e in events}
    assert Decimal(by_rule["delta-cap"]["value"]) == Decimal(1500)
    assert Decimal(by_rule["delta-cap"]["threshold"]) == Decimal(500)
    assert by_rule["delta-band"]["underlying"] == "WETH" and by_rule["delta-band"]["raised"]
    assert out["next_after"] == out["last_position"] == api.session.store.last_position()

    # paged one at a time: the same two events, then nothing
    status, first = await _get(api, "/api/v1/risk/alerts?limit=1")
    assert status == 200 and [e["position"] for e in first["events"]] == [events[0]["position"]]
    assert first["next_after"] == events[0]["position"]
    status, second = await _get(api, f"/api/v1/risk/alerts?limit=1&after={first['next_after']}")
    assert [e["position"] for e in second["events"]] == [events[1]["position"]]
    status, rest = await _get(api, f"/api/v1/risk/alerts?after={second['next_after']}")
    assert status == 200 and rest["events"] == []
    assert rest["next_after"] == api.session.store.last_position()

    # the monitor at 1,000 USD: the cap stays raised (no news), the band stays too (hysteresis)
    again = await monitor.on_market(
        MarketSnapshot(now_ns=api.clock.now_ns(), spots={"WETH": Decimal(2000)})
    )
    assert again == ()


async def test_alerts_refuse_bad_paging_and_tokens_and_write_nothing(risk_api: Api) -> None:
    api = risk_api
    before = api.session.store.last_position()
    for query, loc in (
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("after=x", "after"),
        ("page=2", "page"),
    ):
        status, body = await _get(api, f"/api/v1/risk/alerts?{query}")
        assert status == 422, (query, body)
        assert body["kind"] == "validation" and body["details"][0]["loc"] == [loc]
    status, body = await _get(api, "/api/v1/risk/alerts?after=1&after=2")
    assert status == 422 and "more than once" in body["error"]
    async with api.http.get(f"{api.url}/api/v1/risk/alerts") as r:
        assert r.status == 401 and (await r.json())["kind"] == "unauthenticated"
    status, body = await _get(api, "/api/v1/risk/alerts", token="oms_00000000_" + "C" * 43)
    assert status == 401

    def fetch(params: dict[str, str]) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"{api.url}/api/v1/risk/alerts?{urlencode(params)}",
            headers={"Authorization": f"Bearer {api.read}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    seen: set[int] = set()

    @settings(
        max_examples=80,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        params=st.dictionaries(
            st.sampled_from(["after", "limit", "x"]),
            st.one_of(
                st.text(max_size=12),
                st.integers().map(str),
                st.just("1e9999"),
                st.just(str(2**63)),
            ),
            max_size=3,
        )
    )
    def check(params: dict[str, str]) -> None:
        status, out = fetch(params)
        seen.add(status)
        assert status in (200, 422), (params, out)
        if status == 422:
            assert out["status"] == 422 and out["error"] and out["kind"] == "validation"
        assert api.session.store.last_position() == before

    await asyncio.to_thread(check)
    assert 422 in seen


async def test_alerts_without_a_risk_context_say_how_to_configure_one(api: Api) -> None:
    status, body = await _get(api, "/api/v1/risk/alerts")
    assert status == 404 and body["kind"] == "not_configured"
    async with api.http.get(f"{api.url}/openapi.json") as r:
        doc = await r.json()
    op = doc["paths"]["/api/v1/risk/alerts"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"after", "limit"}
    assert "404" in op["responses"]
