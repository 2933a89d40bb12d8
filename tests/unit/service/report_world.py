"""A store with known orders, fills and risk events, built through the real engine with paper
venues (for the report tests).

Parent ``split1`` buys 10 ETH split 6/4: 6 on ``pa`` at 2000 (no fee), 4 on ``pb`` at 2010
(10 bps fee, 8.04 USDC). Parent ``sell1`` sells 2 on ``pa`` at 1990. Then a hedge decision and
an alert whose texts are hostile HTML.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oms_chain.engine import Engine, EngineConfig
from oms_chain.engine.split import SplitLeg
from oms_chain.model import Asset, Intent, ManualClock, SpotPair, VenueId
from oms_chain.model.events import HedgeDecided, PortfolioAlertRaised
from oms_chain.model.ids import EventId
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import NewEvent, open_store
from oms_chain.venues import PaperVenue, Venue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
HOSTILE = '<script>alert("x")</script><img src="https://evil.example/x.png">'
T0 = 1_000_000_000_000_000_000  # 2001-09-09: far behind any wall clock that runs the tests


class SixFour:
    """Legs 60/40 over the venues given, in their order (all on one if only one)."""

    async def split(
        self, intent: Intent, quantity: Decimal, venues: Mapping[VenueId, Venue]
    ) -> list[SplitLeg]:
        names = list(venues)
        if len(names) == 1:
            legs = [(names[0], quantity)]
        else:
            first = (quantity * Decimal("0.6")).quantize(Decimal("0.01"))
            legs = [(names[0], first), (names[1], quantity - first)]
        return [
            SplitLeg(venue=v, quantity=q, expected_price=Decimal(2000), limit_price=None)
            for v, q in legs
        ]


def _append(store: Any, stream: str, event: Any) -> None:
    eid = f"{stream}#1"
    store.append(
        stream,
        [
            NewEvent(
                event_id=eid,
                event_type=event.TYPE,
                version=event.VERSION,
                payload={**event.to_payload(), "event_id": eid},
                ts_event=event.ts_event,
                ts_init=event.ts_init,
            )
        ],
        None,
    )


async def _until_done(engine: Engine, pid: str) -> None:
    async with asyncio.timeout(30):
        while not (engine.order(pid).is_terminal and not engine._runners):
            runners = set(engine._runners.values())
            if runners:
                await asyncio.wait(runners)
            else:
                await asyncio.sleep(0)


def build_store(url: str) -> dict[str, str]:
    """Trade into the store at ``url``; returns the parent order ids by intent id."""

    async def trade() -> dict[str, str]:
        clock = ManualClock(T0)
        a = PaperVenue("pa", clock=clock, prices={PAIR.id: Decimal(2000)})
        b = PaperVenue(
            "pb", clock=clock, prices={PAIR.id: Decimal(2010)}, taker_fee_bps=Decimal(10)
        )
        ids: dict[str, str] = {}
        with open_store(url) as store:
            engine = Engine(
                store=store,
                venues=[a, b],
                risk=RiskGate(RiskLimits(), clock=clock),
                clock=clock,
                splitter=SixFour(),  # type: ignore[arg-type]
                config=EngineConfig(split_poll_s=0.01),
            )
            engine.set_reference_price(PAIR.id, Decimal(2000))
            await engine.start()
            try:
                for iid, side, qty, venues in (
                    ("split1", "buy", "10", ["pa", "pb"]),
                    ("sell1", "sell", "2", ["pa"]),
                ):
                    if iid == "sell1":
                        a.set_price(PAIR.id, Decimal(1990))
                        engine.set_reference_price(PAIR.id, Decimal(1995))
                    clock.advance(1_000_000_000)
                    parent = await engine.submit(
                        Intent.create(
                            intent_id=iid,
                            account="acct",
                            instrument=PAIR,
                            side=side,
                            quantity=qty,
                            venues=venues,
                            now_ns=clock.now_ns(),
                            max_slippage_bps=100,
                        )
                    )
                    await _until_done(engine, parent.order_id)
                    ids[iid] = parent.order_id
            finally:
                await engine.stop()
            now = clock.now_ns()
            _append(
                store,
                "hedger-test",
                HedgeDecided(
                    event_id=EventId("pending"),
                    ts_event=now + 5_000_000_000,
                    ts_init=now,
                    policy=HOSTILE,
                    seq=1,
                    intent_id="hedge-1",
                    mode="spot",
                    instrument_id=str(PAIR.id),
                    side="sell",
                    quantity=Decimal("0.5"),
                    delta=Decimal("8.5"),
                    target=Decimal(0),
                    band=Decimal(8),
                    spot=Decimal(1990),
                    reason="delta 8.5 outside band 8",
                ),
            )
            _append(
                store,
                "monitor-test",
                PortfolioAlertRaised(
                    event_id=EventId("pending"),
                    ts_event=now + 2_000_000_000,
                    ts_init=now,
                    rule="var-limit",
                    metric="var_99",
                    value=Decimal(1200),
                    threshold=Decimal(1000),
                    message=HOSTILE,
                ),
            )
        return ids

    return asyncio.run(trade())
