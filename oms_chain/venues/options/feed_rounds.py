"""Finding the round of a Chainlink-style feed that settles an option series.

A Chainlink proxy's round id is ``phase << 64 | n``: ``n`` counts from 1 inside each phase (one
aggregator), and ``(phase << 64) | 0`` does not exist (querying it reverts). ``OptionsMarket``
settles with the first round updated at or after expiry and checks that by looking at the round
before it only when ``uint64(roundId) > 1``. :func:`first_round_at_or_after` therefore searches
the latest round's phase, from its round 1 to the latest round, by bisection on ``updatedAt``
(rounds of one phase are updated in order): about ``log2(n)`` reads instead of one per round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = ["PHASE_SHIFT", "first_round_at_or_after"]

PHASE_SHIFT = 64
_IN_PHASE = (1 << PHASE_SHIFT) - 1


async def first_round_at_or_after(
    latest_round_id: int, expiry: int, updated_at: Callable[[int], Awaitable[int]]
) -> int:
    """The smallest round id of ``latest_round_id``'s phase updated at or after ``expiry``.

    ``updated_at(round_id)`` reads a round's ``updatedAt``; it is only asked about round ids of
    that phase from its round 1 to ``latest_round_id``. The latest round must itself be updated
    at or after ``expiry`` (the caller read it); it is never asked again.

    Raises:
        ValueError: ``latest_round_id`` is not a round id (negative, above uint80, or round 0 of
            its phase), or ``expiry`` is negative.
    """
    if not 0 < latest_round_id < 1 << 80 or latest_round_id & _IN_PHASE == 0:
        raise ValueError(
            f"latest round id {latest_round_id} is not a feed round id (phase << 64 | n, n >= 1, "
            "below 2**80); pass the id latestRoundData() returned"
        )
    if expiry < 0:
        raise ValueError(f"expiry {expiry} is negative; pass a unix time in seconds")
    phase = latest_round_id >> PHASE_SHIFT
    lo, hi = 1, latest_round_id & _IN_PHASE  # invariant: round hi is at or after expiry
    while lo < hi:
        mid = (lo + hi) // 2
        if await updated_at((phase << PHASE_SHIFT) | mid) >= expiry:
            hi = mid
        else:
            lo = mid + 1
    return (phase << PHASE_SHIFT) | lo
