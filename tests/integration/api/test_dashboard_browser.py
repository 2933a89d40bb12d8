"""The dashboard in headless Chromium (Debian's, driven by Playwright): signed in with a token
it shows an order submitted from its form appear and fill, live over the websocket; a wrong
token sees the refusal."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from api_client import Api

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
