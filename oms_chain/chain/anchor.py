"""Audit anchors on a chain: publish an event store's chain head to the ``AuditAnchor`` contract
and read every anchored head back from its logs.

The contract (``contracts/src/AuditAnchor.sol``) emits
``Anchored(address indexed writer, bytes32 indexed storeId, uint64 indexed position, bytes32
head)`` and refuses, per writer and store, a smaller position or another hash at an anchored
position. Logs stay on the chain, so a later rewrite of the store cannot remove an anchor. The
store id (32 hex digits) is the topic's first 16 bytes, left-aligned; the head is the event
hash at ``position``.

The transaction goes through :class:`~oms_chain.chain.sender.TxSender` (simulated first: a
rewind or a conflicting hash is refused before anything is signed) with the caller's
:class:`~oms_chain.custody.base.Signer`. Anchors read back are
:class:`~oms_chain.store.anchors.Anchor` values for :func:`~oms_chain.store.verify_audit`.
Reorgs: an anchor in a block that is later reorged out disappears from the logs; anchor again
if it matters, or wait for the chain's finality before relying on one.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.chain.types import LogEntry
from oms_chain.model.errors import FinalError, InvalidInput, RetryableError
from oms_chain.model.ids import TxHash
from oms_chain.store.anchors import Anchor

__all__ = [
    "ANCHORED_TOPIC",
    "ANCHOR_ERRORS",
    "AnchorNotMined",
    "AnchorReverted",
    "ChainAnchor",
    "publish_anchor",
    "read_chain_anchors",
    "store_id_topic",
]

ANCHORED_TOPIC = "0x" + keccak(text="Anchored(address,bytes32,uint64,bytes32)").hex()
_ANCHOR_SELECTOR = keccak(text="anchor(bytes32,uint64,bytes32)")[:4]
_STORE_ID = re.compile(r"[0-9a-f]{32}")

#: The contract's custom errors, so a refused anchor is explained by name.
ANCHOR_ERRORS: dict[bytes, tuple[str, list[str]]] = {
    keccak(text=f"{name}({','.join(types)})")[:4]: (name, types)
    for name, types in (
        ("PositionRewound", ["bytes32", "uint64", "uint64"]),
        ("HeadConflict", ["bytes32", "uint64", "bytes32", "bytes32"]),
    )
}


class AnchorReverted(FinalError):
    """The anchor transaction was mined but reverted."""


class AnchorNotMined(RetryableError):
    """No receipt within the wait: the anchor may still be mined (check its hash later)."""


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """Where an anchor was published: chain, contract, transaction, block, writer."""

    chain_id: int
    contract: str
    tx_hash: TxHash
    block_number: int
    writer: str


def store_id_topic(store_id: str) -> str:
    """The ``storeId`` topic of a store id (32 lowercase hex digits, left-aligned in 32 bytes).

    Raises:
        InvalidInput: ``store_id`` is not 32 lowercase hex digits.
    """
    if not isinstance(store_id, str) or not _STORE_ID.fullmatch(store_id):
        raise InvalidInput(f"store id must be 32 lowercase hex digits, not {store_id!r}")
    return "0x" + store_id + "0" * 32


def _check_contract(contract: str) -> str:
    try:
        return to_checksum_address(contract)
    except (ValueError, TypeError):
        raise InvalidInput(f"anchor contract {contract!r} is not an address") from None


async def publish_anchor(
    sender: TxSender,
    rpc: RpcClient,
    contract: str,
    anchor: Anchor,
    *,
    timeout_s: float = 60.0,
) -> ChainAnchor:
    """Send ``anchor`` to the ``AuditAnchor`` at ``contract`` and wait for its receipt.

    Raises:
        InvalidInput: the anchor has no store id, or ``contract`` is not an address.
        TransactionWouldRevert: the contract refuses it (``PositionRewound``: an older position
            than this writer anchored; ``HeadConflict``: another hash at an anchored position);
            nothing was sent. (The errors are added to ``sender.known_errors`` to name them.)
        AnchorReverted: mined, but reverted.
        MalformedReceipt: the node's receipt has no valid status (outcome unknown; retryable).
        AnchorNotMined: no receipt within ``timeout_s`` (the transaction may still land).
    """
    address = _check_contract(contract)
    if anchor.store_id is None:
        raise InvalidInput("the store has no id to anchor under; open it once with a writer")
    topic = store_id_topic(anchor.store_id)
    data = _ANCHOR_SELECTOR + abi_encode(
        ["bytes32", "uint64", "bytes32"],
        [bytes.fromhex(topic[2:]), anchor.position, bytes.fromhex(anchor.hash)],
    )
    for selector, error in ANCHOR_ERRORS.items():
        sender.known_errors.setdefault(selector, error)
    sent = await sender.send(to=address, data=data, what="audit anchor")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (receipt := await rpc.receipt(sent.tx_hash)) is None:
        if loop.time() > deadline:
            raise AnchorNotMined(
                f"audit anchor {sent.tx_hash} has no receipt after {timeout_s:.0f} s; check it "
                f"with `oms tx status {sent.tx_hash}`"
            )
        await asyncio.sleep(0.05)
    if receipt.status != 1:
        raise AnchorReverted(f"audit anchor {sent.tx_hash} reverted on chain")
    return ChainAnchor(
        chain_id=sender.chain.chain_id,
        contract=address,
        tx_hash=sent.tx_hash,
        block_number=receipt.block_number,
        writer=sender.signer.address,
    )


async def read_chain_anchors(
    rpc: RpcClient,
    contract: str,
    store_id: str,
    *,
    writer: str | None = None,
    from_block: int = 0,
) -> list[Anchor]:
    """Every head anchored for ``store_id`` at ``contract`` (by ``writer`` only, if given), in
    log order. Logs flagged ``removed`` (reorged out) are skipped.

    Raises:
        InvalidInput: a bad contract, writer or store id.
        RpcError / RpcUnavailable: the node refused or did not answer ``eth_getLogs``.
    """
    address = _check_contract(contract)
    writer_topic = None
    if writer is not None:
        try:
            writer_topic = "0x" + "0" * 24 + to_checksum_address(writer)[2:].lower()
        except (ValueError, TypeError):
            raise InvalidInput(f"anchor writer {writer!r} is not an address") from None
    if type(from_block) is not int or from_block < 0:
        raise InvalidInput(f"from_block must be a block number >= 0, not {from_block!r}")
    chain_id = await rpc.chain_id()
    logs = await rpc.call(
        "eth_getLogs",
        [
            {
                "address": address,
                "fromBlock": hex(from_block),
                "toBlock": "latest",
                "topics": [ANCHORED_TOPIC, writer_topic, store_id_topic(store_id)],
            }
        ],
    )
    anchors = []
    for log in (LogEntry.from_rpc(raw) for raw in logs or []):
        if log.removed:
            continue
        (head,) = abi_decode(["bytes32"], bytes.fromhex(log.data[2:]))
        who = to_checksum_address("0x" + log.topics[1][-40:])
        anchors.append(
            Anchor(
                position=int(log.topics[3], 16),
                hash=head.hex(),
                store_id=store_id,
                source=(
                    f"chain {chain_id} anchor tx {log.tx_hash} (block "
                    f"{log.block_number}, writer {who})"
                ),
            )
        )
    return anchors
