"""A writer killed with SIGKILL mid-append leaves whole batches only, and a valid chain."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oms_chain.store import open_store, verify_audit

WRITER = Path(__file__).with_name("_batch_writer.py")
BATCH = 10


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'killed.db'}"
    found: str = request.getfixturevalue("postgres_url")
    return found


def test_sigkill_while_appending_loses_no_committed_batch_and_splits_none(
    url: str, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), url, str(ready)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "writer never committed"
        time.sleep(0.005)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stderr:
        proc.stderr.close()

    with open_store(url) as store:
        events = list(store.read_all())
        assert events and len(events) % BATCH == 0  # whole batches only
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        batches = [e.payload["batch"] for e in events]
        assert batches == sorted(batches)
        assert set(batches) == set(range(len(events) // BATCH))
        report = verify_audit(store)
        assert report.ok, report
        store.append("after-restart", [], 0)  # the store keeps working
