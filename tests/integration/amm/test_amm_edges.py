"""Edges of the exact AMM math, pinned against the real Router02 / QuoterV2 / SwapRouter on Anvil:
the V2 SafeMath overflow bounds, V3 swaps through ranges without liquidity, the V3 gas model
against QuoterV2's ``gasEstimate``, and ``quote_pools`` / ``oms quote`` with a pool that cannot
quote."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from amm_chain_helpers import (
    RawContract,
    batch_call,
    contract,
    erc20,
    fund_with_weth,
)
from test_amm_v3_quotes_equal_quoter import _mint_random_positions
from typer.testing import CliRunner

from oms_chain.chain.rpc import RpcClient
from oms_chain.cli import app
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm import MathRevert, get_amounts_out, load_v2_pool, load_v3_pool
from oms_chain.venues.amm.quotes import V3_GAS, quote_pools, quoter_ticks_crossed, v3_swap_gas
from oms_chain.venues.amm.v3_math import NoLiquidity

MAX_UINT256 = (1 << 256) - 1
DEADLINE = 2**32 - 1


def _ours(amount: int, reserves: list[tuple[int, int]]) -> list[int] | None:
    try:
        return get_amounts_out(amount, reserves)
    except InvalidInput:
        return None


def test_v2_get_amounts_out_overflows_exactly_where_router02_does(l1: DevnetChain) -> None:
    usdc, weth = l1.book.address("USDC"), l1.book.address("WETH")
    entry = next(p for p in l1.book.pools_for("USDC", "WETH") if p.protocol == "uniswap-v2")
    pair = load_v2_pool(l1.w3, entry.address)
    reserve_in, reserve_out = pair.reserves_for(usdc)
    # amountIn * 997 * reserveOut is the first product to overflow: the largest amount that
    # fits is floor(floor(MAX / reserveOut) / 997).
    largest = MAX_UINT256 // reserve_out // 997
    amounts = [largest // 10 + 1, largest - 1, largest, largest + 1, 2 * largest]
    router = RawContract("UniswapV2Router02", l1.book.address("UniswapV2Router02"))
    answers = batch_call(l1, router, [("getAmountsOut", (a, [usdc, weth])) for a in amounts])
    got = [list(a[0]) if a is not None else None for a in answers]
    expected = [_ours(a, [(reserve_in, reserve_out)]) for a in amounts]
    assert got == expected
    assert [g is not None for g in got] == [True, True, True, False, False]


def _empty_range_pool(chain: DevnetChain, owner: str) -> Any:
    """A fresh USDC/DAI 1 % pool at 1 DAI per USDC whose only position sits above the price:
    below the price there is no liquidity at all, above it an empty gap then the position."""
    usdc, dai = chain.book.address("USDC"), chain.book.address("DAI")
    token0, token1 = sorted((usdc, dai), key=lambda a: int(a, 16))
    assert (token0, token1) == (usdc, dai)
    npm = contract(chain, "NonfungiblePositionManager")
    sqrt_price = 10**6 * 2**96  # (1e18 DAI units per 1e6 USDC units) ** 0.5
    tx = npm.functions.createAndInitializePoolIfNecessary(token0, token1, 10_000, sqrt_price)
    chain.w3.eth.wait_for_transaction_receipt(tx.transact({"from": owner}))
    pool = load_v3_pool(
        chain.w3,
        contract(chain, "UniswapV3Factory").functions.getPool(token0, token1, 10_000).call(),
    )
    lower = (pool.tick // 200 + 5) * 200
    transact_ok(chain, erc20(chain, "USDC").functions.approve(npm.address, 2**256 - 1), owner)
    mint = npm.functions.mint(
        (token0, token1, 10_000, lower, lower + 2000, 100_000 * 10**6, 0, 0, 0, owner, DEADLINE)
    )
    transact_ok(chain, mint, owner)
    return load_v3_pool(chain.w3, pool.address)


def transact_ok(chain: DevnetChain, fn: Any, sender: str) -> Any:
    receipt = chain.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt["status"] == 1
    return receipt


def test_a_v3_swap_only_through_ranges_without_liquidity_is_refused_as_quoter_and_router_do(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    owner = devnet_accounts[5].address
    pool = _empty_range_pool(l1, owner)
    assert pool.liquidity == 0 and len(pool.liquidity_net) == 2
    usdc, dai = pool.token0, pool.token1
    quoter = RawContract("QuoterV2", l1.book.address("QuoterV2"))

    # Selling USDC moves the price down, where nothing is: no amount moves, everything reverts.
    with pytest.raises(NoLiquidity, match="without liquidity"):
        pool.quote_exact_input(usdc, 1_000 * 10**6)
    with pytest.raises(MathRevert):
        pool.quote_exact_output(usdc, 10**18)
    calls = [
        ("quoteExactInputSingle", ((usdc, dai, 1_000 * 10**6, 10_000, 0),)),
        ("quoteExactOutputSingle", ((usdc, dai, 10**18, 10_000, 0),)),
    ]
    assert batch_call(l1, quoter, calls) == [None, None]
    router = contract(l1, "SwapRouter")
    transact_ok(l1, erc20(l1, "USDC").functions.approve(router.address, 2**256 - 1), owner)
    swap = router.functions.exactInputSingle(
        (usdc, dai, 10_000, owner, DEADLINE, 1_000 * 10**6, 0, 0)
    )
    with pytest.raises(Exception):  # noqa: B017 - web3's revert error type varies by version
        swap.call({"from": owner})

    # Buying USDC with DAI crosses the empty gap, then trades in the position: exact as quoted.
    result = pool.quote_exact_input(dai, 10**18)
    (answer,) = batch_call(
        l1, quoter, [("quoteExactInputSingle", ((dai, usdc, 10**18, 10_000, 0),))]
    )
    assert answer is not None and result.amount_out > 0
    assert (answer[0], answer[1], answer[2]) == (
        result.amount_out,
        result.sqrt_price_x96,
        quoter_ticks_crossed(pool, result),
    )


def test_v3_gas_model_is_close_to_the_quoters_gas_estimate_and_grows_with_a_sweep(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    rng = random.Random(99)
    owner = devnet_accounts[5].address
    fund_with_weth(l1, owner, 100_000 * 10**18)
    entry = next(
        p for p in l1.book.pools_for("WETH", "USDC") if p.protocol == "uniswap-v3" and p.fee == 500
    )
    _mint_random_positions(l1, owner, load_v3_pool(l1.w3, entry.address), rng, 40)
    pools = [load_v3_pool(l1.w3, p.address) for p in l1.book.pools if p.protocol == "uniswap-v3"]
    quoter = RawContract("QuoterV2", l1.book.address("QuoterV2"))
    cases, calls = [], []
    for pool in pools:
        for zero_for_one in (True, False):
            token_in, token_out = (
                (pool.token0, pool.token1) if zero_for_one else (pool.token1, pool.token0)
            )
            for k in range(40):
                amount = int(10 ** (k * 0.75))
                result = pool.quote_exact_input(token_in, amount)
                cases.append((pool, result))
                calls.append(
                    ("quoteExactInputSingle", ((token_in, token_out, amount, pool.fee, 0),))
                )
    answers = batch_call(l1, quoter, calls)
    big_errors, small_errors, sweeps = [], [], []
    for (pool, result), answer in zip(cases, answers, strict=True):
        assert answer is not None
        assert answer[2] == quoter_ticks_crossed(pool, result)  # ticks counted as QuoterV2 does
        modelled, measured = v3_swap_gas(pool, result), answer[3]
        words = abs(
            ((result.tick // pool.tick_spacing) >> 8) - ((pool.tick // pool.tick_spacing) >> 8)
        )
        error = abs(modelled - measured) / measured
        if answer[2] + words >= 3:
            big_errors.append(error)
        else:
            small_errors.append(error)
        if measured > 2_000_000:
            sweeps.append((modelled, measured))
    assert len(big_errors) > 100 and max(big_errors) < 0.08, max(big_errors)
    assert max(small_errors) < 0.4, max(small_errors)
    # a swap sweeping hundreds of bitmap words costs millions of gas, and is modelled so
    assert sweeps and all(abs(m - q) / q < 0.08 for m, q in sweeps), sweeps
    assert V3_GAS.router > 0


async def test_a_pool_that_cannot_quote_is_reported_and_the_others_still_quote(
    l1: DevnetChain,
) -> None:
    # 10**62 wei overflows Router02's arithmetic (amountIn * 997 * reserveOut); the V3 pools
    # take what they can up to their price limit.
    amount = 10**62
    async with RpcClient([l1.rpc_url]) as rpc:
        quotes = await quote_pools(rpc, l1.book, "WETH", "USDC", amount)
    assert len(quotes) == 3
    failed = [q for q in quotes if q.error is not None]
    assert [q.protocol for q in failed] == ["uniswap-v2"]
    assert "overflows uint256" in str(failed[0].error) and quotes[-1] is failed[0]
    good = [q for q in quotes if q.error is None]
    assert all(q.amount_out > 0 and q.filled_in < amount for q in good)
    assert failed[0].as_dict()["error"] == failed[0].error


def _oms_quote(l1: DevnetChain, amount: str) -> Any:
    result = CliRunner().invoke(
        app,
        [
            "quote",
            "--chain",
            "31337",
            "--rpc-url",
            l1.rpc_url,
            "--sell",
            "WETH",
            "--buy",
            "USDC",
            "--amount",
            amount,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def test_quote_pools_reports_the_failing_pool_and_quotes_the_rest(
    l1: DevnetChain,
) -> None:
    # 1e44 WETH: beyond what `oms quote --amount` accepts (10^15), so asked of quote_pools itself
    async with RpcClient([l1.rpc_url]) as rpc:
        quotes = await quote_pools(rpc, l1.book, "WETH", "USDC", 10**62)
    by_protocol = {q.protocol: q for q in quotes}
    assert "overflows uint256" in (by_protocol["uniswap-v2"].error or "")
    assert sum(1 for q in quotes if q.error is None and q.amount_out > 0) == 2


def test_oms_quote_converts_a_31_digit_amount_exactly(l1: DevnetChain) -> None:
    # under Decimal's default 28 digits this would become 1234567890123456789012345679000
    data = _oms_quote(l1, "1234567890123.456789012345678901")
    assert data["amount_in"] == 1234567890123456789012345678901
    for q in data["quotes"]:
        assert q["amount_in"] == 1234567890123456789012345678901


def test_oms_quote_refuses_more_decimals_than_the_token_has(l1: DevnetChain) -> None:
    result = CliRunner().invoke(
        app,
        [
            "quote",
            "--rpc-url",
            l1.rpc_url,
            "--sell",
            "USDC",
            "--buy",
            "WETH",
            "--amount",
            "0.0000001",
        ],
    )
    assert result.exit_code != 0
    assert "more than 6 decimals" in result.output + str(result.exception)
