"""Uniswap V2 quotes equal Router02's getAmountsOut / getAmountsIn; reserves follow Sync events."""

from __future__ import annotations

import itertools
import random

from amm_chain_helpers import RawContract, batch_call, contract, erc20, transact

from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm import V2PoolState, get_amounts_in, get_amounts_out, load_v2_pool

PATHS = [
    ["USDC", "WETH"],
    ["WETH", "USDC"],
    ["WETH", "DAI"],
    ["USDC", "WETH", "DAI"],
    ["DAI", "WETH", "USDC"],
]


def _v2_pool(chain: DevnetChain, a: str, b: str) -> V2PoolState:
    entry = next(p for p in chain.book.pools_for(a, b) if p.protocol == "uniswap-v2")
    return load_v2_pool(chain.w3, entry.address)


def test_v2_quotes_equal_router_get_amounts(l1: DevnetChain) -> None:
    rng = random.Random(5)
    router = RawContract("UniswapV2Router02", l1.book.address("UniswapV2Router02"))
    calls, expected = [], []
    for symbols in PATHS:
        tokens = [l1.book.address(s) for s in symbols]
        pools = [_v2_pool(l1, a, b) for a, b in itertools.pairwise(symbols)]
        reserves = [p.reserves_for(t) for p, t in zip(pools, tokens, strict=False)]
        for _ in range(150):
            exact_in = rng.random() < 0.5
            decimals = l1.book.token(symbols[0 if exact_in else -1]).decimals
            amount = max(1, int(10 ** rng.uniform(0, decimals + 6)))
            try:
                ours = (get_amounts_out if exact_in else get_amounts_in)(amount, reserves)
            except InvalidInput:
                ours = None
            calls.append(("getAmountsOut" if exact_in else "getAmountsIn", (amount, tokens)))
            expected.append(ours)
    answers = batch_call(l1, router, calls)
    got = [list(a[0]) if a is not None else None for a in answers]
    assert got == expected
    assert sum(e is None for e in expected) > 0  # some outputs exceed the reserves
    assert sum(e is not None for e in expected) > len(expected) // 2


def test_v2_reserves_follow_sync_events(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    trader = devnet_accounts[7].address
    usdc = erc20(l1, "USDC")
    router = contract(l1, "UniswapV2Router02")
    state = _v2_pool(l1, "USDC", "WETH")
    pair = contract(l1, "UniswapV2Pair", state.address)
    transact(l1, usdc.functions.approve(router.address, 2**256 - 1), trader)
    path = [usdc.address, l1.book.address("WETH")]
    for amount in (1, 30_000 * 10**6, 2_500_000 * 10**6):
        quote = state.amount_out(usdc.address, amount)
        fn = router.functions.swapExactTokensForTokens(amount, quote, path, trader, 2**32)
        if quote == 0:
            continue  # the router rejects a zero output
        receipt = transact(l1, fn, trader)
        for log in receipt["logs"]:
            if log["address"] == state.address:
                try:
                    sync = pair.events.Sync().process_log(log)
                except Exception:
                    continue
                state = state.apply_sync(
                    sync["args"]["reserve0"],
                    sync["args"]["reserve1"],
                    block_number=receipt["blockNumber"],
                )
        assert state == load_v2_pool(l1.w3, state.address)
