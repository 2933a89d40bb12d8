"""Deploy the devnet world: WETH9, Uniswap V2/V3, Safe v1.4.1, devnet tokens, oracles, liquidity,
the ``AuditAnchor`` contract (address book name ``AuditAnchor``), and our options market with its
series and a batch executor (:mod:`oms_chain.devnet.options_market`).

Third-party contracts come from their npm packages' bytecode (:mod:`oms_chain.devnet.artifacts`);
our own (tokens, oracles) from ``build/contracts`` (:mod:`oms_chain.devnet.solidity`). Liquidity
is seeded at one coherent set of USD prices (:data:`PRICES_USD`) in several pools of different
depths and fee tiers, so routing has something to choose between. The deployment asserts that the
deployed V2 pair and V3 pool code hash to the canonical mainnet init-code hashes, so periphery
address math (CREATE2 pool addresses) holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from oms_chain.chain.addressbook import AddressBook, PoolEntry, TokenEntry
from oms_chain.devnet.artifacts import link_bytecode, load_protocol_artifact
from oms_chain.devnet.options_market import deploy_options
from oms_chain.devnet.solidity import load_artifact
from oms_chain.model.errors import DevnetError

__all__ = [
    "ERC20_ABI",
    "PRICES_USD",
    "UNISWAP_V2_PAIR_INIT_CODE_HASH",
    "UNISWAP_V3_POOL_INIT_CODE_HASH",
    "DeployError",
    "PoolSpec",
    "deploy_world",
    "sqrt_price_x96",
    "v2_pair_address",
    "v3_pool_address",
]

#: Canonical mainnet init-code hashes that Uniswap periphery hard-codes.
UNISWAP_V2_PAIR_INIT_CODE_HASH = (
    "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
)
UNISWAP_V3_POOL_INIT_CODE_HASH = (
    "0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
)

#: One coherent price set for every venue of the devnet (CEX simulator included).
PRICES_USD: dict[str, Decimal] = {
    "WETH": Decimal(3000),
    "WBTC": Decimal(60000),
    "USDC": Decimal(1),
    "DAI": Decimal(1),
}

#: Devnet ERC-20s: symbol, name, decimals.
DEV_TOKENS: tuple[tuple[str, str, int], ...] = (
    ("USDC", "USD Coin (devnet)", 6),
    ("WBTC", "Wrapped BTC (devnet)", 8),
    ("DAI", "Dai Stablecoin (devnet)", 18),
)

#: Tokens minted to every funded account (human units).
ACCOUNT_GRANTS: dict[str, int] = {"USDC": 10_000_000, "WBTC": 200, "DAI": 10_000_000}

_TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}
_MIN_TICK, _MAX_TICK = -887272, 887272

ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": mut,
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(ins)],
        "outputs": [{"name": "", "type": t} for t in outs],
    }
    for name, mut, ins, outs in (
        ("balanceOf", "view", ["address"], ["uint256"]),
        ("allowance", "view", ["address", "address"], ["uint256"]),
        ("decimals", "view", [], ["uint8"]),
        ("symbol", "view", [], ["string"]),
        ("totalSupply", "view", [], ["uint256"]),
        ("approve", "nonpayable", ["address", "uint256"], ["bool"]),
        ("transfer", "nonpayable", ["address", "uint256"], ["bool"]),
        ("transferFrom", "nonpayable", ["address", "address", "uint256"], ["bool"]),
    )
]


class DeployError(DevnetError):
    """A deployment transaction reverted or a post-deployment check failed."""


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """One pool to create and fund.

    ``depth_usd`` is the USD value put on *each* side. ``range_ticks`` is the half-width of a
    concentrated V3 position around the current tick (``None``: full range).
    """

    protocol: str
    a: str
    b: str
    fee: int
    depth_usd: int
    range_ticks: int | None = None


#: The pools of the devnet: different depths and fee tiers so routing has something to do.
DEFAULT_POOLS: tuple[PoolSpec, ...] = (
    PoolSpec("uniswap-v2", "WETH", "USDC", 3000, 3_000_000),
    PoolSpec("uniswap-v3", "WETH", "USDC", 500, 2_000_000),
    PoolSpec("uniswap-v3", "WETH", "USDC", 500, 4_000_000, range_ticks=2000),
    PoolSpec("uniswap-v3", "WETH", "USDC", 3000, 1_500_000),
    PoolSpec("uniswap-v2", "WBTC", "WETH", 3000, 1_000_000),
    PoolSpec("uniswap-v3", "WBTC", "WETH", 3000, 3_000_000),
    PoolSpec("uniswap-v3", "WBTC", "USDC", 3000, 2_000_000),
    PoolSpec("uniswap-v2", "DAI", "USDC", 3000, 1_000_000),
    PoolSpec("uniswap-v3", "DAI", "USDC", 500, 5_000_000, range_ticks=200),
    PoolSpec("uniswap-v2", "WETH", "DAI", 3000, 1_000_000),
)


def sqrt_price_x96(price_usd0: Decimal, price_usd1: Decimal, dec0: int, dec1: int) -> int:
    """sqrt(token1 base units per token0 base unit) as Q64.96, floored, from USD prices."""
    ratio = Fraction(price_usd0) / Fraction(price_usd1) * Fraction(10**dec1, 10**dec0)
    return math.isqrt(ratio.numerator * 2**192 // ratio.denominator)


def v2_pair_address(factory: str, token_a: str, token_b: str) -> str:
    """CREATE2 address of a Uniswap V2 pair, using the canonical init-code hash."""
    t0, t1 = sorted((token_a.lower(), token_b.lower()))
    salt = keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:]))
    return _create2(factory, salt, UNISWAP_V2_PAIR_INIT_CODE_HASH)


def v3_pool_address(factory: str, token_a: str, token_b: str, fee: int) -> str:
    """CREATE2 address of a Uniswap V3 pool, using the canonical init-code hash."""
    t0, t1 = sorted((token_a.lower(), token_b.lower()))
    salt = keccak(abi_encode(["address", "address", "uint24"], [t0, t1, fee]))
    return _create2(factory, salt, UNISWAP_V3_POOL_INIT_CODE_HASH)


def _create2(deployer: str, salt: bytes, init_code_hash: str) -> str:
    digest = keccak(
        b"\xff" + bytes.fromhex(deployer[2:]) + salt + bytes.fromhex(init_code_hash[2:])
    )
    return to_checksum_address(digest[12:])


class _Deployer:
    """Sends the deployment transactions from an unlocked Anvil account (automine chain)."""

    def __init__(self, w3: Web3, sender: str, progress: Callable[[str], None] | None) -> None:
        self.w3 = w3
        self.sender = to_checksum_address(sender)
        self.progress = progress or (lambda _msg: None)
        self.gas_used = 0

    def _send(self, label: str, tx_hash: Any) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
        if receipt["status"] != 1:
            raise DeployError(f"devnet deployment step {label!r} reverted (tx {tx_hash.hex()})")
        self.gas_used += int(receipt["gasUsed"])
        return receipt

    def deploy(self, label: str, abi: list[dict[str, Any]], bytecode: str, *args: Any) -> Any:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        try:
            tx_hash = factory.constructor(*args).transact({"from": self.sender})
        except Exception as exc:
            raise DeployError(f"deploying {label} failed: {exc}") from exc
        receipt = self._send(f"deploy {label}", tx_hash)
        address = receipt["contractAddress"]
        if not self.w3.eth.get_code(address):
            raise DeployError(f"{label} deployed at {address} but has no code")
        self.progress(f"deployed {label} at {address}")
        return self.w3.eth.contract(address=address, abi=abi)

    def call(self, label: str, fn: Any, value: int = 0) -> Any:
        try:
            tx_hash = fn.transact({"from": self.sender, "value": value})
        except Exception as exc:
            raise DeployError(f"devnet step {label!r} failed: {exc}") from exc
        return self._send(label, tx_hash)


def deploy_world(
    rpc_url: str,
    *,
    funded_accounts: Sequence[str],
    pools: Sequence[PoolSpec] = DEFAULT_POOLS,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> AddressBook:
    """Deploy every protocol and seed liquidity on the automine chain at ``rpc_url``.

    The first of ``funded_accounts`` deploys and provides liquidity (it must be unlocked, as
    Anvil's accounts are); every account receives :data:`ACCOUNT_GRANTS` of each devnet token.
    Returns the address book (contracts, tokens, pools). Raises :class:`DeployError` when a step
    reverts or a check fails (init-code hashes, Safe version, pool addresses).
    """
    if not funded_accounts:
        raise DeployError("deploy_world needs at least one unlocked account")
    started = time.perf_counter()
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
    chain_id = int(w3.eth.chain_id)
    d = _Deployer(w3, funded_accounts[0], progress)
    contracts: dict[str, ChecksumAddress] = {}

    def proto(name_: str, *args: Any, bytecode: str | None = None) -> Any:
        art = load_protocol_artifact(name_)
        c = d.deploy(name_, art.abi, bytecode or art.bytecode, *args)
        contracts[name_] = c.address
        return c

    _check_init_code_hashes()

    weth = proto("WETH9")
    contracts["WETH"] = contracts.pop("WETH9")
    v2_factory = proto("UniswapV2Factory", d.sender)
    v2_router = proto("UniswapV2Router02", v2_factory.address, weth.address)
    v3_factory = proto("UniswapV3Factory")
    proto("SwapRouter", v3_factory.address, weth.address)
    proto("QuoterV2", v3_factory.address, weth.address)
    nft_lib = proto("NFTDescriptor")
    descriptor_art = load_protocol_artifact("NonfungibleTokenPositionDescriptor")
    descriptor = proto(
        "NonfungibleTokenPositionDescriptor",
        weth.address,
        b"ETH".ljust(32, b"\0"),
        bytecode=link_bytecode(descriptor_art, {"NFTDescriptor": nft_lib.address}),
    )
    npm = proto("NonfungiblePositionManager", v3_factory.address, weth.address, descriptor.address)
    for safe_part in (
        "Safe",
        "SafeL2",
        "SafeProxyFactory",
        "CompatibilityFallbackHandler",
        "MultiSend",
        "MultiSendCallOnly",
    ):
        proto(safe_part)
    for safe_name in ("Safe", "SafeL2"):
        version = (
            w3.eth.contract(address=contracts[safe_name], abi=load_protocol_artifact(safe_name).abi)
            .functions.VERSION()
            .call()
        )
        if version != "1.4.1":
            raise DeployError(f"{safe_name} reports VERSION {version!r}, expected '1.4.1'")

    token_art = load_artifact("DevToken")
    tokens: dict[str, TokenEntry] = {"WETH": TokenEntry("WETH", weth.address, 18)}
    token_contracts: dict[str, Any] = {"WETH": weth}
    for symbol, long_name, decimals in DEV_TOKENS:
        c = d.deploy(symbol, token_art["abi"], token_art["bytecode"], long_name, symbol, decimals)
        tokens[symbol] = TokenEntry(symbol, to_checksum_address(c.address), decimals)
        token_contracts[symbol] = c

    oracle_art = load_artifact("DevOracle")
    for symbol in ("WETH", "WBTC"):
        label = f"Oracle{symbol.removeprefix('W')}USD"
        answer = int(PRICES_USD[symbol] * 10**8)
        c = d.deploy(label, oracle_art["abi"], oracle_art["bytecode"], f"{symbol} / USD", 8, answer)
        contracts[label] = c.address

    # Grants: every account gets devnet tokens; the deployer also funds the pools below.
    lp_needs = _liquidity_needs(pools)
    for symbol, _name, decimals in DEV_TOKENS:
        c = token_contracts[symbol]
        for account in funded_accounts:
            amount = ACCOUNT_GRANTS[symbol] * 10**decimals
            if account == funded_accounts[0]:
                amount += lp_needs.get(symbol, 0) * 10**decimals
            d.call(f"mint {symbol}", c.functions.mint(to_checksum_address(account), amount))
    weth_needed = lp_needs.get("WETH", 0) * 10**18
    d.call("wrap ETH for liquidity", weth.functions.deposit(), value=weth_needed)
    max_uint = 2**256 - 1
    for symbol, c in token_contracts.items():
        for spender in (v2_router.address, npm.address):
            d.call(f"approve {symbol}", c.functions.approve(spender, max_uint))

    pool_entries = [
        _seed_pool(d, spec, tokens, v2_factory, v2_router, v3_factory, npm) for spec in pools
    ]
    # Last, so it shifts no other address: where `oms audit anchor` publishes chain heads.
    anchor_art = load_artifact("AuditAnchor")
    anchor = d.deploy("AuditAnchor", anchor_art["abi"], anchor_art["bytecode"])
    contracts["AuditAnchor"] = anchor.address
    # After the anchor, so no earlier address moves: the options market and a batch executor.
    now = int(w3.eth.get_block("latest")["timestamp"])
    deploy_options(d, contracts, tokens, now, progress)
    book = AddressBook(
        chain_id=chain_id,
        name=name or f"devnet-{chain_id}",
        contracts=contracts,
        tokens=tokens,
        pools=tuple(dict.fromkeys(pool_entries)),  # a pool funded twice is listed once
    )
    d.progress(
        f"deployed world on chain {chain_id}: {len(contracts)} contracts, {len(tokens)} tokens, "
        f"{len(book.pools)} pools, {d.gas_used:,} gas in {time.perf_counter() - started:.1f} s"
    )
    return book


def _check_init_code_hashes() -> None:
    v2 = load_protocol_artifact("UniswapV2Pair").bytecode_hash
    v3 = load_protocol_artifact("UniswapV3Pool").bytecode_hash
    if v2 != UNISWAP_V2_PAIR_INIT_CODE_HASH:
        raise DeployError(f"UniswapV2Pair init-code hash {v2} is not the canonical one")
    if v3 != UNISWAP_V3_POOL_INIT_CODE_HASH:
        raise DeployError(f"UniswapV3Pool init-code hash {v3} is not the canonical one")


def _liquidity_needs(pools: Sequence[PoolSpec]) -> dict[str, int]:
    """Whole tokens the liquidity provider needs, with headroom for rounding."""
    needs: dict[str, int] = {}
    for spec in pools:
        for sym in (spec.a, spec.b):
            needs[sym] = needs.get(sym, 0) + int(spec.depth_usd / PRICES_USD[sym]) + 1
    return needs


def _seed_pool(
    d: _Deployer,
    spec: PoolSpec,
    tokens: dict[str, TokenEntry],
    v2_factory: Any,
    v2_router: Any,
    v3_factory: Any,
    npm: Any,
) -> PoolEntry:
    a, b = tokens[spec.a], tokens[spec.b]
    t0, t1 = (a, b) if a.address.lower() < b.address.lower() else (b, a)
    amount0 = int(spec.depth_usd / PRICES_USD[t0.symbol] * 10**t0.decimals)
    amount1 = int(spec.depth_usd / PRICES_USD[t1.symbol] * 10**t1.decimals)
    deadline = 2**32 - 1
    label = f"{spec.protocol} {spec.a}/{spec.b} {spec.fee / 10_000:g}%"
    if spec.protocol == "uniswap-v2":
        if spec.fee != 3000:
            raise DeployError(f"{label}: Uniswap V2 pools always charge 0.3 % (fee 3000)")
        d.call(
            f"add liquidity {label}",
            v2_router.functions.addLiquidity(
                t0.address, t1.address, amount0, amount1, 0, 0, d.sender, deadline
            ),
        )
        pair = v2_factory.functions.getPair(t0.address, t1.address).call()
        expected = v2_pair_address(v2_factory.address, t0.address, t1.address)
        if pair != expected:
            raise DeployError(
                f"{label}: factory says pair {pair}, canonical CREATE2 math says {expected}"
            )
        d.progress(f"seeded {label} at {pair}")
        return PoolEntry("uniswap-v2", pair, t0.address, t1.address, 3000)
    if spec.protocol != "uniswap-v3":
        raise DeployError(f"unknown pool protocol {spec.protocol!r}")
    spacing = _TICK_SPACING[spec.fee]
    sqrt_p = sqrt_price_x96(PRICES_USD[t0.symbol], PRICES_USD[t1.symbol], t0.decimals, t1.decimals)
    d.call(
        f"create {label}",
        npm.functions.createAndInitializePoolIfNecessary(t0.address, t1.address, spec.fee, sqrt_p),
    )
    if spec.range_ticks is None:
        lower = -(_MAX_TICK // spacing) * spacing
        upper = (_MAX_TICK // spacing) * spacing
    else:
        tick = math.floor(math.log((sqrt_p / 2**96) ** 2) / math.log(1.0001))
        lower = (tick - spec.range_ticks) // spacing * spacing
        upper = -(-(tick + spec.range_ticks) // spacing) * spacing
    d.call(
        f"mint position {label}",
        npm.functions.mint(
            (
                t0.address,
                t1.address,
                spec.fee,
                lower,
                upper,
                amount0,
                amount1,
                0,
                0,
                d.sender,
                deadline,
            )
        ),
    )
    pool = v3_factory.functions.getPool(t0.address, t1.address, spec.fee).call()
    expected = v3_pool_address(v3_factory.address, t0.address, t1.address, spec.fee)
    if pool != expected:
        raise DeployError(
            f"{label}: factory says pool {pool}, canonical CREATE2 math says {expected}"
        )
    d.progress(f"seeded {label} at {pool}")
    return PoolEntry("uniswap-v3", pool, t0.address, t1.address, spec.fee)
