"""Time-sliced schedules shared by TWAP and VWAP: slice times, cumulative target quantities,
and the decision that keeps a parent's committed quantity on its schedule."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from oms_chain.algos.base import (
    CancelChild,
    ChildView,
    Decision,
    MarketSnapshot,
    ParamReader,
    ParentView,
    SpawnChild,
    apply_participation_cap,
    quantize_down,
    require_quantity,
)
from oms_chain.model.errors import InvalidIntent
from oms_chain.model.ids import VenueId
from oms_chain.model.intent import Intent

_ZERO = Decimal(0)
#: Most slices a schedule may have (each is a child order; more is a typo, not a plan).
MAX_SLICES = 10_000


@dataclass(frozen=True, slots=True)
class SliceSchedule:
    """Slice ``i`` starts at ``times[i]`` and brings the cumulative target to
    ``cum_weights[i] / cum_weights[-1]`` of the parent; the schedule ends at ``end_ns``."""

    times: tuple[int, ...]
    cum_weights: tuple[Decimal, ...]
    end_ns: int

    @classmethod
    def build(cls, start_ns: int, end_ns: int, weights: Sequence[Decimal]) -> SliceSchedule:
        """Equally spaced slices over ``[start_ns, end_ns)``, sized by ``weights``."""
        n = len(weights)
        interval = (end_ns - start_ns) // n
        times = tuple(start_ns + i * interval for i in range(n))
        return cls.with_times(times, end_ns, weights)

    @classmethod
    def with_times(
        cls, times: Sequence[int], end_ns: int, weights: Sequence[Decimal]
    ) -> SliceSchedule:
        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("slice weights must be non-negative with a positive sum")
        cum: list[Decimal] = []
        total = _ZERO
        for w in weights:
            total += w
            cum.append(total)
        return cls(tuple(times), tuple(cum), end_ns)

    @property
    def slices(self) -> int:
        return len(self.times)

    def index_at(self, now_ns: int) -> int:
        """The slice in force at ``now_ns`` (-1 before the first)."""
        return bisect_right(self.times, now_ns) - 1

    def target(self, quantity: Decimal, index: int, decimals: int) -> Decimal:
        """Cumulative base quantity due once slice ``index`` has started (the whole
        ``quantity`` from the last slice on; rounded down to ``decimals`` before that)."""
        if index < 0:
            return _ZERO
        if index >= self.slices - 1:
            return quantity
        return quantize_down(quantity * self.cum_weights[index] / self.cum_weights[-1], decimals)

    def next_time(self, index: int) -> int:
        """When the slice after ``index`` starts, or the end of the schedule."""
        return self.times[index + 1] if index + 1 < self.slices else self.end_ns


@dataclass(frozen=True, slots=True, kw_only=True)
class CommonParams:
    """Params every algo takes."""

    venue: VenueId | None
    max_participation: Decimal | None
    max_failed_children: int

    @classmethod
    def read(cls, params: ParamReader, intent: Intent) -> CommonParams:
        venue = params.text("venue")
        if venue is not None and venue not in intent.venues:
            raise InvalidIntent(
                f"{intent.algo} algo_params['venue'] {venue!r} is not one of the intent's "
                f"venues {list(intent.venues)}"
            )
        rate = params.decimal("max_participation", low=_ZERO, high=Decimal(1), low_open=True)
        failed = params.integer("max_failed_children", 3)
        assert failed is not None
        return cls(
            venue=None if venue is None else VenueId(venue),
            max_participation=rate,
            max_failed_children=failed,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonParams:
    """Horizon and slicing of a time-sliced algo."""

    start_ns: int
    end_ns: int
    slices: int
    catch_up: bool
    min_slice: Decimal
    child_ttl_ns: int | None

    @classmethod
    def read(
        cls, params: ParamReader, intent: Intent, *, fixed_slices: int | None = None
    ) -> HorizonParams:
        require_quantity(intent)
        start = intent.ts_init
        end = end_of(params, intent)
        if end is None:
            raise InvalidIntent(
                f"{intent.algo} needs algo_params['duration'] or an intent deadline_ns"
            )
        if fixed_slices is not None:
            if params.has("slices") or params.has("interval"):
                raise InvalidIntent(
                    f"{intent.algo} algo_params['slices'] / ['interval'] conflict with the "
                    f"profile's {fixed_slices} buckets; give one or the other"
                )
            slices = fixed_slices
        elif params.has("slices") and params.has("interval"):
            raise InvalidIntent(
                f"{intent.algo} takes algo_params['slices'] or ['interval'], not both"
            )
        elif params.has("interval"):
            interval = params.duration("interval")
            assert interval is not None
            slices = max(1, -(-(end - start) // interval))
        else:
            n = params.integer("slices", 10)
            assert n is not None
            slices = n
        if slices > MAX_SLICES:
            raise InvalidIntent(
                f"{intent.algo} would cut its horizon into {slices} slices; at most {MAX_SLICES} "
                f"(use fewer slices or a longer interval)"
            )
        if (end - start) // slices <= 0:
            raise InvalidIntent(
                f"{intent.algo} horizon of {end - start} ns is too short for {slices} slices"
            )
        min_slice = params.decimal("min_slice", _ZERO, low=_ZERO)
        assert min_slice is not None
        ttl = params.duration("child_ttl")
        return cls(
            start_ns=start,
            end_ns=end,
            slices=slices,
            catch_up=params.boolean("catch_up", True),
            min_slice=min_slice,
            child_ttl_ns=ttl if ttl is not None else (end - start) // slices,
        )


def end_of(params: ParamReader, intent: Intent) -> int | None:
    """When the algo must stop: the earlier of ``start + duration`` (param) and the intent's
    ``deadline_ns``; ``None`` if neither is given."""
    duration = params.duration("duration")
    ends = [intent.deadline_ns]
    if duration is not None:
        ends.append(intent.ts_init + duration)
    known = [t for t in ends if t is not None]
    return min(known) if known else None


def stale(children: Sequence[ChildView], now_ns: int, ttl_ns: int | None) -> list[ChildView]:
    """Open children created ``ttl_ns`` or longer ago."""
    if ttl_ns is None:
        return []
    return [c for c in children if c.is_open and now_ns - c.ts_init >= ttl_ns]


def stop_checks(view: ParentView, common: CommonParams, end_ns: int | None) -> Decision | None:
    """The decision that ends the algo (filled, too many failed children, past its end), or
    ``None`` to carry on."""
    reason = ""
    if view.filled >= view.quantity:
        reason = "filled"
    elif view.failed_children >= common.max_failed_children:
        reason = (
            f"{view.failed_children} children were rejected or failed "
            f"(max_failed_children is {common.max_failed_children}); stopping"
        )
    elif end_ns is not None and view.now_ns >= end_ns:
        reason = f"schedule ended with {view.quantity - view.filled} of {view.quantity} unfilled"
    if not reason:
        return None
    cancels = tuple(CancelChild(seq=c.seq, reason=reason) for c in view.open_children)
    return Decision(cancel=cancels, done=True, reason=reason)


def sliced_decision(
    view: ParentView,
    market: MarketSnapshot,
    schedule: SliceSchedule,
    horizon: HorizonParams,
    common: CommonParams,
    limit_price: Decimal | None,
) -> Decision:
    """Keep the parent's committed quantity (filled + open) on ``schedule``.

    With catch-up the whole shortfall against the schedule is spawned at once; without it at
    most the current slice's size. Stale children (older than the child TTL) are cancelled and
    their unfilled part re-spawned on the next decision (after the cancel is confirmed, so the
    children never commit more than the parent).
    """
    end = stop_checks(view, common, horizon.end_ns)
    if end is not None:
        return end
    now = view.now_ns
    decimals = view.intent.instrument.size_decimals
    old = stale(view.children, now, horizon.child_ttl_ns)
    cancels = tuple(CancelChild(seq=c.seq, reason="child ttl reached") for c in old)
    k = schedule.index_at(now)
    target = schedule.target(view.quantity, k, decimals)
    deficit = target - view.committed
    if not horizon.catch_up and k >= 0:
        deficit = min(deficit, target - schedule.target(view.quantity, k - 1, decimals))
    qty = quantize_down(min(deficit, view.room), decimals)
    spawn: tuple[SpawnChild, ...] = ()
    finishes = view.committed + qty >= view.quantity
    if qty > 0 and (qty >= horizon.min_slice or finishes):
        spawn = (
            SpawnChild(
                seq=view.next_seq, quantity=qty, limit_price=limit_price, venue=common.venue
            ),
        )
    wake = schedule.next_time(k) if k >= 0 else schedule.times[0]
    if horizon.child_ttl_ns is not None:
        for c in view.open_children:
            expiry = c.ts_init + horizon.child_ttl_ns
            if expiry > now:
                wake = min(wake, expiry)
    decision = Decision(spawn=spawn, cancel=cancels, wake_at_ns=min(wake, horizon.end_ns))
    return apply_participation_cap(decision, view, common.max_participation, market.market_volume)
