"""Child process of tests/faults/test_worker_takeover.py (and bench/bench_workers.py): one
OMS worker on a PostgreSQL store.

Run as ``python _scale_worker.py WORKDIR NAME``. Reads ``WORKDIR/cfg.json`` (simulator URLs,
credentials, the store's URL, the lease ttl; optional ``poll_s``, ``max_parents``,
``listen``), builds an engine with a :class:`LeaseFence` and a CcxtVenue pointed at the
simulator, touches ``WORKDIR/ready-NAME`` and runs a :class:`Worker` until SIGTERM (then
drains and writes ``WORKDIR/stats-NAME.json``). Logs go to ``WORKDIR/log-NAME.txt``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import sys
from pathlib import Path

from _cex_worker import SYMBOL, _touch, venue_config

from oms_chain.engine import Engine, EngineConfig
from oms_chain.model import SystemClock
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.service.worker import LeaseFence, Worker
from oms_chain.store import Leases, open_store
from oms_chain.venues.cex import CcxtVenue


async def main(workdir: Path, name: str) -> None:
    cfg = json.loads((workdir / "cfg.json").read_text())
    logging.basicConfig(
        filename=workdir / f"log-{name}.txt",
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    clock = SystemClock()
    venue = CcxtVenue(venue_config(cfg), clock=clock)
    await venue.start()
    instrument = venue.market(SYMBOL).instrument
    store = open_store(str(cfg["store"]))
    leases = Leases(store)
    fence = LeaseFence(leases, name, ttl_ns=int(float(cfg["ttl_s"]) * 1e9))
    engine = Engine(
        store=store,
        venues=[venue],
        risk=RiskGate(RiskLimits(), clock=clock),
        clock=clock,
        config=EngineConfig(send_timeout_s=5.0, snapshot_every=0),
        fence=fence,
    )
    bid, ask = await _touch(venue, instrument)
    engine.set_reference_price(instrument.id, (bid + ask) / 2)
    await engine.start()
    worker = Worker(
        engine,
        leases,
        fence,
        max_parents=int(cfg.get("max_parents", 8)),
        poll_s=float(cfg.get("poll_s", 0.1)),
        listen=bool(cfg.get("listen", True)),
    )
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
    (workdir / f"ready-{name}").touch()
    stats = await worker.run()
    await engine.stop()
    await venue.close()
    store.close()
    (workdir / f"stats-{name}.json").write_text(json.dumps(dataclasses.asdict(stats)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
