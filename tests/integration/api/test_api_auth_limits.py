"""Tokens (missing, wrong, malformed, revoked, read-only on a trading endpoint), the rate limit
on an injected clock and the body size limit: each a JSON 4xx, nothing written."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from api_client import Api

from oms_chain.service.api import ApiConfig, create_app

SUBMIT = {"symbol": "WETH/USDC", "side": "buy", "quantity": "0.01"}


async def _post(api: Api, headers: dict[str, str], body: object = SUBMIT) -> tuple[int, dict]:
    async with api.http.post(f"{api.url}/api/v1/intents", json=body, headers=headers) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer oms_00000000_" + "A" * 43},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "malformed", "basic", "empty"],
)
async def test_no_valid_token_no_access(api: Api, headers: dict[str, str]) -> None:
    before = api.session.store.last_position()
    status, body = await _post(api, headers)
    assert status == 401 and body["kind"] == "unauthenticated"
    for path in ("/api/v1/orders", "/api/v1/events", "/api/v1/balances", "/api/v1/health"):
        async with api.http.get(f"{api.url}{path}", headers=headers) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await r.json())["status"] == 401
    assert api.session.store.last_position() == before


async def test_revoked_token_is_refused(api: Api) -> None:
    token, info = api.tokens.create("short-lived", "trade")
    async with api.http.get(f"{api.url}/api/v1/orders", headers=api.auth(token)) as r:
        assert r.status == 200
    assert api.tokens.revoke(info.token_id).revoked_ns is not None
    async with api.http.get(f"{api.url}/api/v1/orders", headers=api.auth(token)) as r:
        assert r.status == 401
        assert "revoked" in (await r.json())["error"]
    listed = {t.token_id: t for t in api.tokens.list()}
    assert not listed[info.token_id].active and listed[info.token_id].name == "short-lived"


async def test_read_only_token_cannot_trade(api: Api) -> None:
    before = api.session.store.last_position()
    status, body = await _post(api, api.auth(api.read))
    assert (status, body["kind"]) == (403, "forbidden")
    async with api.http.post(
        f"{api.url}/api/v1/orders/whatever/cancel", headers=api.auth(api.read)
    ) as r:
        assert r.status == 403
    async with api.http.get(f"{api.url}/api/v1/orders", headers=api.auth(api.read)) as r:
        assert r.status == 200
    assert api.session.store.last_position() == before


async def test_rate_limit_per_token_on_the_injected_clock(api: Api) -> None:
    app = create_app(
        api.session, api.tokens, config=ApiConfig(rate_per_s=1, burst=2), clock=api.clock
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("/api/v1/orders"))
        async with aiohttp.ClientSession() as http:

            async def get(token: str) -> aiohttp.ClientResponse:
                async with http.get(url, headers=api.auth(token)) as r:
                    await r.read()
                    return r

            assert [(await get(api.read)).status for _ in range(2)] == [200, 200]
            third = await get(api.read)
            assert third.status == 429 and third.headers["Retry-After"] == "1"
            assert (await get(api.trade)).status == 200  # another token, another bucket
            api.clock.advance(500_000_000)
            assert (await get(api.read)).status == 429
            api.clock.advance(500_000_000)
            assert (await get(api.read)).status == 200
    finally:
        await server.close()


async def test_body_too_large_is_413_json(api: Api) -> None:
    big = {**SUBMIT, "intent_id": "x" * 70_000}
    status, body = await _post(api, api.auth(api.trade), big)
    assert status == 413 and body["kind"] == "too_large" and "65536 bytes" in body["error"]


async def test_wrong_content_type_unknown_route_and_method(api: Api) -> None:
    async with api.http.post(
        f"{api.url}/api/v1/intents", data="symbol=x", headers=api.auth(api.trade)
    ) as r:
        assert r.status == 415 and (await r.json())["kind"] == "unsupported_media_type"
    async with api.http.get(f"{api.url}/api/v1/nothing", headers=api.auth(api.read)) as r:
        assert r.status == 404 and (await r.json())["kind"] == "not_found"
    async with api.http.delete(f"{api.url}/api/v1/orders", headers=api.auth(api.read)) as r:
        assert r.status == 405 and (await r.json())["kind"] == "method_not_allowed"
    async with api.http.get(
        f"{api.url}/api/v1/orders/no-such-order", headers=api.auth(api.read)
    ) as r:
        assert r.status == 404 and (await r.json())["kind"] == "unknown_order"
