"""States of an AMM order journal entry and the table they move along.

An on-chain venue journals each order between signing and broadcasting its swap (see
:mod:`oms_chain.venues.amm.journal`). The entry then moves only along
:data:`AMM_ORDER_TRANSITIONS`; any other move raises
:class:`~oms_chain.model.errors.IllegalTransition`. The order's fills and its settlement are
told by the chain (``SettlementState``); this state says what the *journal* still owes: a
reservation to release, then a retention to wait out before the entry may be pruned.

An order that bought the native asset as WETH may then unwrap it: that step has its own small
table (:class:`UnwrapState`, :data:`UNWRAP_TRANSITIONS`), and an entry whose unwrap is
``PENDING`` is not pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from oms_chain.model.errors import IllegalTransition

__all__ = [
    "AMM_ORDER_TRANSITIONS",
    "UNWRAP_TRANSITIONS",
    "AmmOrderState",
    "UnwrapState",
    "check_amm_order_transition",
    "check_unwrap_transition",
]


class AmmOrderState(Enum):
    """Where one journaled AMM order stands.

    ``PENDING``: signed and journaled, the swap not known to have left the mempool; its spend is
    reserved against the router's allowance. ``MINED``: the swap left the mempool (included or
    confirmed); the reservation is released, a reorg may still move it. ``ENDED``: every move is
    over (final, dropped or replaced); the journal may prune it after its retention.
    """

    PENDING = "pending"
    MINED = "mined"
    ENDED = "ended"


_A = AmmOrderState

#: Legal moves. ``PENDING -> ENDED``: a swap first seen final, dropped or replaced. A mined swap
#: whose block is reorged out stays ``MINED`` (real world possibility): its reservation is not
#: taken again, as the wallet's holdings are read from the chain while it is not final.
AMM_ORDER_TRANSITIONS: Mapping[AmmOrderState, frozenset[AmmOrderState]] = {
    _A.PENDING: frozenset({_A.MINED, _A.ENDED}),
    _A.MINED: frozenset({_A.ENDED}),
    _A.ENDED: frozenset(),
}


def check_amm_order_transition(order: str, current: AmmOrderState, to: AmmOrderState) -> None:
    """Raise :class:`IllegalTransition` when ``current -> to`` is not in the table."""
    if to not in AMM_ORDER_TRANSITIONS[current]:
        raise IllegalTransition(
            f"AMM order {order} cannot go from {current.value} to {to.value} in the journal"
        )


class UnwrapState(Enum):
    """Where the unwrap of a filled order's WETH stands.

    ``NOT_STARTED``: nothing to unwrap yet (or the order does not buy the native asset).
    ``PENDING``: the unwrap is being sent. ``SENT``: its transaction was mined (its hash is kept).
    ``FAILED``: it could not be sent (the reason is kept); the WETH stays in the wallet.
    """

    NOT_STARTED = "not_started"
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


_U = UnwrapState

#: Legal moves of the unwrap step: it starts once, and ends sent or failed.
UNWRAP_TRANSITIONS: Mapping[UnwrapState, frozenset[UnwrapState]] = {
    _U.NOT_STARTED: frozenset({_U.PENDING}),
    _U.PENDING: frozenset({_U.SENT, _U.FAILED}),
    _U.SENT: frozenset(),
    _U.FAILED: frozenset(),
}


def check_unwrap_transition(order: str, current: UnwrapState, to: UnwrapState) -> None:
    """Raise :class:`IllegalTransition` when the unwrap of ``order`` cannot go ``current -> to``."""
    if to not in UNWRAP_TRANSITIONS[current]:
        raise IllegalTransition(
            f"the unwrap of AMM order {order} cannot go from {current.value} to {to.value}"
        )
