"""Builders for engine tests: a paper venue, an in-memory event log, a manual clock."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.engine import Engine, EngineConfig, InMemoryEventLog
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues import PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
PRICE = Decimal(2000)


@dataclass
class World:
    clock: ManualClock
    store: Any
    venue: PaperVenue
    risk: RiskGate
    engine: Engine

    def intent(self, intent_id: str, **kw: Any) -> Intent:
        args: dict[str, Any] = dict(
            intent_id=intent_id,
            account="acct",
            instrument=PAIR,
            side="buy",
            quantity="1",
            venues=["paper"],
            now_ns=self.clock.now_ns(),
            max_slippage_bps=50,
        )
        args.update(kw)
        return Intent.create(**args)

    def restart(self, config: EngineConfig | None = None, **limits: Any) -> Engine:
        """A fresh engine over the same store and venue (what a process restart sees)."""
        risk = RiskGate(RiskLimits(**limits), clock=self.clock)
        self.engine = Engine(
            store=self.store, venues=[self.venue], risk=risk, clock=self.clock, config=config
        )
        self.engine.set_reference_price(PAIR.id, PRICE)
        self.risk = risk
        return self.engine


def build_world(
    store: Any = None,
    venue: PaperVenue | None = None,
    config: EngineConfig | None = None,
    **limits: Any,
) -> World:
    clock = ManualClock()
    store = store if store is not None else InMemoryEventLog()
    venue = venue or PaperVenue("paper", clock=clock, prices={PAIR.id: PRICE})
    w = World(clock=clock, store=store, venue=venue, risk=None, engine=None)  # type: ignore[arg-type]
    w.restart(config, **limits)
    return w
