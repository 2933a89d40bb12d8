"""Iceberg: a resting limit child showing ``display_quantity`` at a time, replenished on fill.

Params:

- ``display_quantity`` (base, required, > 0): the most that is ever visible on the book. A new
  child is spawned only when no child of this parent is open, so the visible (open, unfilled)
  quantity never exceeds it.
- ``venue``: the (CEX) venue to rest on; default the intent's first venue.
- ``duration`` (optional): stop at ``start + duration`` (or the intent's deadline, if earlier).
- ``child_ttl`` (optional): cancel and re-show a child resting longer than this (refresh).
- common: ``max_participation``, ``max_failed_children``.

The intent must carry a ``limit_price``: every child rests at it.
"""

from __future__ import annotations

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
    apply_participation_cap,
    quantize_down,
    require_quantity,
)
from oms_chain.model.errors import InvalidIntent
from oms_chain.model.intent import Intent

__all__ = ["IcebergScheduler"]


class IcebergScheduler:
    """Iceberg schedule for one intent (see the module docstring for params).

    Raises:
        InvalidIntent: a param is missing, malformed or out of range; the message names it.
    """

    def __init__(self, intent: Intent) -> None:
        quantity = require_quantity(intent)
        params = ParamReader(intent)
        self.intent = intent
        self.common = CommonParams.read(params, intent)
        display = params.decimal("display_quantity", low=Decimal(0), low_open=True)
        if display is None:
            raise InvalidIntent("iceberg needs algo_params['display_quantity'] (base, > 0)")
        if quantize_down(display, intent.instrument.size_decimals) != display:
            raise InvalidIntent(
                f"iceberg algo_params['display_quantity'] {display} has more than "
                f"{intent.instrument.size_decimals} decimal places"
            )
        if display > quantity:
            raise InvalidIntent(
                f"iceberg algo_params['display_quantity'] {display} exceeds the intent's "
                f"quantity {quantity}"
            )
        if intent.limit_price is None:
            raise InvalidIntent("iceberg needs the intent's limit_price (children rest at it)")
        self.display = display
        self.end_ns = end_of(params, intent)
        self.child_ttl_ns = params.duration("child_ttl")
        params.finish()
        self.venue = self.common.venue or intent.venues[0]

    def market_request(self, view: ParentView) -> MarketRequest:
        if self.common.max_participation is None:
            return MarketRequest()
        return MarketRequest(volume_since_ns=view.start_ns)

    def decide(self, view: ParentView, market: MarketSnapshot) -> Decision:
        end = stop_checks(view, self.common, self.end_ns)
        if end is not None:
            return end
        now = view.now_ns
        wake = self.end_ns
        open_children = view.open_children
        if open_children:
            old = stale(open_children, now, self.child_ttl_ns)
            if self.child_ttl_ns is not None:
                for c in open_children:
                    expiry = c.ts_init + self.child_ttl_ns
                    if expiry > now:
                        wake = expiry if wake is None else min(wake, expiry)
            cancels = tuple(CancelChild(seq=c.seq, reason="refresh") for c in old)
            return Decision(cancel=cancels, wake_at_ns=wake)
        qty = quantize_down(min(self.display, view.room), self.intent.instrument.size_decimals)
        spawn = (
            SpawnChild(
                seq=view.next_seq,
                quantity=qty,
                limit_price=self.intent.limit_price,
                venue=self.venue,
            ),
        )
        decision = Decision(spawn=spawn if qty > 0 else (), wake_at_ns=wake)
        capped = apply_participation_cap(
            decision, view, self.common.max_participation, market.market_volume
        )
        if not capped.spawn and self.common.max_participation is not None:
            # Held back by the participation cap: look again when the market has traded more.
            poll = now + 1_000_000_000
            capped = Decision(wake_at_ns=poll if wake is None else min(wake, poll))
        return capped
