"""The exchange simulator anchored to the devnet's real Uniswap pools on Anvil: its prices are
the pools' prices (read from ``slot0`` / ``getReserves``), and a swap on a pool moves them."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from web3 import Web3

from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.exchange import SimulatorConfig, SimulatorThread, run_in_thread
from oms_chain.devnet.pool_anchor import PoolAnchor, anchor_pools
from oms_chain.devnet.world import DevAccount, DevnetChain


def _contract(chain: DevnetChain, name: str, address: str) -> Any:
    return chain.w3.eth.contract(address=address, abi=load_protocol_artifact(name).abi)


@pytest.fixture
def anchored_sim(l1: DevnetChain) -> Iterator[SimulatorThread]:
    """A simulator whose ETH and BTC follow the L1 pools; agents paused after the first step."""
    anchor = PoolAnchor(l1.rpc_url, anchor_pools(l1.book))
    handle = run_in_thread(SimulatorConfig(seed=4, anchor=anchor, anchor_interval_s=3600))
    try:
        handle.call(handle.simulator.pause_agents)
        yield handle
    finally:
        handle.stop()


def _weighted_eth_price(l1: DevnetChain) -> Fraction:
    """Independently of the anchor's code: every WETH/USDC pool's price through web3 and the
    pools' ABIs, weighted by the USDC each holds."""
    usdc, weth = l1.book.token("USDC"), l1.book.token("WETH")
    usdc_token = l1.w3.eth.contract(address=usdc.address, abi=ERC20_ABI)
    total, weights = Fraction(0), 0
    for pool in l1.book.pools_for("WETH", "USDC"):
        if pool.protocol == "uniswap-v2":
            r0, r1, _ = _contract(l1, "UniswapV2Pair", pool.address).functions.getReserves().call()
            raw = Fraction(r1, r0)
        else:
            sqrt_p = _contract(l1, "UniswapV3Pool", pool.address).functions.slot0().call()[0]
            raw = Fraction(sqrt_p * sqrt_p, 2**192)
        if pool.token0 == weth.address:  # USDC base units per WETH wei -> USDC per WETH
            price = raw * Fraction(10**weth.decimals, 10**usdc.decimals)
        else:
            price = 1 / (raw * Fraction(10**usdc.decimals, 10**weth.decimals))
        held = usdc_token.functions.balanceOf(pool.address).call()
        total += price * held
        weights += held
    return total / weights


def _mid(handle: SimulatorThread, symbol: str) -> Decimal:
    bid, ask = handle.call(lambda: handle.simulator.engine.best_bid_ask(symbol))
    assert bid is not None and ask is not None
    return (bid[0] + ask[0]) / 2


def test_selectors_are_the_keccak_of_their_signatures() -> None:
    from oms_chain.devnet import pool_anchor

    for selector, signature in (
        (pool_anchor._SLOT0, "slot0()"),
        (pool_anchor._GET_RESERVES, "getReserves()"),
        (pool_anchor._BALANCE_OF, "balanceOf(address)"),
    ):
        assert selector == "0x" + Web3.keccak(text=signature)[:4].hex().removeprefix("0x")


def test_anchor_pools_are_the_weth_and_wbtc_pools_against_usdc(l1: DevnetChain) -> None:
    pools = anchor_pools(l1.book)
    eth = [p for p in pools if p.asset == "ETH"]
    btc = [p for p in pools if p.asset == "BTC"]
    assert {p.address for p in eth} == {p.address for p in l1.book.pools_for("WETH", "USDC")}
    assert {p.address for p in btc} == {p.address for p in l1.book.pools_for("WBTC", "USDC")}
    assert len(eth) == 3 and len(btc) == 1


def test_the_anchor_reads_the_pools_price_exactly(
    l1: DevnetChain, anchored_sim: SimulatorThread
) -> None:
    applied = anchored_sim.refresh_anchor()
    expected = _weighted_eth_price(l1)
    assert applied["ETH"] == (Decimal(expected.numerator) / Decimal(expected.denominator)).quantize(
        Decimal("0.00000001")
    )
    assert abs(applied["ETH"] - 3000) < Decimal("0.00001")  # the pools were seeded at 3000
    assert abs(applied["BTC"] - 60000) < Decimal("0.0001")
    assert abs(_mid(anchored_sim, "ETHUSDC") / 3000 - 1) < Decimal("0.004")


def test_a_swap_on_a_pool_moves_the_exchange_mid_with_it(
    l1: DevnetChain, anchored_sim: SimulatorThread, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    before = _mid(anchored_sim, "ETHUSDC")
    trader = devnet_accounts[4].address
    usdc, weth = l1.book.token("USDC"), l1.book.token("WETH")
    router = _contract(l1, "SwapRouter", l1.book.address("SwapRouter"))
    usdc_token = l1.w3.eth.contract(address=usdc.address, abi=ERC20_ABI)
    amount_in = 800_000 * 10**6  # buy WETH with 800k USDC on the 0.05 % pool
    for fn in (
        usdc_token.functions.approve(router.address, amount_in),
        router.functions.exactInputSingle(
            (usdc.address, weth.address, 500, trader, 2**32, amount_in, 0, 0)
        ),
    ):
        receipt = l1.w3.eth.wait_for_transaction_receipt(fn.transact({"from": trader}))
        assert receipt["status"] == 1

    expected = _weighted_eth_price(l1)
    assert expected > 3030  # the swap moved the pools' weighted price by more than 1 %
    # through the admin endpoint, as a test in another process would
    request = urllib.request.Request(f"{anchored_sim.url}/_sim/anchor/refresh", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        applied = {k: Decimal(v) for k, v in json.loads(response.read()).items()}
    assert applied["ETH"] == (Decimal(expected.numerator) / Decimal(expected.denominator)).quantize(
        Decimal("0.00000001")
    )
    anchored_sim.call(lambda: anchored_sim.simulator.step_agents(3))
    after = _mid(anchored_sim, "ETHUSDC")
    assert after > before
    assert abs(after / applied["ETH"] - 1) < Decimal("0.004")  # band 25 bps + half spread
    eth_btc = _mid(anchored_sim, "ETHBTC")
    assert abs(eth_btc / (applied["ETH"] / applied["BTC"]) - 1) < Decimal("0.004")
