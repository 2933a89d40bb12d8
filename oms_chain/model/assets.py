"""Assets: on-chain tokens (chain id + address) and centralized-exchange assets (venue + code)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.model.amounts import BaseUnits, from_base_units, to_base_units
from oms_chain.model.checks import check_int, check_str
from oms_chain.model.errors import InvalidInput

__all__ = ["NATIVE_ADDRESS", "Asset"]

#: Placeholder address for a chain's native asset (ETH on Ethereum and most L2s).
NATIVE_ADDRESS = "0x0000000000000000000000000000000000000000"

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SYMBOL = re.compile(r"[A-Za-z0-9.\-_+]{1,32}")
_SYMBOL_RULE = "1-32 characters from A-Z a-z 0-9 . - _ +"
_VENUE = re.compile(r"[a-z0-9_\-]{1,32}")
#: Chain ids are stored as signed 64-bit integers.
_MAX_CHAIN = (1 << 63) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    """A fungible asset. Build with :meth:`erc20`, :meth:`native` or :meth:`cex`.

    On-chain assets have ``chain_id`` and a lower-case ``address``; CEX assets have ``venue`` and
    the venue's asset ``code``. ``decimals`` is the number of fractional digits of one base unit.
    """

    symbol: str
    decimals: int
    chain_id: int | None = None
    address: str | None = None
    venue: str | None = None

    def __post_init__(self) -> None:
        check_str(self.symbol, "asset symbol", pattern=_SYMBOL, rule=_SYMBOL_RULE)
        check_int(self.decimals, f"asset {self.symbol}: decimals", minimum=0, maximum=36)
        on_chain = self.chain_id is not None or self.address is not None
        if on_chain == (self.venue is not None):
            raise InvalidInput(
                f"asset {self.symbol}: give either chain_id + address (on-chain) or venue (CEX)"
            )
        if on_chain:
            check_int(
                self.chain_id, f"asset {self.symbol}: chain_id", minimum=1, maximum=_MAX_CHAIN
            )
            check_str(
                self.address,
                f"asset {self.symbol}: address",
                pattern=_ADDRESS,
                rule="0x and 40 hex digits",
            )
            object.__setattr__(self, "address", self.address.lower())  # type: ignore[union-attr]
        else:
            check_str(
                self.venue,
                f"asset {self.symbol}: venue",
                pattern=_VENUE,
                rule="a lower-case code of 1-32 characters a-z 0-9 _ -",
            )

    @classmethod
    def erc20(cls, chain_id: int, address: str, symbol: str, decimals: int) -> Asset:
        """A token at ``address`` on chain ``chain_id``."""
        return cls(symbol=symbol, decimals=decimals, chain_id=chain_id, address=address)

    @classmethod
    def native(cls, chain_id: int, symbol: str = "ETH", decimals: int = 18) -> Asset:
        """The native asset of chain ``chain_id`` (gas token)."""
        return cls(symbol=symbol, decimals=decimals, chain_id=chain_id, address=NATIVE_ADDRESS)

    @classmethod
    def cex(cls, venue: str, code: str, decimals: int = 8) -> Asset:
        """An asset held on a centralized exchange, by the venue's asset code (e.g. ``BTC``)."""
        return cls(symbol=code, decimals=decimals, venue=venue)

    @property
    def id(self) -> str:
        """Stable key: ``<chain_id>:<address>`` on chain, ``<venue>:<symbol>`` on a CEX."""
        if self.venue is not None:
            return f"{self.venue}:{self.symbol}"
        return f"{self.chain_id}:{self.address}"

    @property
    def is_native(self) -> bool:
        """True for a chain's native asset."""
        return self.address == NATIVE_ADDRESS

    def to_base_units(self, quantity: Decimal) -> BaseUnits:
        """Exact human → base units; raises ``AmountPrecisionError`` on precision loss."""
        return to_base_units(quantity, self.decimals)

    def from_base_units(self, units: int) -> Decimal:
        """Exact base units → human quantity."""
        return from_base_units(units, self.decimals)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "symbol": self.symbol,
            "decimals": self.decimals,
            "chain_id": self.chain_id,
            "address": self.address,
            "venue": self.venue,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Asset:
        """Inverse of :meth:`to_payload`.

        Raises:
            InvalidInput: ``payload`` is not a mapping, lacks ``symbol`` / ``decimals``, or a
                field is invalid.
        """
        if not isinstance(payload, Mapping):
            raise InvalidInput(f"asset payload must be a mapping, got {type(payload).__name__}")
        missing = [k for k in ("symbol", "decimals") if k not in payload]
        if missing:
            raise InvalidInput(f"asset payload lacks {', '.join(missing)}")
        return cls(
            symbol=payload["symbol"],
            decimals=payload["decimals"],
            chain_id=payload.get("chain_id"),
            address=payload.get("address"),
            venue=payload.get("venue"),
        )

    def __str__(self) -> str:
        return self.symbol
