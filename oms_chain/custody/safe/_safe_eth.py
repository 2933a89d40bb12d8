"""The one place that imports safe-eth-py (the ``safe`` extra), with a clear error without it."""

from __future__ import annotations

try:
    from safe_eth.safe.multi_send import MultiSendOperation, MultiSendTx
    from safe_eth.safe.safe_signature import (
        SafeSignature,
        SafeSignatureApprovedHash,
        SafeSignatureContract,
        SafeSignatureType,
    )
    from safe_eth.safe.safe_tx import SafeTx
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "oms_chain.custody.safe needs safe-eth-py: pip install 'oms-chain[safe]'"
    ) from exc

__all__ = [
    "MultiSendOperation",
    "MultiSendTx",
    "SafeSignature",
    "SafeSignatureApprovedHash",
    "SafeSignatureContract",
    "SafeSignatureType",
    "SafeTx",
]
