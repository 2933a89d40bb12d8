"""The structures API on the devnet's OptionsMarket: a put spread submitted over HTTP opens in
ONE BatchExecutor transaction, is listed and shown with its legs and events from the event
store, posting it again sends nothing; bad bodies (hypothesis) are 4xx and write nothing; a
server without a desk answers 404 not_configured; the OpenAPI document lists it all."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from api_client import ERC20_TRANSFER, Api, serve_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dashboard_browser import page  # noqa: F401  (the headless Chromium page fixture)

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker
from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain
from oms_chain.model import ManualClock, SystemClock
from oms_chain.model.errors import InvalidInput
from oms_chain.service import TradingSession
from oms_chain.service.api.structure_routes import StructureDesk, install_structures
from oms_chain.service.structures import StructureRunner
from oms_chain.store import open_store
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.options import onchain_options_venue
from oms_chain.venues.options.batch import AtomicOptionsBatch

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture
async def desk_api(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> AsyncIterator[tuple[Api, list[str]]]:
    """The API with a structure desk: the deployer's BatchExecutor (funded with USDC) on the
    OptionsMarket, an in-process RFQ maker (account 4); yields the API and two put symbols."""
    owner = devnet_accounts[0]
    executor = l1.book.address("BatchExecutor")
    usdc = l1.w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_TRANSFER)
    tx = usdc.functions.transfer(executor, 20_000 * 10**6).transact({"from": owner.address})
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    maker = OptionsMaker(
        OptionsMarketClient.from_book(l1.w3, l1.book),
        devnet_accounts[4].private_key,
        config=MakerConfig(max_size=1_000_000),
    )
    await asyncio.to_thread(maker.prepare)
    venue_store = open_store(f"sqlite:///{tmp_path / 'venue.db'}")
    rpc = RpcClient([l1.rpc_url])
    account = ChainAccount(
        rpc, chain_info(l1.chain_id), LocalSigner(owner.private_key), venue_store
    )
    async with maker:
        venue = onchain_options_venue(account, l1.book, (maker.url,), executor=executor)
        async with venue:
            puts = sorted(
                (c for c in venue.instruments() if c.symbol.endswith("-P")),
                key=lambda c: (c.expiry_ns, c.strike),
            )
            symbols = [c.symbol for c in puts if c.strike in (2500, 3000)][:2]

            def prepare(app: web.Application, session: TradingSession, _: ManualClock) -> None:
                runner = StructureRunner(
                    store=session.store, clock=SystemClock(), batch=AtomicOptionsBatch(venue)
                )
                desk = StructureDesk.onchain(runner, venue, owner.address, Decimal("0.6"))
                install_structures(app, desk)

            try:
                async with serve_api(
                    oms_devnet, l1, devnet_accounts, tmp_path, prepare=prepare
                ) as api:
                    yield api, symbols
            finally:
                await account.close()
                await rpc.close()
                venue_store.close()


def _call(method: str, url: str, token: str, body: bytes | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _spread(symbols: list[str], sid: str = "api-put-spread") -> dict[str, Any]:
    low, high = symbols
    return {
        "structure_id": sid,
        "kind": "put_spread",
        "legs": [
            {"instrument": high, "side": "buy", "quantity": "1"},
            {"instrument": low, "side": "sell", "quantity": "1"},
        ],
        "limits": {"max_loss": "1000", "max_net_premium": "500"},
    }


async def test_a_structure_posted_opens_atomically_and_is_listed_with_its_legs(
    desk_api: tuple[Api, list[str]], l1: DevnetChain
) -> None:
    api, symbols = desk_api
    deployer = l1.accounts[0].address
    body = json.dumps(_spread(symbols)).encode()
    nonce0 = l1.w3.eth.get_transaction_count(deployer)
    url = f"{api.url}/api/v1/structures"
    status, out = await asyncio.to_thread(_call, "POST", url, api.read, body)
    assert status == 403 and out["kind"] == "forbidden"
    status, out = await asyncio.to_thread(_call, "POST", url, api.trade, body)
    assert status == 201, out
    assert out["status"] == "open" and out["kind"] == "put_spread" and out["tx_hash"]
    assert [(leg["symbol"], leg["side"], leg["filled"]) for leg in out["legs"]] == [
        (symbols[1], "buy", "1"),
        (symbols[0], "sell", "1"),
    ]
    assert Decimal(out["net_premium"]) > 0  # the bought 3,000 put costs more: a debit
    assert l1.w3.eth.get_transaction_count(deployer) == nonce0 + 1  # ONE transaction

    again = await asyncio.to_thread(_call, "POST", url, api.trade, body)
    assert again[0] == 200 and again[1]["tx_hash"] == out["tx_hash"]
    assert l1.w3.eth.get_transaction_count(deployer) == nonce0 + 1  # sent once
    other = _spread(symbols)
    other["legs"][0]["quantity"] = "2"
    status, err = await asyncio.to_thread(_call, "POST", url, api.trade, json.dumps(other).encode())
    assert status == 422 and "pick a new id" in err["error"]

    status, listed = await asyncio.to_thread(_call, "GET", url, api.read)
    assert status == 200 and [s["structure_id"] for s in listed] == ["api-put-spread"]
    assert len(listed[0]["legs"]) == 2 and "events" not in listed[0]
    status, shown = await asyncio.to_thread(_call, "GET", f"{url}/api-put-spread", api.read)
    assert status == 200 and shown["status"] == "open"
    types = [e["type"] for e in shown["events"]]
    assert types[0] == "StructureSubmitted" and types[-1] == "StructureCompleted"
    assert types.count("StructureLegFilled") == 2
    status, missing = await asyncio.to_thread(_call, "GET", f"{url}/nope", api.read)
    assert status == 404 and missing["kind"] == "not_found"


async def test_the_dashboard_shows_a_structure_with_its_legs(
    desk_api: tuple[Api, list[str]],
    page: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    api, symbols = desk_api
    body = json.dumps(_spread(symbols, "dash-spread")).encode()
    status, out = await asyncio.to_thread(
        _call, "POST", f"{api.url}/api/v1/structures", api.trade, body
    )
    assert status == 201 and out["status"] == "open", out
    await page.goto(f"{api.url}/")
    await page.fill("#token", api.read)
    await page.click("#login-form button")
    await expect(page.locator("#status")).to_have_text("live", timeout=15_000)
    rows = page.locator('#structures tbody tr[data-structure-id="dash-spread"]')
    await expect(rows).to_have_count(2, timeout=15_000)
    first = rows.first
    await expect(first.locator("td.state")).to_have_text("open")
    await expect(first).to_contain_text(symbols[1])
    await expect(rows.nth(1)).to_contain_text(symbols[0])
    await expect(rows.nth(1)).to_contain_text("sell")


NOT_AMOUNT = st.sampled_from(
    [0, -1, "0", "abc", "", "NaN", "Infinity", "1e999", True, [], "\u0661"]
)


@st.composite
def bad_structures(draw: st.DrawFn, symbols: list[str]) -> bytes:
    body = _spread(symbols, "fuzzed")
    kind = draw(st.sampled_from(["id", "kind", "legs", "leg", "limits", "extra", "raw"]))
    if kind == "id":
        body["structure_id"] = draw(st.sampled_from(["", " ", "a b", "x" * 65, 1, None, "é"]))
    elif kind == "kind":
        body["kind"] = draw(st.sampled_from(["", "Iron Condor", 5, None, "x" * 40]))
    elif kind == "legs":
        body["legs"] = draw(st.sampled_from([[], "legs", None, [{}], [1], body["legs"] * 5]))
    elif kind == "leg":
        field = draw(st.sampled_from(["instrument", "side", "quantity"]))
        bad = {
            "instrument": st.sampled_from(["", "NOPE-1JAN27-1-P", 7, None, "a b"]),
            "side": st.sampled_from(["", "long", "BUY", 1, None]),
            "quantity": NOT_AMOUNT | st.just("0.123456789"),
        }[field]
        body["legs"][0][field] = draw(bad)
    elif kind == "limits":
        name = draw(st.sampled_from(["max_loss", "max_net_premium", "max_margin", "other"]))
        body["limits"][name] = draw(NOT_AMOUNT)
        if name == "max_net_premium" and body["limits"][name] in (-1, "0", 0):
            body["limits"][name] = "NaN"
    elif kind == "extra":
        body[draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in body))] = 1
    else:
        return draw(st.binary(max_size=64))
    return json.dumps(body).encode()


async def test_bad_structures_are_4xx_and_write_nothing(
    desk_api: tuple[Api, list[str]], l1: DevnetChain
) -> None:
    api, symbols = desk_api
    store = api.session.store
    before = store.last_position()
    nonce0 = l1.w3.eth.get_transaction_count(l1.accounts[0].address)
    seen: set[int] = set()

    @settings(
        max_examples=80,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bad_structures(symbols))
    def check(body: bytes) -> None:
        status, out = _call("POST", f"{api.url}/api/v1/structures", api.trade, body)
        seen.add(status)
        assert 400 <= status < 500, (status, body, out)
        assert out["status"] == status and out["error"] and out["kind"]
        assert store.last_position() == before, body

    await asyncio.to_thread(check)
    assert seen <= {400, 422}
    assert l1.w3.eth.get_transaction_count(l1.accounts[0].address) == nonce0


async def test_without_a_desk_posting_answers_not_configured_and_openapi_says_so(
    api: Api,
) -> None:
    body = json.dumps({"structure_id": "x", "legs": []}).encode()
    status, out = await asyncio.to_thread(
        _call, "POST", f"{api.url}/api/v1/structures", api.trade, body
    )
    assert status == 404 and out["kind"] == "not_configured"
    status, listed = await asyncio.to_thread(_call, "GET", f"{api.url}/api/v1/structures", api.read)
    assert status == 200 and listed == []
    async with api.http.get(f"{api.url}/openapi.json") as r:
        doc = await r.json()
    paths = doc["paths"]
    post = paths["/api/v1/structures"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SubmitStructure"
    )
    assert "not_configured" in post["responses"]["404"]["description"]
    assert "201" in post["responses"] and "422" in post["responses"]
    assert "get" in paths["/api/v1/structures/{structure_id}"]
    for path in ("/api/v1/risk/greeks", "/api/v1/risk/var", "/api/v1/hedger"):
        op = paths[path].get("get") or paths[path]["post"]
        assert "not_configured" in op["responses"]["404"]["description"], path
    assert "SubmitStructure" in doc["components"]["schemas"]

    @settings(
        max_examples=60,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(sid=st.text(min_size=1, max_size=80))
    def check(sid: str) -> None:
        from urllib.parse import quote

        url = f"{api.url}/api/v1/structures/{quote(sid, safe='')}"
        status, out = _call("GET", url, api.read)
        assert status in (404, 422), (sid, out)
        assert out["kind"] in ("not_found", "validation"), out

    await asyncio.to_thread(check)


async def test_session_desk_needs_the_executor_to_be_the_signers(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], tmp_path: Path
) -> None:
    """``session_desk`` (what ``oms serve --config`` installs): the deployer's session gets a
    desk listing the market's series; another account's session gets none, and is told why."""
    from oms_chain.service.api.structure_routes import session_desk

    runtime = {"l1": {**l1.describe(), "options_makers": ["http://127.0.0.1:1"]}}
    for who, key in (("deployer", devnet_accounts[0]), ("other", devnet_accounts[6])):
        session = TradingSession.from_devnet_runtime(
            runtime,
            f"sqlite:///{tmp_path / f'{who}.db'}",
            key.private_key,
            with_exchange=False,
            with_options=True,
        )
        skipped: list[str] = []
        async with (
            session,
            session_desk(session, vol=Decimal("0.6"), on_skip=skipped.append) as desk,
        ):
            if who == "deployer":
                assert desk is not None and skipped == []
                assert any(c.symbol.startswith("WETH-") for c in desk.instruments())
            else:
                assert desk is None
                (why,) = skipped
                assert f"chain {l1.chain_id}:" in why and "is owned by" in why
                assert key.address.lower() in why.lower()
    with pytest.raises(InvalidInput, match="vol must be a Decimal in"):
        async with session_desk(session, vol=Decimal(5)):
            pass
