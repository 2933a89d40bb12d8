"""Off-chain Uniswap V3 quotes equal QuoterV2's eth_call to the wei on thousands of random cases."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

import pytest
from amm_chain_helpers import (
    RawContract,
    batch_call,
    contract,
    encode_path,
    erc20,
    fund_with_weth,
    token_at,
    transact,
)

from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm import (
    MathRevert,
    V3PoolState,
    load_v3_pool,
    quote_exact_input_path,
    quote_exact_output_path,
    v3_path_hops,
)
from oms_chain.venues.amm.v3_math import (
    MAX_TICK,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
)

DEADLINE = 2**32 - 1


@dataclass(frozen=True)
class Case:
    pool: V3PoolState
    exact_input: bool
    zero_for_one: bool
    amount: int
    limit: int | None


def _pools(chain: DevnetChain) -> list[V3PoolState]:
    return [
        load_v3_pool(chain.w3, p.address) for p in chain.book.pools if p.protocol == "uniswap-v3"
    ]


def _balances(chain: DevnetChain, pool: V3PoolState) -> tuple[int, int]:
    b0, b1 = token_at(chain, pool.token0), token_at(chain, pool.token1)
    return (
        b0.functions.balanceOf(pool.address).call(),
        b1.functions.balanceOf(pool.address).call(),
    )


def _random_cases(
    chain: DevnetChain, pools: list[V3PoolState], n: int, rng: random.Random
) -> list[Case]:
    """Sizes log-uniform: dust (1 to 10**6 base units) in a quarter of the cases, the eight
    decades below 3x the pool's holdings of the token in a third, and the top 1.5 decades in
    the rest, which leave the concentrated ranges and, for exact input, can push the price to
    the end of the curve."""
    balances = {p.address: _balances(chain, p) for p in pools}
    cases = []
    for _ in range(n):
        pool = rng.choice(pools)
        exact_input = rng.random() < 0.5
        zero_for_one = rng.random() < 0.5
        held = balances[pool.address]
        # exact input: scale to what sits on the *other* side; exact output: to what can leave.
        scale = held[1] if zero_for_one else held[0]
        if exact_input:
            scale = held[0] if zero_for_one else held[1]
        top = max(scale * 3, 10)
        high, draw = math.log10(top), rng.random()
        if draw < 0.25:
            amount = max(1, int(10 ** rng.uniform(0, 6)))
        elif draw < 0.6:
            amount = max(1, int(10 ** rng.uniform(max(0.0, high - 8), high)))
        else:
            amount = max(1, int(10 ** rng.uniform(max(0.0, high - 1.5), high)))
        limit = None
        if rng.random() < 0.2:
            offset = rng.randint(1, 6000)
            tick = pool.tick - offset if zero_for_one else pool.tick + offset + 1
            tick = max(MIN_TICK + 1, min(MAX_TICK - 1, tick))
            limit = get_sqrt_ratio_at_tick(tick)
        cases.append(Case(pool, exact_input, zero_for_one, amount, limit))
    return cases


def _quoter_call(case: Case) -> tuple[str, tuple[Any, ...]]:
    pool = case.pool
    token_in, token_out = (
        (pool.token0, pool.token1) if case.zero_for_one else (pool.token1, pool.token0)
    )
    fn = "quoteExactInputSingle" if case.exact_input else "quoteExactOutputSingle"
    return fn, ((token_in, token_out, case.amount, pool.fee, case.limit or 0),)


def _offchain(case: Case) -> tuple[int, int, int, int] | None:
    """(amount, sqrt price after, ticks crossed, tick after), or None where the quoter reverts."""
    pool = case.pool
    token_in = pool.token0 if case.zero_for_one else pool.token1
    try:
        if case.exact_input:
            r = pool.quote_exact_input(token_in, case.amount, case.limit)
            return r.amount_out, r.sqrt_price_x96, r.ticks_crossed, r.tick
        r = pool.quote_exact_output(token_in, case.amount, case.limit)
        return r.amount_in, r.sqrt_price_x96, r.ticks_crossed, r.tick
    except MathRevert:
        return None


def _quoter_tick_count(case: Case, ours: tuple[int, int, int, int]) -> int:
    """The initialized-tick count QuoterV2 reports for our result.

    Its PoolTicksCounter also counts the initialized tick at the lower edge of the spacing
    interval a token0 -> token1 swap ends in, although the price stopped above it (not crossed).
    """
    _, _, crossed, tick = ours
    spacing = case.pool.tick_spacing
    floor_tick = tick // spacing * spacing
    if case.zero_for_one and tick % spacing and floor_tick in case.pool.liquidity_net:
        return crossed + 1
    return crossed


def _assert_cases_match(chain: DevnetChain, cases: list[Case]) -> dict[str, int]:
    quoter = RawContract("QuoterV2", chain.book.address("QuoterV2"))
    answers = batch_call(chain, quoter, [_quoter_call(c) for c in cases])
    stats = {"cases": len(cases), "reverted": 0, "crossing": 0}
    mismatches = []
    for case, answer in zip(cases, answers, strict=True):
        ours = _offchain(case)
        if answer is None or ours is None:
            if (answer is None) != (ours is None):
                mismatches.append((case, answer, ours))
            stats["reverted"] += 1
            continue
        if (answer[0], answer[1], answer[2]) != (ours[0], ours[1], _quoter_tick_count(case, ours)):
            mismatches.append((case, answer, ours))
        stats["crossing"] += ours[2] > 0
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"
    return stats


def test_v3_single_pool_quotes_equal_quoter_on_random_cases(l1: DevnetChain) -> None:
    rng = random.Random(20261123)
    pools = _pools(l1)
    assert len(pools) >= 5
    started = time.perf_counter()
    cases = _random_cases(l1, pools, 3000, rng)
    stats = _assert_cases_match(l1, cases)
    elapsed = time.perf_counter() - started
    print(f"v3 single-pool quotes: {stats} in {elapsed:.1f}s")
    assert stats["crossing"] > 60  # the concentrated ranges are left in some of them
    assert 0 < stats["reverted"] < len(cases) // 3  # some exact outputs ask for too much


def _hops_for(chain: DevnetChain, symbols: list[str], fees: list[int]) -> list[V3PoolState]:
    pools = []
    for a, b, fee in zip(symbols, symbols[1:], fees, strict=False):
        entry = next(
            p for p in chain.book.pools_for(a, b) if p.protocol == "uniswap-v3" and p.fee == fee
        )
        pools.append(load_v3_pool(chain.w3, entry.address))
    return pools


PATHS = [
    (["USDC", "WETH", "WBTC"], [500, 3000]),
    (["WBTC", "WETH", "USDC"], [3000, 500]),
    (["USDC", "WETH", "USDC"], [500, 3000]),
    (["WBTC", "USDC", "WETH"], [3000, 500]),
    (["DAI", "USDC", "WETH", "WBTC"], [500, 500, 3000]),
]


def test_v3_multi_hop_quotes_equal_quoter(l1: DevnetChain) -> None:
    rng = random.Random(7)
    quoter = RawContract("QuoterV2", l1.book.address("QuoterV2"))
    calls, expected = [], []
    for symbols, fees in PATHS:
        pools = _hops_for(l1, symbols, fees)
        tokens = [l1.book.address(s) for s in symbols]
        hops = v3_path_hops(pools, tokens[0])
        dec_in = l1.book.token(symbols[0]).decimals
        dec_out = l1.book.token(symbols[-1]).decimals
        for _ in range(60):
            exact_input = rng.random() < 0.5
            decimals = dec_in if exact_input else dec_out
            amount = max(1, int(10 ** rng.uniform(0, decimals + 5)))
            try:
                if exact_input:
                    ours: int | None = quote_exact_input_path(hops, amount)[0]
                else:
                    ours = quote_exact_output_path(hops, amount)[0]
            except MathRevert:
                ours = None
            if exact_input:
                calls.append(("quoteExactInput", (encode_path(tokens, fees), amount)))
            else:
                path = encode_path(tokens[::-1], fees[::-1])
                calls.append(("quoteExactOutput", (path, amount)))
            expected.append(ours)
    answers = batch_call(l1, quoter, calls)
    got = [a[0] if a is not None else None for a in answers]
    assert got == expected
    assert sum(e is not None for e in expected) > len(expected) // 2


def _mint_random_positions(
    chain: DevnetChain, owner: str, pool: V3PoolState, rng: random.Random, count: int
) -> list[Any]:
    npm = contract(chain, "NonfungiblePositionManager")
    for token in (pool.token0, pool.token1):
        tok = token_at(chain, token)
        transact(chain, tok.functions.approve(npm.address, 2**256 - 1), owner)
    receipts = []
    s = pool.tick_spacing
    for _ in range(count):
        width = rng.choice([1, 2, 3, 5, 10, 40, 200])
        center = pool.tick + rng.randint(-3000, 3000)
        scale = rng.choice([1, 10, 100])
        usdc_amount, other_amount = 200_000 * 10**6 // scale, 60 * 10**18 // scale
        lower = (center // s - rng.randint(1, width)) * s
        upper = (center // s + rng.randint(1, width)) * s
        fn = npm.functions.mint(
            (
                pool.token0,
                pool.token1,
                pool.fee,
                lower,
                upper,
                usdc_amount if pool.token0 == chain.book.address("USDC") else other_amount,
                usdc_amount if pool.token1 == chain.book.address("USDC") else other_amount,
                0,
                0,
                owner,
                DEADLINE,
            )
        )
        receipts.append(transact(chain, fn, owner))
    return receipts


def _apply_pool_logs(chain: DevnetChain, state: V3PoolState, receipts: list[Any]) -> V3PoolState:
    pool = contract(chain, "UniswapV3Pool", state.address)
    for receipt in receipts:
        for log in receipt["logs"]:
            if log["address"] != state.address:
                continue
            for name in ("Swap", "Mint", "Burn"):
                event = getattr(pool.events, name)()
                try:
                    decoded = event.process_log(log)
                except Exception:
                    continue
                state = state.apply_event(name, decoded["args"], receipt["blockNumber"])
    return state


def test_v3_quotes_equal_quoter_with_many_initialized_ticks(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    rng = random.Random(99)
    owner = devnet_accounts[5].address
    fund_with_weth(l1, owner, 100_000 * 10**18)
    weth_usdc = next(
        p for p in l1.book.pools_for("WETH", "USDC") if p.protocol == "uniswap-v3" and p.fee == 500
    )
    before = load_v3_pool(l1.w3, weth_usdc.address)
    receipts = _mint_random_positions(l1, owner, before, rng, 40)
    after = load_v3_pool(l1.w3, weth_usdc.address)
    assert len(after.liquidity_net) >= 40

    # The state followed through the Mint events equals a fresh reload.
    followed = _apply_pool_logs(l1, before, receipts)
    assert followed == after

    cases = _random_cases(l1, [after], 1500, rng)
    stats = _assert_cases_match(l1, cases)
    print(f"v3 quotes over {len(after.liquidity_net)} initialized ticks: {stats}")
    assert stats["crossing"] > 300


def test_swap_and_burn_events_keep_the_state_equal_to_a_reload(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    trader = devnet_accounts[6].address
    fund_with_weth(l1, trader, 10_000 * 10**18)
    entry = next(
        p for p in l1.book.pools_for("WETH", "USDC") if p.protocol == "uniswap-v3" and p.fee == 500
    )
    state = load_v3_pool(l1.w3, entry.address)
    router = contract(l1, "SwapRouter")
    usdc, weth = erc20(l1, "USDC"), l1.book.address("WETH")
    transact(l1, usdc.functions.approve(router.address, 2**256 - 1), trader)
    weth_token = token_at(l1, weth)
    transact(l1, weth_token.functions.approve(router.address, 2**256 - 1), trader)

    # Big enough to leave the concentrated range: crosses an initialized tick.
    for token_in, token_out, amount in (
        (usdc.address, weth, 3_000_000 * 10**6),
        (weth, usdc.address, 2_000 * 10**18),
        (usdc.address, weth, 12_345 * 10**6),
    ):
        quote = state.quote_exact_input(token_in, amount)
        out_token = token_at(l1, token_out)
        held = out_token.functions.balanceOf(trader).call()
        params = (token_in, token_out, entry.fee, trader, DEADLINE, amount, quote.amount_out, 0)
        receipt = transact(l1, router.functions.exactInputSingle(params), trader)
        assert out_token.functions.balanceOf(trader).call() - held == quote.amount_out
        state = _apply_pool_logs(l1, state, [receipt])
        assert state == load_v3_pool(l1.w3, entry.address)
        assert (state.sqrt_price_x96, state.tick, state.liquidity) == (
            quote.sqrt_price_x96,
            quote.tick,
            quote.liquidity,
        )

    # Burn a third of a seeded position through the NonfungiblePositionManager.
    npm = contract(l1, "NonfungiblePositionManager")
    deployer = _position_owner(l1, npm, entry)
    token_id, liquidity = deployer[1], deployer[2]
    fn = npm.functions.decreaseLiquidity((token_id, liquidity // 3, 0, 0, DEADLINE))
    receipt = transact(l1, fn, deployer[0])
    state = _apply_pool_logs(l1, state, [receipt])
    assert state == load_v3_pool(l1.w3, entry.address)


def _position_owner(chain: DevnetChain, npm: Any, entry: Any) -> tuple[str, int, int]:
    """(owner, token id, liquidity) of the first NPM position in ``entry``'s pool."""
    total = npm.functions.totalSupply().call()
    for i in range(total):
        token_id = npm.functions.tokenByIndex(i).call()
        pos = npm.functions.positions(token_id).call()
        if (pos[2], pos[3], pos[4]) == (entry.token0, entry.token1, entry.fee) and pos[7] > 0:
            return npm.functions.ownerOf(token_id).call(), token_id, pos[7]
    pytest.fail("no position found in the pool")


