"""Owner signatures of a Safe transaction: the four kinds Safe v1.4.1 accepts, packed and checked.

Kinds (the ``v`` byte of each 65-byte slot tells them apart): an EOA's ECDSA signature over the
SafeTx hash (``v`` 27/28), an ``eth_sign`` signature over the EIP-191 prefixed hash (``v`` + 4),
an EIP-1271 contract signature (``v`` 0, pointer to data checked by the owner contract) and an
approved hash (``v`` 1: the owner called ``approveHash`` or is the account that executes).
Parsing and packing use safe-eth-py's ``SafeSignature``; :func:`check_signatures` adds the rules
Safe enforces on chain, so a bad set is refused here, before anything is sent.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from oms_chain.custody.base import Signer, TypedDataSigner
from oms_chain.custody.safe._safe_eth import (
    SafeSignature,
    SafeSignatureApprovedHash,
    SafeSignatureContract,
    SafeSignatureType,
)
from oms_chain.custody.safe.transaction import SafeTransaction, _address
from oms_chain.model.errors import FinalError, InvalidInput

__all__ = [
    "OwnerSignature",
    "SignatureKind",
    "SignatureRejected",
    "check_signatures",
    "pack_signatures",
    "parse_signatures",
    "sign_safe_transaction",
]


class SignatureRejected(FinalError, ValueError):
    """A signature set a Safe would refuse (wrong, missing, duplicated, out of order, too few).

    Raised before anything is sent; the message names the signature and the rule."""


class SignatureKind(enum.Enum):
    """How an owner authorized a Safe transaction."""

    EOA = "eoa"
    ETH_SIGN = "eth_sign"
    CONTRACT = "contract"
    APPROVED_HASH = "approved_hash"


_KIND_OF = {
    SafeSignatureType.EOA: SignatureKind.EOA,
    SafeSignatureType.ETH_SIGN: SignatureKind.ETH_SIGN,
    SafeSignatureType.CONTRACT_SIGNATURE: SignatureKind.CONTRACT,
    SafeSignatureType.APPROVED_HASH: SignatureKind.APPROVED_HASH,
}


@dataclass(frozen=True, slots=True)
class OwnerSignature:
    """One owner's authorization. ``data``: the 65-byte r||s||v for EOA / eth_sign (``v`` as
    produced by the signer, 27/28), the contract signature bytes for EIP-1271, empty for an
    approved hash. Use the named constructors."""

    owner: ChecksumAddress
    kind: SignatureKind
    data: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", _address(self.owner, "signature owner"))
        if not isinstance(self.data, bytes):
            raise InvalidInput("signature data must be bytes")
        if self.kind in (SignatureKind.EOA, SignatureKind.ETH_SIGN):
            if len(self.data) != 65 or self.data[64] not in (27, 28):
                raise InvalidInput(
                    f"{self.kind.value} signature of {self.owner} must be 65 bytes r||s||v "
                    "with v 27 or 28"
                )
        elif self.kind is SignatureKind.APPROVED_HASH and self.data:
            raise InvalidInput("an approved-hash signature carries no data")

    @classmethod
    def eoa(cls, owner: str, signature: bytes) -> OwnerSignature:
        """An ECDSA signature over the SafeTx hash itself (what :meth:`Signer.sign_hash` gives)."""
        return cls(_address(owner, "signature owner"), SignatureKind.EOA, bytes(signature))

    @classmethod
    def eth_sign(cls, owner: str, signature: bytes) -> OwnerSignature:
        """A signature over ``"\\x19Ethereum Signed Message:\\n32" || safeTxHash`` (eth_sign)."""
        return cls(_address(owner, "signature owner"), SignatureKind.ETH_SIGN, bytes(signature))

    @classmethod
    def contract(cls, owner: str, signature: bytes) -> OwnerSignature:
        """An EIP-1271 signature the owner contract checks (``isValidSignature``)."""
        return cls(_address(owner, "signature owner"), SignatureKind.CONTRACT, bytes(signature))

    @classmethod
    def approved_hash(cls, owner: str) -> OwnerSignature:
        """The owner approved the hash on chain (``approveHash``) or executes it itself."""
        return cls(_address(owner, "signature owner"), SignatureKind.APPROVED_HASH)

    def _to_safe_eth(self, tx: SafeTransaction) -> Any:
        h = tx.safe_tx_hash
        if self.kind is SignatureKind.EOA:
            return SafeSignature.parse_signature(self.data, h)[0]
        if self.kind is SignatureKind.ETH_SIGN:
            raw = self.data[:64] + bytes([self.data[64] + 4])
            return SafeSignature.parse_signature(raw, h)[0]
        if self.kind is SignatureKind.CONTRACT:
            return SafeSignatureContract.from_values(self.owner, h, tx.hash_preimage, self.data)
        return SafeSignatureApprovedHash.build_for_owner(self.owner, "0x" + h.hex())


async def sign_safe_transaction(signer: Signer, tx: SafeTransaction) -> OwnerSignature:
    """Have ``signer`` (an owner) sign ``tx``'s SafeTx hash.

    A signer that cannot sign raw digests (a remote JSON-RPC signer) signs the SafeTx as EIP-712
    typed data, which yields the same EOA signature over the same hash. A contract owner (a
    threshold group's account, ``capabilities.contract_account``) approves the SafeTx as typed
    data too, so its signers see what they approve; that gives an EIP-1271 contract signature."""
    if signer.capabilities.contract_account:
        if not isinstance(signer, TypedDataSigner):
            raise InvalidInput(
                f"contract owner {signer.address} cannot approve typed data; sign with its own "
                "tool and pass OwnerSignature.contract(...)"
            )
        approval = await signer.sign_typed_data(tx.typed_data())
        return OwnerSignature.contract(signer.address, approval)
    if not signer.capabilities.digests and isinstance(signer, TypedDataSigner):
        return OwnerSignature.eoa(signer.address, await signer.sign_typed_data(tx.typed_data()))
    if not signer.capabilities.ecdsa_hashes:
        raise InvalidInput(
            f"signer {signer.address} does not make ECDSA hash signatures; a contract owner "
            "signs with OwnerSignature.contract(...)"
        )
    return OwnerSignature.eoa(signer.address, await signer.sign_hash(tx.safe_tx_hash))


def _recovered(sig: OwnerSignature, tx: SafeTransaction) -> ChecksumAddress:
    return ChecksumAddress(sig._to_safe_eth(tx).owner)


def pack_signatures(signatures: Sequence[OwnerSignature], tx: SafeTransaction) -> bytes:
    """The ``signatures`` argument of ``execTransaction``: slots sorted by owner, contract data
    appended. Run :func:`check_signatures` first; this only encodes."""
    return bytes(SafeSignature.export_signatures([s._to_safe_eth(tx) for s in signatures]))


def parse_signatures(blob: bytes, tx: SafeTransaction) -> list[OwnerSignature]:
    """Read a packed ``signatures`` blob (as another tool exported it) into owner signatures,
    in the order they appear. Owners of ECDSA kinds are the recovered addresses."""
    if not isinstance(blob, bytes | bytearray):
        raise InvalidInput("packed signatures must be bytes")
    if len(blob) < 65:
        raise InvalidInput(f"packed signatures are {len(blob)} bytes; each slot is 65")
    out: list[OwnerSignature] = []
    for parsed in SafeSignature.parse_signature(
        bytes(blob), tx.safe_tx_hash, tx.hash_preimage, ignore_trailing=True
    ):
        kind = _KIND_OF.get(parsed.signature_type)
        if kind is None:
            raise SignatureRejected(
                f"signature type {parsed.signature_type.name} is not accepted by Safe 1.4.1"
            )
        owner = ChecksumAddress(to_checksum_address(parsed.owner))
        raw = bytes(parsed.signature)
        if kind is SignatureKind.ETH_SIGN:
            out.append(OwnerSignature.eth_sign(owner, raw[:64] + bytes([raw[64] - 4])))
        elif kind is SignatureKind.EOA:
            out.append(OwnerSignature.eoa(owner, raw))
        elif kind is SignatureKind.CONTRACT:
            out.append(OwnerSignature.contract(owner, bytes(parsed.contract_signature)))  # type: ignore[attr-defined]
        else:
            out.append(OwnerSignature.approved_hash(owner))
    return out


def check_signatures(
    signatures: Sequence[OwnerSignature],
    tx: SafeTransaction,
    *,
    owners: Collection[str],
    threshold: int,
    executor: str | None = None,
    approved: Collection[str] = (),
    valid_contract_signers: Collection[str] = (),
    ordered: bool = False,
) -> list[OwnerSignature]:
    """Check a signature set as Safe will; returns it sorted by owner, ready to pack.

    ``owners`` / ``threshold``: the Safe's, read from chain. ``executor``: the account that will
    send ``execTransaction`` (its approved-hash slot needs no on-chain approval). ``approved``:
    owners whose ``approvedHashes`` entry for this hash is set. ``valid_contract_signers``:
    contract owners whose ``isValidSignature`` accepted their data. ``ordered``: the set came
    packed from elsewhere, so its order must already be Safe's (strictly increasing owners).

    Raises :class:`SignatureRejected` naming the first offending signature and rule.
    """
    owner_set = {to_checksum_address(o) for o in owners}
    if threshold < 1:
        raise SignatureRejected(f"Safe threshold is {threshold}; a Safe needs at least 1")
    approved_set = {to_checksum_address(o) for o in approved}
    contract_ok = {to_checksum_address(o) for o in valid_contract_signers}
    seen: set[str] = set()
    previous = -1
    for i, sig in enumerate(signatures, 1):
        if not isinstance(sig, OwnerSignature):
            raise InvalidInput(f"signature {i} is a {type(sig).__name__}, not an OwnerSignature")
        who = sig.owner
        if sig.kind in (SignatureKind.EOA, SignatureKind.ETH_SIGN):
            recovered = _recovered(sig, tx)
            if recovered != who:
                raise SignatureRejected(
                    f"signature {i} ({sig.kind.value}) claims owner {who} but recovers to "
                    f"{recovered}: it signed something else than Safe tx "
                    f"0x{tx.safe_tx_hash.hex()}; sign that hash again"
                )
        if who not in owner_set:
            raise SignatureRejected(
                f"signature {i} is by {who}, who is not an owner of Safe {tx.safe}"
            )
        if who in seen:
            raise SignatureRejected(f"signature {i}: owner {who} signed twice; drop one")
        if ordered and int(who, 16) <= previous:
            raise SignatureRejected(
                f"signature {i} (owner {who}) is out of order: Safe needs signatures sorted by "
                "owner address, ascending"
            )
        if (
            sig.kind is SignatureKind.APPROVED_HASH
            and who not in approved_set
            and (executor is None or to_checksum_address(executor) != who)
        ):
            raise SignatureRejected(
                f"signature {i}: owner {who} has not approved hash 0x{tx.safe_tx_hash.hex()} "
                "on chain and is not the executor; call approveHash first"
            )
        if sig.kind is SignatureKind.CONTRACT and who not in contract_ok:
            raise SignatureRejected(
                f"signature {i}: contract owner {who} did not accept its EIP-1271 signature "
                "for this Safe tx"
            )
        seen.add(who)
        previous = int(who, 16)
    if len(seen) < threshold:
        raise SignatureRejected(
            f"Safe {tx.safe} needs {threshold} owner signatures, got {len(seen)}; "
            "collect more before executing"
        )
    return sorted(signatures, key=lambda s: int(s.owner, 16))
