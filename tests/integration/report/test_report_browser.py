"""The HTML report in headless Chromium (Debian's, driven by Playwright) with every network
request blocked: it loads from a file, its tables are there and every plot rendered."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "service"))
from report_world import build_store

from oms_chain.service.report import render_html, report_from_store
from oms_chain.store import open_store

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
            context = await browser.new_context(offline=True)
            yield await context.new_page()
        finally:
            await browser.close()


@pytest.fixture
def html(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    build_store(url)
    with open_store(url) as es:
        rep = report_from_store(es, arrival_prices={"o-split1": Decimal(2000)})
    out = tmp_path / "report.html"
    out.write_text(render_html(rep), encoding="utf-8")
    return out


async def test_report_opens_offline_and_shows_its_plots(html: Path, page: Any) -> None:

    requested: list[str] = []

    async def block(route: Any) -> None:
        if not route.request.url.startswith(("file:", "data:")):
            requested.append(route.request.url)
            await route.abort()
        else:
            await route.continue_()

    await page.route("**/*", block)
    await page.goto(html.as_uri())
    assert await page.locator("#parents tbody tr").count() == 2
    assert await page.locator("#risk tbody tr").count() == 2
    images = page.locator("img.chart")
    assert await images.count() == 5
    sizes = await images.evaluate_all(
        "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
    )
    assert all(done and w > 100 and h > 50 for done, w, h in sizes), sizes
    assert requested == []
    # the hostile policy name and message are text, not markup
    assert await page.locator("script").count() == 0
    assert await page.locator("img:not(.chart)").count() == 0
