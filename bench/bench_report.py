"""``oms report`` over stores of N filled parents: folding the events into the report, and
rendering the HTML page (tables + plots) and the CSV files.

The events are made by the real engine with a paper venue (an in-memory log, one fill per
parent, the price moving each parent). Baseline, measured in the same run over the same events:
:class:`~oms_chain.store.projections.Projections` alone, the fold ``oms orders`` does. Ours:
:func:`~oms_chain.service.report.build_report` (the same fold plus the per-parent metrics),
then :func:`render_html` and :func:`write_csv` on its result. Wall-clock per run, p50/p90/p99
over REPEATS runs.

Target: the report within a small factor of the bare fold; rendering bounded by the plot cap
(at most 20 price plots whatever N).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from oms_chain.engine import Engine, InMemoryEventLog
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.model.events import Event, event_from_payload
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.service.report import build_report, render_html, write_csv
from oms_chain.store.projections import Projections
from oms_chain.venues import PaperVenue

SIZES = (100, 1_000)
REPEATS = 7
ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)


def _events(n: int) -> list[Event]:
    async def trade() -> list[Event]:
        clock = ManualClock()
        venue = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(2000)})
        log = InMemoryEventLog()
        engine = Engine(
            store=log, venues=[venue], risk=RiskGate(RiskLimits(), clock=clock), clock=clock
        )
        await engine.start()
        try:
            for i in range(n):
                price = Decimal(2000 + i % 17)
                venue.set_price(PAIR.id, price)
                engine.set_reference_price(PAIR.id, price)
                clock.advance(1_000_000_000)
                await engine.submit(
                    Intent.create(
                        intent_id=f"b{i}", account="acct", instrument=PAIR,
                        side="buy" if i % 2 else "sell", quantity="0.5", venues=["paper"],
                        now_ns=clock.now_ns(), max_slippage_bps=100,
                    )
                )  # fmt: skip
        finally:
            await engine.stop()
        return [event_from_payload(r.event_type, r.version, r.payload) for r in log.read_all()]

    return asyncio.run(trade())


def _times(fn: Any) -> dict[str, float]:
    ms = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": q[49], "p90": q[89], "p99": q[98]}


def run() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in SIZES:
        events = _events(n)

        rep = build_report(events)
        assert len(rep.parents) == n
        base = _times(lambda evs=events: Projections().apply_all(evs))
        ours = _times(lambda evs=events: build_report(evs))
        with tempfile.TemporaryDirectory() as d:
            page = _times(lambda r=rep, d=d: (render_html(r), write_csv(r, Path(d))))
        for k in ("p50", "p90", "p99"):
            out[f"n={n} fold (baseline) {k} ms"] = round(base[k], 2)
            out[f"n={n} build_report {k} ms"] = round(ours[k], 2)
            out[f"n={n} html+csv {k} ms"] = round(page[k], 2)
        out[f"n={n} build_report / fold p50"] = round(ours["p50"] / base["p50"], 2)
        out[f"n={n} events"] = len(events)
    return out
