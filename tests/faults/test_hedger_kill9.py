"""SIGKILL the hedger in the middle of a hedge, restart it, and check no second hedge is sent.

A child process (this file run as a script) runs the hedger over the engine, a paper venue that
journals what it receives to its own file, and the SQLite event store. It stops dead at one of
two points of its first hedge and the parent SIGKILLs it there:

- ``decided``: the HedgeDecided event is recorded, the intent not yet submitted;
- ``placed``: the venue has executed the hedge, the engine has not heard back.

The parent then restarts everything in-process over the same files and evaluates again: in
both cases exactly one hedge order has reached the venue, and delta is back in its band.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms_chain.engine import Engine
from oms_chain.model import Asset, SpotPair, SystemClock
from oms_chain.risk import HedgePolicy, Holding, MarketSnapshot, RiskGate, RiskLimits
from oms_chain.service.hedger import Hedger
from oms_chain.store import open_store
from oms_chain.venues import PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
HELD = [Holding(instrument=Asset.native(1), quantity=Decimal(7), venue="wallet:1")]
POLICY = HedgePolicy(
    name="eth",
    underlying="ETH",
    instrument="ETH/USDC",
    venues=("paper",),
    band=Decimal(2),
    max_hedge=Decimal(20),
)


async def _world(workdir: Path) -> tuple[Any, PaperVenue, Engine, Hedger]:
    clock = SystemClock()
    store = open_store(f"sqlite:///{workdir}/oms.db")
    venue = PaperVenue(
        "paper",
        clock=clock,
        prices={PAIR.id: Decimal(2000)},
        journal_path=workdir / "venue.jsonl",
    )
    engine = Engine(
        store=store, venues=[venue], risk=RiskGate(RiskLimits(), clock=clock), clock=clock
    )
    engine.set_reference_price(PAIR.id, Decimal(2000))
    await engine.start()
    hedger = Hedger(
        engine=engine,
        store=store,
        policy=POLICY,
        instrument=PAIR,
        account="acct",
        clock=clock,
        holdings=lambda: HELD,
    )
    hedger.start()
    return store, venue, engine, hedger


def _market() -> MarketSnapshot:
    return MarketSnapshot(now_ns=time.time_ns(), spots={"ETH": Decimal(2000)})


async def _child(workdir: Path, point: str) -> None:
    _, venue, engine, hedger = await _world(workdir)
    marker = workdir / "stopped"

    async def hang() -> None:
        marker.touch()
        await asyncio.Event().wait()  # SIGKILLed here

    if point == "decided":

        async def submit(intent: Any) -> Any:
            await hang()

        engine.submit = submit  # type: ignore[method-assign]
    else:
        place = venue.place

        async def placed(order: Any) -> Any:
            await place(order)
            await hang()

        venue.place = placed  # type: ignore[method-assign]
    await hedger.step(_market())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["decided", "placed"])
def test_sigkill_during_a_hedge_sends_no_second_hedge_after_restart(
    tmp_path: Path, point: str
) -> None:
    proc = subprocess.Popen(
        [sys.executable, __file__, "child", str(tmp_path), point],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    marker = tmp_path / "stopped"
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # waiting on another process's file, not synchronising tasks
    assert marker.exists(), proc.stderr.read().decode()  # type: ignore[union-attr]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    async def restart() -> None:
        store, venue, engine, hedger = await _world(tmp_path)
        types = [r.event_type for r in store.read_all()]
        assert types.count("HedgeDecided") == 1
        status = await hedger.step(_market())
        received = venue.received()
        assert sum(received.values()) == 1, received  # one hedge in all, sent once
        assert abs(hedger.delta(_market())) <= POLICY.band
        if point == "decided":  # never sent: closed, then decided afresh
            assert [r.event_type for r in store.read_all()].count("HedgeSkipped") == 1
            assert status.hedges == 2
        else:  # sent before the kill: found by reconciliation, not sent again
            assert (status.decision.action, status.hedges) == ("none", 1)
        await engine.stop()
        venue.close()
        store.close()

    asyncio.run(restart())


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "child":
    asyncio.run(_child(Path(sys.argv[2]), sys.argv[3]))
