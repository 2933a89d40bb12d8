"""ERC-20 approvals for router swaps: exact amounts by default, reuse of a sufficient allowance,
and the reset-to-zero dance of USDT-style tokens.

Some tokens (USDT on Ethereum is the best known) refuse ``approve(spender, x)`` while the current
allowance is non-zero: the allowance must first be set to zero. :func:`ensure_allowance` does that
for tokens named in the policy, and for any other token whose approval simulation reverts while an
allowance is standing. Every approval is waited for until mined, so the swap that follows
simulates against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from oms_chain.chain.revert import TransactionWouldRevert
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody.calls import Call
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import TxHash
from oms_chain.venues.amm._calls import encode_call, erc20_allowance, wait_for_receipt

__all__ = [
    "KNOWN_RESET_TOKENS",
    "MAX_UINT256",
    "ApprovalPolicy",
    "approval_calls",
    "ensure_allowance",
]

MAX_UINT256 = 2**256 - 1

#: Tokens known to need a zero allowance before a new approval, per chain (lower-case).
KNOWN_RESET_TOKENS: dict[int, frozenset[str]] = {
    1: frozenset({"0xdac17f958d2ee523a2206206994597c13d831ec7"}),  # USDT
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalPolicy:
    """How to approve routers.

    ``unlimited``: approve ``2**256 - 1`` instead of the exact amount (fewer approval
    transactions, more exposure to the router). ``reset_tokens``: extra token addresses that need
    a zero allowance first (added to :data:`KNOWN_RESET_TOKENS`). ``timeout``: seconds to wait for
    an approval to be mined.
    """

    unlimited: bool = False
    reset_tokens: frozenset[str] = frozenset()
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise InvalidInput(f"approval timeout must be > 0 seconds, got {self.timeout}")
        object.__setattr__(self, "reset_tokens", frozenset(t.lower() for t in self.reset_tokens))

    def needs_reset(self, chain_id: int, token: str) -> bool:
        """True when ``token`` is known to refuse changing a non-zero allowance."""
        key = token.lower()
        return key in self.reset_tokens or key in KNOWN_RESET_TOKENS.get(chain_id, frozenset())


async def ensure_allowance(
    sender: TxSender,
    rpc: RpcClient,
    token: str,
    spender: str,
    amount: int,
    policy: ApprovalPolicy | None = None,
) -> tuple[TxHash, ...]:
    """Make ``spender`` allowed to pull at least ``amount`` base units of ``token`` from the
    sender's account; returns the approval transactions sent (none when the allowance already
    suffices), each mined before this returns.

    Raises :class:`TransactionWouldRevert` (approval refused, nothing sent),
    :class:`~oms_chain.model.errors.VenueRejected` (an approval reverted on chain) and
    :class:`~oms_chain.model.errors.VenueTimeout` (an approval was not mined in time).
    """
    if amount <= 0:
        raise InvalidInput(f"allowance amount must be > 0 base units, got {amount}")
    policy = policy or ApprovalPolicy()
    owner = sender.signer.address
    current = await erc20_allowance(rpc, token, owner, spender)
    if current >= amount:
        return ()
    target = MAX_UINT256 if policy.unlimited else amount
    sent: list[TxHash] = []

    async def approve(value: int) -> None:
        tx = await sender.send(
            to=token,
            data=encode_call("approve(address,uint256)", spender, value),
            what=f"approve {value} of {token} to {spender}",
        )
        await wait_for_receipt(rpc, tx.tx_hash, f"approval of {token}", timeout=policy.timeout)
        sent.append(tx.tx_hash)

    if current > 0 and policy.needs_reset(sender.chain.chain_id, token):
        await approve(0)
        await approve(target)
        return tuple(sent)
    try:
        await approve(target)
    except TransactionWouldRevert:
        if current == 0:
            raise
        await approve(0)  # a USDT-style token not in the policy: learn it from the revert
        await approve(target)
    return tuple(sent)


async def approval_calls(
    rpc: RpcClient,
    token: str,
    owner: str,
    spender: str,
    amount: int,
    policy: ApprovalPolicy | None = None,
) -> list[Call]:
    """The approvals a contract account (a Safe) runs in the same batch as its swap so that
    ``spender`` may pull at least ``amount`` base units of ``token`` from ``owner``: none when
    the allowance suffices, else ``approve(target)`` — preceded by ``approve(0)`` whenever an
    allowance is standing (a batch cannot learn from a revert, and USDT-style tokens refuse to
    change a non-zero allowance)."""
    if amount <= 0:
        raise InvalidInput(f"allowance amount must be > 0 base units, got {amount}")
    policy = policy or ApprovalPolicy()
    current = await erc20_allowance(rpc, token, owner, spender)
    if current >= amount:
        return []
    target = MAX_UINT256 if policy.unlimited else amount
    calls = (
        [Call.to_address(token, encode_call("approve(address,uint256)", spender, 0))]
        if current
        else []
    )
    calls.append(Call.to_address(token, encode_call("approve(address,uint256)", spender, target)))
    return calls
