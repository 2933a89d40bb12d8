"""Reference prices for the risk gate (notional, price collar), kept fresh and independent.

A collar checks an order's limit price against what the market says *elsewhere*: checking a venue
against its own quote lets a broken or manipulated book pass. So a learned reference price is the
median mid-price (best bid and best ask of the venues' liquidity curves) of the configured venues
that will *not* execute the intent — another exchange, or a pool. Only when no other venue is
configured is the executing venues' own mid used, and that is logged as not independent.

Learned prices are refreshed before each intent once older than ``max_age_ns``; a price older
than that which could not be refreshed is not given to the gate at all (it then refuses what it
cannot value or collar). A price set by hand (:meth:`ReferencePrices.set`) is the caller's to keep
fresh; it expires only if given a ``max_age_ns``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from statistics import median

from oms_chain.model.ids import InstrumentId, VenueId
from oms_chain.model.instruments import Instrument, OptionContract
from oms_chain.model.intent import Intent, Side
from oms_chain.venues.base import ListsInstruments, Venue

__all__ = ["ReferencePrice", "ReferencePrices"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferencePrice:
    """A reference price (quote per base), when it was observed, where it came from and how
    long it may be used (``None``: until replaced)."""

    price: Decimal
    ts_ns: int
    source: str
    max_age_ns: int | None
    independent: bool = True

    def fresh(self, now_ns: int) -> bool:
        return self.max_age_ns is None or now_ns - self.ts_ns <= self.max_age_ns


class ReferencePrices:
    """The engine's reference prices by instrument."""

    def __init__(self, *, max_age_ns: int, timeout_s: float) -> None:
        self._max_age_ns = max_age_ns
        self._timeout_s = timeout_s
        self._prices: dict[InstrumentId, ReferencePrice] = {}

    def set(
        self, instrument_id: InstrumentId, price: Decimal, *, now_ns: int, max_age_ns: int | None
    ) -> None:
        """A price given by hand (checked by the caller)."""
        self._prices[instrument_id] = ReferencePrice(
            price=price, ts_ns=now_ns, source="set by hand", max_age_ns=max_age_ns
        )

    def learned(
        self, instrument_id: InstrumentId, price: Decimal, *, now_ns: int, source: str
    ) -> None:
        """A price learned from the executing venue's own quote (the last resort)."""
        self._prices[instrument_id] = ReferencePrice(
            price=price,
            ts_ns=now_ns,
            source=f"quote of {source}",
            max_age_ns=self._max_age_ns,
            independent=False,
        )

    def entry(self, instrument_id: InstrumentId) -> ReferencePrice | None:
        """The stored entry, fresh or not."""
        return self._prices.get(instrument_id)

    def get(self, instrument_id: InstrumentId, now_ns: int) -> Decimal | None:
        """The price if it is fresh, else ``None``."""
        ref = self._prices.get(instrument_id)
        if ref is None or not ref.fresh(now_ns):
            return None
        return ref.price

    def needs_refresh(self, instrument_id: InstrumentId, now_ns: int) -> bool:
        ref = self._prices.get(instrument_id)
        return ref is None or (ref.source != "set by hand" and not ref.fresh(now_ns))

    async def refresh(
        self,
        instrument: Instrument,
        venues: Mapping[VenueId, Venue],
        executing: Iterable[VenueId],
        *,
        now_ns: int,
    ) -> ReferencePrice | None:
        """Learn ``instrument``'s price from the venues that will not execute (else, logged,
        from the executing ones). Keeps the old entry when no venue answers."""
        run = set(executing)
        others = [v for vid, v in venues.items() if vid not in run and _may_quote(v, instrument)]
        independent = bool(others)
        asked = others or [venues[v] for v in run if v in venues]
        mids = await asyncio.gather(*(self._mid(v, instrument) for v in asked))
        found = [m for m in mids if m is not None]
        if not found:
            log.info(
                "no reference price for %s from %s", instrument.id, [v.venue_id for v in asked]
            )
            return None
        names = ", ".join(sorted(v.venue_id for v, m in zip(asked, mids, strict=True) if m))
        if not independent:
            log.warning(
                "reference price of %s comes from the venue(s) that execute it (%s): configure "
                "another venue or set_reference_price() for an independent collar",
                instrument.id,
                names,
            )
        ref = ReferencePrice(
            price=Decimal(median(found)),
            ts_ns=now_ns,
            source=f"mid of {names}",
            max_age_ns=self._max_age_ns,
            independent=independent,
        )
        self._prices[instrument.id] = ref
        return ref

    async def refresh_for(
        self,
        intent: Intent,
        venues: Mapping[VenueId, Venue],
        executing: list[VenueId],
        *,
        now_ns: int,
    ) -> None:
        """Refresh ``intent``'s reference price if it is missing or old: the mid of the venues
        that will not execute it (``executing``). With no other venue configured and no mid,
        the first configured venue's quote for the intent's size. Failing that, the risk gate
        refuses what it cannot value or collar."""
        if not self.needs_refresh(intent.instrument.id, now_ns):
            return
        found = await self.refresh(intent.instrument, venues, executing, now_ns=now_ns)
        if found is not None or self.get(intent.instrument.id, now_ns) is not None:
            return
        if any(v not in executing and _may_quote(venues[v], intent.instrument) for v in venues):
            return  # independent venues exist but did not answer: never fall back on itself
        size = intent.quantity or Decimal(1)
        for vid in intent.venues:
            venue = venues.get(vid)
            if venue is None:
                continue
            try:
                q = await asyncio.wait_for(
                    venue.quote(intent.instrument, intent.side, size), self._timeout_s
                )
            except Exception as exc:
                log.info("no reference price from %s for %s: %r", vid, intent.instrument, exc)
                continue
            if q.avg_price.is_finite() and q.avg_price > 0:
                self.learned(intent.instrument.id, q.avg_price, now_ns=now_ns, source=vid)
                return

    async def _mid(self, venue: Venue, instrument: Instrument) -> Decimal | None:
        try:
            asks, bids = await asyncio.wait_for(
                asyncio.gather(
                    venue.liquidity(instrument, Side.BUY), venue.liquidity(instrument, Side.SELL)
                ),
                self._timeout_s,
            )
        except Exception as exc:
            log.info("no mid from %s for %s: %r", venue.venue_id, instrument.id, exc)
            return None
        if not asks.levels or not bids.levels:
            return None
        ask, bid = asks.levels[0].price, bids.levels[0].price
        if not (ask.is_finite() and bid.is_finite()) or ask <= 0 or bid <= 0:
            return None
        return (ask + bid) / 2


def _may_quote(venue: Venue, instrument: Instrument) -> bool:
    """Whether ``venue`` can be asked for ``instrument``'s price: an option only where it is
    listed (a spot pool never prices one); spot and perpetuals everywhere (venues name the same
    pair with their own assets)."""
    if not isinstance(instrument, OptionContract):
        return True
    return isinstance(venue, ListsInstruments) and instrument in venue.instruments()
