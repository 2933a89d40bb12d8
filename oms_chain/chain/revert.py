"""Decode revert data into a clear reason: ``Error(string)``, ``Panic(uint256)`` or a custom
error from a known ABI.

Nodes return the revert bytes in the ``data`` of the JSON-RPC error of ``eth_call`` /
``eth_estimateGas``. :func:`decode_revert` turns those bytes into a :class:`RevertReason`, and
:class:`TransactionWouldRevert` carries it to the caller before anything is signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_abi.grammar import parse as parse_abi_type
from eth_utils import keccak

from oms_chain.model.errors import FinalError, InvalidInput

__all__ = [
    "PANIC_CODES",
    "RevertReason",
    "TransactionWouldRevert",
    "decode_revert",
    "error_selectors",
    "split_abi_types",
]

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")

#: Solidity's panic codes (Solidity docs, "Panic via assert and error via require").
PANIC_CODES: Mapping[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assert(false)",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "conversion to an invalid enum value",
    0x22: "incorrectly encoded storage byte array",
    0x31: "pop() on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory (too large allocation)",
    0x51: "call to a zero-initialized internal function",
}


@dataclass(frozen=True, slots=True)
class RevertReason:
    """Why a call reverted; ``kind``: ``error``, ``panic``, ``custom``, ``empty``, ``unknown``."""

    kind: str
    message: str
    selector: str | None = None
    args: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return self.message


class TransactionWouldRevert(FinalError):
    """Pre-flight simulation says the transaction reverts; nothing was signed or sent."""

    def __init__(self, what: str, reason: RevertReason) -> None:
        super().__init__(f"{what} would revert: {reason.message}")
        self.reason = reason


def _signature(entry: Mapping[str, Any]) -> str:
    def typ(inp: Mapping[str, Any]) -> str:
        t = str(inp["type"])
        if t.startswith("tuple"):
            return "(" + ",".join(typ(c) for c in inp.get("components", [])) + ")" + t[5:]
        return t

    return f"{entry['name']}({','.join(typ(i) for i in entry.get('inputs', []))})"


def error_selectors(
    abis: Iterable[Sequence[Mapping[str, Any]]],
) -> dict[bytes, tuple[str, list[str]]]:
    """Map 4-byte selector -> (error signature, argument types) for every ``error`` in ``abis``."""
    out: dict[bytes, tuple[str, list[str]]] = {}
    for abi in abis:
        for entry in abi:
            if entry.get("type") != "error":
                continue
            sig = _signature(entry)
            types = sig[sig.index("(") + 1 : -1]
            out[keccak(text=sig)[:4]] = (sig, split_abi_types(types))
    return out


def split_abi_types(types: str) -> list[str]:
    """The comma-separated ABI types inside a signature's parentheses, tuples kept whole
    (``"address,(uint256,bool)[]"`` -> ``["address", "(uint256,bool)[]"]``), parsed by
    eth-abi's type grammar.

    Raises:
        InvalidInput: not a valid ABI type list.
    """
    if not types.strip():
        return []
    try:
        parsed = parse_abi_type(f"({types})")
        parsed.validate()
    except Exception as exc:
        raise InvalidInput(f"not an ABI type list: {types!r} ({exc})") from None
    return [c.to_type_str() for c in parsed.components]


def decode_revert(
    data: bytes | str | None, known_errors: Mapping[bytes, tuple[str, list[str]]] | None = None
) -> RevertReason:
    """Decode revert bytes (or their 0x-hex) into a :class:`RevertReason`; never raises."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data.removeprefix("0x"))
        except ValueError:
            return RevertReason("unknown", f"revert data is not hex: {data[:40]!r}")
    if not data:
        return RevertReason("empty", "reverted without a reason (require without message?)")
    selector, body = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING:
            (text,) = abi_decode(["string"], body)
            return RevertReason("error", str(text), "0x08c379a0", (text,))
        if selector == _PANIC:
            (code,) = abi_decode(["uint256"], body)
            meaning = PANIC_CODES.get(int(code), "unknown panic code")
            return RevertReason(
                "panic", f"panic 0x{int(code):02x}: {meaning}", "0x4e487b71", (code,)
            )
        if known_errors and selector in known_errors:
            sig, types = known_errors[selector]
            args = tuple(abi_decode(types, body)) if types else ()
            shown = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
            return RevertReason(
                "custom", f"{sig.split('(')[0]}({shown})", "0x" + selector.hex(), args
            )
    except (DecodingError, ValueError, OverflowError) as exc:
        return RevertReason("unknown", f"undecodable revert data 0x{data.hex()[:72]} ({exc})")
    return RevertReason(
        "unknown", f"unknown custom error 0x{selector.hex()}", "0x" + selector.hex()
    )
