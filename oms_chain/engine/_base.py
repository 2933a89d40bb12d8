"""What the engine's command modules share (:class:`EngineBase`): the engine's parts they use,
declared, and the helpers every command needs (commit, event envelope, parent events).

:class:`~oms_chain.engine.Engine` is one object whose command surface is written in three
modules — :mod:`~oms_chain.engine.engine` (lifecycle, queries, submit, kill switch, reconcile),
:mod:`~oms_chain.engine.orders` (cancel, amend) and :mod:`~oms_chain.engine.parents` (algo and
split parents); each of those is a subclass of this base.
"""

from __future__ import annotations

import asyncio
from typing import Any

from oms_chain.engine.config import EngineConfig
from oms_chain.engine.journal import Journal
from oms_chain.engine.placement import Placement
from oms_chain.engine.reference import ReferencePrices
from oms_chain.engine.runners import Runners
from oms_chain.engine.split import Splitter
from oms_chain.engine.translator import order_envelope, parent_events
from oms_chain.engine.venue_sync import VenueSync
from oms_chain.model.errors import IntentConflict
from oms_chain.model.events import Event
from oms_chain.model.ids import EventId, OrderId, VenueId
from oms_chain.model.intent import Intent
from oms_chain.model.orders import Order
from oms_chain.risk.limits import RiskGate, RiskView
from oms_chain.store.projections import Projections
from oms_chain.venues.base import DeclaresDestinations, Venue

__all__ = ["EngineBase"]


class EngineBase:
    """What the engine's command modules share: the parts they use and a few helpers."""

    # What the engine provides (set in its constructor).
    _journal: Journal
    _sync: VenueSync
    _runs: Runners
    _placement: Placement
    _risk: RiskGate
    _venues: dict[VenueId, Venue]
    _splitter: Splitter | None
    _config: EngineConfig
    _market_data: Any | None
    _view: RiskView
    _refs: ReferencePrices

    def _require_ready(self) -> None:
        raise NotImplementedError

    def _require_started(self, doing: str = "") -> None:
        raise NotImplementedError

    async def cancel(self, order_id: OrderId) -> Order:
        raise NotImplementedError

    def _now(self) -> int:
        raise NotImplementedError

    def _sleeper_now(self) -> Any:
        raise NotImplementedError

    async def _refresh_reference_price(self, intent: Intent, venue_id: VenueId) -> None:
        raise NotImplementedError

    # --- shared helpers ---------------------------------------------------------------------

    @property
    def _proj(self) -> Projections:
        return self._journal.proj

    def _commit(self, stream: str, events: list[Event]) -> None:
        """Apply ``events`` to the projections and append them to ``stream``, or neither."""
        self._journal.commit(stream, events)

    def _order_kw(self, order: Order, ts_event: int | None = None) -> dict[str, Any]:
        return order_envelope(order, now=self._now(), ts_event=ts_event)

    def _eid(self) -> EventId:
        # Replaced by the stream position in the journal; a placeholder keeps constructors simple.
        return EventId("pending")

    def _parent_events(self, intent: Intent, decision: Any, pid: OrderId) -> list[Event]:
        now = self._now()
        ref = self._refs.entry(intent.instrument.id)
        arrival = (ref.price, ref.source) if ref is not None and ref.fresh(now) else None
        return parent_events(intent, decision, pid, now=now, arrival=arrival)

    def _check(self, intent: Intent) -> Any:
        """The pre-trade gate's decision for ``intent``, given every address the calls of its
        venues would touch (compliance screening of destinations and recipients)."""
        return self._risk.check(intent, self._view, destinations=self._destinations(intent))

    def _destinations(self, intent: Intent) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in intent.venues or tuple(self._venues):
            venue = self._venues.get(VenueId(name))
            if not isinstance(venue, DeclaresDestinations):
                continue
            for role, addresses in venue.destinations(intent.instrument).items():
                group = out.setdefault(role, [])
                group.extend(a for a in addresses if a not in group)
        return out

    def _resubmitted(self, intent: Intent) -> Order | None:
        """The order of an intent id already submitted with the same content, or ``None`` if
        the id is new.

        Raises:
            IntentConflict: the id is known but ``intent`` asks for something else (the
                message and ``fields`` name what differs); nothing is written.
        """
        oid = self._proj.intents.get(intent.intent_id)
        if oid is None:
            return None
        stored = self._proj.intent_data.get(intent.intent_id)
        if stored is not None:
            fields = stored.differences(intent)
            if fields:
                shown = ", ".join(
                    f"{f} {_show(getattr(stored, f))} -> {_show(getattr(intent, f))}"
                    for f in fields
                )
                raise IntentConflict(
                    f"intent {intent.intent_id} was already submitted with different "
                    f"content ({shown}); resubmit it unchanged, or use a new intent id "
                    f"for a different order",
                    fields,
                )
        return self._proj.order(oid)

    def _is_algo(self, parent: Order) -> bool:
        return self._runs.is_algo(parent)

    @property
    def _runners(self) -> dict[OrderId, asyncio.Task[Any]]:
        """Parent id -> its runner's task (while it runs)."""
        return self._runs.tasks


def _show(value: object) -> str:
    """A field value for an error message, kept short."""
    text = value.to_payload() if hasattr(value, "to_payload") else value
    if isinstance(text, tuple) and text and all(isinstance(v, tuple) for v in text):
        text = dict(text)
    out = repr(text)
    return out if len(out) <= 80 else out[:77] + "..."
