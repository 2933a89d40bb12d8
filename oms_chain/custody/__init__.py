"""Custody: who signs. Local keys, remote JSON-RPC signers, signing policy; Safe in custody.safe."""

from oms_chain.custody.base import (
    SignedTransaction,
    Signer,
    SignerCapabilities,
    SignerUnsupported,
    TypedDataSigner,
)
from oms_chain.custody.local import LocalSigner
from oms_chain.custody.policy import PolicySigner, PolicyViolation, SigningPolicy
from oms_chain.custody.remote import RemoteSigner

__all__ = [
    "LocalSigner",
    "PolicySigner",
    "PolicyViolation",
    "RemoteSigner",
    "SignedTransaction",
    "Signer",
    "SignerCapabilities",
    "SignerUnsupported",
    "SigningPolicy",
    "TypedDataSigner",
]
