"""Pool discovery from the factories (``getPair`` / ``getPool`` per fee tier) on the devnet: the
pools found from a book that lists none are exactly the pools the deployer created, the factory
answers are cached per chain and factory, and empty pools are left out."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from oms_chain.chain.addressbook import AddressBook
from oms_chain.chain.rpc import RpcClient
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm.discovery import (
    DiscoveredPool,
    discover_pools,
    pair_candidates,
    with_discovered_pools,
)


def _discover(url: str, book: AddressBook, cache: Path, **kw: object) -> list[DiscoveredPool]:
    async def run() -> list[DiscoveredPool]:
        async with RpcClient([url]) as rpc:
            return await discover_pools(rpc, book, cache_dir=cache, **kw)  # type: ignore[arg-type]

    return asyncio.run(run())


def _with_pools(url: str, book: AddressBook, cache: Path, **kw: object) -> AddressBook:
    async def run() -> AddressBook:
        async with RpcClient([url]) as rpc:
            return await with_discovered_pools(rpc, book, cache_dir=cache, **kw)  # type: ignore[arg-type]

    return asyncio.run(run())


def _cache_file(cache: Path, book: AddressBook, factory: str) -> Path:
    return cache / f"pools-{book.chain_id}-{book.address(factory).lower()}.json"


def test_discovered_pools_of_a_book_without_pools_are_the_deployed_pools(
    l1: DevnetChain, tmp_path: Path
) -> None:
    bare = replace(l1.book, pools=())
    found = _with_pools(l1.rpc_url, bare, tmp_path)
    assert set(found.pools) == set(l1.book.pools)
    assert len(found.pools) == len(l1.book.pools) == 9
    for pool in found.pools:
        assert pool.token0.lower() < pool.token1.lower()


def test_a_book_that_lists_pools_is_pinned_and_not_discovered(
    l1: DevnetChain, tmp_path: Path
) -> None:
    pinned = replace(l1.book, pools=l1.book.pools[:1])
    assert _with_pools(l1.rpc_url, pinned, tmp_path) is pinned
    assert list(tmp_path.iterdir()) == []  # not even a look-up
    forced = _with_pools(l1.rpc_url, pinned, tmp_path, discover=True)
    assert set(forced.pools) == set(l1.book.pools)


def test_factory_answers_are_cached_and_refresh_asks_the_factory_again(
    l1: DevnetChain, tmp_path: Path
) -> None:
    bare = replace(l1.book, pools=())
    _discover(l1.rpc_url, bare, tmp_path)
    v3_file = _cache_file(tmp_path, bare, "UniswapV3Factory")
    data = json.loads(v3_file.read_text())
    assert data["chain_id"] == 31337 and data["format"] == 1
    assert len(data["lookups"]) == 6 * 4  # every pair of the 4 tokens, every fee tier
    # the cache is what a second discovery believes: forget one pool there
    weth_usdc_500 = next(p for p in l1.book.pools if p.protocol == "uniswap-v3" and p.fee == 500)
    key = f"{weth_usdc_500.token0.lower()}-{weth_usdc_500.token1.lower()}-500"
    assert data["lookups"][key] == weth_usdc_500.address
    data["lookups"][key] = None
    v3_file.write_text(json.dumps(data))
    cached = {d.pool for d in _discover(l1.rpc_url, bare, tmp_path)}
    assert weth_usdc_500 not in cached
    refreshed = {d.pool for d in _discover(l1.rpc_url, bare, tmp_path, refresh=True)}
    assert weth_usdc_500 in refreshed
    assert json.loads(v3_file.read_text())["lookups"][key] == weth_usdc_500.address


def test_a_cache_written_for_another_chain_behind_the_same_id_is_ignored(
    l1: DevnetChain, tmp_path: Path
) -> None:
    bare = replace(l1.book, pools=())
    _discover(l1.rpc_url, bare, tmp_path)
    v2_file = _cache_file(tmp_path, bare, "UniswapV2Factory")
    data = json.loads(v2_file.read_text())
    data["genesis"] = "0x" + "11" * 32  # e.g. yesterday's devnet
    data["lookups"] = {k: None for k in data["lookups"]}
    v2_file.write_text(json.dumps(data))
    found = {d.pool for d in _discover(l1.rpc_url, bare, tmp_path)}
    assert {p for p in l1.book.pools if p.protocol == "uniswap-v2"} <= found
    v2_file.write_text("{not json")
    found = {d.pool for d in _discover(l1.rpc_url, bare, tmp_path)}
    assert set(l1.book.pools) == found


def test_an_empty_pool_is_found_but_left_out_of_the_book(l1: DevnetChain, tmp_path: Path) -> None:
    book = l1.book
    factory = l1.w3.eth.contract(
        address=book.address("UniswapV2Factory"),
        abi=load_protocol_artifact("UniswapV2Factory").abi,
    )
    sender = l1.accounts[0].address
    tx = factory.functions.createPair(book.address("WBTC"), book.address("DAI")).transact(
        {"from": sender}
    )
    l1.w3.eth.wait_for_transaction_receipt(tx)
    bare = replace(book, pools=())
    found = _discover(l1.rpc_url, bare, tmp_path, pairs=[("WBTC", "DAI")])
    assert [(d.pool.protocol, d.liquidity, d.is_empty) for d in found] == [("uniswap-v2", 0, True)]
    assert _with_pools(l1.rpc_url, bare, tmp_path, pairs=[("WBTC", "DAI")]).pools == ()


def test_pair_candidates_are_the_pair_and_its_hub_pairs(l1: DevnetChain) -> None:
    assert pair_candidates(l1.book, "WBTC", "DAI") == [
        ("DAI", "USDC"),
        ("DAI", "WBTC"),
        ("DAI", "WETH"),
        ("USDC", "WBTC"),
        ("WBTC", "WETH"),
    ]
    assert pair_candidates(l1.book, "WETH", "USDC") == [("USDC", "WETH")]
    assert len(pair_candidates(l1.book)) == 6
    with pytest.raises(InvalidInput, match="no token 'XYZ'"):
        pair_candidates(l1.book, "XYZ", "USDC")


def test_discovery_refuses_a_node_of_another_chain(l1: DevnetChain, tmp_path: Path) -> None:
    other = replace(l1.book, chain_id=1, pools=())
    with pytest.raises(InvalidInput, match=r"the node is chain 31337 but .* chain 1"):
        _discover(l1.rpc_url, other, tmp_path)


def test_discovery_works_through_a_node_that_refuses_batches(
    l1: DevnetChain, tmp_path: Path
) -> None:
    """Some public RPC providers answer a JSON-RPC batch with one error object: discovery then
    asks one call at a time and finds the same pools."""
    import aiohttp
    from aiohttp import web

    singles: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if isinstance(body, list):
            refusal = {"code": -32600, "message": "batch requests are not supported"}
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": refusal})
        singles.append(body["method"])
        async with aiohttp.ClientSession() as http, http.post(l1.rpc_url, json=body) as reply:
            return web.json_response(await reply.json())

    async def run() -> AddressBook:
        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with RpcClient([f"http://127.0.0.1:{port}/"]) as rpc:
                return await with_discovered_pools(
                    rpc, replace(l1.book, pools=()), cache_dir=tmp_path
                )
        finally:
            await runner.cleanup()

    found = asyncio.run(run())
    assert set(found.pools) == set(l1.book.pools)
    assert singles.count("eth_call") == 6 * 5 + 9  # every look-up, then every pool's liquidity
