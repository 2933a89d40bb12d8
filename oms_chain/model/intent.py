"""The user's intent: what to trade, how much, at what worst price, by when and where."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from oms_chain.model.amounts import to_decimal
from oms_chain.model.checks import (
    MAX_UINT256,
    check_bool,
    check_decimal,
    check_instance,
    check_int,
    check_ns,
    check_str,
    shown,
)
from oms_chain.model.errors import AmountPrecisionError, InvalidInput, InvalidIntent
from oms_chain.model.ids import AccountId, IntentId, VenueId
from oms_chain.model.instruments import Instrument, instrument_from_payload

__all__ = ["ALGOS", "AlgoParam", "Intent", "Side"]


class Side(Enum):
    """Buy or sell the instrument's base."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for buy, -1 for sell (the sign of the position change)."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


#: Execution algorithms an intent may name. ``direct`` means one child order, no schedule.
ALGOS = frozenset({"direct", "twap", "vwap", "iceberg", "sniper"})

AlgoParam = str | int | bool | Decimal

_NAME = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_NAME_RULE = "1-128 characters from A-Z a-z 0-9 ._:-"
_PARAM_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MAX_BPS = Decimal(10_000)
_MAX_PARAM_STR = 256


#: The fields of an :class:`Intent` that say what it asks for (all but its id and ``ts_init``).
_CONTENT_FIELDS = (
    "account",
    "instrument",
    "side",
    "quantity",
    "notional",
    "limit_price",
    "max_slippage_bps",
    "deadline_ns",
    "algo",
    "algo_params",
    "venues",
    "reduce_only",
)


def _bad(msg: str) -> InvalidIntent:
    return InvalidIntent(msg)


def _positive(value: object, field: str) -> Decimal:
    try:
        d = to_decimal(value, what=field)
    except InvalidInput as exc:
        raise _bad(f"intent {field}: {exc}") from None
    if d <= 0:
        raise _bad(f"intent {field} must be positive, got {d}")
    return d


def _param(key: str, value: object) -> AlgoParam:
    """One algo parameter value: a finite Decimal, an int within uint256, a bool or a short str."""
    name = f"intent algo_params[{key!r}]"
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return check_int(value, name, minimum=-MAX_UINT256, maximum=MAX_UINT256)
    if isinstance(value, Decimal):
        return check_decimal(value, name)
    if isinstance(value, str):
        if len(value) > _MAX_PARAM_STR:
            raise InvalidIntent(f"{name} must be at most {_MAX_PARAM_STR} characters")
        return value
    raise InvalidIntent(f"{name} must be str, int, bool or Decimal, got {shown(value)}")


