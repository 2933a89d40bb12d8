"""The websocket stream: every event in position order; a client that disconnects and
reconnects with the last position it received misses none and sees none twice."""

from __future__ import annotations

from typing import Any

import aiohttp
from api_client import Api

SUBMIT = {"symbol": "WETH/USDC", "side": "buy", "quantity": "0.02"}


async def _submit(api: Api, intent_id: str) -> str:
    body = {**SUBMIT, "intent_id": intent_id}
    async with api.http.post(
        f"{api.url}/api/v1/intents", json=body, headers=api.auth(api.trade)
    ) as r:
        assert r.status == 201, await r.text()
        oid = str((await r.json())["order_id"])
    await api.session.wait(oid, timeout=60, poll=0.05)
    return oid


async def _take(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < n:
        msg = await ws.receive_json(timeout=30)
        assert msg["type"] == "event", msg
        out.append(msg["event"])
    return out


async def test_stream_resumes_without_gaps_or_duplicates(api: Api) -> None:
    await _submit(api, "ws-1")
    first_batch = api.session.store.last_position()
    assert first_batch > 4
    got: list[dict[str, Any]] = []
    async with api.http.ws_connect(
        f"{api.url}/api/v1/stream?after=0", headers=api.auth(api.read)
    ) as ws:
        assert await ws.receive_json(timeout=10) == {"type": "ready", "after": 0}
        got += await _take(ws, 3)  # then drop the connection mid-backlog
    await _submit(api, "ws-2")  # written while nobody listens
    end = api.session.store.last_position()
    async with api.http.ws_connect(
        f"{api.url}/api/v1/stream", params={"after": got[-1]["position"]}
    ) as ws:
        await ws.send_json({"token": api.read})  # the browser's way: token as first message
        assert (await ws.receive_json(timeout=10))["after"] == 3
        got += await _take(ws, end - 3)
        # live: an order placed now arrives over the open stream
        await _submit(api, "ws-3")
        live_end = api.session.store.last_position()
        got += await _take(ws, live_end - end)
    positions = [e["position"] for e in got]
    assert positions == list(range(1, live_end + 1))
    recorded = list(api.session.store.read_all())
    assert [e["event_id"] for e in got] == [r.event_id for r in recorded]
    assert [e["hash"] for e in got] == [r.hash for r in recorded]


async def test_stream_without_from_starts_now(api: Api) -> None:
    await _submit(api, "ws-now")
    now = api.session.store.last_position()
    async with api.http.ws_connect(f"{api.url}/api/v1/stream", headers=api.auth(api.read)) as ws:
        assert await ws.receive_json(timeout=10) == {"type": "ready", "after": now}
        await _submit(api, "ws-after")
        got = await _take(ws, api.session.store.last_position() - now)
    assert got[0]["position"] == now + 1


async def test_stream_refuses_wrong_missing_and_revoked_tokens(api: Api) -> None:
    async with api.http.ws_connect(f"{api.url}/api/v1/stream") as ws:
        await ws.send_json({"token": "oms_00000000_" + "B" * 43})
        msg = await ws.receive_json(timeout=10)
        assert (msg["type"], msg["status"], msg["kind"]) == ("error", 401, "unauthenticated")
        await ws.receive(timeout=10)
        assert ws.close_code == 4401
    async with api.http.ws_connect(f"{api.url}/api/v1/stream") as ws:
        await ws.send_str("not json")
        assert (await ws.receive_json(timeout=10))["status"] == 401
    token, info = api.tokens.create("gone", "read")
    api.tokens.revoke(info.token_id)
    async with api.http.get(f"{api.url}/api/v1/stream", headers=api.auth(token)) as r:
        assert r.status == 401  # refused before the upgrade
