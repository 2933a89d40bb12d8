"""``OptionsMarket``'s wire shapes, shared by the on-chain venue and the devnet's binding: the
EIP-712 ``Quote`` (types, domain, digest, ABI tuple), signature recovery for EOA makers, and a
series as ``OptionsMarket.series(id)`` returns it (:class:`SeriesInfo`, integers in base units).

A quote's fields travel as the ABI tuple in the contract's order: ``(maker, taker, seriesId,
makerSells, size, premium, deadline, nonce, allowPartial, salt)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

__all__ = [
    "EIP712_NAME",
    "EIP712_VERSION",
    "ERC1271_MAGIC",
    "FILL",
    "FILL_MANY",
    "QUOTE_TUPLE",
    "QUOTE_TYPES",
    "REMAINING",
    "QuoteFields",
    "SeriesInfo",
    "quote_digest",
    "quote_json",
    "quote_tuple",
    "quote_typed_data",
    "recovers_to",
]

EIP712_NAME = "OptionsMarket"
EIP712_VERSION = "1"
#: EIP-712 types of a quote, field for field as ``OptionsMarket.Quote``.
QUOTE_TYPES: list[dict[str, str]] = [
    {"name": "maker", "type": "address"},
    {"name": "taker", "type": "address"},
    {"name": "seriesId", "type": "uint256"},
    {"name": "makerSells", "type": "bool"},
    {"name": "size", "type": "uint256"},
    {"name": "premium", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "allowPartial", "type": "bool"},
    {"name": "salt", "type": "uint256"},
]
#: The ABI tuple type of a quote, and the market's functions taking one.
QUOTE_TUPLE = "(" + ",".join(f["type"] for f in QUOTE_TYPES) + ")"
FILL = f"fill({QUOTE_TUPLE},bytes,uint256)"
#: Several quotes in one call, tokens moved once per party (``OptionsMarket.fillMany``).
FILL_MANY = f"fillMany({QUOTE_TUPLE}[],bytes[],uint256[])"
REMAINING = f"remaining({QUOTE_TUPLE})"
#: What ERC-1271 ``isValidSignature`` answers for a valid signature.
ERC1271_MAGIC = bytes.fromhex("1626ba7e")

_DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class QuoteFields(Protocol):
    """A quote's fields under their Python names (integers in base units)."""

    @property
    def maker(self) -> str: ...
    @property
    def taker(self) -> str: ...
    @property
    def series_id(self) -> int: ...
    @property
    def maker_sells(self) -> bool: ...
    @property
    def size(self) -> int: ...
    @property
    def premium(self) -> int: ...
    @property
    def deadline(self) -> int: ...
    @property
    def nonce(self) -> int: ...
    @property
    def allow_partial(self) -> bool: ...
    @property
    def salt(self) -> int: ...


def quote_tuple(q: QuoteFields) -> tuple[Any, ...]:
    """The ABI tuple of ``q``, in the contract's field order."""
    return (
        q.maker,
        q.taker,
        q.series_id,
        q.maker_sells,
        q.size,
        q.premium,
        q.deadline,
        q.nonce,
        q.allow_partial,
        q.salt,
    )


def quote_json(q: QuoteFields) -> dict[str, Any]:
    """``q`` as a maker's RFQ answer carries it (``premium`` and ``salt`` as decimal strings:
    they may exceed what a JSON number holds exactly)."""
    return {
        "maker": q.maker,
        "taker": q.taker,
        "series_id": q.series_id,
        "maker_sells": q.maker_sells,
        "size": q.size,
        "premium": str(q.premium),
        "deadline": q.deadline,
        "nonce": q.nonce,
        "allow_partial": q.allow_partial,
        "salt": str(q.salt),
    }


def quote_typed_data(
    fields: Sequence[Any],
    *,
    chain_id: int,
    market: str,
    name: str = EIP712_NAME,
    version: str = EIP712_VERSION,
) -> dict[str, Any]:
    """The EIP-712 message of a quote's ``fields`` (the ABI tuple) for ``market`` on
    ``chain_id`` (``eth_account.messages.encode_typed_data(full_message=...)``)."""
    return {
        "types": {"EIP712Domain": _DOMAIN_TYPES, "Quote": QUOTE_TYPES},
        "primaryType": "Quote",
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": market,
        },
        "message": dict(zip((f["name"] for f in QUOTE_TYPES), fields, strict=True)),
    }


def quote_digest(
    fields: Sequence[Any],
    *,
    chain_id: int,
    market: str,
    name: str = EIP712_NAME,
    version: str = EIP712_VERSION,
) -> bytes:
    """The 32-byte digest the market computes (``hashQuote``) and a maker signs."""
    signable = encode_typed_data(
        full_message=quote_typed_data(
            fields, chain_id=chain_id, market=market, name=name, version=version
        )
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def recovers_to(digest: bytes, signature: bytes, signer: str) -> bool:
    """Whether the ECDSA ``signature`` of ``digest`` is ``signer``'s (an account without code;
    a contract maker answers ERC-1271 instead). Malformed signature bytes are not valid."""
    try:
        return bool(Account._recover_hash(digest, signature=signature) == signer)
    except Exception:  # eth-account raises several types for malformed bytes
        return False


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """One listed series as the contract stores it (integers in base units, see the contract)."""

    series_id: int
    underlying: ChecksumAddress
    quote: ChecksumAddress
    feed: ChecksumAddress
    expiry: int
    is_call: bool
    underlying_decimals: int
    quote_decimals: int
    feed_decimals: int
    strike: int
    contract_size: int
    collateral_per_contract: int
    settlement_price: int
    payoff_per_contract: int
    settled: bool

    @classmethod
    def from_call(cls, series_id: int, raw: Sequence[Any]) -> SeriesInfo:
        """From the tuple ``OptionsMarket.series(id)`` returns (its fields in declaration
        order: underlying, quote, settled, feed, expiry, isCall, three decimals, strike,
        contractSize, collateralPerContract, settlementPrice, payoffPerContract)."""
        (und, quote, done, feed, expiry, is_call, udec, qdec, fdec) = raw[:9]
        strike, size, coll, price, pay = raw[9:14]
        return cls(
            series_id=series_id,
            underlying=to_checksum_address(und),
            quote=to_checksum_address(quote),
            feed=to_checksum_address(feed),
            expiry=int(expiry),
            is_call=bool(is_call),
            underlying_decimals=int(udec),
            quote_decimals=int(qdec),
            feed_decimals=int(fdec),
            strike=int(strike),
            contract_size=int(size),
            collateral_per_contract=int(coll),
            settlement_price=int(price),
            payoff_per_contract=int(pay),
            settled=bool(done),
        )

    @classmethod
    def from_return_data(cls, series_id: int, data: bytes) -> SeriesInfo:
        """From the raw return data of ``series(id)`` (a static struct: 14 words inline)."""
        from eth_abi import decode

        types = ["address", "address", "bool", "address", "uint64", "bool", "uint8", "uint8"]
        types += ["uint8", "uint256", "uint256", "uint256", "uint128", "uint128"]
        return cls.from_call(series_id, decode(types, data))
