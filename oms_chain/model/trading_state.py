"""The kill switch: :class:`TradingState` and its transition table.

Recorded by :class:`~oms_chain.model.events.TradingStateChanged` events and moved only along
:data:`TRADING_TRANSITIONS`; a state string that is not a :class:`TradingState` raises
:class:`~oms_chain.model.errors.IllegalTransition`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from oms_chain.model.errors import IllegalTransition

__all__ = ["TRADING_TRANSITIONS", "TradingState", "advance_trading_state"]


class TradingState(Enum):
    """Kill switch. ``REDUCING`` lets only position-reducing intents through; ``HALTED`` none."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


_K = TradingState

#: Allowed moves: every one. An operator must be able to go from any state to any other (halt
#: from reducing, resume from halted) and to record the same state again with a new reason
#: (the self-edges); the table is here so that the kill switch moves like every other state and
#: an unknown stored state is refused rather than kept.
TRADING_TRANSITIONS: Mapping[TradingState, frozenset[TradingState]] = {
    _K.ACTIVE: frozenset({_K.ACTIVE, _K.REDUCING, _K.HALTED}),
    _K.REDUCING: frozenset({_K.ACTIVE, _K.REDUCING, _K.HALTED}),
    _K.HALTED: frozenset({_K.ACTIVE, _K.REDUCING, _K.HALTED}),
}


def advance_trading_state(current: TradingState, to: str | TradingState) -> TradingState:
    """The state after moving from ``current`` to ``to`` (a state or its stored string).

    Raises:
        IllegalTransition: ``to`` is not a trading state, or the edge is not in
            :data:`TRADING_TRANSITIONS`.
    """
    try:
        new = TradingState(to)
    except ValueError:
        raise IllegalTransition(
            f"unknown trading state {to!r} (one of: {', '.join(s.value for s in _K)})"
        ) from None
    if new not in TRADING_TRANSITIONS[current]:
        raise IllegalTransition(f"trading state cannot go from {current.value} to {new.value}")
    return new
