"""``/docs``: Swagger UI from npm's swagger-ui-dist, served by the API itself (offline), and a
clear 404 when the package is not installed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from oms_chain.service.api.docs_routes import install_docs, swagger_ui_dir


async def _client(directory: Path) -> TestClient:
    app = web.Application()
    install_docs(app, directory)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.mark.skipif(
    not (swagger_ui_dir() / "swagger-ui-bundle.js").is_file(),
    reason="swagger-ui-dist is not installed (make setup installs it)",
)
async def test_docs_page_loads_swagger_ui_from_this_server_only() -> None:
    client = await _client(swagger_ui_dir())
    try:
        r = await client.get("/docs")
        assert r.status == 200
        page = await r.text()
        urls = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls)
        for path in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            asset = await client.get(path)
            assert asset.status == 200 and len(await asset.read()) > 10_000
    finally:
        await client.close()


async def test_docs_without_swagger_ui_answers_404_with_how_to_install(tmp_path: Path) -> None:
    client = await _client(tmp_path)
    try:
        r = await client.get("/docs")
        assert r.status == 404
        body = await r.json()
        assert body["kind"] == "not_configured" and "make setup" in body["error"]
    finally:
        await client.close()
