"""kill -9 the engine at random points, restart it, and check nothing was lost or sent twice.

A child process (this file run as a script) drives the engine against a paper venue that
journals everything it receives to its own file, with the SQLite event store. The parent
SIGKILLs it at random moments over several runs, then lets a last run finish, and checks:

- the event log is gap-free: unique event ids, positions 1..N, stream versions 1..k, and the
  audit hash chain verifies;
- no client order id reached the venue twice, and every order the venue holds is in the log;
- every fill the venue made is recorded exactly once (no lost, no duplicated fill);
- the final state the child computed (itself restarted from a projection snapshot plus the tail)
  equals a full replay of the log, and agrees with the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from oms_chain.engine import Engine, EngineConfig
from oms_chain.model import (
    Asset,
    Intent,
    OrderStatus,
    RetryableError,
    SpotPair,
    SystemClock,
    event_from_payload,
)
from oms_chain.model.fills import Fill
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import open_store, verify_audit
from oms_chain.store.projections import Projections
from oms_chain.venues import Fault, PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
N_INTENTS = 600
KILLED_RUNS = 8


def _venue(workdir: Path, seed: int) -> PaperVenue:
    return PaperVenue(
        "paper",
        clock=SystemClock(),
        prices={PAIR.id: Decimal(2000)},
        rng=random.Random(seed),
        partial_fill_probability=0.3,
        journal_path=workdir / "venue.jsonl",
    )


async def _child(workdir: Path, seed: int) -> None:
    rng = random.Random(seed)
    clock = SystemClock()
    store = open_store(f"sqlite:///{workdir}/oms.db")
    venue = _venue(workdir, seed)
    engine = Engine(
        store=store,
        venues=[venue],
        risk=RiskGate(RiskLimits(), clock=clock),
        clock=clock,
        config=EngineConfig(snapshot_every=rng.choice([0, 300, 1000])),  # restarts from snapshots
    )
    engine.set_reference_price(PAIR.id, Decimal(2000))
    await engine.start()
    (workdir / f"ready-{os.getpid()}").touch()
    for i in range(N_INTENTS):
        if rng.random() < 0.15:
            venue.inject(rng.choice([Fault.LOSE_RESPONSE, Fault.TIMEOUT_BEFORE, Fault.PARTIAL]))
        # an intent's content depends on its id only: every run resubmits the same i-th intent
        # (a different content under a known id is refused as IntentConflict)
        spec = random.Random(f"intent-{i}")
        limit = None if spec.random() < 0.5 else str(2000 + spec.randint(-20, 5))
        intent = Intent.create(
            intent_id=f"i{i}",
            account="acct",
            instrument=PAIR,
            side=spec.choice(["buy", "sell"]),
            quantity=str(spec.randint(1, 500) / 100),
            venues=["paper"],
            now_ns=clock.now_ns(),
            limit_price=limit,
            max_slippage_bps=50,
        )
        with contextlib.suppress(RetryableError):
            await engine.submit(intent)  # resubmitting after a restart is idempotent
        venue.clear_faults()
        roll = rng.random()
        if roll < 0.3:
            venue.set_price(PAIR.id, Decimal(2000 + rng.randint(-25, 5)))
            await venue.flush()
        elif roll < 0.4:
            open_parents = [o for o in engine.open_orders() if o.parent_id is None]
            if open_parents:
                with contextlib.suppress(RetryableError):
                    await engine.cancel(rng.choice(open_parents).order_id)
    await engine.reconcile("paper")
    venue.set_price(PAIR.id, Decimal(1950))  # fill every resting sell ...
    await venue.flush()
    venue.set_price(PAIR.id, Decimal(2050))  # ... and every resting buy
    await venue.flush()
    await engine.reconcile("paper")
    (workdir / "done.json").write_text(json.dumps(engine.projections.summary()))
    await engine.stop()
    store.close()


def _spawn(workdir: Path, seed: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "child", str(workdir), str(seed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_sigkill_at_random_points_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("OMS_CRASH_SEED", "20261123")))
    kills = 0
    for _run in range(KILLED_RUNS):
        proc = _spawn(tmp_path, rng.randrange(2**31))
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.0, 0.6))  # during import, replay or reconciliation
        else:
            ready = tmp_path / f"ready-{proc.pid}"
            deadline = time.monotonic() + 20
            while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.3))  # while trading
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode()  # type: ignore[union-attr]
        (tmp_path / "done.json").unlink(missing_ok=True)
    final = _spawn(tmp_path, rng.randrange(2**31))
    _, err = final.communicate(timeout=30)
    assert final.returncode == 0, err.decode()
    assert kills >= KILLED_RUNS // 2, "the child finished before being killed; kill earlier"

    store = open_store(f"sqlite:///{tmp_path}/oms.db")
    records = list(store.read_all())
    # 1. gap-free, duplicate-free, untampered log
    assert [r.position for r in records] == list(range(1, len(records) + 1))
    assert len({r.event_id for r in records}) == len(records)
    versions: dict[str, list[int]] = {}
    for r in records:
        versions.setdefault(r.stream_id, []).append(r.stream_version)
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    assert verify_audit(store).ok
    # 2. projections equal a full replay
    replay = Projections()
    for r in records:
        replay.apply(event_from_payload(r.event_type, r.version, r.payload))
    assert json.loads((tmp_path / "done.json").read_text()) == json.loads(
        json.dumps(replay.summary())
    )
    assert {f"i{i}" for i in range(N_INTENTS)} <= set(replay.intents)
    # 3. the venue's own record: nothing received twice, nothing unknown to us, no lost fill
    venue = _venue(tmp_path, 0)
    received = venue.received()
    assert received and max(received.values()) == 1, Counter(received.values())
    venue_fills = {
        Fill.key_for(f.venue, f.trade_id, f.client_order_id)
        for r in venue.reports()
        for f in r.fills
    }
    assert venue_fills == set(replay.fills)
    for report in venue.reports():
        oid = replay.by_client_order_id[report.client_order_id]
        order = replay.orders[oid]
        assert order.filled_quantity == report.filled_quantity
        assert order.status not in (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)
    # positions equal the sum of fills
    net = sum((f.quantity * f.side.sign for f in replay.fills.values()), Decimal(0))
    assert sum((p.quantity for p in replay.positions.values()), Decimal(0)) == net
    venue.close()
    store.close()


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "child":
    asyncio.run(_child(Path(sys.argv[2]), int(sys.argv[3])))
