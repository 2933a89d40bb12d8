"""The threshold account contract's EIP-712 digests and signature encoding, computed offline
(they equal ``ThresholdAccount.executeDigest`` / ``rotateDigest`` / ``messageDigest`` on chain).

Typed data, domain {name "ThresholdAccount", version "1", chainId, verifyingContract}:
``Execute(Call[] calls,uint256 nonce,uint256 deadline)Call(address to,uint256 value,bytes data)``,
``RotateKey(uint256 keyX,uint8 keyParity,uint256 nonce,uint256 deadline)`` and
``ThresholdMessage(bytes32 hash)`` (EIP-1271 approvals, e.g. of a SafeTx hash).
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve
from eth_abi import encode
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.model.errors import InvalidInput

__all__ = [
    "AccountCall",
    "contract_signature",
    "execute_digest",
    "key_coordinates",
    "message_digest",
    "rotate_digest",
    "signed_nonce",
]

_DOMAIN = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_CALL = keccak(text="Call(address to,uint256 value,bytes data)")
_EXECUTE = keccak(
    text="Execute(Call[] calls,uint256 nonce,uint256 deadline)"
    "Call(address to,uint256 value,bytes data)"
)
_ROTATE = keccak(text="RotateKey(uint256 keyX,uint8 keyParity,uint256 nonce,uint256 deadline)")
_MESSAGE = keccak(text="ThresholdMessage(bytes32 hash)")
_U256 = 2**256


def _address(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{what} {value!r} is not a 0x address")
    return str(to_checksum_address(value))


def _uint(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _U256:
        raise InvalidInput(f"{what} must be an int in 0..2**256-1")
    return value


@dataclass(frozen=True, slots=True)
class AccountCall:
    """One call the account makes: target, wei value, calldata."""

    to: str
    value: int
    data: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _address(self.to, "call target"))
        _uint(self.value, "call value")
        if not isinstance(self.data, bytes):
            raise InvalidInput("call data must be bytes")


def _domain(chain_id: int, account: str) -> bytes:
    _uint(chain_id, "chain_id")
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                _DOMAIN,
                keccak(text="ThresholdAccount"),
                keccak(text="1"),
                chain_id,
                _address(account, "account"),
            ],
        )
    )


def _typed(chain_id: int, account: str, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + _domain(chain_id, account) + struct_hash)


def execute_digest(
    chain_id: int, account: str, calls: list[AccountCall], nonce: int, deadline: int
) -> bytes:
    """The digest the group signs to run ``calls`` (``execute`` or ``executeBatch``)."""
    if not calls or not all(isinstance(c, AccountCall) for c in calls):
        raise InvalidInput("calls must be a non-empty list of AccountCall")
    hashes = b"".join(
        keccak(
            encode(
                ["bytes32", "address", "uint256", "bytes32"], [_CALL, c.to, c.value, keccak(c.data)]
            )
        )
        for c in calls
    )
    struct = encode(
        ["bytes32", "bytes32", "uint256", "uint256"],
        [_EXECUTE, keccak(hashes), _uint(nonce, "nonce"), _uint(deadline, "deadline")],
    )
    return _typed(chain_id, account, keccak(struct))


def rotate_digest(
    chain_id: int, account: str, new_group_key: bytes, nonce: int, deadline: int
) -> bytes:
    """The digest the current group signs to install ``new_group_key`` (33 bytes)."""
    if (
        not isinstance(new_group_key, bytes)
        or len(new_group_key) != 33
        or new_group_key[0]
        not in (
            2,
            3,
        )
    ):
        raise InvalidInput("new_group_key must be a 33-byte compressed point")
    struct = encode(
        ["bytes32", "uint256", "uint8", "uint256", "uint256"],
        [
            _ROTATE,
            int.from_bytes(new_group_key[1:], "big"),
            new_group_key[0] - 2,
            _uint(nonce, "nonce"),
            _uint(deadline, "deadline"),
        ],
    )
    return _typed(chain_id, account, keccak(struct))


def message_digest(chain_id: int, account: str, hash32: bytes) -> bytes:
    """The digest the group signs so that ``isValidSignature(hash32, sig)`` holds."""
    if not isinstance(hash32, bytes) or len(hash32) != 32:
        raise InvalidInput("the hash to approve must be 32 bytes")
    return _typed(chain_id, account, keccak(encode(["bytes32", "bytes32"], [_MESSAGE, hash32])))


def contract_signature(signature: bytes) -> bytes:
    """The 97-byte on-chain form of a 65-byte FROST signature: compressed R || z || R.y (the
    contract then skips the square root)."""
    if not isinstance(signature, bytes) or len(signature) != 65 or signature[0] not in (2, 3):
        raise InvalidInput("a FROST(secp256k1) signature is 65 bytes: compressed R || z")
    try:
        full = coincurve.PublicKey(signature[:33]).format(compressed=False)
    except ValueError:
        raise InvalidInput("the signature's R is not a curve point") from None
    return signature + full[33:]


def key_coordinates(group_key: bytes) -> tuple[int, int]:
    """(x, y parity) of a compressed group key: the contract's constructor arguments."""
    if not isinstance(group_key, bytes) or len(group_key) != 33 or group_key[0] not in (2, 3):
        raise InvalidInput("a group key is a 33-byte compressed point")
    return int.from_bytes(group_key[1:], "big"), group_key[0] - 2


def signed_nonce(
    chain_id: int,
    account: str,
    group_key: bytes,
    calls: list[AccountCall],
    deadline: int,
    signature: bytes,
    first: int,
    count: int = 64,
) -> int | None:
    """The account nonce in ``first .. first + count - 1`` that ``signature`` (65 or 97 bytes)
    authorizes ``calls`` at, if any: how a restarted relayer learns which nonce an execution it
    had sent takes (the nonce is signed, not sent)."""
    from oms_chain.custody.threshold import _frost

    if not isinstance(signature, bytes) or len(signature) not in (65, 97):
        return None
    for nonce in range(max(first, 0), max(first, 0) + count):
        digest = execute_digest(chain_id, account, calls, nonce, deadline)
        if _frost.verify(digest, group_key, signature[:65]):
            return nonce
    return None
