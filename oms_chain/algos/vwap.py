"""VWAP: the parent spread over a horizon following a volume profile.

Params: everything TWAP takes except ``randomize``, plus

- ``profile``: comma-separated non-negative weights, one per slice (e.g. ``"1,3,4,2"``). Without
  it the profile is the market's traded volume in the same number of buckets over the window
  of the same length just before the parent started, read through
  :class:`~oms_chain.algos.base.MarketData` (history, so every decision — and a restart —
  sees the same profile). A window with no volume gives an even profile.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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
)
from oms_chain.model.errors import InvalidIntent
from oms_chain.model.intent import Intent

__all__ = ["VwapScheduler"]


def _parse_profile(raw: str) -> tuple[Decimal, ...]:
    try:
        weights = tuple(Decimal(p.strip()) for p in raw.split(","))
    except InvalidOperation:
        weights = ()
    if not weights or any(not w.is_finite() or w < 0 for w in weights) or sum(weights) <= 0:
        raise InvalidIntent(
            f"vwap algo_params['profile'] must be comma-separated non-negative numbers with a "
            f"positive sum, got {raw!r}"
        )
    return weights


class VwapScheduler:
    """Volume-weighted schedule for one intent (see the module docstring for params).

    Raises:
        InvalidIntent: a param is missing, malformed or out of range; the message names it.
    """

    def __init__(self, intent: Intent) -> None:
        params = ParamReader(intent)
        self.intent = intent
        self.common = CommonParams.read(params, intent)
        raw = params.text("profile")
        self.profile = None if raw is None else _parse_profile(raw)
        fixed = None if self.profile is None else len(self.profile)
        self.horizon = HorizonParams.read(params, intent, fixed_slices=fixed)
        params.finish()
        self._cache: tuple[tuple[Decimal, ...], SliceSchedule] | None = None
        if self.profile is not None:
            self._cache = (self.profile, self._schedule(self.profile))

    @property
    def needs_market(self) -> bool:
        """Whether this scheduler needs a :class:`~oms_chain.algos.base.MarketData`."""
        return self.profile is None or self.common.max_participation is not None

    def _schedule(self, weights: tuple[Decimal, ...]) -> SliceSchedule:
        if sum(weights) <= 0:
            weights = tuple(Decimal(1) for _ in weights)
        return SliceSchedule.build(self.horizon.start_ns, self.horizon.end_ns, weights)

    def market_request(self, view: ParentView) -> MarketRequest:
        h = self.horizon
        span = h.end_ns - h.start_ns
        bucket = span // h.slices
        return MarketRequest(
            volume_since_ns=None if self.common.max_participation is None else view.start_ns,
            buckets=None if self.profile is not None else (h.start_ns - span, bucket, h.slices),
        )

    def schedule_for(self, market: MarketSnapshot) -> SliceSchedule:
        """The schedule for a profile given as a param or observed in ``market``."""
        if self._cache is not None and (
            self.profile is not None or self._cache[0] == market.volume_buckets
        ):
            return self._cache[1]
        buckets = market.volume_buckets
        if buckets is None or len(buckets) != self.horizon.slices:
            raise InvalidIntent(
                f"vwap needs {self.horizon.slices} volume buckets from market data "
                f"(or algo_params['profile']); got {buckets!r}"
            )
        schedule = self._schedule(tuple(buckets))
        self._cache = (tuple(buckets), schedule)
        return schedule

    def decide(self, view: ParentView, market: MarketSnapshot) -> Decision:
        schedule = self.schedule_for(market)
        return sliced_decision(
            view, market, schedule, self.horizon, self.common, self.intent.limit_price
        )
