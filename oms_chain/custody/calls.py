"""One call an account makes (target, wei value, calldata): the unit a venue hands to its account.

An EOA sends one call as one transaction; a contract account (a Safe, a threshold account) can
run several calls as one transaction. No dependency beyond eth-utils, so the chain layer and the
venues can use it without the ``safe`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from oms_chain.model.errors import InvalidInput

__all__ = ["Call"]

_UINT256 = 2**256


def _address(value: object, what: str) -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{what} must be a 20-byte hex address, got {value!r}")
    return ChecksumAddress(to_checksum_address(value))


def _uint(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT256:
        raise InvalidInput(f"{what} must be an integer in [0, 2**256), got {value!r}")
    return value


def _bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise InvalidInput(f"{what} is not hex: {value[:20]!r}") from None
    raise InvalidInput(f"{what} must be bytes or hex, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Call:
    """One call an account makes: target, wei value and calldata (always a plain CALL)."""

    to: ChecksumAddress
    data: bytes = b""
    value: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _address(self.to, "call target"))
        object.__setattr__(self, "data", _bytes(self.data, "call data"))
        _uint(self.value, "call value")

    @classmethod
    def to_address(cls, to: str, data: bytes = b"", value: int = 0) -> Call:
        """A call to ``to`` given as any-case hex (checked and checksummed here).

        Raises :class:`InvalidInput` for a target that is not an address."""
        return cls(_address(to, "call target"), data, value)
