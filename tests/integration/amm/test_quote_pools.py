"""``quote_pools`` and ``oms quote``: exact per-pool quotes equal the on-chain quoters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from oms_chain.chain.rpc import RpcClient
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm.quotes import quote_pools


@pytest.mark.parametrize(
    ("sell", "buy", "amount"),
    [
        ("WETH", "USDC", 10 * 10**18),
        ("USDC", "WETH", 2_500_000 * 10**6),
        ("WBTC", "WETH", 3 * 10**8),
        ("DAI", "USDC", 400_000 * 10**18),
    ],
)
async def test_every_pool_quote_equals_quoterv2_or_router02(
    l1: DevnetChain, sell: str, buy: str, amount: int
) -> None:
    book = l1.book
    async with RpcClient([l1.rpc_url]) as rpc:
        quotes = await quote_pools(rpc, book, sell, buy, amount)
    assert [q.amount_out for q in quotes] == sorted((q.amount_out for q in quotes), reverse=True)
    quoter = l1.w3.eth.contract(
        address=book.address("QuoterV2"), abi=load_protocol_artifact("QuoterV2").abi
    )
    router = l1.w3.eth.contract(
        address=book.address("UniswapV2Router02"),
        abi=load_protocol_artifact("UniswapV2Router02").abi,
    )
    t_in, t_out = book.address(sell), book.address(buy)
    for q in quotes:
        if q.protocol == "uniswap-v3":
            out, _, ticks, _gas = quoter.functions.quoteExactInputSingle(
                (t_in, t_out, amount, q.fee, 0)
            ).call()
            assert q.amount_out == out
            assert q.ticks_crossed <= ticks  # QuoterV2 also counts the tick it stops on
        else:
            assert q.amount_out == router.functions.getAmountsOut(amount, [t_in, t_out]).call()[-1]
        assert q.price_impact_bps >= 0


async def test_bad_requests_are_clear(l1: DevnetChain) -> None:
    async with RpcClient([l1.rpc_url]) as rpc:
        with pytest.raises(InvalidInput, match="positive"):
            await quote_pools(rpc, l1.book, "WETH", "USDC", 0)
        with pytest.raises(InvalidInput, match="no token 'XYZ'"):
            await quote_pools(rpc, l1.book, "XYZ", "USDC", 1)
        with pytest.raises(InvalidInput, match="no Uniswap pool"):
            await quote_pools(rpc, l1.book, "WBTC", "DAI", 1)


def test_oms_quote_json(l1: DevnetChain) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "oms_chain.cli",
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
            "10",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["amount_in"] == 10 * 10**18 and len(data["quotes"]) == 3
    assert data["quotes"][0]["amount_out"] == 29_964_537_469  # the demo's exact swap output
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "oms_chain.cli",
            "quote",
            "--chain",
            "1",
            "--rpc-url",
            l1.rpc_url,
            "--sell",
            "WETH",
            "--buy",
            "USDC",
            "--amount",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrong.returncode == 2 and "is chain 31337" in wrong.stderr
