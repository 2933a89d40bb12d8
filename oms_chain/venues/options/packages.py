"""``OptionsMarket`` package quotes: one maker signature over every leg of a structure.

A package is ``(maker, taker, legs, size, deadline, nonce, allowPartial, salt)`` with legs
``(seriesId, makerSells, ratio, premium)``: filling ``units`` units fills ``units * ratio``
contracts of every leg at once (``OptionsMarket.fillPackage``), with one signature check, one
record and the premium netted into one transfer. ``premium`` is quote base units per contract,
paid by the taker for a leg the maker sells, received for one it buys.

This module holds the wire shapes shared by the on-chain venue, the batch and the devnet maker:
the EIP-712 types, digest, ABI tuple, the maker's JSON answer (:class:`SignedPackage`) and the
``PackageFilled`` log.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.model.errors import InvalidInput
from oms_chain.venues.options.quotes import EIP712_NAME, EIP712_VERSION

__all__ = [
    "FILL_PACKAGE",
    "LEG_TYPES",
    "PACKAGE_FILLED",
    "PACKAGE_TUPLE",
    "PACKAGE_TYPES",
    "REMAINING_PACKAGE",
    "PackageLeg",
    "SignedPackage",
    "package_digest",
    "package_shape",
    "package_typed_data",
]

LEG_TYPES: list[dict[str, str]] = [
    {"name": "seriesId", "type": "uint256"},
    {"name": "makerSells", "type": "bool"},
    {"name": "ratio", "type": "uint256"},
    {"name": "premium", "type": "uint256"},
]
PACKAGE_TYPES: list[dict[str, str]] = [
    {"name": "maker", "type": "address"},
    {"name": "taker", "type": "address"},
    {"name": "legs", "type": "Leg[]"},
    {"name": "size", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "allowPartial", "type": "bool"},
    {"name": "salt", "type": "uint256"},
]
_LEG_TUPLE = "(" + ",".join(f["type"] for f in LEG_TYPES) + ")"
PACKAGE_TUPLE = f"(address,address,{_LEG_TUPLE}[],uint256,uint256,uint256,bool,uint256)"
FILL_PACKAGE = f"fillPackage({PACKAGE_TUPLE},bytes,uint256)"
REMAINING_PACKAGE = f"remainingPackage({PACKAGE_TUPLE})"
#: topic 0 of ``PackageFilled(bytes32,address,address,uint256,uint256,uint256,uint256)``
PACKAGE_FILLED = (
    "0x"
    + keccak(text="PackageFilled(bytes32,address,address,uint256,uint256,uint256,uint256)").hex()
)
_DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


@dataclass(frozen=True, slots=True)
class PackageLeg:
    """One leg: ``ratio`` contracts of ``series_id`` per unit, sold by the maker when
    ``maker_sells``, at ``premium`` quote base units per contract."""

    series_id: int
    maker_sells: bool
    ratio: int
    premium: int

    def as_tuple(self) -> tuple[int, bool, int, int]:
        """The ABI tuple, in the contract's field order."""
        return (self.series_id, self.maker_sells, self.ratio, self.premium)


