"""TWAP: the parent spread evenly over a horizon in slices, optionally randomized.

Params (``Intent.algo_params``):

- ``duration``: horizon (int ns or ``"2h"``); the horizon ends at the earlier of
  ``start + duration`` and the intent's ``deadline_ns`` (one of the two is required).
- ``slices`` (int, default 10) or ``interval`` (duration): how the horizon is cut.
- ``randomize`` (0..0.5, default 0): each slice's size is scaled by a factor in
  ``[1 - r, 1 + r]`` and its start moved by up to ``r / 2`` of an interval, drawn from a RNG
  seeded by the intent id (the same intent always draws the same schedule).
- ``catch_up`` (bool, default true): after a missed interval, spawn the whole shortfall at once;
  false: at most one slice's size per decision.
- ``min_slice`` (base, default 0): no child smaller than this, except the one that completes
  the parent.
- ``child_ttl`` (duration, default one interval): open children older than this are cancelled
  and their unfilled part re-spawned.
- common: ``venue``, ``max_participation``, ``max_failed_children``.

Children are limit orders at the intent's ``limit_price`` (market orders bounded by its
``max_slippage_bps`` when it has none).
"""

from __future__ import annotations

from decimal import Decimal

from oms_chain.algos._slices import (
    CommonParams,
    HorizonParams,
    SliceSchedule,
    sliced_decision,
)
from oms_chain.algos.base import (
    Decision,
    MarketRequest,
    MarketSnapshot,
    ParamReader,
    ParentView,
    seeded_rng,
)
from oms_chain.model.intent import Intent

__all__ = ["TwapScheduler"]

_PPM = 1_000_000


class TwapScheduler:
    """Time-weighted schedule for one intent (see the module docstring for params).

    Raises:
        InvalidIntent: a param is missing, malformed or out of range; the message names it.
    """

    def __init__(self, intent: Intent) -> None:
        params = ParamReader(intent)
        self.intent = intent
        self.common = CommonParams.read(params, intent)
        self.horizon = HorizonParams.read(params, intent)
        randomize = params.decimal("randomize", Decimal(0), low=Decimal(0), high=Decimal("0.5"))
        assert randomize is not None
        params.finish()
        self.randomize = randomize
        self.schedule = self._build(randomize)

    def _build(self, randomize: Decimal) -> SliceSchedule:
        h = self.horizon
        n = h.slices
        interval = (h.end_ns - h.start_ns) // n
        rng = seeded_rng(self.intent, "twap")
        size_ppm = int(randomize * _PPM)
        jitter = int(randomize * interval) // 2
        weights = [Decimal(_PPM + rng.randint(-size_ppm, size_ppm)) for _ in range(n)]
        times = [h.start_ns] + [
            h.start_ns + i * interval + rng.randint(-jitter, jitter) for i in range(1, n)
        ]
        return SliceSchedule.with_times(times, h.end_ns, weights)

    def market_request(self, view: ParentView) -> MarketRequest:
        if self.common.max_participation is None:
            return MarketRequest()
        return MarketRequest(volume_since_ns=view.start_ns)

    def decide(self, view: ParentView, market: MarketSnapshot) -> Decision:
        return sliced_decision(
            view, market, self.schedule, self.horizon, self.common, self.intent.limit_price
        )

    def target_at(self, quantity: Decimal, now_ns: int) -> Decimal:
        """Cumulative quantity the schedule asks for by ``now_ns``."""
        idx = self.schedule.index_at(now_ns)
        return self.schedule.target(quantity, idx, self.intent.instrument.size_decimals)
