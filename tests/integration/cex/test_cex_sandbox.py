"""A sandboxed (testnet) ccxt venue cannot reach a production host.

ccxt switches an exchange to its testnet only through ``set_sandbox_mode(True)`` (an option named
``sandboxMode`` is ignored). These tests take the URLs a sandboxed venue would call from
unmodified ccxt: its ``urls['api']``, and every HTTP and websocket request it actually makes
during a whole trading session, seen at aiohttp's request level. Those requests are delivered to
the local simulator (same paths) so the session runs end to end; the host each was addressed to
is what is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.pro as ccxt_pro
import pytest
from cex_helpers import API_KEY, BALANCES, SECRET
from yarl import URL

from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.service import ExchangeEndpoint, TradingSession
from oms_chain.testing import running_simulator
from oms_chain.venues.cex import CcxtVenue, CcxtVenueConfig

TESTNET_HOSTS = {
    "testnet.binance.vision",
    "stream.testnet.binance.vision",
    "ws-api.testnet.binance.vision",
    "testnet.binancefuture.com",
    "fstream.binancefuture.com",
    "dstream.binancefuture.com",
}


def _hosts(urls: Any) -> set[str]:
    if isinstance(urls, dict):
        return set().union(*(_hosts(v) for v in urls.values()))
    if isinstance(urls, str) and "://" in urls:
        return {URL(urls).host or ""}
    return set()


PRODUCTION_HOSTS = _hosts(ccxt_pro.binance().urls["api"])


def test_a_sandboxed_venue_has_only_testnet_urls() -> None:
    venue = CcxtVenue(CcxtVenueConfig(exchange="binance", sandbox=True))
    urls = venue.exchange.urls["api"]
    assert _hosts(urls) == TESTNET_HOSTS
    assert not _hosts(urls) & PRODUCTION_HOSTS
    assert "api.binance.com" in PRODUCTION_HOSTS  # the comparison has teeth
    assert urls["public"] == "https://testnet.binance.vision/api/v3"
    assert urls["ws"]["spot"] == "wss://stream.testnet.binance.vision/ws"


def test_the_ignored_sandbox_option_alone_leaves_production_urls() -> None:
    # what the session used to do: an option ccxt does not read for URLs
    venue = CcxtVenue(CcxtVenueConfig(exchange="binance", options={"sandboxMode": True}))
    assert "api.binance.com" in _hosts(venue.exchange.urls["api"])


def test_sandbox_and_local_urls_exclude_each_other_and_an_exchange_without_testnet_is_refused() -> (
    None
):
    with pytest.raises(ConfigError, match=r"'sandbox'.*exclude each other"):
        CcxtVenueConfig(exchange="binance", sandbox=True, urls={"public": "http://127.0.0.1:1"})
    with pytest.raises(ConfigError, match="'upbit' has no sandbox"):
        CcxtVenue(CcxtVenueConfig(exchange="upbit", sandbox=True))


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    config = SimulatorConfig(seed=5, fast_depth_interval_s=0.05)
    async with running_simulator(config, {API_KEY: (SECRET, BALANCES)}) as simulator:
        yield simulator


async def test_a_sandboxed_session_sends_every_request_to_a_testnet_host(
    sim: ExchangeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, URL]] = []
    request = aiohttp.ClientSession._request
    local = URL(sim.url)

    async def deliver_locally(
        self: aiohttp.ClientSession, method: str, str_or_url: Any, **kw: Any
    ) -> Any:
        url = URL(str(str_or_url))
        seen.append((method, url))
        scheme = "ws" if url.scheme in ("ws", "wss") else "http"
        routed = url.with_scheme(scheme).with_host(local.host or "").with_port(local.port)
        kw.pop("ssl", None)
        return await request(self, method, routed, **kw)

    monkeypatch.setattr(aiohttp.ClientSession, "_request", deliver_locally)
    endpoint = ExchangeEndpoint(
        exchange="binance",
        api_key=API_KEY,
        secret=SECRET,
        sandbox=True,
        options={"fetchMarkets": {"types": ["spot"]}},
    )
    session = TradingSession(
        store_url="sqlite:///:memory:", chains=[], signer=_no_chain_signer(), exchange=endpoint
    )
    async with session:
        intent = session.intent("ETH/USDC", "buy", Decimal("0.5"), max_slippage_bps=200)
        parent = await session.submit(intent)
        parent = await session.wait(parent.order_id, timeout=60, poll=0.05)
        assert parent.status.value == "filled", parent.reason
        await asyncio.sleep(0)
    methods = {(m, u.path) for m, u in seen}
    assert ("GET", "/api/v3/exchangeInfo") in methods
    assert ("POST", "/api/v3/order") in methods  # the signed order itself
    assert any(u.scheme == "wss" for _, u in seen)  # the depth / user streams
    hosts = {u.host for _, u in seen}
    assert hosts <= TESTNET_HOSTS, hosts
    assert not hosts & PRODUCTION_HOSTS


def _no_chain_signer() -> Any:
    from oms_chain.custody.local import LocalSigner

    return LocalSigner("0x" + "11" * 32)


def test_a_session_refuses_a_production_exchange_without_live() -> None:
    signer = _no_chain_signer()
    prod = ExchangeEndpoint(exchange="binance", api_key="k", secret="s")
    with pytest.raises(InvalidInput, match=r"would trade real money .* set live = true"):
        TradingSession(store_url="sqlite:///:memory:", chains=[], signer=signer, exchange=prod)
    remote = ExchangeEndpoint(exchange="binance", rest_url="http://10.1.2.3:8080")
    with pytest.raises(InvalidInput, match=r"10\.1\.2\.3"):
        TradingSession(store_url="sqlite:///:memory:", chains=[], signer=signer, exchange=remote)
    for ok in (
        ExchangeEndpoint(exchange="binance", live=True),
        ExchangeEndpoint(exchange="binance", sandbox=True),
        ExchangeEndpoint(exchange="binance", rest_url="http://127.0.0.1:8080"),
    ):
        TradingSession(store_url="sqlite:///:memory:", chains=[], signer=signer, exchange=ok)
    with pytest.raises(InvalidInput, match="sandbox=True"):
        ExchangeEndpoint(exchange="binance", sandbox=True, live=True)