def test_a_narrow_word_range_loads_the_same_ticks_near_the_price(l1: DevnetChain) -> None:
    entry = next(p for p in l1.book.pools if p.protocol == "uniswap-v3" and p.fee == 500)
    full = load_v3_pool(l1.w3, entry.address)
    near = load_v3_pool(l1.w3, entry.address, word_radius=2)
    assert near.word_range is not None and full.word_range is None
    lo, hi = near.word_range
    assert {
        t: n for t, n in full.liquidity_net.items() if lo <= (t // full.tick_spacing) >> 8 <= hi
    } == dict(near.liquidity_net)
    small = full.quote_exact_input(full.token0, 10**6)
    assert near.quote_exact_input(near.token0, 10**6) == small
    sequential = load_v3_pool(l1.w3, entry.address, word_radius=2, use_batch=False)
    assert sequential == near


def test_loading_a_non_pool_address_says_so(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    with pytest.raises(InvalidInput, match="not a Uniswap V3 pool"):
        load_v3_pool(l1.w3, l1.book.address("USDC"))  # a contract without the pool's functions
    with pytest.raises(InvalidInput, match="not a Uniswap V3 pool"):
        load_v3_pool(l1.w3, devnet_accounts[0].address)  # no code at all
    with pytest.raises(InvalidInput, match="word_radius"):
        load_v3_pool(l1.w3, l1.book.address("USDC"), word_radius=-1)


async def test_the_async_loaders_read_the_same_pools_as_the_sync_ones(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.venues.amm import fetch_v2_pool, fetch_v3_pool, load_v2_pool

    block = l1.w3.eth.block_number
    async with RpcClient([l1.rpc_url]) as rpc:
        for entry in l1.book.pools:
            if entry.protocol == "uniswap-v3":
                for radius in (None, 2):
                    assert await fetch_v3_pool(
                        rpc, entry.address, word_radius=radius, block_identifier=block
                    ) == load_v3_pool(
                        l1.w3, entry.address, word_radius=radius, block_identifier=block
                    )
            else:
                assert await fetch_v2_pool(rpc, entry.address) == load_v2_pool(
                    l1.w3, entry.address, block_identifier=block
                )
        v3 = next(p for p in l1.book.pools if p.protocol == "uniswap-v3")
        small = await fetch_v3_pool(rpc, v3.address, batch_size=7, word_radius=3)
        assert small == load_v3_pool(l1.w3, v3.address, batch_size=7, word_radius=3)
        with pytest.raises(InvalidInput, match="not a Uniswap V3 pool"):
            await fetch_v3_pool(rpc, l1.book.address("USDC"))
        with pytest.raises(InvalidInput, match="not a Uniswap V3 pool"):
            await fetch_v3_pool(rpc, devnet_accounts[0].address)
        with pytest.raises(InvalidInput, match="not a Uniswap V2 pair"):
            await fetch_v2_pool(rpc, v3.address)  # a V3 pool has no getReserves
        with pytest.raises(InvalidInput, match="not a Uniswap V2 pair"):
            await fetch_v2_pool(rpc, devnet_accounts[0].address)  # no code at all
        for bad in ("0x12", "not an address"):
            with pytest.raises(InvalidInput, match="not an address"):
                await fetch_v3_pool(rpc, bad)
            with pytest.raises(InvalidInput, match="not an address"):
                await fetch_v2_pool(rpc, bad)
        with pytest.raises(InvalidInput, match="fee_bps"):
            await fetch_v2_pool(rpc, v3.address, fee_bps=-1)
