"""The ``Signer`` protocol: everything that can authorize a transaction for an account.

Implementations: :class:`oms_chain.custody.local.LocalSigner` (a private key or an encrypted
keystore); a Safe smart account, a FROST threshold group and a remote JSON-RPC signer follow the
same protocol. Signing is async so a slow signer (a threshold round, a remote service) never
blocks the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eth_typing import ChecksumAddress

from oms_chain.model.ids import TxHash

__all__ = ["SignedTransaction", "Signer"]


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A signed, RLP-encoded transaction ready for ``eth_sendRawTransaction``."""

    raw: bytes
    tx_hash: TxHash
    sender: ChecksumAddress
    nonce: int


@runtime_checkable
class Signer(Protocol):
    """Signs transactions and 32-byte hashes for one account."""

    @property
    def address(self) -> ChecksumAddress:
        """The account that signs."""
        ...

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """Sign an EIP-1559 (type 2) or legacy transaction dict; it must carry ``chainId``."""
        ...

    async def sign_hash(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest; returns 65 bytes r || s || v with v in {27, 28}."""
        ...
