"""Child process of tests/faults/test_legs_kill9.py: works the cross-venue straddle of
:mod:`_legs_world` on the SQLite store ``WORKDIR/oms.db`` and stops dead at one point, where the
test SIGKILLs it.

Run as ``python _legs_kill9_worker.py WORKDIR`` (see :mod:`kill9_harness`). ``cfg.json`` holds
the world's addresses and credentials, the ``policy``, the clock's start and the ``point``:
``["step", EVENT_TYPE, N]`` stops right after the N-th event of that type is recorded,
``["sent", CLIENT_ORDER_ID]`` right after a venue accepted that order, before the coordinator
records it. Stopping writes ``WORKDIR/ready.json`` and blocks the event loop (nothing else runs
until the signal).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from _legs_world import VirtualClock, run, world
from kill9_harness import run_worker

from oms_chain.store import EventStore
from oms_chain.venues.base import OrderStatusReport, PlaceOrder


def _stop(point: list[Any]) -> None:
    (Path(sys.argv[1]) / "ready.json").write_text(json.dumps({"point": point}))
    while True:  # dead here: the parent's SIGKILL ends the process
        time.sleep(60)


async def work(cfg: dict[str, Any], store: EventStore) -> dict[str, Any]:
    point = cfg["point"]
    clock = VirtualClock(int(cfg["start_ns"]))
    seen: list[str] = []

    def on_step(kind: str) -> None:
        seen.append(kind)
        if point[0] == "step" and kind == point[1] and seen.count(kind) == point[2]:
            _stop(point)

    async with world(cfg, store, clock) as w:
        for venue in (w.onchain, w.deribit):
            place = venue.place

            async def placed(order: PlaceOrder, place: Any = place) -> OrderStatusReport:
                report: OrderStatusReport = await place(order)
                if point[0] == "sent" and order.client_order_id == point[1]:
                    _stop(point)
                return report

            venue.place = placed  # type: ignore[method-assign]
        rec = await run(w, store, clock, cfg["policy"], on_step)
    return {"point": None, "status": rec.status}  # never stopped: the point was not reached


if __name__ == "__main__":
    run_worker(work)
