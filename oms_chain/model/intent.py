"""The user's intent: what to trade, how much, at what worst price, by when and where."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from oms_chain.model.amounts import to_decimal
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

_NAME = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_PARAM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_BPS = Decimal(10_000)


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
        if not isinstance(intent_id, str) or not _NAME.match(intent_id):
            raise _bad(f"intent_id {intent_id!r} must be 1-128 characters from A-Z a-z 0-9 ._:-")
        if not isinstance(account, str) or not _NAME.match(account):
            raise _bad(f"intent account {account!r} must be 1-128 characters from A-Z a-z 0-9 ._:-")
        if not isinstance(instrument, Instrument):  # type: ignore[arg-type,misc]
            raise _bad(
                f"intent instrument must be a SpotPair, OptionContract or Perpetual, "
                f"got {type(instrument).__name__}"
            )
        if isinstance(side, str):
            try:
                side = Side(side.lower())
            except ValueError:
                raise _bad(f"intent side {side!r} must be 'buy' or 'sell'") from None
        if not isinstance(side, Side):
            raise _bad(f"intent side {side!r} must be 'buy' or 'sell'")
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
        if not isinstance(now_ns, int) or isinstance(now_ns, bool):
            raise _bad(f"now_ns must be an int of nanoseconds, got {now_ns!r}")
        if deadline_ns is not None:
            if not isinstance(deadline_ns, int) or isinstance(deadline_ns, bool):
                raise _bad(f"intent deadline_ns must be an int of nanoseconds, got {deadline_ns!r}")
            if deadline_ns <= now_ns:
                raise _bad(
                    f"intent deadline_ns {deadline_ns} is not in the future (now is {now_ns})"
                )
        if not isinstance(algo, str) or algo not in ALGOS:
            raise _bad(f"intent algo {algo!r} is unknown; choose one of {sorted(ALGOS)}")
        params: list[tuple[str, AlgoParam]] = []
        if algo_params is not None and not isinstance(algo_params, Mapping):
            raise _bad(f"intent algo_params must be a mapping, got {algo_params!r}")
        for key, value in sorted((algo_params or {}).items(), key=lambda kv: str(kv[0])):
            if not isinstance(key, str) or not _PARAM_KEY.match(key):
                raise _bad(f"intent algo_params key {key!r} must be snake_case")
            if isinstance(value, float) or not isinstance(value, str | int | bool | Decimal):
                raise _bad(
                    f"intent algo_params[{key!r}] must be str, int, bool or Decimal, got {value!r}"
                )
            params.append((key, value))
        if isinstance(venues, str):
            raise _bad("intent venues must be a list of venue names, not one string")
        if not isinstance(venues, Iterable):
            raise _bad(f"intent venues must be a list of venue names, got {venues!r}")
        venue_list = tuple(venues)
        if not venue_list:
            raise _bad("intent venues must name at least one allowed venue")
        for v in venue_list:
            if not isinstance(v, str) or not _NAME.match(v):
                raise _bad(f"intent venue {v!r} is not a valid venue name")
        if len(set(venue_list)) != len(venue_list):
            raise _bad(f"intent venues {list(venue_list)} contain duplicates")
        if not isinstance(reduce_only, bool):
            raise _bad(f"intent reduce_only must be a bool, got {reduce_only!r}")
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
        """Inverse of :meth:`to_payload` (does not re-check the deadline against a clock)."""

        def dec(v: Any) -> AlgoParam:
            return Decimal(v["decimal"]) if isinstance(v, dict) else v

        def opt(v: str | None) -> Decimal | None:
            return None if v is None else Decimal(v)

        return cls(
            intent_id=IntentId(payload["intent_id"]),
            account=AccountId(payload["account"]),
            instrument=instrument_from_payload(payload["instrument"]),
            side=Side(payload["side"]),
            quantity=opt(payload["quantity"]),
            notional=opt(payload["notional"]),
            limit_price=opt(payload["limit_price"]),
            max_slippage_bps=opt(payload["max_slippage_bps"]),
            deadline_ns=payload["deadline_ns"],
            algo=payload["algo"],
            algo_params=tuple((k, dec(v)) for k, v in payload["algo_params"].items()),
            venues=tuple(VenueId(v) for v in payload["venues"]),
            reduce_only=payload["reduce_only"],
            ts_init=payload["ts_init"],
        )
