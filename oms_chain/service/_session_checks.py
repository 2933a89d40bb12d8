"""Argument checks of :class:`~oms_chain.service.session.TradingSession`'s entry points: each
raises :class:`~oms_chain.model.errors.InvalidInput` naming the argument before anything is
opened or sent; and :func:`is_settled`, what :meth:`TradingSession.wait` waits for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, get_args

from oms_chain.model.checks import check_callable, check_instance, check_int, check_str
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.model.orders import Order, SettlementStatus
from oms_chain.venues.base import ListsInstruments, Venue

__all__ = [
    "INTENT_KEYWORDS",
    "check_instrument",
    "check_intent_args",
    "check_own_venues",
    "check_side",
    "check_venue_ids",
    "check_wait_args",
    "is_settled",
]

#: Keywords :meth:`TradingSession.intent` passes on to :meth:`Intent.create`.
INTENT_KEYWORDS = frozenset(
    {
        "notional",
        "limit_price",
        "max_slippage_bps",
        "deadline_ns",
        "algo",
        "algo_params",
        "reduce_only",
    }
)


def check_venue_ids(venues: object, name: str = "venues") -> list[str] | None:
    """``venues`` as a list of venue id strings, or ``None`` (a lone str is refused: it would
    be read letter by letter)."""
    if venues is None:
        return None
    if isinstance(venues, str | bytes) or not isinstance(venues, Sequence):
        raise InvalidInput(
            f"{name} must be a list of venue ids (e.g. ['binance']) or None, got "
            f"{type(venues).__name__} {venues!r:.60}"
        )
    return [check_str(v, f"{name}[{i}]") for i, v in enumerate(venues)]


def check_side(side: object) -> Side:
    check_str(side, "side", rule="'buy' or 'sell'")
    assert isinstance(side, str)
    try:
        return Side(side.lower())
    except ValueError:
        raise InvalidInput(f"side must be 'buy' or 'sell', got {side!r:.40}") from None


def check_instrument(instrument: object) -> Instrument:
    return check_instance(
        instrument,
        "instrument",
        get_args(Instrument),
        "an Instrument (see TradingSession.instrument)",
    )


def check_intent_args(symbol: object, kw: Mapping[str, Any]) -> None:
    """:meth:`TradingSession.intent`'s ``symbol`` (a pair or an Instrument) and keywords."""
    unknown_kw = sorted(set(kw) - INTENT_KEYWORDS)
    if unknown_kw:
        raise InvalidInput(
            f"unknown keyword {unknown_kw[0]!r} for an intent; known: "
            f"{', '.join(sorted(INTENT_KEYWORDS))}"
        )
    if not isinstance(symbol, str | Instrument):
        raise InvalidInput(
            f"symbol must be a pair such as 'ETH/USDC' or an Instrument, got "
            f"{type(symbol).__name__} {symbol!r:.60}"
        )


def check_wait_args(
    order_id: object,
    confirmations: object,
    timeout: object,
    poll: object,
    on_progress: object,
) -> None:
    """:meth:`TradingSession.wait`'s arguments: seconds positive and finite (``timeout`` may be
    ``None``), ``on_progress`` a function or ``None``."""
    check_str(order_id, "order_id")
    check_int(confirmations, "confirmations", minimum=0, maximum=10_000)
    for name, value in (("timeout", timeout), ("poll", poll)):
        if name == "timeout" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{name} must be a number of seconds, got {value!r:.60}")
        if not 0 < value < 1e9:  # also refuses NaN
            raise InvalidInput(f"{name} must be a positive, finite number of seconds")
    if on_progress is not None:
        check_callable(on_progress, "on_progress", "a function of (parent, children)")


def is_settled(order: Order, confirmations: int = 0) -> bool:
    """True when ``order`` is terminal and, if it sent a transaction, that transaction is final
    or has at least ``confirmations`` blocks on top of it (0: included in a block)."""
    if not order.is_terminal:
        return False
    st = order.settlement
    if st is None:
        return True
    if st.status in (SettlementStatus.FINAL, SettlementStatus.DROPPED, SettlementStatus.REPLACED):
        return True
    mined = st.status in (SettlementStatus.INCLUDED, SettlementStatus.CONFIRMED)
    return mined and st.confirmations >= confirmations


def check_own_venues(venues: object) -> tuple[Venue, ...]:
    """The caller's own venues of a session: :class:`Venue` adapters that list their
    instruments, each id once. Raises :class:`InvalidInput` naming the one that is not."""
    if isinstance(venues, str | bytes) or not isinstance(venues, Sequence):
        raise InvalidInput(f"venues must be a sequence of Venue adapters, got {venues!r:.60}")
    out: list[Venue] = []
    for i, v in enumerate(venues):
        if not isinstance(v, Venue) or not isinstance(v, ListsInstruments):
            raise InvalidInput(
                f"venues[{i}] must be a Venue that lists its instruments (instruments()), "
                f"got {type(v).__name__}"
            )
        if any(o.venue_id == v.venue_id for o in out):
            raise InvalidInput(f"venues[{i}]: venue id {v.venue_id!r} is given twice")
        out.append(v)
    return tuple(out)
