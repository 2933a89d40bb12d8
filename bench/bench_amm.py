"""Off-chain Uniswap V3 quote against the QuoterV2 eth_call it replaces.

Baseline, measured in the same run on a fresh devnet L1: ``QuoterV2.quoteExactInputSingle``
through web3's ``contract.functions...call()`` (one JSON-RPC round trip to a local Anvil per
quote), and, stricter, the same eth_call with calldata encoded once and sent through the bare
provider. Measured: the same quotes from :class:`~oms_chain.venues.amm.V3PoolState` (the
WETH/USDC 0.05 % pool loaded once) without a tick crossing (inside the concentrated position),
with one (leaving it), and with many (40 narrow positions minted below the price): there both
the warm path (the state's memoized swap walk, varying sizes) and the cold path (the plain swap
loop, as for the first quote after a state change) are reported. Every off-chain result is
asserted equal to the quoter's, to the wei. Target from the issue: at least 50x faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from itertools import cycle
from typing import Any

from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.world import Devnet, DevnetConfig
from oms_chain.venues.amm import V3PoolState, load_v3_pool, v3_math
from oms_chain.venues.amm.v3_math import swap

OFFCHAIN_REPEATS = 5_000
ETH_CALL_REPEATS = 200


def _per_call_us(fn: Callable[[], Any], repeats: int, rounds: int = 5) -> float:
    """Mean µs per call over ``repeats`` calls, best of ``rounds`` (least disturbed by load)."""
    best = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        best.append((time.perf_counter() - started) / repeats * 1e6)
    return min(best)


def _mint_ladder(chain: Any, pool: V3PoolState, owner: str, count: int) -> None:
    """Mint ``count`` adjacent narrow positions just below the current price."""
    npm = chain.w3.eth.contract(
        address=chain.book.address("NonfungiblePositionManager"),
        abi=load_protocol_artifact("NonfungiblePositionManager").abi,
    )
    w3 = chain.w3
    weth = w3.eth.contract(address=chain.book.address("WETH"), abi=_WETH_ABI)
    w3.eth.wait_for_transaction_receipt(
        weth.functions.deposit().transact({"from": owner, "value": 10**23})
    )
    for token in (pool.token0, pool.token1):
        erc20 = w3.eth.contract(address=token, abi=_WETH_ABI)
        w3.eth.wait_for_transaction_receipt(
            erc20.functions.approve(npm.address, 2**256 - 1).transact({"from": owner})
        )
    s = pool.tick_spacing
    top = pool.tick // s * s - s
    for i in range(count):
        upper = top - i * 3 * s
        params = (
            pool.token0, pool.token1, pool.fee, upper - 3 * s, upper,
            10**12, 10**20, 0, 0, owner, 2**32 - 1,
        )  # fmt: skip
        receipt = w3.eth.wait_for_transaction_receipt(
            npm.functions.mint(params).transact({"from": owner})
        )
        assert receipt["status"] == 1


_WETH_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "deposit", "stateMutability": "payable", "inputs": [],
     "outputs": []},
    {"type": "function", "name": "approve", "stateMutability": "nonpayable",
     "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}],
     "outputs": [{"name": "", "type": "bool"}]},
]  # fmt: skip


def run() -> dict[str, Any]:
    with Devnet(DevnetConfig(with_l2=False)) as world:
        chain = world.l1
        entry = next(
            p
            for p in chain.book.pools_for("WETH", "USDC")
            if p.protocol == "uniswap-v3" and p.fee == 500
        )
        started = time.perf_counter()
        pool = load_v3_pool(chain.w3, entry.address)
        load_ms = (time.perf_counter() - started) * 1e3
        quoter = chain.w3.eth.contract(
            address=chain.book.address("QuoterV2"), abi=load_protocol_artifact("QuoterV2").abi
        )
        provider: Any = chain.w3.provider
        usdc = chain.book.address("USDC")
        weth = chain.book.address("WETH")
        crossing = 10_000 * 10**6
        while pool.quote_exact_input(usdc, crossing).ticks_crossed == 0:
            crossing *= 2  # the smallest power-of-two multiple that leaves the concentrated range
        cases = {
            "no_crossing": (usdc, weth, 10_000 * 10**6),
            "one_crossing": (usdc, weth, crossing),
        }
        metrics: dict[str, Any] = {"pool_load_ms": round(load_ms, 1)}
        metrics["one_crossing_amount_usdc"] = crossing // 10**6
        for label, (token_in, token_out, amount) in cases.items():
            params = (token_in, token_out, amount, pool.fee, 0)
            call = quoter.functions.quoteExactInputSingle(params)
            onchain = call.call()
            offchain = pool.quote_exact_input(token_in, amount)
            assert (offchain.amount_out, offchain.sqrt_price_x96) == (onchain[0], onchain[1])
            assert (offchain.ticks_crossed > 0) == (label != "no_crossing")

            eth_call_us = _per_call_us(call.call, ETH_CALL_REPEATS, rounds=3)
            # A stricter baseline: calldata encoded once, a bare JSON-RPC eth_call per quote.
            request = [{"to": quoter.address, "data": call._encode_transaction_data()}, "latest"]
            raw = provider.make_request("eth_call", request)
            assert int(raw["result"][2:66], 16) == onchain[0]
            raw_us = _per_call_us(
                partial(provider.make_request, "eth_call", request), ETH_CALL_REPEATS, rounds=3
            )
            quote_us = _per_call_us(
                partial(pool.quote_exact_input, token_in, amount), OFFCHAIN_REPEATS
            )
            metrics[f"{label}_offchain_us"] = round(quote_us, 2)
            metrics[f"{label}_quoter_eth_call_us"] = round(eth_call_us, 1)
            metrics[f"{label}_speedup_x"] = round(eth_call_us / quote_us, 1)
            metrics[f"{label}_raw_rpc_eth_call_us"] = round(raw_us, 1)
            metrics[f"{label}_speedup_vs_raw_rpc_x"] = round(raw_us / quote_us, 1)
        # Many crossings: 40 narrow positions below the price, then a swap through all of them.
        _mint_ladder(chain, pool, chain.accounts[1].address, count=40)
        laddered = load_v3_pool(chain.w3, entry.address)
        amount = crossing * 4
        params = (usdc, weth, amount, pool.fee, 0)
        call = quoter.functions.quoteExactInputSingle(params)
        onchain = call.call()
        offchain = laddered.quote_exact_input(usdc, amount)
        assert (offchain.amount_out, offchain.sqrt_price_x96) == (onchain[0], onchain[1])
        eth_call_us = _per_call_us(call.call, ETH_CALL_REPEATS // 4, rounds=3)
        # Warm: the state's memoized walk is built; sizes vary between 1 % and 100 % of amount.
        sizes = cycle([amount * k // 100 for k in range(1, 101)])
        warm_us = _per_call_us(lambda: laddered.quote_exact_input(usdc, next(sizes)), 500)
        # Cold: the plain swap loop, as on the first quote after every state change.
        fields = {
            name: getattr(laddered, name)
            for name in (
                "sqrt_price_x96", "tick", "liquidity", "fee", "tick_spacing", "tick_bitmap",
                "liquidity_net", "word_range",
            )
        }  # fmt: skip
        cold = swap(**fields, zero_for_one=laddered.zero_for_one(usdc), amount_specified=amount)
        assert cold == offchain
        cold_us = _per_call_us(
            partial(swap, **fields, zero_for_one=cold.zero_for_one, amount_specified=amount), 200
        )

        # First quote ever on these ranges: the step cache shared by all states emptied too.
        def first() -> None:
            v3_math._full_step.cache_clear()
            swap(**fields, zero_for_one=cold.zero_for_one, amount_specified=amount)

        first_us = _per_call_us(first, 100)
        metrics["many_crossings_ticks_crossed"] = offchain.ticks_crossed
        metrics["many_crossings_offchain_warm_us"] = round(warm_us, 2)
        metrics["many_crossings_offchain_cold_us"] = round(cold_us, 2)
        metrics["many_crossings_quoter_eth_call_us"] = round(eth_call_us, 1)
        metrics["many_crossings_speedup_warm_x"] = round(eth_call_us / warm_us, 1)
        metrics["many_crossings_speedup_cold_x"] = round(eth_call_us / cold_us, 1)
        metrics["many_crossings_offchain_first_us"] = round(first_us, 2)
        metrics["many_crossings_speedup_first_x"] = round(eth_call_us / first_us, 1)
        metrics["target_speedup_x"] = 50
        metrics["equal_to_the_wei"] = True
        return metrics


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:40s} {value}")