def package_shape(contracts: Sequence[int]) -> tuple[int, tuple[int, ...]]:
    """``(size, ratios)`` of a package whose legs fill ``contracts`` at full size: the greatest
    common divisor as the units, each leg's count divided by it as its ratio.

    Raises:
        InvalidInput: no legs, or a count below 1.
    """
    counts = tuple(contracts)
    if not counts or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts):
        raise InvalidInput(f"contracts must be one or more positive integers, got {counts!r}")
    size = math.gcd(*counts)
    return size, tuple(n // size for n in counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedPackage:
    """A maker's signed package as received (integers in base units) and where it came from."""

    source: str
    maker: str
    taker: str
    legs: tuple[PackageLeg, ...]
    size: int
    deadline: int
    nonce: int
    allow_partial: bool
    salt: int
    signature: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple, in the contract's field order."""
        return (
            self.maker,
            self.taker,
            [leg.as_tuple() for leg in self.legs],
            self.size,
            self.deadline,
            self.nonce,
            self.allow_partial,
            self.salt,
        )

    def premiums(self, units: int) -> tuple[int, int]:
        """``(paid, received)`` by the taker for ``units`` units, quote base units."""
        paid = sum(units * g.ratio * g.premium for g in self.legs if g.maker_sells)
        received = sum(units * g.ratio * g.premium for g in self.legs if not g.maker_sells)
        return paid, received

    def to_json(self) -> dict[str, Any]:
        """The package as a maker answers it (big integers as decimal strings), with its
        source and signature."""
        return {
            "source": self.source,
            "maker": self.maker,
            "taker": self.taker,
            "legs": [
                {
                    "series_id": g.series_id,
                    "maker_sells": g.maker_sells,
                    "ratio": g.ratio,
                    "premium": str(g.premium),
                }
                for g in self.legs
            ],
            "size": self.size,
            "deadline": self.deadline,
            "nonce": self.nonce,
            "allow_partial": self.allow_partial,
            "salt": str(self.salt),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, source: str, data: Mapping[str, Any]) -> SignedPackage:
        """Parse a maker's answer (``to_json``'s shape; ``source`` is ignored in ``data``).

        Raises:
            InvalidInput: a missing or malformed field (named).
        """
        try:
            maker, taker = str(data["maker"]), str(data["taker"])
            if not (is_address(maker) and is_address(taker)):
                raise InvalidInput(
                    f"maker {source} sent a package whose maker / taker is no address"
                )
            legs = tuple(
                PackageLeg(
                    series_id=int(g["series_id"]),
                    maker_sells=_bool(g["maker_sells"]),
                    ratio=int(g["ratio"]),
                    premium=int(str(g["premium"])),
                )
                for g in data["legs"]
            )
            out = cls(
                source=source,
                maker=to_checksum_address(maker),
                taker=to_checksum_address(taker),
                legs=legs,
                size=int(data["size"]),
                deadline=int(data["deadline"]),
                nonce=int(data["nonce"]),
                allow_partial=_bool(data["allow_partial"]),
                salt=int(str(data["salt"])),
                signature=bytes.fromhex(str(data["signature"]).removeprefix("0x")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"maker {source} sent a malformed package: {exc!r}") from None
        ints = [out.size, out.deadline, out.nonce, out.salt]
        ints += [v for g in legs for v in (g.series_id, g.ratio, g.premium)]
        if min(ints) < 0 or max(ints) >= 2**256:
            raise InvalidInput(f"maker {source} sent package fields outside uint256")
        return out


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected a JSON boolean, got {value!r}")
    return value


def package_typed_data(
    fields: Sequence[Any],
    *,
    chain_id: int,
    market: str,
    name: str = EIP712_NAME,
    version: str = EIP712_VERSION,
) -> dict[str, Any]:
    """The EIP-712 message of a package's ABI tuple ``fields`` for ``market`` on ``chain_id``
    (``eth_account.messages.encode_typed_data(full_message=...)``)."""
    maker, taker, legs, size, deadline, nonce, allow_partial, salt = fields
    leg_names = [f["name"] for f in LEG_TYPES]
    return {
        "types": {"EIP712Domain": _DOMAIN_TYPES, "Package": PACKAGE_TYPES, "Leg": LEG_TYPES},
        "primaryType": "Package",
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": market,
        },
        "message": {
            "maker": maker,
            "taker": taker,
            "legs": [dict(zip(leg_names, leg, strict=True)) for leg in legs],
            "size": size,
            "deadline": deadline,
            "nonce": nonce,
            "allowPartial": allow_partial,
            "salt": salt,
        },
    }


def package_digest(
    fields: Sequence[Any],
    *,
    chain_id: int,
    market: str,
    name: str = EIP712_NAME,
    version: str = EIP712_VERSION,
) -> bytes:
    """The 32-byte digest the market computes (``hashPackage``) and a maker signs."""
    signable = encode_typed_data(
        full_message=package_typed_data(
            fields, chain_id=chain_id, market=market, name=name, version=version
        )
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)
