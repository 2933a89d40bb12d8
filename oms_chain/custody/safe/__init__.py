"""Safe v1.4.1 smart accounts: creation, state, Safe transactions, owner signatures, execution.

Needs the ``safe`` extra (safe-eth-py): ``pip install 'oms-chain[safe]'``.
"""

from oms_chain.custody.safe.account import (
    Relayer,
    SafeAccount,
    SafeAddresses,
    SafeFactory,
    SafeNonceMismatch,
    SafeRpc,
    SafeState,
)
from oms_chain.custody.safe.signatures import (
    OwnerSignature,
    SignatureKind,
    SignatureRejected,
    check_signatures,
    pack_signatures,
    parse_signatures,
    sign_safe_transaction,
)
from oms_chain.custody.safe.transaction import (
    SAFE_VERSION,
    Call,
    Operation,
    SafeTransaction,
    encode_multisend,
)
from oms_chain.custody.safe.txbuilder import TransactionBatch, batch_checksum

__all__ = [
    "SAFE_VERSION",
    "Call",
    "Operation",
    "OwnerSignature",
    "Relayer",
    "SafeAccount",
    "SafeAddresses",
    "SafeFactory",
    "SafeNonceMismatch",
    "SafeRpc",
    "SafeState",
    "SafeTransaction",
    "SignatureKind",
    "SignatureRejected",
    "TransactionBatch",
    "batch_checksum",
    "check_signatures",
    "encode_multisend",
    "pack_signatures",
    "parse_signatures",
    "sign_safe_transaction",
]
