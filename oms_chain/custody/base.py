"""The ``Signer`` protocol: everything that can authorize a transaction for an account.

Implementations: :class:`oms_chain.custody.local.LocalSigner` (a private key or an encrypted
keystore); a Safe smart account, a FROST threshold group and a remote JSON-RPC signer follow the
same protocol. Signing is async so a slow signer (a threshold round, a remote service) never
blocks the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eth_account.messages import SignableMessage, encode_typed_data
from eth_typing import ChecksumAddress

from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.model.ids import TxHash

__all__ = [
    "SignedTransaction",
    "Signer",
    "SignerCapabilities",
    "SignerUnsupported",
    "TypedDataSigner",
    "typed_data_message",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerCapabilities:
    """What a signer's signatures are, declared by the signer (never guessed from its class).

    ``raw_transactions``: :meth:`Signer.sign_transaction` returns a raw transaction sent from
    :attr:`Signer.address` (an externally owned account); a Safe or threshold account, whose
    address is a contract, executes through another sender and sets it ``False``.
    ``ecdsa_hashes``: :meth:`Signer.sign_hash` returns a 65-byte secp256k1 ECDSA signature that
    ``ecrecover`` maps to :attr:`Signer.address`. ``contract_account``: signatures are checked
    by the account contract (EIP-1271), not by ``ecrecover``. ``remote``: every signature is a
    round trip to another process (a remote signer, a threshold group), so it can time out.
    ``digests``: :meth:`Signer.sign_hash` signs an arbitrary 32-byte digest. A remote JSON-RPC
    signer (web3signer, Clef) cannot: its interface signs transactions and EIP-712 typed data
    only, so its ``sign_hash`` raises :class:`SignerUnsupported` and it is a
    :class:`TypedDataSigner` instead.
    """

    raw_transactions: bool = True
    ecdsa_hashes: bool = True
    contract_account: bool = False
    remote: bool = False
    digests: bool = True

    def __post_init__(self) -> None:
        for name in ("raw_transactions", "ecdsa_hashes", "contract_account", "remote", "digests"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"signer capability {name!r} must be a bool")
        if self.contract_account and self.ecdsa_hashes:
            raise InvalidInput(
                "signer capabilities: a contract account's signatures are not ecrecover-able; "
                "set ecdsa_hashes=False"
            )


class SignerUnsupported(OmsError, NotImplementedError):
    """The signer cannot make this kind of signature (see its :class:`SignerCapabilities`)."""


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

    @property
    def capabilities(self) -> SignerCapabilities:
        """What this signer's signatures are (see :class:`SignerCapabilities`)."""
        ...

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """Sign an EIP-1559 (type 2) or legacy transaction dict; it must carry ``chainId``."""
        ...

    async def sign_hash(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest; returns 65 bytes r || s || v with v in {27, 28}."""
        ...


@runtime_checkable
class TypedDataSigner(Protocol):
    """A signer that signs EIP-712 typed data (``eth_signTypedData_v4``'s JSON shape)."""

    @property
    def address(self) -> ChecksumAddress:
        """The account that signs."""
        ...

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> bytes:
        """Sign ``typed_data`` (types, primaryType, domain, message); 65 bytes r || s || v."""
        ...


def typed_data_message(typed_data: object) -> SignableMessage:
    """The EIP-712 message of ``typed_data`` (the ``eth_signTypedData_v4`` shape), as every
    typed-data signer signs or checks it.

    Raises:
        InvalidInput: not a dict, or not encodable as EIP-712.
    """
    if not isinstance(typed_data, dict):
        raise InvalidInput("typed data must be a dict with types, primaryType, domain, message")
    try:
        return encode_typed_data(full_message=typed_data)
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidInput(f"typed data cannot be encoded: {exc}") from None
