"""Devnet start-up: cold start (deploy everything) against warm start (load saved state).

The baseline is a bare Anvil start in the same run; warm and cold starts are reported in
seconds and as multiples of it. Target: warm start of the L1 well under 2 s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from oms_chain.devnet.anvil import AnvilConfig, AnvilProcess
from oms_chain.devnet.world import Devnet, DevnetConfig

REPEATS = 3


def _best(fn: Any) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        books = Path(tmp) / "books"

        def bare() -> None:
            AnvilProcess(AnvilConfig()).start().stop()

        def world(l2: bool) -> None:
            Devnet(DevnetConfig(with_l2=l2, cache_dir=cache, deployments_dir=books)).start().stop()

        baseline = _best(bare)
        started = time.perf_counter()
        world(False)  # cold: deploys and saves the state
        cold = time.perf_counter() - started
        warm = _best(lambda: world(False))
        warm_both = _best(lambda: world(True))
    return {
        "anvil_bare_start_s": round(baseline, 3),
        "l1_cold_start_s": round(cold, 3),
        "l1_warm_start_s": round(warm, 3),
        "l1_l2_warm_start_s": round(warm_both, 3),
        "warm_vs_bare_x": round(warm / baseline, 2),
        "cold_vs_warm_x": round(cold / warm, 2),
        "target_warm_under_2s": warm < 2.0,
    }
