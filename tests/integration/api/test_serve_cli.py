"""``oms token`` and ``oms serve`` as a user runs them, on the devnet recorded in a runtime
file: a token created on the command line opens the served API; Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from oms_chain.devnet.world import Devnet, DevnetChain

OMS = [sys.executable, "-m", "oms_chain.cli"]


def _call(url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _line(proc: subprocess.Popen[str], pattern: str, timeout: float = 120) -> re.Match[str]:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen = []
    while sel.select(timeout):
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"no line matching {pattern!r} in {seen}")


def test_token_then_serve_then_ctrl_c(oms_devnet: Devnet, l1: DevnetChain, tmp_path: Path) -> None:
    runtime = tmp_path / "devnet-running.json"
    runtime.write_text(json.dumps({"pid": os.getpid(), "chains": oms_devnet.describe()}))
    env = {**os.environ, "OMS_CHAIN_RUNTIME": str(runtime), "COLUMNS": "200"}
    store = f"sqlite:///{tmp_path / 'serve.db'}"
    made = subprocess.run(
        [*OMS, "token", "create", "--name", "cli", "--scope", "trade", "--store", store, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = json.loads(made.stdout)["token"]
    listed = subprocess.run(
        [*OMS, "token", "list", "--store", store, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [t["name"] for t in json.loads(listed.stdout)] == ["cli"]
    assert token not in listed.stdout
    proc = subprocess.Popen(
        [*OMS, "serve", "--port", "0", "--no-exchange", "--store", store],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _line(proc, r"serving (http://127\.0\.0\.1:\d+)").group(1)
        status, health = _call(f"{url}/api/v1/health", token)
        assert status == 200 and health["phase"] == "ready"
        status, order = _call(
            f"{url}/api/v1/intents",
            token,
            {"symbol": "WETH/USDC", "side": "sell", "quantity": "0.1"},
        )
        assert status == 201 and order["side"] == "sell"
        assert _call(f"{url}/api/v1/orders", "oms_00000000_" + "D" * 43)[0] == 401
        with urllib.request.urlopen(f"{url}/", timeout=30) as r:
            assert b"oms-chain dashboard" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
