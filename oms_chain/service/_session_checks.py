"""Argument checks of :class:`~oms_chain.service.session.TradingSession`'s entry points: each
raises :class:`~oms_chain.model.errors.InvalidInput` naming the argument before anything is
opened or sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from oms_chain.model.checks import check_instance, check_str
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side

__all__ = ["INTENT_KEYWORDS", "check_instrument", "check_side", "check_venue_ids"]

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
