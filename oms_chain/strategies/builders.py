"""Builders of the common option structures, each validated with the leg at fault named.

Every builder takes an :class:`OptionSeries` (underlying, quote, settlement, size precision),
expiries in integer ns, strikes as ``Decimal`` (or int / decimal string), a ``size`` in
contracts (> 0) and, optionally, ``listed``: the contracts a venue lists, to check that every
leg's series exists there. ``direction`` flips every side; each builder's default is the
structure its textbook name means without a qualifier:

=================  ==========================================  =================
builder            legs (default direction)                     default
=================  ==========================================  =================
straddle           buy call K, buy put K                       LONG
strangle           buy put K1, buy call K2 (K1 < K2)           LONG
bull_call_spread   buy call K1, sell call K2 (K1 < K2)         (bullish, debit)
bear_call_spread   sell call K1, buy call K2 (K1 < K2)         (bearish, credit)
bull_put_spread    buy put K1, sell put K2 (K1 < K2)           (bullish, credit)
bear_put_spread    sell put K1, buy put K2 (K1 < K2)           (bearish, debit)
butterfly          buy K1, sell 2 K2, buy K3 (calls or puts)   LONG (debit)
condor             buy K1, sell K2, sell K3, buy K4            LONG (debit)
iron_condor        buy put K1, sell put K2, sell call K3,      SHORT (credit)
                   buy call K4
iron_butterfly     buy put K1, sell put K2, sell call K2,      SHORT (credit)
                   buy call K3
collar             buy put K1, sell call K2 (K1 < K2): the     (the hedge of a
                   options of a collar on a held underlying    held long)
risk_reversal      sell put K1, buy call K2 (K1 < K2)          LONG (bullish)
calendar_spread    sell near K, buy far K (one kind)           LONG
diagonal_spread    sell near K1, buy far K2 (one kind)         LONG
ratio_spread       buy n1 at K1, sell n2 at K2 (calls: K1<K2,  (front ratio
                   puts: K1>K2), default 1 x 2                 spread)
custom             any legs                                    --
=================  ==========================================  =================

Strikes must be strictly increasing where the table says so (wing widths may differ); a
butterfly's K2 is the middle strike. Raises :class:`~oms_chain.strategies.InvalidStructure`
naming the leg (its index in the table's order) and what to change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from oms_chain.model.assets import Asset
from oms_chain.model.checks import check_decimal, check_instance, check_int
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import InstrumentId
from oms_chain.model.instruments import OptionContract, OptionKind, Settlement
from oms_chain.strategies.structure import InvalidStructure, Leg, Side, Structure

__all__ = [
    "Direction",
    "OptionSeries",
    "bear_call_spread",
    "bear_put_spread",
    "bull_call_spread",
    "bull_put_spread",
    "butterfly",
    "calendar_spread",
    "collar",
    "condor",
    "custom",
    "diagonal_spread",
    "iron_butterfly",
    "iron_condor",
    "ratio_spread",
    "risk_reversal",
    "straddle",
    "strangle",
]

Listed = Collection[OptionContract | InstrumentId | str] | None
Strike = Decimal | int | str


class Direction(Enum):
    """LONG builds a structure as its table row reads; SHORT flips every side."""

    LONG = "long"
    SHORT = "short"


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionSeries:
    """The contract terms every leg of a structure shares: underlying, quote, settlement and
    size precision (see :class:`~oms_chain.model.instruments.OptionContract`)."""

    underlying: Asset
    quote: Asset
    settlement: Settlement = Settlement.CASH
    size_decimals: int = 4

    def __post_init__(self) -> None:
        check_instance(self.underlying, "series underlying", Asset, "an Asset")
        check_instance(self.quote, "series quote", Asset, "an Asset")
        check_instance(self.settlement, "series settlement", Settlement, "a Settlement")
        check_int(self.size_decimals, "series size_decimals", minimum=0, maximum=18)

    def contract(self, kind: OptionKind, strike: Strike, expiry_ns: int) -> OptionContract:
        """The contract of this series at ``strike`` and ``expiry_ns``."""
        return OptionContract(
            underlying=self.underlying,
            quote=self.quote,
            strike=strike,  # type: ignore[arg-type]  # OptionContract converts and checks it
            expiry_ns=expiry_ns,
            option_kind=kind,
            settlement=self.settlement,
            size_decimals=self.size_decimals,
        )

    def call(self, strike: Strike, expiry_ns: int) -> OptionContract:
        """A call of this series."""
        return self.contract(OptionKind.CALL, strike, expiry_ns)

    def put(self, strike: Strike, expiry_ns: int) -> OptionContract:
        """A put of this series."""
        return self.contract(OptionKind.PUT, strike, expiry_ns)


_C, _P = OptionKind.CALL, OptionKind.PUT
_B, _S = Side.BUY, Side.SELL

# (side, kind, strike, expiry_ns, ratio)
_Spec = tuple[Side, OptionKind, Strike, int, Decimal | int]


def _label(i: int, side: Side, kind: OptionKind, strike: object) -> str:
    return f"leg {i} ({side.value} {kind.value} {strike})"


def _build(
    kind: str,
    series: OptionSeries,
    specs: Sequence[_Spec],
    size: object,
    direction: Direction,
    listed: Listed,
) -> Structure:
    check_instance(series, "series", OptionSeries, "an OptionSeries")
    check_instance(direction, "direction", Direction, "a Direction (LONG or SHORT)")
    try:
        qty = check_decimal(size, "size", gt=0, strings=True)
    except InvalidInput as exc:
        raise InvalidStructure(f"{kind}: {exc} (contracts per unit of the structure)") from None
    legs = []
    for i, (side, okind, strike, expiry_ns, ratio) in enumerate(specs):
        side = side if direction is Direction.LONG else side.opposite
        label = _label(i, side, okind, strike)
        try:
            contract = series.contract(okind, strike, expiry_ns)
        except InvalidInput as exc:
            raise InvalidStructure(f"{kind} {label}: {exc}", i) from None
        try:
            legs.append(Leg(contract=contract, side=side, quantity=qty * ratio))
        except InvalidInput as exc:
            raise InvalidStructure(f"{kind} {label}: {exc}", i) from None
    structure = Structure(kind=kind, legs=tuple(legs))
    if listed is not None:
        structure.check_listed(listed)
    return structure


def _increasing(kind: str, specs: Sequence[_Spec], order: Sequence[int], why: str) -> None:
    """Strikes of ``specs[order[0]] < specs[order[1]] < ...`` (after conversion), naming the
    first leg out of order."""
    prev: Decimal | None = None
    prev_i = -1
    for i in order:
        _, okind, strike, _, _ = specs[i]
        label = f"leg {i} ({okind.value} {strike})"
        try:
            k = check_decimal(strike, "strike", gt=0, strings=True)
        except InvalidInput as exc:
            raise InvalidStructure(f"{kind} {label}: {exc}", i) from None
        if prev is not None and not k > prev:
            raise InvalidStructure(
                f"{kind} {label}: strike {k} must be above leg {prev_i}'s {prev} ({why})",
                i,
            )
        prev, prev_i = k, i


@dataclass(frozen=True, slots=True)
class _Shape:
    """A structure's legs as (side, kind, strike number, ratio); kind ``None`` takes the
    builder's ``option_kind``. ``increasing``: the legs whose strikes must rise, ``why`` says
    how to fix them."""

    legs: tuple[tuple[Side, OptionKind | None, int, int], ...]
    increasing: tuple[int, ...] = ()
    why: str = "pass the strikes in increasing order"


_LOWER_FIRST = "pass the lower strike first"
#: Every fixed-shape builder, as its table row in the module doc reads (default direction LONG).
_SHAPES: dict[str, _Shape] = {
    "straddle": _Shape(((_B, _C, 0, 1), (_B, _P, 0, 1))),
    "strangle": _Shape(
        ((_B, _P, 0, 1), (_B, _C, 1, 1)),
        (0, 1),
        "a strangle's call strike is above its put strike",
    ),
    "bull_call_spread": _Shape(((_B, _C, 0, 1), (_S, _C, 1, 1)), (0, 1), _LOWER_FIRST),
    "bear_call_spread": _Shape(((_S, _C, 0, 1), (_B, _C, 1, 1)), (0, 1), _LOWER_FIRST),
    "bull_put_spread": _Shape(((_B, _P, 0, 1), (_S, _P, 1, 1)), (0, 1), _LOWER_FIRST),
    "bear_put_spread": _Shape(((_S, _P, 0, 1), (_B, _P, 1, 1)), (0, 1), _LOWER_FIRST),
    "butterfly": _Shape(((_B, None, 0, 1), (_S, None, 1, 2), (_B, None, 2, 1)), (0, 1, 2)),
    "condor": _Shape(
        ((_B, None, 0, 1), (_S, None, 1, 1), (_S, None, 2, 1), (_B, None, 3, 1)), (0, 1, 2, 3)
    ),
    "iron_condor": _Shape(
        ((_S, _P, 0, 1), (_B, _P, 1, 1), (_B, _C, 2, 1), (_S, _C, 3, 1)), (0, 1, 2, 3)
    ),
    "iron_butterfly": _Shape(
        ((_S, _P, 0, 1), (_B, _P, 1, 1), (_B, _C, 1, 1), (_S, _C, 2, 1)), (0, 1, 3)
    ),
    "collar": _Shape(
        ((_B, _P, 0, 1), (_S, _C, 1, 1)), (0, 1), "a collar's call strike is above its put strike"
    ),
    "risk_reversal": _Shape(
        ((_S, _P, 0, 1), (_B, _C, 1, 1)),
        (0, 1),
        "a risk reversal's call strike is above its put strike",
    ),
}


def _shaped(
    kind: str,
    series: OptionSeries,
    expiry_ns: int,
    strikes: Sequence[Strike],
    size: Decimal | int | str,
    direction: Direction,
    listed: Listed,
    option_kind: OptionKind = OptionKind.CALL,
) -> Structure:
    shape = _SHAPES[kind]
    specs: list[_Spec] = [
        (side, okind or option_kind, strikes[k], expiry_ns, ratio)
        for side, okind, k, ratio in shape.legs
    ]
    if shape.increasing:
        _increasing(kind, specs, shape.increasing, shape.why)
    return _build(kind, series, specs, size, direction, listed)


def straddle(
    series: OptionSeries,
    expiry_ns: int,
    strike: Strike,
    size: Decimal | int | str,
    *,
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Buy a call and a put at one strike and expiry (SHORT sells both)."""
    return _shaped("straddle", series, expiry_ns, (strike,), size, direction, listed)


