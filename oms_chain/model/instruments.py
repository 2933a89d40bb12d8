"""Tradable instruments: spot pairs, option contracts and perpetual swaps.

Every instrument has an ``id`` (stable string key), a ``base`` (what a quantity counts), a
``quote`` (what prices and notionals are paid in) and ``size_decimals`` (quantity precision).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from oms_chain.model.amounts import to_decimal
from oms_chain.model.assets import Asset
from oms_chain.model.checks import check_instance, check_int, check_ns
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import InstrumentId

__all__ = [
    "Instrument",
    "OptionContract",
    "OptionKind",
    "OptionStyle",
    "Perpetual",
    "Settlement",
    "SpotPair",
    "instrument_from_payload",
]


class OptionKind(Enum):
    """Call or put."""

    CALL = "call"
    PUT = "put"


class OptionStyle(Enum):
    """Exercise style. Only European options are supported."""

    EUROPEAN = "european"


class Settlement(Enum):
    """How an option settles at expiry."""

    CASH = "cash"
    PHYSICAL = "physical"


def _chains(*assets: Asset) -> frozenset[int]:
    return frozenset(a.chain_id for a in assets if a.chain_id is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotPair:
    """Exchange of ``base`` for ``quote``; quantity in base, price in quote per base."""

    base: Asset
    quote: Asset

    def __post_init__(self) -> None:
        check_instance(self.base, "spot pair base", Asset, "an Asset")
        check_instance(self.quote, "spot pair quote", Asset, "an Asset")
        if self.base == self.quote:
            raise InvalidInput(f"spot pair needs two different assets, got {self.base} twice")

    @property
    def id(self) -> InstrumentId:
        return InstrumentId(f"spot:{self.base.id}/{self.quote.id}")

    @property
    def symbol(self) -> str:
        return f"{self.base.symbol}/{self.quote.symbol}"

    @property
    def size_decimals(self) -> int:
        return self.base.decimals

    @property
    def chain_ids(self) -> frozenset[int]:
        return _chains(self.base, self.quote)

    def to_payload(self) -> dict[str, Any]:
        return {"kind": "spot", "base": self.base.to_payload(), "quote": self.quote.to_payload()}


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionContract:
    """A European option on ``underlying``, struck and settled in ``quote``.

    ``expiry_ns`` is the expiry instant in integer nanoseconds since the Unix epoch (UTC);
    quantity counts contracts of one unit of underlying each, to ``size_decimals`` places.
    """

    underlying: Asset
    quote: Asset
    strike: Decimal
    expiry_ns: int
    option_kind: OptionKind
    settlement: Settlement = Settlement.CASH
    style: OptionStyle = OptionStyle.EUROPEAN
    size_decimals: int = 4

    def __post_init__(self) -> None:
        check_instance(self.underlying, "option underlying", Asset, "an Asset")
        check_instance(self.quote, "option quote", Asset, "an Asset")
        strike = to_decimal(self.strike, what="option strike")
        if strike <= 0:
            raise InvalidInput(f"option strike must be positive, got {strike}")
        object.__setattr__(self, "strike", strike)
        check_ns(self.expiry_ns, "option expiry_ns", positive=True)
        check_instance(self.option_kind, "option option_kind", OptionKind, "an OptionKind")
        check_instance(self.settlement, "option settlement", Settlement, "a Settlement")
        check_instance(self.style, "option style", OptionStyle, "an OptionStyle")
        check_int(self.size_decimals, "option size_decimals", minimum=0, maximum=18)
        if self.underlying == self.quote:
            raise InvalidInput("option underlying and quote must differ")

    @property
    def base(self) -> Asset:
        return self.underlying

    @property
    def id(self) -> InstrumentId:
        day = datetime.fromtimestamp(self.expiry_ns // 1_000_000_000, UTC).strftime("%Y%m%d")
        k = "C" if self.option_kind is OptionKind.CALL else "P"
        return InstrumentId(
            f"option:{self.underlying.id}/{self.quote.id}:{day}:{self.expiry_ns}:"
            f"{self.strike.normalize():f}:{k}:{self.settlement.value}"
        )

    @property
    def symbol(self) -> str:
        day = datetime.fromtimestamp(self.expiry_ns // 1_000_000_000, UTC).strftime("%d%b%y")
        k = "C" if self.option_kind is OptionKind.CALL else "P"
        return f"{self.underlying.symbol}-{day.upper()}-{self.strike.normalize():f}-{k}"

    @property
    def chain_ids(self) -> frozenset[int]:
        return _chains(self.underlying, self.quote)

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "option",
            "underlying": self.underlying.to_payload(),
            "quote": self.quote.to_payload(),
            "strike": str(self.strike),
            "expiry_ns": self.expiry_ns,
            "option_kind": self.option_kind.value,
            "settlement": self.settlement.value,
            "style": self.style.value,
            "size_decimals": self.size_decimals,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Perpetual:
    """A perpetual swap on ``base`` priced in ``quote``, margined and settled in ``settle``."""

    base: Asset
    quote: Asset
    settle: Asset
    size_decimals: int = 8

    def __post_init__(self) -> None:
        for name in ("base", "quote", "settle"):
            check_instance(getattr(self, name), f"perpetual {name}", Asset, "an Asset")
        if self.base == self.quote:
            raise InvalidInput(f"perpetual needs two different assets, got {self.base} twice")
        check_int(self.size_decimals, "perpetual size_decimals", minimum=0, maximum=18)

    @property
    def id(self) -> InstrumentId:
        return InstrumentId(f"perp:{self.base.id}/{self.quote.id}:{self.settle.id}")

    @property
    def symbol(self) -> str:
        return f"{self.base.symbol}/{self.quote.symbol}:{self.settle.symbol}"

    @property
    def chain_ids(self) -> frozenset[int]:
        return _chains(self.base, self.quote, self.settle)

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "perp",
            "base": self.base.to_payload(),
            "quote": self.quote.to_payload(),
            "settle": self.settle.to_payload(),
            "size_decimals": self.size_decimals,
        }


Instrument = SpotPair | OptionContract | Perpetual


def instrument_from_payload(payload: dict[str, Any]) -> Instrument:
    """Rebuild an instrument from its ``to_payload()`` dict.

    Raises:
        InvalidInput: unknown ``kind`` or malformed fields.
    """
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"instrument payload must be a mapping, got {type(payload).__name__}")
    kind = payload.get("kind")
    try:
        if kind == "spot":
            return SpotPair(
                base=Asset.from_payload(payload["base"]),
                quote=Asset.from_payload(payload["quote"]),
            )
        if kind == "option":
            return OptionContract(
                underlying=Asset.from_payload(payload["underlying"]),
                quote=Asset.from_payload(payload["quote"]),
                strike=to_decimal(payload["strike"], what="option strike"),
                expiry_ns=payload["expiry_ns"],
                option_kind=OptionKind(payload["option_kind"]),
                settlement=Settlement(payload["settlement"]),
                style=OptionStyle(payload["style"]),
                size_decimals=payload["size_decimals"],
            )
        if kind == "perp":
            return Perpetual(
                base=Asset.from_payload(payload["base"]),
                quote=Asset.from_payload(payload["quote"]),
                settle=Asset.from_payload(payload["settle"]),
                size_decimals=payload["size_decimals"],
            )
    except InvalidInput as exc:
        raise InvalidInput(f"instrument payload: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise InvalidInput(f"malformed instrument payload: {exc!r}") from exc
    raise InvalidInput(f"unknown instrument kind {kind!r}; expected spot, option or perp")
