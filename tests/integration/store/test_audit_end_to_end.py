"""The audit story as a user lives it: ``oms devnet up``, trade with ``oms swap`` on one store,
anchor it to a file and to the chain, verify it, restart on it, then tamper with it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

OMS = [sys.executable, "-m", "oms_chain.cli"]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(OMS + args, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Any]]:
    """``oms devnet up --no-l2`` in the background; yields its env and runtime summary."""
    runtime = tmp_path_factory.mktemp("devnet") / "running.json"
    env = {**os.environ, "OMS_CHAIN_RUNTIME": str(runtime), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [*OMS, "devnet", "up", "--no-l2", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not runtime.is_file():
            if proc.poll() is not None:
                pytest.fail(f"oms devnet up exited: {proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                pytest.fail("oms devnet up did not write its runtime file in 240 s")
            time.sleep(0.2)
        yield env, json.loads(runtime.read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_trade_anchor_verify_restart_then_tamper(
    devnet: tuple[dict[str, str], Any], tmp_path: Path
) -> None:
    env, info = devnet
    l1 = info["chains"]["l1"]["rpc_url"]
    db = tmp_path / "oms.db"
    store = f"sqlite:///{db}"
    swap = ["swap", "--sell", "ETH", "--buy", "USDC", "--amount", "2", "--store", store, "--json"]
    first = _run(swap, env)
    assert first.returncode == 0, first.stderr
    anchors = tmp_path / "anchors.jsonl"
    anchored = _run(
        ["audit", "anchor", "--store", store, "--file", str(anchors), "--rpc-url", l1], env
    )
    assert anchored.returncode == 0, anchored.stderr
    # A second process restarts on the store: every check at start passes, and it trades.
    second = _run(swap, env)
    assert second.returncode == 0, second.stderr
    verify = ["audit", "verify", "--store", store, "--anchor", str(anchors), "--anchor-chain", l1]
    ok = _run(verify, env)
    assert ok.returncode == 0, ok.stderr
    assert "matches 2 anchor(s)" in ok.stdout and "client order ids match" in ok.stdout
    with closing(sqlite3.connect(db)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM snapshots ORDER BY name")]
    assert any(n.startswith("amm-orders/") for n in names), names
    # An intruder drops the AMM order journal (what was signed for which client order id).
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM snapshots WHERE name LIKE 'amm-orders/%'")
    refused = _run(swap, env)
    said = refused.stdout + refused.stderr  # with --json the error is a JSON object on stdout
    assert refused.returncode == 1 and "store tampered" in said, said
    assert "amm-orders/" in said and "Traceback" not in said
    caught = _run(verify, env)
    assert caught.returncode == 3 and "amm-orders/" in caught.stderr
