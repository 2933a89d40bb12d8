"""Sniper: watch every allowed venue's all-in price and take the liquidity that is at or
better than the limit the moment it appears.

"All-in" is the venue's price with its taker fee (and, for the whole child, its fixed cost per
execution such as gas) included. Only book levels whose own all-in price is at or better than
the limit are taken, and a child fires only if its all-in average including the fixed cost is
too; its venue limit price is the worst level taken, so it can never execute worse.

Params:

- ``poll_interval`` (duration, default ``1s``): how often the market is looked at; after
  children are sent, the next look (and take) is one interval later.
- ``child_ttl`` (duration, default ``poll_interval``): cancel a child still open after this.
- ``duration`` (optional): stop at ``start + duration`` (or the intent's deadline, if earlier).
- common: ``venue`` (watch only this one), ``max_participation``, ``max_failed_children``.

The intent must carry a ``limit_price`` (worst all-in price, quote per base).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from oms_chain.algos._slices import CommonParams, end_of, stale, stop_checks
from oms_chain.algos.base import (
    CancelChild,
    Decision,
    MarketRequest,
    MarketSnapshot,
    ParamReader,
    ParentView,
    SpawnChild,
    participation_room,
    quantize_down,
    require_quantity,
)
from oms_chain.model.errors import InvalidIntent
from oms_chain.model.ids import VenueId
from oms_chain.model.intent import Intent, Side
from oms_chain.venues.base import LiquidityCurve, LiquidityLevel

__all__ = ["SniperScheduler", "Takeable", "takeable"]

_BPS = Decimal(10_000)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Takeable:
    """What one venue offers at or better than the limit: ``quantity`` base, the worst level
    ``price`` taken (the child's venue limit) and the all-in average ``all_in`` (quote per base,
    fee and fixed cost included)."""

    venue: VenueId
    quantity: Decimal
    price: Decimal
    all_in: Decimal


def _all_in_level(price: Decimal, fee: Decimal, side: Side) -> Decimal:
    return price * (1 + fee) if side is Side.BUY else price * (1 - fee)


def _better_or_equal(price: Decimal, limit: Decimal, side: Side) -> bool:
    return price <= limit if side is Side.BUY else price >= limit


def takeable(
    curve: LiquidityCurve, side: Side, limit: Decimal, max_quantity: Decimal, decimals: int
) -> Takeable | None:
    """The liquidity of ``curve`` at or better than ``limit`` all-in, up to ``max_quantity``
    (rounded down to ``decimals``); ``None`` if nothing qualifies."""
    fee = curve.taker_fee_bps / _BPS
    qty = _ZERO
    cost = _ZERO
    worst: Decimal | None = None
    for level in curve.levels:
        if qty >= max_quantity or not _better_or_equal(
            _all_in_level(level.price, fee, side), limit, side
        ):
            break
        take = min(level.quantity, max_quantity - qty)
        qty += take
        cost += take * level.price
        worst = level.price
    qty = quantize_down(qty, decimals)
    if qty <= 0 or worst is None:
        return None
    # recompute the cost for the rounded quantity (the rounding only drops from the worst level)
    cost = _ZERO
    left = qty
    for level in curve.levels:
        take = min(level.quantity, left)
        cost += take * level.price
        left -= take
        if left <= 0:
            break
    signed_fixed = curve.fixed_cost if side is Side.BUY else -curve.fixed_cost
    all_in = (_all_in_level(cost, fee, side) + signed_fixed) / qty
    if not _better_or_equal(all_in, limit, side):
        return None
    return Takeable(venue=curve.venue, quantity=qty, price=worst, all_in=all_in)


class SniperScheduler:
    """Sniper for one intent (see the module docstring for params).

    Raises:
        InvalidIntent: a param is missing, malformed or out of range; the message names it.
    """

    def __init__(self, intent: Intent) -> None:
        require_quantity(intent)
        params = ParamReader(intent)
        self.intent = intent
        self.common = CommonParams.read(params, intent)
        if intent.limit_price is None:
            raise InvalidIntent("sniper needs the intent's limit_price (worst all-in price)")
        self.limit: Decimal = intent.limit_price
        poll = params.duration("poll_interval", 1_000_000_000)
        assert poll is not None
        self.poll_ns = poll
        self.child_ttl_ns = params.duration("child_ttl", poll)
        self.end_ns = end_of(params, intent)
        params.finish()
        self.venues: tuple[VenueId, ...] = (
            (self.common.venue,) if self.common.venue is not None else intent.venues
        )
        # What each child was sized on: seq -> (venue, {level price: quantity seen} best first,
        # the prices the venue has changed since).
        self._taken_from: dict[int, tuple[VenueId, dict[Decimal, Decimal], set[Decimal]]] = {}

    def market_request(self, view: ParentView) -> MarketRequest:
        return MarketRequest(
            curves=True,
            volume_since_ns=None if self.common.max_participation is None else view.start_ns,
        )

    def decide(self, view: ParentView, market: MarketSnapshot) -> Decision:
        end = stop_checks(view, self.common, self.end_ns)
        if end is not None:
            return end
        now = view.now_ns
        wake = now + self.poll_ns
        if self.end_ns is not None:
            wake = min(wake, self.end_ns)
        if view.open_children:
            old = stale(view.open_children, now, self.child_ttl_ns)
            cancels = tuple(CancelChild(seq=c.seq, reason="not filled in time") for c in old)
            return Decision(cancel=cancels, wake_at_ns=wake)
        if view.children:
            # One round of takes per poll: the curves observed right after a take may not show
            # it yet (a CEX book follows its depth stream), and taking that liquidity again
            # would leave a child resting on the book instead of taking.
            next_look = max(c.ts_init for c in view.children) + self.poll_ns
            if now < next_look:
                return Decision(wake_at_ns=min(wake, next_look))
        side = self.intent.side
        decimals = self.intent.instrument.size_decimals
        room = view.room
        cap = participation_room(view, self.common.max_participation, market.market_volume)
        if cap is not None:
            room = quantize_down(min(room, cap), decimals)
        curves = [self._without_own_takes(c, view) for c in market.curves]
        offers = [
            t
            for c in curves
            if c.venue in self.venues
            and c.side is side
            and c.instrument_id == self.intent.instrument.id
            and (t := takeable(c, side, self.limit, room, decimals)) is not None
        ]
        offers.sort(key=lambda t: t.all_in if side is Side.BUY else -t.all_in)
        spawn: list[SpawnChild] = []
        seq = view.next_seq
        for t in offers:
            qty = min(t.quantity, room)
            if qty <= 0:
                break
            if qty < t.quantity:
                # a smaller take must still pay its fixed cost at or better than the limit
                again = next(c for c in curves if c.venue == t.venue and c.side is side)
                smaller = takeable(again, side, self.limit, qty, decimals)
                if smaller is None:
                    continue
                t = smaller
                qty = t.quantity
            spawn.append(SpawnChild(seq=seq, quantity=qty, limit_price=t.price, venue=t.venue))
            sized_on = next(c for c in curves if c.venue == t.venue and c.side is side)
            seen = {lv.price: lv.quantity for lv in sized_on.levels}
            self._taken_from[seq] = (t.venue, seen, set())
            seq += 1
            room -= qty
        return Decision(spawn=tuple(spawn), wake_at_ns=wake)

    def _without_own_takes(self, curve: LiquidityCurve, view: ParentView) -> LiquidityCurve:
        """``curve`` less what our own children already took from it while it has not shown it.

        A CEX book follows the exchange's depth stream: right after a child filled, the book
        may still show the levels it took. A level whose quantity is still exactly what the
        child was sized on has not been updated since, so the child's fill (allocated best
        level first, as it executed) is taken off it; once the venue changes a level, the
        venue's quantity is trusted (it includes the take) and that level is forgotten."""
        if curve.side is not self.intent.side:
            return curve
        present = {lv.price: lv.quantity for lv in curve.levels}
        less: dict[Decimal, Decimal] = {}
        by_seq = {c.seq: c for c in view.children}
        for seq, (venue, seen, moved) in list(self._taken_from.items()):
            child = by_seq.get(seq)
            if venue != curve.venue or child is None:
                continue
            left = child.filled
            for price, quantity in seen.items():  # best level first, as the child executed
                took = min(quantity, left)
                left -= took
                if price in moved:
                    continue
                if present.get(price) != quantity:
                    moved.add(price)  # the venue moved this level: its number includes the take
                elif took > 0:
                    less[price] = less.get(price, _ZERO) + took
            if len(moved) == len(seen):
                del self._taken_from[seq]
        if not less:
            return curve
        levels = tuple(
            LiquidityLevel(price=lv.price, quantity=lv.quantity - less.get(lv.price, _ZERO))
            for lv in curve.levels
            if lv.quantity - less.get(lv.price, _ZERO) > 0
        )
        return replace(curve, levels=levels)