def strangle(
    series: OptionSeries,
    expiry_ns: int,
    put_strike: Strike,
    call_strike: Strike,
    size: Decimal | int | str,
    *,
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Buy a put at ``put_strike`` and a call at a higher ``call_strike`` (SHORT sells both)."""
    ks = (put_strike, call_strike)
    return _shaped("strangle", series, expiry_ns, ks, size, direction, listed)


def bull_call_spread(
    series: OptionSeries,
    expiry_ns: int,
    low_strike: Strike,
    high_strike: Strike,
    size: Decimal | int | str,
    *,
    listed: Listed = None,
) -> Structure:
    """Buy the lower-strike call, sell the higher-strike call (a debit)."""
    ks = (low_strike, high_strike)
    return _shaped("bull_call_spread", series, expiry_ns, ks, size, Direction.LONG, listed)


def bear_call_spread(
    series: OptionSeries,
    expiry_ns: int,
    low_strike: Strike,
    high_strike: Strike,
    size: Decimal | int | str,
    *,
    listed: Listed = None,
) -> Structure:
    """Sell the lower-strike call, buy the higher-strike call (a credit)."""
    ks = (low_strike, high_strike)
    return _shaped("bear_call_spread", series, expiry_ns, ks, size, Direction.LONG, listed)


def bull_put_spread(
    series: OptionSeries,
    expiry_ns: int,
    low_strike: Strike,
    high_strike: Strike,
    size: Decimal | int | str,
    *,
    listed: Listed = None,
) -> Structure:
    """Buy the lower-strike put, sell the higher-strike put (a credit)."""
    ks = (low_strike, high_strike)
    return _shaped("bull_put_spread", series, expiry_ns, ks, size, Direction.LONG, listed)


def bear_put_spread(
    series: OptionSeries,
    expiry_ns: int,
    low_strike: Strike,
    high_strike: Strike,
    size: Decimal | int | str,
    *,
    listed: Listed = None,
) -> Structure:
    """Sell the lower-strike put, buy the higher-strike put (a debit)."""
    ks = (low_strike, high_strike)
    return _shaped("bear_put_spread", series, expiry_ns, ks, size, Direction.LONG, listed)


def butterfly(
    series: OptionSeries,
    expiry_ns: int,
    strikes: tuple[Strike, Strike, Strike],
    size: Decimal | int | str,
    *,
    option_kind: OptionKind = OptionKind.CALL,
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Buy K1, sell two K2, buy K3 (K1 < K2 < K3), all calls or all puts."""
    ks = _strikes("butterfly", strikes, 3)
    return _shaped("butterfly", series, expiry_ns, ks, size, direction, listed, option_kind)


def condor(
    series: OptionSeries,
    expiry_ns: int,
    strikes: tuple[Strike, Strike, Strike, Strike],
    size: Decimal | int | str,
    *,
    option_kind: OptionKind = OptionKind.CALL,
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Buy K1, sell K2, sell K3, buy K4 (increasing), all calls or all puts."""
    ks = _strikes("condor", strikes, 4)
    return _shaped("condor", series, expiry_ns, ks, size, direction, listed, option_kind)


def iron_condor(
    series: OptionSeries,
    expiry_ns: int,
    strikes: tuple[Strike, Strike, Strike, Strike],
    size: Decimal | int | str,
    *,
    direction: Direction = Direction.SHORT,
    listed: Listed = None,
) -> Structure:
    """Buy put K1, sell put K2, sell call K3, buy call K4 (increasing): the credit iron condor
    (``direction=SHORT``, the default); LONG buys the body and sells the wings."""
    ks = _strikes("iron_condor", strikes, 4)
    return _shaped("iron_condor", series, expiry_ns, ks, size, direction, listed)


def iron_butterfly(
    series: OptionSeries,
    expiry_ns: int,
    strikes: tuple[Strike, Strike, Strike],
    size: Decimal | int | str,
    *,
    direction: Direction = Direction.SHORT,
    listed: Listed = None,
) -> Structure:
    """Buy put K1, sell put K2, sell call K2, buy call K3 (K1 < K2 < K3): the credit iron
    butterfly (``direction=SHORT``, the default)."""
    ks = _strikes("iron_butterfly", strikes, 3)
    return _shaped("iron_butterfly", series, expiry_ns, ks, size, direction, listed)


def collar(
    series: OptionSeries,
    expiry_ns: int,
    put_strike: Strike,
    call_strike: Strike,
    size: Decimal | int | str,
    *,
    listed: Listed = None,
) -> Structure:
    """Buy a put at ``put_strike``, sell a call at a higher ``call_strike``: the option legs of
    a collar on a long underlying held elsewhere (the holding is not a leg)."""
    ks = (put_strike, call_strike)
    return _shaped("collar", series, expiry_ns, ks, size, Direction.LONG, listed)


def risk_reversal(
    series: OptionSeries,
    expiry_ns: int,
    put_strike: Strike,
    call_strike: Strike,
    size: Decimal | int | str,
    *,
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Sell a put at ``put_strike``, buy a call at a higher ``call_strike`` (bullish); SHORT
    buys the put and sells the call."""
    ks = (put_strike, call_strike)
    return _shaped("risk_reversal", series, expiry_ns, ks, size, direction, listed)


def _check_expiries(kind: str, specs: Sequence[_Spec]) -> None:
    (s0, k0, x0, near, _), (s1, k1, x1, far, _) = specs
    for i, (s, k, x, e) in enumerate(((s0, k0, x0, near), (s1, k1, x1, far))):
        if not isinstance(e, int) or isinstance(e, bool) or e <= 0:
            raise InvalidStructure(
                f"{kind} {_label(i, s, k, x)}: expiry must be a positive int of ns, got {e!r}", i
            )
    if not far > near:
        raise InvalidStructure(
            f"{kind} {_label(1, s1, k1, x1)}: the far expiry ({far} ns) must be after the near "
            f"expiry of leg 0 ({near} ns)",
            1,
        )


def calendar_spread(
    series: OptionSeries,
    near_expiry_ns: int,
    far_expiry_ns: int,
    strike: Strike,
    size: Decimal | int | str,
    *,
    option_kind: OptionKind = OptionKind.CALL,
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Sell the near expiry, buy the far expiry, one strike and kind (SHORT: the reverse)."""
    specs: list[_Spec] = [
        (_S, option_kind, strike, near_expiry_ns, 1),
        (_B, option_kind, strike, far_expiry_ns, 1),
    ]
    _check_expiries("calendar_spread", specs)
    return _build("calendar_spread", series, specs, size, direction, listed)


def diagonal_spread(
    series: OptionSeries,
    near_expiry_ns: int,
    far_expiry_ns: int,
    near_strike: Strike,
    far_strike: Strike,
    size: Decimal | int | str,
    *,
    option_kind: OptionKind = OptionKind.CALL,
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Sell ``near_strike`` at the near expiry, buy ``far_strike`` at the far expiry, one kind
    (SHORT: the reverse). The strikes must differ (equal strikes are a calendar spread)."""
    specs: list[_Spec] = [
        (_S, option_kind, near_strike, near_expiry_ns, 1),
        (_B, option_kind, far_strike, far_expiry_ns, 1),
    ]
    _check_expiries("diagonal_spread", specs)
    ks = []
    for i, (s, k, x, _, _) in enumerate(specs):
        try:
            ks.append(check_decimal(x, "strike", gt=0, strings=True))
        except InvalidInput as exc:
            raise InvalidStructure(f"diagonal_spread {_label(i, s, k, x)}: {exc}", i) from None
    if ks[0] == ks[1]:
        raise InvalidStructure(
            f"diagonal_spread {_label(1, _B, option_kind, far_strike)}: strike equals leg 0's; "
            "use calendar_spread for one strike",
            1,
        )
    return _build("diagonal_spread", series, specs, size, direction, listed)


def ratio_spread(
    series: OptionSeries,
    expiry_ns: int,
    long_strike: Strike,
    short_strike: Strike,
    size: Decimal | int | str,
    *,
    option_kind: OptionKind = OptionKind.CALL,
    ratio: tuple[int, int] = (1, 2),
    direction: Direction = Direction.LONG,
    listed: Listed = None,
) -> Structure:
    """Buy ``ratio[0] x size`` at ``long_strike``, sell ``ratio[1] x size`` at ``short_strike``,
    further out of the money: above for calls, below for puts. ``ratio`` is two positive ints
    that differ (a 1 x 1 is a vertical spread)."""
    if (
        not isinstance(ratio, tuple)
        or len(ratio) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 100 for n in ratio)
    ):
        raise InvalidStructure(f"ratio_spread: ratio must be two ints from 1 to 100, got {ratio!r}")
    if ratio[0] == ratio[1]:
        raise InvalidStructure(
            f"ratio_spread: ratio {ratio[0]} x {ratio[1]} is a vertical spread; use the "
            "bull/bear spread builders"
        )
    specs: list[_Spec] = [
        (_B, option_kind, long_strike, expiry_ns, ratio[0]),
        (_S, option_kind, short_strike, expiry_ns, ratio[1]),
    ]
    order = (0, 1) if option_kind is OptionKind.CALL else (1, 0)
    why = (
        "a call ratio spread sells the higher strike"
        if option_kind is OptionKind.CALL
        else "a put ratio spread sells the lower strike"
    )
    _increasing("ratio_spread", specs, order, why)
    return _build("ratio_spread", series, specs, size, direction, listed)


def custom(legs: Iterable[Leg], *, listed: Listed = None) -> Structure:
    """A free-form structure of ``legs`` (validated as :class:`Structure` is)."""
    structure = Structure(kind="custom", legs=tuple(legs))
    if listed is not None:
        structure.check_listed(listed)
    return structure


def _strikes(kind: str, strikes: object, n: int) -> tuple[Strike, ...]:
    if not isinstance(strikes, (tuple, list)) or len(strikes) != n:
        raise InvalidStructure(f"{kind} needs {n} strikes in increasing order, got {strikes!r}")
    return tuple(strikes)
