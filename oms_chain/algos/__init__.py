"""Execution algorithms: parent → child schedulers (TWAP, VWAP, Iceberg, Sniper).

Pure logic: a :class:`~oms_chain.algos.base.Scheduler` maps a parent's state to the next
actions; :mod:`oms_chain.engine.algo_runner` drives it against the engine.
"""

from __future__ import annotations

from oms_chain.algos.base import (
    CancelChild,
    ChildView,
    ClockSleeper,
    Decision,
    ManualSleeper,
    MarketData,
    MarketRequest,
    MarketSnapshot,
    ParentView,
    Scheduler,
    Sleeper,
    SpawnChild,
    parse_duration,
    seeded_rng,
)
from oms_chain.algos.iceberg import IcebergScheduler
from oms_chain.algos.sniper import SniperScheduler
from oms_chain.algos.twap import TwapScheduler
from oms_chain.algos.vwap import VwapScheduler
from oms_chain.model.errors import InvalidIntent
from oms_chain.model.intent import Intent

__all__ = [
    "CancelChild",
    "ChildView",
    "ClockSleeper",
    "Decision",
    "IcebergScheduler",
    "ManualSleeper",
    "MarketData",
    "MarketRequest",
    "MarketSnapshot",
    "ParentView",
    "Scheduler",
    "Sleeper",
    "SniperScheduler",
    "SpawnChild",
    "TwapScheduler",
    "VwapScheduler",
    "needs_market",
    "parse_duration",
    "scheduler_for",
    "seeded_rng",
]

_SCHEDULERS: dict[str, type[TwapScheduler | VwapScheduler | IcebergScheduler | SniperScheduler]]
_SCHEDULERS = {
    "twap": TwapScheduler,
    "vwap": VwapScheduler,
    "iceberg": IcebergScheduler,
    "sniper": SniperScheduler,
}


def scheduler_for(intent: Intent) -> Scheduler:
    """The scheduler for ``intent.algo``, its params checked.

    Call it before recording an algo intent: a bad param is rejected with nothing written.

    Raises:
        InvalidIntent: ``direct`` or unknown algo, or a bad param (the message names it).
    """
    cls = _SCHEDULERS.get(intent.algo)
    if cls is None:
        raise InvalidIntent(
            f"intent algo {intent.algo!r} has no scheduler; choose one of {sorted(_SCHEDULERS)}"
        )
    return cls(intent)


def needs_market(scheduler: Scheduler) -> bool:
    """Whether ``scheduler`` cannot work without a :class:`MarketData`."""
    if isinstance(scheduler, SniperScheduler):
        return True
    if isinstance(scheduler, VwapScheduler):
        return scheduler.needs_market
    common = getattr(scheduler, "common", None)
    return common is not None and common.max_participation is not None