def _fits(value: Decimal, decimals: int, field: str, unit: str) -> None:
    if value.as_tuple().exponent < -decimals:  # type: ignore[operator]
        raise AmountPrecisionError(
            f"intent {field} {value} has more than {decimals} decimal places allowed for {unit}"
        ) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    """What the user wants. Build with :meth:`create`, which validates every field.

    Exactly one of ``quantity`` (in the instrument's base) or ``notional`` (in its quote) is set.
    ``limit_price`` is the worst acceptable price (quote per base); ``max_slippage_bps`` bounds
    the execution price against the reference price for market-style intents. ``deadline_ns``
    is an absolute time in integer nanoseconds after which nothing more may be executed.
    """

    intent_id: IntentId
    account: AccountId
    instrument: Instrument
    side: Side
    quantity: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    max_slippage_bps: Decimal | None
    deadline_ns: int | None
    algo: str
    algo_params: tuple[tuple[str, AlgoParam], ...]
    venues: tuple[VenueId, ...]
    reduce_only: bool
    ts_init: int

    def __post_init__(self) -> None:
        # The invariants of a built intent, for direct construction and payloads; create()
        # parses and explains each field first, so there this only re-checks cheap facts.
        try:
            check_str(self.intent_id, "intent_id", pattern=_NAME)
            check_str(self.account, "intent account", pattern=_NAME)
            check_instance(self.side, "intent side", Side, "a Side")
            if (self.quantity is None) == (self.notional is None):
                raise InvalidIntent("intent needs exactly one of quantity or notional")
            for name in ("quantity", "notional", "limit_price"):
                value = getattr(self, name)
                if value is not None:
                    check_decimal(value, f"intent {name}", gt=0)
            if self.max_slippage_bps is not None:
                check_decimal(self.max_slippage_bps, "intent max_slippage_bps", ge=0, le=_MAX_BPS)
            if self.deadline_ns is not None:
                check_ns(self.deadline_ns, "intent deadline_ns")
            check_ns(self.ts_init, "intent ts_init")
            if self.algo not in ALGOS:
                raise InvalidIntent(f"intent algo {shown(self.algo)} is unknown")
            check_instance(self.algo_params, "intent algo_params", tuple, "a tuple of pairs")
            check_instance(self.venues, "intent venues", tuple, "a tuple of venue names")
            if not self.venues:
                raise InvalidIntent("intent venues must name at least one allowed venue")
            for k, v in enumerate(self.venues):
                check_str(v, f"intent venues[{k}]", pattern=_NAME)
            check_bool(self.reduce_only, "intent reduce_only")
        except InvalidIntent:
            raise
        except InvalidInput as exc:
            raise InvalidIntent(str(exc)) from None
        if not isinstance(self.instrument, Instrument):  # type: ignore[arg-type,misc]
            raise InvalidIntent(
                f"intent instrument must be a SpotPair, OptionContract or Perpetual, "
                f"got {type(self.instrument).__name__}"
            )

    @classmethod
    def create(
        cls,
        *,
        intent_id: str,
        account: str,
        instrument: Instrument,
        side: Side | str,
        venues: Iterable[str],
        now_ns: int,
        quantity: Decimal | int | str | None = None,
        notional: Decimal | int | str | None = None,
        limit_price: Decimal | int | str | None = None,
        max_slippage_bps: Decimal | int | str | None = None,
        deadline_ns: int | None = None,
        algo: str = "direct",
        algo_params: Mapping[str, AlgoParam] | None = None,
        reduce_only: bool = False,
    ) -> Intent:
        """Validate and build an intent.

        Raises:
            InvalidIntent: a field is missing, malformed or out of range; the message names it.
            AmountPrecisionError: quantity or notional is finer than the instrument allows.
        """
        if not isinstance(intent_id, str) or not _NAME.fullmatch(intent_id):
            raise _bad(
                f"intent_id {shown(intent_id)} must be 1-128 characters from A-Z a-z 0-9 ._:-"
            )
        if not isinstance(account, str) or not _NAME.fullmatch(account):
            raise _bad(
                f"intent account {shown(account)} must be 1-128 characters from A-Z a-z 0-9 ._:-"
            )
        if not isinstance(instrument, Instrument):  # type: ignore[arg-type,misc]
            raise _bad(
                f"intent instrument must be a SpotPair, OptionContract or Perpetual, "
                f"got {type(instrument).__name__}"
            )
        if isinstance(side, str):
            try:
                side = Side(side.lower())
            except ValueError:
                raise _bad(f"intent side {shown(side)} must be 'buy' or 'sell'") from None
        if not isinstance(side, Side):
            raise _bad(f"intent side {shown(side)} must be 'buy' or 'sell'")
        if (quantity is None) == (notional is None):
            raise _bad("intent needs exactly one of quantity (base units) or notional (quote)")
        qty = None if quantity is None else _positive(quantity, "quantity")
        ntl = None if notional is None else _positive(notional, "notional")
        if qty is not None:
            _fits(qty, instrument.size_decimals, "quantity", instrument.symbol)
        if ntl is not None:
            _fits(ntl, instrument.quote.decimals, "notional", instrument.quote.symbol)
        limit = None if limit_price is None else _positive(limit_price, "limit_price")
        slip = None
        if max_slippage_bps is not None:
            try:
                slip = to_decimal(max_slippage_bps, what="max_slippage_bps")
            except InvalidInput as exc:
                raise _bad(f"intent {exc}") from None
            if not 0 <= slip <= _MAX_BPS:
                raise _bad(f"intent max_slippage_bps must be within 0..10000, got {slip}")
        try:
            check_ns(now_ns, "now_ns (int nanoseconds)")
            if deadline_ns is not None:
                check_ns(deadline_ns, "intent deadline_ns (int nanoseconds)")
        except InvalidInput as exc:
            raise _bad(str(exc)) from None
        if deadline_ns is not None and deadline_ns <= now_ns:
            raise _bad(f"intent deadline_ns {deadline_ns} is not in the future (now is {now_ns})")
        if not isinstance(algo, str) or algo not in ALGOS:
            raise _bad(f"intent algo {shown(algo)} is unknown; choose one of {sorted(ALGOS)}")
        params: list[tuple[str, AlgoParam]] = []
        if algo_params is not None and not isinstance(algo_params, Mapping):
            raise _bad(f"intent algo_params must be a mapping, got {shown(algo_params)}")
        for key, value in sorted((algo_params or {}).items(), key=lambda kv: str(kv[0])):
            if not isinstance(key, str) or not _PARAM_KEY.fullmatch(key):
                raise _bad(f"intent algo_params key {shown(key)} must be snake_case")
            try:
                params.append((key, _param(key, value)))
            except InvalidIntent:
                raise
            except InvalidInput as exc:
                raise _bad(str(exc)) from None
        if isinstance(venues, str):
            raise _bad("intent venues must be a list of venue names, not one string")
        if not isinstance(venues, Iterable):
            raise _bad(f"intent venues must be a list of venue names, got {shown(venues)}")
        venue_list = tuple(venues)
        if not venue_list:
            raise _bad("intent venues must name at least one allowed venue")
        for k, v in enumerate(venue_list):
            if not isinstance(v, str) or not _NAME.fullmatch(v):
                raise _bad(
                    f"intent venues[{k}] {shown(v)} is not a valid venue name: use {_NAME_RULE}"
                )
        if len(set(venue_list)) != len(venue_list):
            raise _bad(f"intent venues {list(venue_list)} contain duplicates")
        if not isinstance(reduce_only, bool):
            raise _bad(f"intent reduce_only must be a bool, got {shown(reduce_only)}")
        return cls(
            intent_id=IntentId(intent_id),
            account=AccountId(account),
            instrument=instrument,
            side=side,
            quantity=qty,
            notional=ntl,
            limit_price=limit,
            max_slippage_bps=slip,
            deadline_ns=deadline_ns,
            algo=algo,
            algo_params=tuple(params),
            venues=tuple(VenueId(v) for v in venue_list),
            reduce_only=reduce_only,
            ts_init=now_ns,
        )

    def differences(self, other: Intent) -> tuple[str, ...]:
        """Names of the content fields in which ``other`` differs from this intent.

        Content is everything the user asked for (account, instrument, side, size, limits,
        deadline, algo and its params, venues, reduce-only); ``ts_init`` is when the intent was
        built, not what it asks, so it is ignored. Amounts compare by value (``1.0`` equals
        ``1``), algo params as a mapping, venues in order (the first is preferred).

        Raises:
            InvalidIntent: ``other`` is not an Intent.
        """
        if not isinstance(other, Intent):
            raise InvalidIntent(f"can only compare with an Intent, got {type(other).__name__}")
        out: list[str] = []
        for name in _CONTENT_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name == "algo_params":
                mine, theirs = dict(mine), dict(theirs)
            if type(mine) is not type(theirs) or mine != theirs:
                out.append(name)
        return tuple(out)

    @property
    def params(self) -> dict[str, AlgoParam]:
        """Algorithm parameters as a dict."""
        return dict(self.algo_params)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict (Decimals as strings)."""

        def enc(v: AlgoParam) -> Any:
            return {"decimal": str(v)} if isinstance(v, Decimal) else v

        return {
            "intent_id": self.intent_id,
            "account": self.account,
            "instrument": self.instrument.to_payload(),
            "side": self.side.value,
            "quantity": None if self.quantity is None else str(self.quantity),
            "notional": None if self.notional is None else str(self.notional),
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "max_slippage_bps": None
            if self.max_slippage_bps is None
            else str(self.max_slippage_bps),
            "deadline_ns": self.deadline_ns,
            "algo": self.algo,
            "algo_params": {k: enc(v) for k, v in self.algo_params},
            "venues": list(self.venues),
            "reduce_only": self.reduce_only,
            "ts_init": self.ts_init,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Intent:
        """Inverse of :meth:`to_payload` (does not re-check the deadline against a clock).

        Raises:
            InvalidIntent: ``payload`` is not a mapping, lacks a field or has a bad value.
        """
        if not isinstance(payload, Mapping):
            raise InvalidIntent(f"intent payload must be a mapping, got {type(payload).__name__}")
        try:
            return cls._from_payload(payload)
        except InvalidIntent:
            raise
        except InvalidInput as exc:
            raise InvalidIntent(f"malformed intent payload: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            raise InvalidIntent(f"malformed intent payload: {shown(exc)}") from None

    @classmethod
    def _from_payload(cls, payload: Mapping[str, Any]) -> Intent:
        def dec(v: Any) -> AlgoParam:
            return Decimal(v["decimal"]) if isinstance(v, dict) else v

        def opt(name: str) -> Decimal | None:
            v = payload[name]
            return None if v is None else to_decimal(v, what=f"intent {name}")

        return cls(
            intent_id=IntentId(payload["intent_id"]),
            account=AccountId(payload["account"]),
            instrument=instrument_from_payload(payload["instrument"]),
            side=Side(payload["side"]),
            quantity=opt("quantity"),
            notional=opt("notional"),
            limit_price=opt("limit_price"),
            max_slippage_bps=opt("max_slippage_bps"),
            deadline_ns=payload["deadline_ns"],
            algo=payload["algo"],
            algo_params=tuple((k, dec(v)) for k, v in payload["algo_params"].items()),
            venues=tuple(VenueId(v) for v in payload["venues"]),
            reduce_only=payload["reduce_only"],
            ts_init=payload["ts_init"],
        )
