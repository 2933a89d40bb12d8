"""The state of an algorithmic or split parent order and its transition table.

An algorithm (TWAP, VWAP, …) or a split route over several venues works a parent order through
children. What it may do next is its :class:`AlgoState`, recorded by
:class:`~oms_chain.model.events.AlgoStateChanged` events and moved only along
:data:`ALGO_TRANSITIONS`; any other move raises
:class:`~oms_chain.model.errors.IllegalTransition`.

A parent with no recorded algo state is ``RUNNING`` (an algorithm starts running when it is
accepted; a split route records its start as ``RUNNING -> RUNNING``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from oms_chain.model.errors import IllegalTransition

__all__ = ["ALGO_TRANSITIONS", "AlgoState", "advance_algo_state"]


class AlgoState(StrEnum):
    """What an algo or split parent may do.

    ``RUNNING``: it sends children on its schedule. ``PAUSED``: it sends nothing new (open
    children keep working; its schedule clock stands still). ``CANCELLED``: it is over, for good.

    A ``str`` enum so that the strings stored in events (``"running"``, ``"paused"``,
    ``"cancelled"``) and callers comparing :meth:`~oms_chain.engine.Engine.algo_state` with them
    keep working.
    """

    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


_A = AlgoState

#: Allowed moves. The self-edges are real-world possibilities: a split route records its start
#: as ``running`` over the implicit initial ``running``, and two processes sharing a store can
#: both record the same pause or resume. ``CANCELLED`` is terminal.
ALGO_TRANSITIONS: Mapping[AlgoState, frozenset[AlgoState]] = {
    _A.RUNNING: frozenset({_A.RUNNING, _A.PAUSED, _A.CANCELLED}),
    _A.PAUSED: frozenset({_A.PAUSED, _A.RUNNING, _A.CANCELLED}),
    _A.CANCELLED: frozenset(),
}


def advance_algo_state(current: AlgoState, to: str, *, order: str) -> AlgoState:
    """The state after moving from ``current`` to ``to`` (a state or its stored string).

    Raises:
        IllegalTransition: ``to`` is not an algo state, or the edge is not in
            :data:`ALGO_TRANSITIONS`.
    """
    try:
        new = AlgoState(to)
    except ValueError:
        raise IllegalTransition(
            f"unknown algo state {to!r} for {order} (one of: {', '.join(s.value for s in _A)})"
        ) from None
    if new not in ALGO_TRANSITIONS[current]:
        raise IllegalTransition(
            f"algo of {order} is {current.value}; it cannot move to {new.value}"
            + (" (a cancelled algo is over)" if current is _A.CANCELLED else "")
        )
    return new
