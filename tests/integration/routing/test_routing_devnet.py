"""Routing over the devnet's real pools: sources loaded from the address book quote exactly what
the on-chain quoters say, both ways, and multi-hop paths compete with the direct pool."""

from __future__ import annotations

from typing import Any

import pytest

from oms_chain.chain.addressbook import AddressBook
from oms_chain.chain.rpc import RpcClient
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.routing import LiquiditySource, route, route_exact_output
from oms_chain.routing.live import pool_venue_id, sources_for_pair
from oms_chain.venues.amm.quotes import quote_pools

GWEI = 10**9


async def _sources(
    l1: DevnetChain, book: AddressBook, sell: str, buy: str, **kwargs: Any
) -> list[LiquiditySource]:
    async with RpcClient([l1.rpc_url]) as rpc:
        return await sources_for_pair(rpc, book, sell, buy, **kwargs)


async def test_sources_cover_every_pool_and_two_hop_path_and_quote_like_quote_pools(
    l1: DevnetChain,
) -> None:
    book = l1.book
    sources = await _sources(l1, book, "WETH", "USDC", gas_price_wei=GWEI)
    direct = {pool_venue_id(p) for p in book.pools_for("WETH", "USDC")}
    venues = {str(s.venue) for s in sources}
    assert direct <= venues
    paths = venues - direct
    assert any(">WBTC>" in v for v in paths) and any(">DAI>" in v for v in paths)
    amount = 10 * 10**18
    async with RpcClient([l1.rpc_url]) as rpc:
        quotes = await quote_pools(rpc, book, "WETH", "USDC", amount)
    exact = {q.pool: q.amount_out for q in quotes}
    for pool in book.pools_for("WETH", "USDC"):
        source = next(s for s in sources if s.venue == pool_venue_id(pool))
        assert source.quote(amount) == exact[pool.address]
    assert all(s.inventory_group == "31337:wallet:WETH" for s in sources)
    # gas: about 105k-118k gas at 1 gwei = ~0.0001 ETH = ~0.3 USDC; a path costs two hops
    for s in sources:
        assert 200_000 <= s.fixed_cost <= 1_000_000 if ">" not in s.venue else s.fixed_cost > 0
        assert s.input_fixed_cost is not None and s.input_fixed_cost > 0


async def test_inverse_quotes_equal_quoterv2_and_router02_exact_output(l1: DevnetChain) -> None:
    book = l1.book
    quoter = l1.w3.eth.contract(
        address=book.address("QuoterV2"), abi=load_protocol_artifact("QuoterV2").abi
    )
    router = l1.w3.eth.contract(
        address=book.address("UniswapV2Router02"),
        abi=load_protocol_artifact("UniswapV2Router02").abi,
    )
    sources = await _sources(l1, book, "USDC", "WETH", gas_price_wei=GWEI, paths=False)
    t_in, t_out = book.address("USDC"), book.address("WETH")
    amount_out = 25 * 10**18
    for pool in book.pools_for("USDC", "WETH"):
        source = next(s for s in sources if s.venue == pool_venue_id(pool))
        if pool.protocol == "uniswap-v3":
            expected = quoter.functions.quoteExactOutputSingle(
                (t_in, t_out, amount_out, pool.fee, 0)
            ).call()[0]
        else:
            expected = router.functions.getAmountsIn(amount_out, [t_in, t_out]).call()[0]
        assert source.cost(amount_out) == expected


async def test_both_modes_split_across_the_pools_and_beat_every_single_pool(
    l1: DevnetChain,
) -> None:
    sources = await _sources(l1, l1.book, "WETH", "USDC", gas_price_wei=GWEI)
    plan = route(sources, 300 * 10**18)
    assert len(plan.legs) >= 2
    assert plan.vs_best_single_bps is not None and plan.vs_best_single_bps > 0
    assert plan.vs_greedy_bps is not None and plan.vs_greedy_bps >= 0
    bought = route_exact_output(sources, plan.expected_output)
    assert bought.expected_output == plan.expected_output
    assert bought.net_input is not None
    # buying back what the input-side plan gives costs at most that input (plus rounding)
    assert bought.amount_in <= plan.amount_in + len(bought.legs)


async def test_a_two_hop_path_competes_with_the_direct_usdc_wbtc_pool(l1: DevnetChain) -> None:
    sources = await _sources(l1, l1.book, "USDC", "WBTC", gas_price_wei=GWEI)
    (direct,) = [s for s in sources if ">" not in s.venue]
    amount = 600_000 * 10**6  # large against the direct pool's depth
    plan = route(sources, amount)
    used = {str(leg.venue) for leg in plan.legs}
    assert any(">WETH>" in v for v in used), used
    assert plan.net_output > direct.quote(amount) - direct.fixed_cost
    # a small order stays on the single cheapest route
    small = route(sources, 100 * 10**6)
    assert len(small.legs) == 1


async def test_a_shared_wallet_balance_caps_all_routes_together(l1: DevnetChain) -> None:
    sources = await _sources(l1, l1.book, "WETH", "USDC", gas_price_wei=GWEI)
    with pytest.raises(InvalidInput, match="shared inventories"):
        route(sources, 100 * 10**18, inventories={"31337:wallet:WETH": 50 * 10**18})
    plan = route(sources, 50 * 10**18, inventories={"31337:wallet:WETH": 50 * 10**18})
    assert plan.amount_in == 50 * 10**18


async def test_unknown_pairs_are_rejected(l1: DevnetChain) -> None:
    with pytest.raises(InvalidInput, match="no token"):
        await _sources(l1, l1.book, "XYZ", "USDC")


async def test_no_two_legs_trade_through_the_same_pool(l1: DevnetChain) -> None:
    sources = await _sources(l1, l1.book, "USDC", "WETH", gas_price_wei=GWEI)
    by_venue = {s.venue: s for s in sources}
    for plan in (route(sources, 2_000_000 * 10**6), route_exact_output(sources, 500 * 10**18)):
        seen: set[str] = set()
        for leg in plan.legs:
            pools = by_venue[leg.venue].pools
            assert not pools & seen, f"{leg.venue} reuses {pools & seen}"
            seen |= pools
