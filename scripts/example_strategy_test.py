"""Developer example: test a strategy against the devnet with the oms-chain pytest plugin.

Installing oms-chain registers the plugin, so these fixtures need no conftest.py:
``l1`` (the L1 chain, reverted after each test), ``devnet_accounts`` (funded keys) and
``address_book`` (contracts, tokens, pools). Run:

    .venv/bin/pytest scripts/example_strategy_test.py

The "strategy" here is deliberately small: buy WETH with USDC on whichever V3 pool quotes best,
and never accept less than the quote minus 20 bps.
"""

from __future__ import annotations

from typing import Any

from oms_chain.chain.addressbook import AddressBook
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevAccount, DevnetChain


def best_v3_quote(chain: DevnetChain, book: AddressBook, usdc_in: int) -> tuple[int, int]:
    """(fee tier, WETH out) of the best V3 pool for selling ``usdc_in`` base units of USDC."""
    quoter = chain.w3.eth.contract(
        address=book.address("QuoterV2"), abi=load_protocol_artifact("QuoterV2").abi
    )
    usdc, weth = book.address("USDC"), book.address("WETH")
    quotes = [
        (
            pool.fee,
            quoter.functions.quoteExactInputSingle((usdc, weth, usdc_in, pool.fee, 0)).call()[0],
        )
        for pool in book.pools_for("USDC", "WETH")
        if pool.protocol == "uniswap-v3"
    ]
    return max(quotes, key=lambda q: q[1])


def buy_weth(chain: DevnetChain, book: AddressBook, trader: str, usdc_in: int) -> int:
    """Run the strategy; returns WETH received (wei)."""
    fee, quoted = best_v3_quote(chain, book, usdc_in)
    usdc = chain.w3.eth.contract(address=book.address("USDC"), abi=ERC20_ABI)
    weth = chain.w3.eth.contract(address=book.address("WETH"), abi=ERC20_ABI)
    router: Any = chain.w3.eth.contract(
        address=book.address("SwapRouter"), abi=load_protocol_artifact("SwapRouter").abi
    )
    usdc.functions.approve(router.address, usdc_in).transact({"from": trader})
    before = weth.functions.balanceOf(trader).call()
    params = (usdc.address, weth.address, fee, trader, 2**32, usdc_in, quoted * 9980 // 10_000, 0)
    router.functions.exactInputSingle(params).transact({"from": trader})
    return int(weth.functions.balanceOf(trader).call() - before)


def test_strategy_buys_at_the_quote(
    l1: DevnetChain, address_book: AddressBook, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    trader = devnet_accounts[4].address
    _fee, quoted = best_v3_quote(l1, address_book, 100_000 * 10**6)
    assert buy_weth(l1, address_book, trader, 100_000 * 10**6) == quoted


def test_each_test_starts_from_the_deployed_world(
    l1: DevnetChain, address_book: AddressBook, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    weth = l1.w3.eth.contract(address=address_book.address("WETH"), abi=ERC20_ABI)
    assert weth.functions.balanceOf(devnet_accounts[4].address).call() == 0
