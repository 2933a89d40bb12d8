"""Custody: who signs. Local keys now; Safe, FROST threshold groups and remote signers next."""

from oms_chain.custody.base import SignedTransaction, Signer, SignerCapabilities
from oms_chain.custody.local import LocalSigner

__all__ = ["LocalSigner", "SignedTransaction", "Signer", "SignerCapabilities"]
