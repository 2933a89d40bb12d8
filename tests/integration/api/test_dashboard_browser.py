"""The dashboard in headless Chromium (Debian's, driven by Playwright): signed in with a token
it shows an order submitted from its form appear and fill, live over the websocket, with the
charts drawn from its fills and the risk panel saying "not configured" (or showing numbers on a
server with a risk context); a wrong token sees the refusal."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from api_client import ALERT_RULES, Api

from oms_chain.model.ids import IntentId
from oms_chain.risk import MarketSnapshot
from oms_chain.service.hedger import engine_holdings
from oms_chain.service.risk_monitor import RiskMonitor

CHROMIUM = Path(os.environ.get("OMS_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs it")
        pytest.skip(f"{CHROMIUM} is missing (`make chromium` installs Debian's chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            context = await browser.new_context()
            yield await context.new_page()
        finally:
            await browser.close()


async def test_dashboard_shows_an_order_appear_and_fill(api: Api, page: Any) -> None:
    from playwright.async_api import expect

    await page.goto(f"{api.url}/")
    await page.fill("#token", api.trade)
    await page.click("#login-form button")
    await expect(page.locator("#status")).to_have_text("live", timeout=15_000)
    await page.fill("#quantity", "0.25")
    await page.select_option("#side", "buy")
    await page.click("#order-form button")
    row = page.locator("#orders tbody tr").first
    await expect(row).to_have_count(1, timeout=15_000)
    await expect(row.locator("td.state")).to_have_text("filled", timeout=30_000)
    await expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^0\.25"))
    order_id = await row.get_attribute("data-order-id")
    parent = api.session.engine.order(order_id)
    assert parent.status.value == "filled"
    fills = page.locator("#fills tbody tr")
    await expect(fills).to_have_count(len(api.session.engine.projections.fills))
    assert await page.locator("#order-error").text_content() == ""
    await _expect_charts(page, len(api.session.engine.projections.fills))
    await expect(page.locator("#risk-status")).to_have_text(re.compile(r"^not configured"))
    assert await page.locator("#risk-var").text_content() == "-"
    await expect(page.locator("#delta-source")).to_have_text("(net spot position) no hedger band")
    routing = page.locator("#routing tbody tr")
    await expect(routing.first).to_have_attribute("data-order-id", order_id)
    await expect(page.locator("#positions tbody tr")).not_to_have_count(0)
    await expect(page.locator("#alerts-status")).to_have_text(re.compile(r"^not configured"))
    await expect(page.locator("#hedger-status")).to_have_text(re.compile(r"^not configured"))
    await expect(page.locator("#hedger-policy")).to_have_text("-")
    await _expect_balances(page, api)


async def _expect_balances(page: Any, api: Api) -> None:
    """A row per asset of each venue the session trades, as the venue reports it now."""
    from playwright.async_api import expect

    venues = api.session.venues()
    first = sorted(venues)[0]
    held = await venues[first].balances()
    rows = page.locator(f'#balances tbody tr[data-venue="{first}"]')
    await expect(rows).to_have_count(len(held), timeout=15_000)
    assert len(held) > 0
    asset = await rows.first.locator("td").nth(1).text_content()
    assert asset in held


async def _expect_charts(page: Any, fills: int) -> None:
    """Every chart is an SVG with data: a marker per fill on the price chart, a PnL line through
    the fills, a delta line and a bar per venue."""
    from playwright.async_api import expect

    price = page.locator("#chart-price")
    await expect(price.locator("circle.marker")).to_have_count(fills, timeout=15_000)
    await expect(price).to_have_attribute("data-points", str(2 * fills))
    path = page.locator("#chart-pnl path.line")
    await expect(path).to_have_count(1)
    assert (await path.get_attribute("d") or "").startswith("M")
    await expect(page.locator("#chart-delta path.line")).to_have_count(1)
    await expect(page.locator("#chart-venues rect.bar")).not_to_have_count(0)


async def test_dashboard_risk_panel_shows_numbers_and_the_delta_band(
    risk_api: Api, page: Any
) -> None:
    from playwright.async_api import expect

    api = risk_api
    await page.goto(f"{api.url}/")
    await page.fill("#token", api.read)
    await page.click("#login-form button")
    await expect(page.locator("#status")).to_have_text("live", timeout=15_000)
    body = {"symbol": "WETH/USDC", "side": "buy", "quantity": "0.5", "intent_id": "dash-risk"}
    async with api.http.post(
        f"{api.url}/api/v1/intents", json=body, headers=api.auth(api.trade)
    ) as r:
        assert r.status == 201, await r.text()
        order_id = (await r.json())["order_id"]
    assert (await api.session.wait(order_id, timeout=60, poll=0.05)).status.value == "filled"
    row = page.locator("#orders tbody tr").first
    await expect(row.locator("td.state")).to_have_text("filled", timeout=30_000)
    await expect(page.locator("#risk-status")).to_have_text("")
    number = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?$")
    await expect(page.locator("#risk-delta-usd")).to_have_text("1,000", timeout=15_000)
    for field in ("#risk-var", "#risk-es", "#risk-initial", "#risk-maintenance", "#risk-equity"):
        await expect(page.locator(field)).to_have_text(number)
    liq = page.locator("#liquidation tbody tr")
    await expect(liq).to_have_count(1)
    await expect(liq.locator("td").first).to_have_text("WETH")
    await _expect_charts(page, len(api.session.engine.projections.fills))
    await expect(page.locator("#chart-delta rect.band")).to_have_count(1)
    await expect(page.locator("#delta-source")).to_contain_text("risk engine")
    await _expect_balances(page, api)

    # alerts: |delta| 1,000 USD is over the cap (500) now; nothing recorded yet
    cap = page.locator('#alert-rules tbody tr[data-rule="delta-cap"]')
    await expect(page.locator("#alert-rules tbody tr")).to_have_count(len(ALERT_RULES))
    await expect(cap.locator("td.state")).to_have_text("RAISED")
    await expect(cap.locator("td").nth(2)).to_have_text("1,000")
    await expect(page.locator("#alerts-status")).to_have_text("1 of 4 rules active")
    await expect(page.locator("#alert-events tbody tr")).to_have_count(0)
    # the monitor, at a spot of 3,000, records the cap and the band: the page lists both events
    # and keeps the band raised at 1,000 (inside its clearing band, 800 to 1,200)
    monitor = RiskMonitor(
        rules=ALERT_RULES,
        holdings=lambda: engine_holdings(api.session.engine),
        clock=api.clock,
        min_interval_s=0,
        store=api.session.store,
    )
    spot = MarketSnapshot(now_ns=api.clock.now_ns(), spots={"WETH": Decimal(3000)})
    assert len(await monitor.on_market(spot) or ()) == 2
    events = page.locator("#alert-events tbody tr")
    await expect(events).to_have_count(2, timeout=15_000)
    await expect(events.first.locator("td.state")).to_have_text("raised")
    band = page.locator('#alert-rules tbody tr[data-rule="delta-band"]')
    await expect(band.locator("td.state")).to_have_text("raised (clearing band)", timeout=15_000)
    await expect(page.locator("#alerts-status")).to_have_text("2 of 4 rules active")

    # the hedger: idle, then started over the API: its delta against the band, its hedge
    await expect(page.locator("#hedger-policy")).to_have_text("api-test (WETH/USDC)")
    await expect(page.locator("#hedger-running")).to_have_text("stopped")
    await expect(page.locator("#hedger-inband")).to_have_text("not evaluated yet")
    await expect(page.locator("#hedger-band")).to_have_text("-0.1 .. 0.1 (0 ± 0.1)")
    async with api.http.post(f"{api.url}/api/v1/hedger/start", headers=api.auth(api.trade)) as r:
        assert r.status == 202, await r.text()
    hedge = api.session.engine.projections.intents[IntentId("hedge-api-test-1")]
    await api.session.wait(hedge, timeout=60, poll=0.05)
    await expect(page.locator("#hedger-running")).to_have_text("running", timeout=15_000)
    await expect(page.locator("#hedger-delta")).to_have_text("0.5")
    await expect(page.locator("#hedger-inband")).to_have_text("OUTSIDE the band")
    await expect(page.locator("#hedger-action")).to_have_text("hedge")
    await expect(page.locator("#hedger-hedges")).to_have_text("1")


async def test_dashboard_refuses_a_wrong_token(api: Api, page: Any) -> None:
    from playwright.async_api import expect

    await page.goto(f"{api.url}/")
    await page.fill("#token", "oms_00000000_" + "C" * 43)
    await page.click("#login-form button")
    await expect(page.locator("#login-error")).to_have_text(
        re.compile(r"^Refused: token refused"), timeout=15_000
    )
    assert await page.locator("#board").is_hidden()
    assert not api.session.engine.orders()


async def test_swagger_ui_renders_every_route_offline(api: Api, page: Any) -> None:
    from playwright.async_api import expect

    from oms_chain.service.api.docs_routes import swagger_ui_dir

    if not (swagger_ui_dir() / "swagger-ui-bundle.js").is_file():
        pytest.skip("swagger-ui-dist is not installed (make setup installs it)")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    await page.goto(f"{api.url}/docs")
    await expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    paths = await page.locator(".opblock-summary-path").all_text_contents()
    assert {"/api/v1/risk/greeks", "/api/v1/hedger/start", "/api/v1/intents"} <= {
        p.replace("\u200b", "") for p in paths
    }
    assert asked and all(u.startswith(api.url) for u in asked), asked  # nothing from elsewhere
