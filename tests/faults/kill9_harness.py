"""One kill -9 harness for the fault tests whose worker process is killed once it is ready.

Parent side: :func:`kill_when_ready` writes ``WORKDIR/cfg.json``, starts ``python WORKER
WORKDIR`` (output in ``WORKDIR/worker.log``), waits until the worker writes
``WORKDIR/ready.json``, SIGKILLs it and returns what it wrote. Worker side: :func:`run_worker`
reads ``cfg.json``, opens the SQLite store ``WORKDIR/oms.db``, runs the worker's part, writes its
answer as ``ready.json`` and waits for the signal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from oms_chain.store import EventStore, open_store

_ROOT = Path(__file__).resolve().parents[2]


def _wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            log = path.with_name("worker.log").read_text()
            raise AssertionError(f"worker exited {proc.returncode}: {log}")
        if time.monotonic() > end:
            log = path.with_name("worker.log").read_text()
            raise AssertionError(f"worker never became ready: {log}")
        time.sleep(0.05)  # waiting on another process's file, not synchronising our own code


def kill_when_ready(
    worker: Path, workdir: Path, cfg: Mapping[str, Any], *, seconds: float
) -> dict[str, Any]:
    """Run ``worker`` on ``workdir`` with ``cfg`` until it is ready (at most ``seconds``), kill
    it with SIGKILL and return its ``ready.json``."""
    (workdir / "cfg.json").write_text(json.dumps(cfg))
    with (workdir / "worker.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", str(worker), str(workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(_ROOT)},
        )
        try:
            _wait_for(workdir / "ready.json", proc, seconds)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    ready: dict[str, Any] = json.loads((workdir / "ready.json").read_text())
    return ready


def run_worker(work: Callable[[dict[str, Any], EventStore], Awaitable[Mapping[str, Any]]]) -> None:
    """The worker's ``__main__``: ``work(cfg, store)`` answers what ``ready.json`` says."""
    workdir = Path(sys.argv[1])

    async def main() -> None:
        cfg = json.loads((workdir / "cfg.json").read_text())
        store = open_store(f"sqlite:///{workdir / 'oms.db'}")
        ready = await work(cfg, store)
        (workdir / "ready.json").write_text(json.dumps(ready))
        await asyncio.Event().wait()  # until SIGKILL

    asyncio.run(main())
