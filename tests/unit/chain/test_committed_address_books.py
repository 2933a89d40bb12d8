"""The committed address books (mainnet, Arbitrum, Optimism, Base) hold the chains' canonical
addresses, written in EIP-55 form.

Canonical values, checked against:
- Uniswap docs "V2 Deployment Addresses" (factory, Router02 per network);
- Uniswap docs "Ethereum / Arbitrum / Optimism / Base Deployments" and Uniswap/v3-periphery
  ``deploys.md`` (V3 factory, SwapRouter, SwapRouter02, QuoterV2, NonfungiblePositionManager):
  one set shared by mainnet, Arbitrum and Optimism; Base has its own, and no SwapRouter (v1);
- safe-global/safe-deployments ``src/assets/v1.4.1/*.json`` (canonical singletons, the same
  address on every chain listed);
- Circle's USDC contract addresses (native USDC, not bridged USDC.e / USDbC) and the chains'
  wrapped native token (WETH9 on mainnet, the predeploy 0x42…06 on OP-stack chains).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_utils import is_checksum_address

from oms_chain.chain.addressbook import deployments_dir, load_address_book

SAFE_141 = {
    "Safe": "0x41675C099F32341bf84BFc5382aF534df5C7461a",
    "SafeL2": "0x29fcB43b46531BcA003ddC8FCB67FFE91900C762",
    "SafeProxyFactory": "0x4e1DCf7AD4e460CfD30791CCC4F9c8a4f820ec67",
    "CompatibilityFallbackHandler": "0xfd0732Dc9E303f09fCEf3a7388Ad10A83459Ec99",
    "MultiSend": "0x38869bf66a61cF6bDB996A6aE40D5853Fd43B526",
    "MultiSendCallOnly": "0x9641d764fc13c8B624c04430C7356C1C7C8102e2",
}
V3_SHARED = {  # mainnet, Arbitrum, Optimism (not Base)
    "UniswapV3Factory": "0x1F98431c8aD98523631AE4a59f267346ea31F984",
    "SwapRouter": "0xE592427A0AEce92De3Edee1F18E0157C05861564",
    "SwapRouter02": "0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45",
    "QuoterV2": "0x61fFE014bA17989E743c5F6cB21bF9697530B21e",
    "NonfungiblePositionManager": "0xC36442b4a4522E871399CD717aBDD847Ab11FE88",
}
OP_STACK_WETH = "0x4200000000000000000000000000000000000006"

CANONICAL: dict[int, dict[str, str]] = {
    1: {
        "WETH": "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        "USDC": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        "UniswapV2Factory": "0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f",
        "UniswapV2Router02": "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D",
        **V3_SHARED,
        **SAFE_141,
    },
    42161: {
        "WETH": "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1",
        "USDC": "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
        "UniswapV2Factory": "0xf1D7CC64Fb4452F05c498126312eBE29f30Fbcf9",
        "UniswapV2Router02": "0x4752ba5DBc23f44D87826276BF6Fd6b1C372aD24",
        **V3_SHARED,
        **SAFE_141,
    },
    10: {
        "WETH": OP_STACK_WETH,
        "USDC": "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85",
        "UniswapV2Factory": "0x0c3c1c532F1e39EdF36BE9Fe0bE1410313E074Bf",
        "UniswapV2Router02": "0x4A7b5Da61326A6379179b40d00F57E5bbDC962c2",
        **V3_SHARED,
        **SAFE_141,
    },
    8453: {
        "WETH": OP_STACK_WETH,
        "USDC": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "UniswapV2Factory": "0x8909Dc15e40173Ff4699343b6eB8132c65e18eC6",
        "UniswapV2Router02": "0x4752ba5DBc23f44D87826276BF6Fd6b1C372aD24",
        "UniswapV3Factory": "0x33128a8fC17869897dcE68Ed026d694621f6FDfD",
        "SwapRouter02": "0x2626664c2603336E57B271c5C0b26F421741e481",
        "QuoterV2": "0x3d4e44Eb1374240CE5F1B871ab261CD16335B76a",
        "NonfungiblePositionManager": "0x03a520b32C04BF3bEEf7BEb72E919cf822Ed34f1",
        **SAFE_141,
    },
}
#: Bridged stablecoins that must not be listed as USDC.
BRIDGED_USDC = {
    "0xFF970A61A04b1cA14834A43f5dE4533eBDDB5CC8",  # USDC.e on Arbitrum
    "0x7F5c764cBc14f9669B88837ca1490cCa17c31607",  # USDC.e on Optimism
    "0xd9aAEc86B65D86f6A7B5B1b0c42FFA531710b6CA",  # USDbC on Base
}


def _raw_books() -> dict[int, tuple[str, dict[str, Any]]]:
    """The committed books as written (file name, JSON), devnet books left out."""
    out = {}
    for entry in sorted(deployments_dir().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json") or entry.name.startswith("devnet-"):
            continue
        data = json.loads(entry.read_text())
        out[int(data["chain_id"])] = (entry.name, data)
    return out


def _addresses(data: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(f"contracts.{k}", v) for k, v in data.get("contracts", {}).items()]
    found += [(f"tokens.{k}", t["address"]) for k, t in data.get("tokens", {}).items()]
    for i, p in enumerate(data.get("pools", [])):
        found += [(f"pools[{i}].{k}", p[k]) for k in ("address", "token0", "token1")]
    return found


def test_there_is_a_committed_book_for_each_major_chain() -> None:
    assert set(CANONICAL) <= set(_raw_books())


@pytest.mark.parametrize("chain_id", sorted(CANONICAL))
def test_every_address_of_a_committed_book_is_written_eip55_checksummed(chain_id: int) -> None:
    name, data = _raw_books()[chain_id]
    bad = [(key, value) for key, value in _addresses(data) if not is_checksum_address(value)]
    assert bad == [], f"{name}: not EIP-55: {bad}"


@pytest.mark.parametrize("chain_id", sorted(CANONICAL))
def test_a_committed_book_holds_the_chains_canonical_addresses(chain_id: int) -> None:
    book = load_address_book(chain_id)
    canonical = CANONICAL[chain_id]
    assert {name: book.contracts.get(name) for name in canonical} == canonical
    # nothing else claims to be one of these protocols at another address
    assert set(book.contracts) == set(canonical)
    assert book.token("WETH").address == canonical["WETH"] and book.token("WETH").decimals == 18
    assert book.token("USDC").address == canonical["USDC"] and book.token("USDC").decimals == 6
    assert book.token("USDC").address not in BRIDGED_USDC
    # a committed book pins no pools: they are discovered from the factories
    assert book.pools == ()


def test_base_has_its_own_v3_deployment_and_no_v1_swap_router() -> None:
    base = load_address_book(8453)
    assert base.address("UniswapV3Factory") != V3_SHARED["UniswapV3Factory"]
    assert "SwapRouter" not in base.contracts


@pytest.mark.parametrize("chain_id", sorted(CANONICAL))
def test_every_committed_address_names_its_source(chain_id: int) -> None:
    _, data = _raw_books()[chain_id]
    named = {*data["contracts"], *data["tokens"]}
    assert named <= set(data.get("sources", {}))
