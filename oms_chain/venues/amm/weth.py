"""Wrapping the chain's native asset into WETH (``deposit``) and back (``withdraw``).

Routers trade WETH; an instrument whose base or quote is the native asset (ETH) is executed on
the WETH pools, wrapping what the swap spends first and, if configured, unwrapping what it buys.
"""

from __future__ import annotations

from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.model.errors import InvalidInput, VenueRejected
from oms_chain.model.ids import TxHash
from oms_chain.venues.amm._calls import (
    encode_call,
    erc20_balance,
    native_balance,
    wait_for_receipt,
)

__all__ = ["ensure_wrapped", "unwrap", "wrap"]


async def wrap(
    sender: TxSender, rpc: RpcClient, weth: str, amount: int, *, timeout: float = 30.0
) -> TxHash:
    """Wrap ``amount`` wei of native asset into WETH; returns once mined.

    Raises :class:`VenueRejected` when the account holds too little native asset.
    """
    if amount <= 0:
        raise InvalidInput(f"wrap amount must be > 0 wei, got {amount}")
    have = await native_balance(rpc, sender.signer.address)
    if have < amount:
        raise VenueRejected(
            f"cannot wrap {amount} wei: {sender.signer.address} holds only {have} wei of "
            f"{sender.chain.native_symbol}; fund the account or trade less"
        )
    tx = await sender.send(to=weth, data=encode_call("deposit()"), value=amount, what="wrap")
    await wait_for_receipt(rpc, tx.tx_hash, "wrap", timeout=timeout)
    return tx.tx_hash


async def unwrap(
    sender: TxSender, rpc: RpcClient, weth: str, amount: int, *, timeout: float = 30.0
) -> TxHash:
    """Unwrap ``amount`` wei of WETH into the native asset; returns once mined."""
    if amount <= 0:
        raise InvalidInput(f"unwrap amount must be > 0 wei, got {amount}")
    tx = await sender.send(to=weth, data=encode_call("withdraw(uint256)", amount), what="unwrap")
    await wait_for_receipt(rpc, tx.tx_hash, "unwrap", timeout=timeout)
    return tx.tx_hash


async def ensure_wrapped(
    sender: TxSender, rpc: RpcClient, weth: str, amount: int, *, timeout: float = 30.0
) -> TxHash | None:
    """Make the account hold at least ``amount`` wei of WETH, wrapping only the shortfall;
    returns the wrap transaction, or ``None`` when no wrap was needed."""
    held = await erc20_balance(rpc, weth, sender.signer.address)
    if held >= amount:
        return None
    return await wrap(sender, rpc, weth, amount - held, timeout=timeout)
