"""Safe transactions as frozen values: fields, the EIP-712 SafeTx hash, MultiSend batches.

The hash and its preimage come from safe-eth-py's ``SafeTx`` used offline (``safe_version`` and
``chain_id`` given, no client), and equal the contract's ``getTransactionHash``. MultiSend
payloads are the concatenation of safe-eth-py's ``MultiSendTx.encoded_data`` parts, wrapped in a
``multiSend(bytes)`` call that the Safe delegate-calls into ``MultiSendCallOnly``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import keccak

from oms_chain.custody.calls import Call, _address, _bytes, _uint
from oms_chain.custody.safe._safe_eth import MultiSendOperation, MultiSendTx, SafeTx
from oms_chain.model.errors import InvalidInput

__all__ = [
    "SAFE_VERSION",
    "ZERO_ADDRESS",
    "Call",
    "Operation",
    "SafeTransaction",
    "encode_multisend",
]

SAFE_VERSION = "1.4.1"
ZERO_ADDRESS = cast(ChecksumAddress, "0x0000000000000000000000000000000000000000")
_MULTISEND = keccak(text="multiSend(bytes)")[:4]


class Operation(enum.IntEnum):
    """How the Safe runs the call: ``CALL`` or ``DELEGATECALL`` (only into trusted libraries)."""

    CALL = 0
    DELEGATECALL = 1


def encode_multisend(calls: Sequence[Call]) -> bytes:
    """Calldata of ``MultiSendCallOnly.multiSend(bytes)`` running ``calls`` in order.

    Raises :class:`InvalidInput` for an empty batch.
    """
    if not calls:
        raise InvalidInput("a MultiSend batch needs at least one call")
    packed = b"".join(
        bytes(MultiSendTx(MultiSendOperation.CALL, c.to, c.value, c.data).encoded_data)
        for c in calls
    )
    return _MULTISEND + abi_encode(["bytes"], [packed])


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeTransaction:
    """The ten fields a Safe signs (``SafeTx`` of Safe v1.4.1) plus the Safe and chain it is for.

    Gas refund fields default to zero: the relayer pays gas itself and is not refunded by the Safe.
    """

    safe: ChecksumAddress
    chain_id: int
    to: ChecksumAddress
    value: int = 0
    data: bytes = b""
    operation: Operation = Operation.CALL
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: ChecksumAddress = ZERO_ADDRESS
    refund_receiver: ChecksumAddress = ZERO_ADDRESS
    nonce: int
    _preimage: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("safe", "to", "gas_token", "refund_receiver"):
            object.__setattr__(self, name, _address(getattr(self, name), f"Safe tx {name}"))
        for name in ("value", "safe_tx_gas", "base_gas", "gas_price", "nonce"):
            _uint(getattr(self, name), f"Safe tx {name}")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise InvalidInput(f"Safe tx chain_id must be an integer, got {self.chain_id!r}")
        if self.chain_id <= 0:
            raise InvalidInput(f"Safe tx chain_id must be positive, got {self.chain_id}")
        object.__setattr__(self, "data", _bytes(self.data, "Safe tx data"))
        try:
            object.__setattr__(self, "operation", Operation(self.operation))
        except ValueError:
            raise InvalidInput(
                f"Safe tx operation must be 0 (CALL) or 1 (DELEGATECALL), got {self.operation!r}"
            ) from None

    @classmethod
    def batch(
        cls,
        *,
        safe: str,
        chain_id: int,
        nonce: int,
        calls: Sequence[Call],
        multisend_call_only: str,
    ) -> SafeTransaction:
        """One call as a plain CALL; several as a DELEGATECALL into ``MultiSendCallOnly``."""
        if len(calls) == 1:
            c = calls[0]
            return cls(
                safe=_address(safe, "Safe address"),
                chain_id=chain_id,
                nonce=nonce,
                to=c.to,
                value=c.value,
                data=c.data,
            )
        return cls(
            safe=_address(safe, "Safe address"),
            chain_id=chain_id,
            nonce=nonce,
            to=_address(multisend_call_only, "MultiSendCallOnly address"),
            data=encode_multisend(calls),
            operation=Operation.DELEGATECALL,
        )

    def _safe_tx(self) -> Any:
        return SafeTx(
            None,  # type: ignore[arg-type]  # offline: version, nonce and chain id are given
            self.safe,
            self.to,
            self.value,
            self.data,
            int(self.operation),
            self.safe_tx_gas,
            self.base_gas,
            self.gas_price,
            self.gas_token,
            self.refund_receiver,
            safe_nonce=self.nonce,
            safe_version=SAFE_VERSION,
            chain_id=self.chain_id,
        )

    @property
    def hash_preimage(self) -> bytes:
        """``0x19 0x01 || domainSeparator || safeTxStructHash`` (what EIP-1271 owners are shown)."""
        if self._preimage is None:
            object.__setattr__(self, "_preimage", bytes(self._safe_tx().safe_tx_hash_preimage))
        assert self._preimage is not None
        return self._preimage

    @property
    def safe_tx_hash(self) -> bytes:
        """The EIP-712 hash owners sign; equals the Safe's ``getTransactionHash``."""
        return keccak(self.hash_preimage)

    def typed_data(self) -> dict[str, Any]:
        """The EIP-712 typed data (for ``eth_signTypedData_v4``), JSON-ready."""
        payload = self._safe_tx().eip712_structured_data
        message = dict(payload["message"])
        message.pop("dataGas", None)
        message["data"] = "0x" + self.data.hex()
        for key in ("value", "safeTxGas", "baseGas", "gasPrice", "nonce"):
            message[key] = str(message[key])
        return {**payload, "message": message}

    def exec_args(self, signatures: bytes) -> list[Any]:
        """Arguments of ``execTransaction`` in order, with the packed ``signatures``."""
        return [
            self.to,
            self.value,
            self.data,
            int(self.operation),
            self.safe_tx_gas,
            self.base_gas,
            self.gas_price,
            self.gas_token,
            self.refund_receiver,
            signatures,
        ]
