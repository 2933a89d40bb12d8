"""A DAO treasury on the devnet: a Safe v1.4.1 (owners, threshold) holding ETH and USDC, a
``BatchExecutor`` owned by the Safe for its option fills, and a policy file for it.

Devnet use only (unlocked Anvil accounts pay for the setup); the treasury itself
(:mod:`oms_chain.treasury`) never imports this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_account import Account

from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.solidity import load_artifact
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.errors import DevnetError

__all__ = ["DevTreasury", "create_treasury", "policy_toml"]

_ZERO = "0x" + "00" * 20


@dataclass(frozen=True, slots=True)
class DevTreasury:
    """The Safe, its owners' keys (sorted as created), its threshold and its executor."""

    safe: str
    owner_keys: tuple[str, ...]
    threshold: int
    executor: str

    @property
    def owners(self) -> tuple[str, ...]:
        """Owner addresses."""
        return tuple(Account.from_key(k).address for k in self.owner_keys)


def _send(chain: DevnetChain, fn: Any, sender: str, value: int = 0) -> Any:
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        fn.transact({"from": sender, "value": value})
    )
    if receipt["status"] != 1:
        raise DevnetError(f"devnet treasury setup transaction from {sender} reverted")
    return receipt


def create_treasury(
    chain: DevnetChain,
    owner_keys: Sequence[str],
    threshold: int,
    *,
    eth: int,
    usdc: int,
    salt: int = 18,
    contract_owners: Sequence[str] = (),
) -> DevTreasury:
    """Create a Safe owned by ``owner_keys`` (and ``contract_owners``: EIP-1271 accounts, e.g.
    another Safe) with ``threshold``, fund it with ``eth`` ETH and ``usdc`` USDC (whole units,
    from account 0) and deploy a BatchExecutor it owns."""
    w3 = chain.w3
    funder = chain.accounts[0].address
    owners = [Account.from_key(k).address for k in owner_keys] + list(contract_owners)
    single = load_protocol_artifact("SafeL2")
    singleton = w3.eth.contract(address=chain.book.address("SafeL2"), abi=single.abi)
    setup = singleton.encode_abi(
        "setup",
        args=[
            owners, threshold, _ZERO, b"", chain.book.address("CompatibilityFallbackHandler"),
            _ZERO, 0, _ZERO,
        ],
    )  # fmt: skip
    factory = w3.eth.contract(
        address=chain.book.address("SafeProxyFactory"),
        abi=load_protocol_artifact("SafeProxyFactory").abi,
    )
    create = factory.functions.createProxyWithNonce(singleton.address, setup, salt)
    safe = create.call({"from": funder})
    _send(chain, create, funder)
    art = load_artifact("BatchExecutor")
    deployer = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = _send(chain, deployer.constructor(safe), funder)
    executor = receipt["contractAddress"]
    token = w3.eth.contract(address=chain.book.address("USDC"), abi=ERC20_ABI)
    if usdc:
        _send(chain, token.functions.transfer(safe, usdc * 10**6), funder)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": safe, "value": w3.to_wei(eth, "ether")})
    )
    return DevTreasury(safe, tuple(owner_keys), threshold, executor)


def policy_toml(
    chain: DevnetChain,
    treasury: DevTreasury,
    *,
    makers: Sequence[str],
    allowed: Sequence[str] = ("twap_sale", "puts", "collar", "put_spread"),
    target_share: Decimal = Decimal("0.40"),
    band: Decimal = Decimal("0.02"),
    premium_budget_usd: int = 20_000,
    max_slippage_bps: int = 100,
    approvals: Sequence[tuple[int, int]] = ((0, 2), (250_000, 3)),
    webhook_url: str | None = None,
    twap_slices: int = 2,
    slice_interval_s: int = 0,
    route: bool = False,
) -> str:
    """A policy file for ``treasury`` on the devnet's contracts (see
    :mod:`oms_chain.treasury.policy` for the keys)."""
    book = chain.book
    rules = "".join(
        f"\n[[approvals]]\nabove_usd = {above}\nsignatures = {n}\n" for above, n in approvals
    )
    notify = f'\n[notify]\nwebhook_url = "{webhook_url}"\n' if webhook_url else ""
    return f"""name = "Devnet DAO treasury"

[safe]
chain_id = {chain.chain_id}
address = "{treasury.safe}"
options_executor = "{treasury.executor}"
options_market = "{book.address("OptionsMarket")}"
makers = {list(makers)!r}
swap_router = "{book.address("SwapRouter")}"
quoter = "{book.address("QuoterV2")}"
pool_fee = 500
route = {"true" if route else "false"}
multisend = "{book.address("MultiSendCallOnly")}"

[[assets]]
symbol = "ETH"
native = true
underlying = "ETH"

[[assets]]
symbol = "WETH"
address = "{book.address("WETH")}"
decimals = 18
underlying = "ETH"

[[assets]]
symbol = "USDC"
address = "{book.address("USDC")}"
decimals = 6
stable = true

[prices]
ETH = "feed:{book.address("OracleETHUSD")}"

[exposure]
underlying = "ETH"
target_share = {target_share}
band = {band}

[instruments]
allowed = {list(allowed)!r}
put_moneyness = [0.80, 1.02]
call_moneyness = [1.00, 1.30]
min_days = 1
max_days = 35
vol = 0.65

[limits]
premium_budget_usd = {premium_budget_usd}
budget_period_days = 7
max_slippage_bps = {max_slippage_bps}
max_notional_usd = 5000000
{rules}
[schedule]
twap_slices = {twap_slices}
slice_interval_s = {slice_interval_s}
{notify}"""
