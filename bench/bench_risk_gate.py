"""Pre-trade risk gate: intent → risk-accepted latency, p50 / p99 over 100k intents.

Every limit is switched on, and the gate reads state through the engine's own view over a
projection holding positions and open orders (what ``Engine.submit`` does before accepting).
The baseline is one Decimal notional computation in the same run. Target: p99 < 200 µs.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from decimal import Decimal
from typing import Any

from oms_chain.engine import Engine, InMemoryEventLog
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues import PaperVenue

N = 100_000
DISTINCT = 1_000
PREFILL = 600


def _percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * q))] / 1000.0


async def _populate(engine: Engine, pair: SpotPair, clock: ManualClock, rng: random.Random) -> None:
    """Give the engine history: filled orders (positions, PnL) and resting open orders."""
    await engine.start()
    for i in range(PREFILL):
        resting = i % 3 == 0
        limit = str(1900 if resting else 2010)
        side = "buy" if resting or i % 2 else "sell"
        await engine.submit(
            Intent.create(
                intent_id=f"h{i}",
                account="acct",
                instrument=pair,
                side=side,
                quantity=str(rng.randint(1, 500) / 100),
                venues=["paper"],
                now_ns=clock.now_ns(),
                limit_price=limit if side == "buy" else "1990",
            )
        )
    await engine.stop()


def run() -> dict[str, Any]:
    clock = ManualClock()
    eth = Asset.erc20(1, "0x" + "e" * 40, "ETH", 18)
    usdc = Asset.erc20(1, "0x" + "c" * 40, "USDC", 6)
    pair = SpotPair(base=eth, quote=usdc)
    limits = RiskLimits(
        currency="USDC",
        max_order_notional=Decimal(1_000_000),
        max_position={"ETH": Decimal(1_000_000)},
        max_daily_loss=Decimal(100_000),
        max_open_orders=10_000,
        allowed_venues=frozenset({"paper", "binance"}),
        allowed_chains=frozenset({1, 10, 42161}),
        max_slippage_bps=Decimal(100),
        price_collar_bps=Decimal(500),
        max_submits_per_second=Decimal(10**9),
        submit_burst=10**6,
    )
    gate = RiskGate(limits, clock=clock)
    venue = PaperVenue("paper", clock=clock, prices={pair.id: Decimal(2000)})
    engine = Engine(store=InMemoryEventLog(), venues=[venue], risk=gate, clock=clock)
    engine.set_reference_price(pair.id, Decimal(2000))
    rng = random.Random(7)
    asyncio.run(_populate(engine, pair, clock, rng))
    view = engine.risk_view
    intents = [
        Intent.create(
            intent_id=f"b{i}",
            account="acct",
            instrument=pair,
            side=rng.choice(["buy", "sell"]),
            quantity=str(rng.randint(1, 10_000) / 100),
            venues=["paper"],
            now_ns=clock.now_ns(),
            limit_price=None if i % 2 else str(2000 + rng.randint(-50, 50)),
            max_slippage_bps=30,
        )
        for i in range(DISTINCT)
    ]

    gc.collect()
    gc.disable()
    try:
        base: list[int] = []
        q, p = Decimal("1.25"), Decimal(2000)
        for _ in range(N // 10):
            t0 = time.perf_counter_ns()
            _ = q * p
            base.append(time.perf_counter_ns() - t0)
        samples: list[int] = []
        accepted = 0
        perf = time.perf_counter_ns
        check = gate.check
        for i in range(N):
            it = intents[i % DISTINCT]
            t0 = perf()
            d = check(it, view)
            samples.append(perf() - t0)
            accepted += d.accepted
    finally:
        gc.enable()
    samples.sort()
    base.sort()
    p50, p99 = _percentile(samples, 0.50), _percentile(samples, 0.99)
    baseline = max(_percentile(base, 0.50), 0.001)
    return {
        "intents": N,
        "open_orders_in_state": engine.projections.open_parent_count(),
        "orders_in_state": len(engine.orders()),
        "accepted": accepted,
        "p50_us": round(p50, 2),
        "p99_us": round(p99, 2),
        "max_us": round(samples[-1] / 1000.0, 2),
        "baseline_decimal_mul_p50_us": round(baseline, 3),
        "p50_over_baseline": round(p50 / baseline, 1),
        "p99_target_us": 200,
        "p99_meets_target": p99 < 200,
    }


if __name__ == "__main__":
    print(run())
