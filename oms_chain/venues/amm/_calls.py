"""Small typed helpers for the calls the AMM venues make: ABI-encoded calldata from a function
signature (eth-abi), ERC-20 reads, receipts and the Transfer logs of one wallet."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from oms_chain.chain.revert import split_abi_types
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.types import MalformedReceipt, Receipt
from oms_chain.model.errors import VenueRejected, VenueTimeout

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


def encode_call(signature: str, *args: Any) -> bytes:
    """Calldata for ``signature`` (e.g. ``approve(address,uint256)``) with ``args``."""
    types = split_abi_types(signature[signature.index("(") + 1 : -1])
    return keccak(text=signature)[:4] + abi_encode(types, list(args))


async def eth_call(
    rpc: RpcClient, to: str, data: bytes, out: Sequence[str], block: str = "latest"
) -> tuple[Any, ...]:
    """``eth_call`` of ``data`` on ``to``, decoded as ``out``."""
    raw = await rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, block])
    return tuple(abi_decode(list(out), bytes.fromhex(str(raw)[2:])))


async def erc20_balance(rpc: RpcClient, token: str, owner: str) -> int:
    """``balanceOf(owner)`` in base units."""
    (value,) = await eth_call(rpc, token, encode_call("balanceOf(address)", owner), ["uint256"])
    return int(value)


async def erc20_allowance(rpc: RpcClient, token: str, owner: str, spender: str) -> int:
    """``allowance(owner, spender)`` in base units."""
    (value,) = await eth_call(
        rpc, token, encode_call("allowance(address,address)", owner, spender), ["uint256"]
    )
    return int(value)


async def native_balance(rpc: RpcClient, owner: str) -> int:
    """Native balance in wei."""
    return int(await rpc.call("eth_getBalance", [owner, "latest"]), 16)


async def wait_for_receipt(
    rpc: RpcClient, tx_hash: str, what: str, *, timeout: float = 30.0, interval: float = 0.05
) -> Receipt:
    """Poll until ``tx_hash`` is mined; returns the receipt.

    Raises :class:`VenueRejected` when it reverted and :class:`VenueTimeout` when it was not
    mined within ``timeout`` seconds (it may still be: the settlement tracker follows it).
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            receipt = await rpc.receipt(tx_hash)
        except MalformedReceipt as exc:
            raise VenueTimeout(
                f"{what} ({tx_hash}) was mined but {exc}; it is tracked, retry the order "
                "once it settles"
            ) from exc
        if receipt is not None:
            if receipt.status != 1:
                raise VenueRejected(f"{what} ({tx_hash}) reverted on chain; nothing else was sent")
            return receipt
        if loop.time() >= end:
            raise VenueTimeout(
                f"{what} ({tx_hash}) not mined after {timeout:g} s; it is tracked, retry the "
                "order once it settles"
            )
        await asyncio.sleep(interval)


@dataclass(frozen=True, slots=True)
class WalletFlows:
    """Token amounts (base units) that left and reached ``wallet`` in one receipt."""

    sent: Mapping[str, int]
    received: Mapping[str, int]

    @classmethod
    def from_receipt(cls, receipt: Receipt, wallet: str) -> WalletFlows:
        """Sum the ERC-20 Transfer logs of ``receipt`` from and to ``wallet`` per token
        (lower-case token address)."""
        me = wallet.lower()
        sent: dict[str, int] = {}
        received: dict[str, int] = {}
        for log in receipt.logs:
            if len(log.topics) != 3 or log.topics[0] != TRANSFER_TOPIC:
                continue
            token = log.address.lower()
            src, dst = "0x" + log.topics[1][-40:], "0x" + log.topics[2][-40:]
            amount = int(log.data, 16) if log.data not in ("0x", "") else 0
            if src == me:
                sent[token] = sent.get(token, 0) + amount
            if dst == me:
                received[token] = received.get(token, 0) + amount
        return cls(sent, received)


def checksum(address: str) -> str:
    """The EIP-55 checksummed form of ``address``."""
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))
