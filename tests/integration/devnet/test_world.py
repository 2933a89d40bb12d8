"""The deployed devnet world: real protocol bytecode, exact swaps, isolation between tests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from oms_chain.chain.addressbook import load_address_book
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain, DevnetConfig

# Canonical mainnet init-code hashes, typed here independently of the deployer's constants.
V2_PAIR_HASH = bytes.fromhex("96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f")
V3_POOL_HASH = bytes.fromhex("e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54")
Q96 = 2**96


def _contract(chain: DevnetChain, name: str, address: str | None = None) -> Any:
    art = load_protocol_artifact(name)
    return chain.w3.eth.contract(address=address or chain.book.address(name), abi=art.abi)


def _erc20(chain: DevnetChain, symbol: str) -> Any:
    return chain.w3.eth.contract(address=chain.book.address(symbol), abi=ERC20_ABI)


def _transact(chain: DevnetChain, fn: Any, sender: str) -> Any:
    receipt = chain.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt["status"] == 1
    return receipt


def test_every_contract_and_token_in_the_book_has_code(l1: DevnetChain) -> None:
    book = l1.book
    names = [*book.contracts, *book.tokens]
    assert {
        "WETH",
        "UniswapV2Factory",
        "UniswapV2Router02",
        "UniswapV3Factory",
        "SwapRouter",
        "QuoterV2",
        "NonfungiblePositionManager",
        "Safe",
        "SafeL2",
        "SafeProxyFactory",
        "CompatibilityFallbackHandler",
        "MultiSend",
        "MultiSendCallOnly",
    } <= set(names)
    for name in names:
        assert len(l1.w3.eth.get_code(book.address(name))) > 0, name
    for pool in book.pools:
        assert len(l1.w3.eth.get_code(pool.address)) > 0, pool
    assert {t.decimals for t in book.tokens.values()} == {6, 8, 18}
    assert book.token("USDC").decimals == 6 and book.token("WBTC").decimals == 8


def test_pools_sit_at_the_canonical_create2_addresses(l1: DevnetChain) -> None:
    v2_factory = bytes.fromhex(l1.book.address("UniswapV2Factory")[2:])
    v3_factory = bytes.fromhex(l1.book.address("UniswapV3Factory")[2:])
    kinds = set()
    for pool in l1.book.pools:
        t0, t1 = bytes.fromhex(pool.token0[2:]), bytes.fromhex(pool.token1[2:])
        assert t0 < t1
        if pool.protocol == "uniswap-v2":
            salt, factory, code_hash = keccak(t0 + t1), v2_factory, V2_PAIR_HASH
        else:
            salt = keccak(
                abi_encode(["address", "address", "uint24"], [pool.token0, pool.token1, pool.fee])
            )
            factory, code_hash = v3_factory, V3_POOL_HASH
        expected = to_checksum_address(keccak(b"\xff" + factory + salt + code_hash)[12:])
        assert pool.address == expected
        kinds.add((pool.protocol, pool.fee))
    assert {("uniswap-v2", 3000), ("uniswap-v3", 500), ("uniswap-v3", 3000)} <= kinds
    weth_usdc = l1.book.pools_for("WETH", "USDC")
    assert len(weth_usdc) == 3  # V2, V3 0.05 %, V3 0.3 %


def test_pools_share_one_coherent_price(l1: DevnetChain) -> None:
    usdc, weth = l1.book.token("USDC"), l1.book.token("WETH")
    for pool in l1.book.pools_for("WETH", "USDC"):
        if pool.protocol == "uniswap-v2":
            r0, r1, _ = _contract(l1, "UniswapV2Pair", pool.address).functions.getReserves().call()
            raw = r1 / r0
        else:
            sqrt_p = _contract(l1, "UniswapV3Pool", pool.address).functions.slot0().call()[0]
            raw = (sqrt_p / Q96) ** 2
        usd_per_weth = raw * 10 ** (weth.decimals - usdc.decimals)
        if pool.token0 == usdc.address:
            usd_per_weth = 1 / (raw * 10 ** (usdc.decimals - weth.decimals))
        assert usd_per_weth == pytest.approx(3000, rel=1e-6)


def test_v2_router_swap_pays_exactly_the_constant_product_amount(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    trader = devnet_accounts[2].address
    usdc, weth = _erc20(l1, "USDC"), _erc20(l1, "WETH")
    router = _contract(l1, "UniswapV2Router02")
    pool = next(p for p in l1.book.pools_for("WETH", "USDC") if p.protocol == "uniswap-v2")
    r0, r1, _ = _contract(l1, "UniswapV2Pair", pool.address).functions.getReserves().call()
    reserve_in, reserve_out = (r0, r1) if pool.token0 == usdc.address else (r1, r0)
    amount_in = 30_000 * 10**6
    expected = amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)

    _transact(l1, usdc.functions.approve(router.address, amount_in), trader)
    before = weth.functions.balanceOf(trader).call()
    path = [usdc.address, weth.address]
    _transact(
        l1,
        router.functions.swapExactTokensForTokens(amount_in, expected, path, trader, 2**32),
        trader,
    )
    assert weth.functions.balanceOf(trader).call() - before == expected
    assert expected == 9_871_580_343_970_612_988  # 30k USDC into a 1000 WETH / 3M USDC pool


def _v3_exact_input_without_crossing(
    sqrt_p: int, liquidity: int, amount_in: int, fee: int, zero_for_one: bool
) -> int:
    """Uniswap V3 exact-input output for a swap that stays inside the current tick range."""
    amount = amount_in * (1_000_000 - fee) // 1_000_000
    if zero_for_one:
        num = liquidity << 96
        sqrt_next = -(-(num * sqrt_p) // (num + amount * sqrt_p))  # rounded up
        return liquidity * (sqrt_p - sqrt_next) // Q96
    sqrt_next = sqrt_p + (amount << 96) // liquidity  # rounded down
    return ((liquidity << 96) * (sqrt_next - sqrt_p) // sqrt_next) // sqrt_p


@pytest.mark.parametrize("fee", [500, 3000])
def test_v3_swap_router_output_equals_independent_math_and_quoter(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], fee: int
) -> None:
    trader = devnet_accounts[3].address
    usdc, weth = _erc20(l1, "USDC"), _erc20(l1, "WETH")
    pool_entry = next(
        p for p in l1.book.pools_for("WETH", "USDC") if p.fee == fee and p.protocol == "uniswap-v3"
    )
    pool = _contract(l1, "UniswapV3Pool", pool_entry.address)
    sqrt_p, *_ = pool.functions.slot0().call()
    liquidity = pool.functions.liquidity().call()
    amount_in = 50_000 * 10**6
    zero_for_one = pool_entry.token0 == usdc.address
    expected = _v3_exact_input_without_crossing(sqrt_p, liquidity, amount_in, fee, zero_for_one)

    quoter = _contract(l1, "QuoterV2")
    quoted, _sqrt_after, ticks_crossed, _gas = quoter.functions.quoteExactInputSingle(
        (usdc.address, weth.address, amount_in, fee, 0)
    ).call()
    assert ticks_crossed == 0 and quoted == expected

    router = _contract(l1, "SwapRouter")
    _transact(l1, usdc.functions.approve(router.address, amount_in), trader)
    before = weth.functions.balanceOf(trader).call()
    params = (usdc.address, weth.address, fee, trader, 2**32, amount_in, expected, 0)
    _transact(l1, router.functions.exactInputSingle(params), trader)
    assert weth.functions.balanceOf(trader).call() - before == expected


def test_a_safe_v141_can_be_created_from_the_deployed_singletons(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    owners = [a.address for a in devnet_accounts[4:7]]
    singleton = _contract(l1, "SafeL2")
    assert singleton.functions.VERSION().call() == "1.4.1"
    zero = "0x" + "00" * 20
    initializer = singleton.encode_abi(
        "setup",
        args=[owners, 2, zero, b"", l1.book.address("CompatibilityFallbackHandler"), zero, 0, zero],
    )
    factory = _contract(l1, "SafeProxyFactory")
    fn = factory.functions.createProxyWithNonce(singleton.address, initializer, 7)
    proxy_address = fn.call({"from": owners[0]})
    _transact(l1, fn, owners[0])
    safe = _contract(l1, "SafeL2", proxy_address)
    assert safe.functions.getOwners().call() == owners
    assert safe.functions.getThreshold().call() == 2
    assert safe.functions.VERSION().call() == "1.4.1"


_SEEN: dict[str, int] = {}


def test_isolation_part_one_changes_state(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    usdc = _erc20(l1, "USDC")
    who = devnet_accounts[8].address
    _SEEN["before"] = usdc.functions.balanceOf(who).call()
    _transact(l1, usdc.functions.transfer(devnet_accounts[9].address, 1_000), who)
    assert usdc.functions.balanceOf(who).call() == _SEEN["before"] - 1_000


def test_isolation_part_two_sees_the_deployed_state_again(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    assert "before" in _SEEN, "runs after part one"
    assert (
        _erc20(l1, "USDC").functions.balanceOf(devnet_accounts[8].address).call() == _SEEN["before"]
    )


def test_l2_has_the_same_world_and_250ms_blocks(l2: DevnetChain) -> None:
    assert l2.chain_id == 31338 and l2.block_time == 0.25
    assert len(l2.w3.eth.get_code(l2.book.address("SwapRouter"))) > 0
    start, started = l2.w3.eth.block_number, time.monotonic()
    deadline = started + 60  # a loaded machine only makes the blocks late, never early
    while l2.w3.eth.block_number < start + 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the node's own clock; the condition decides
    elapsed = time.monotonic() - started
    assert l2.w3.eth.block_number >= start + 3, f"3 blocks not mined in {elapsed:.1f} s"
    # three more blocks cannot come faster than their interval: at least two gaps of 250 ms
    assert elapsed >= 0.4, elapsed  # (two intervals, less timer jitter)


def test_address_books_are_written_and_found_by_chain_id(oms_devnet: Devnet) -> None:
    for chain in oms_devnet.chains.values():
        book = load_address_book(chain.chain_id)
        assert book.address("QuoterV2") == chain.book.address("QuoterV2")
        assert book.name == f"devnet-{chain.chain_id}"


def test_fresh_deployment_equals_the_cached_world(tmp_path: Path, oms_devnet: Devnet) -> None:
    config = DevnetConfig(with_l2=False, use_state_cache=False, deployments_dir=tmp_path)
    with Devnet(config) as fresh:
        assert fresh.l1.book == oms_devnet.l1.book
    assert json.loads((tmp_path / "devnet-31337.json").read_text())["chain_id"] == 31337


def test_fork_mode_uses_the_origin_address_book(oms_devnet: Devnet) -> None:
    config = DevnetConfig(with_l2=False, fork_url=oms_devnet.l1.rpc_url)
    with Devnet(config) as forked:
        assert forked.l1.book.address("SwapRouter") == oms_devnet.l1.book.address("SwapRouter")
        code = forked.l1.w3.eth.get_code(forked.l1.book.address("SwapRouter"))
        assert len(code) > 0
