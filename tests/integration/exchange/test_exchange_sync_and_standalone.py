"""Non-async callers: the background-thread runner with synchronous ccxt, and the CLI entry."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import ccxt
import pytest
from exchange_helpers import OPTIONS, point_at

from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig, run_in_thread
from oms_chain.model.errors import DevnetError


def test_thread_runner_serves_synchronous_ccxt() -> None:
    with run_in_thread(SimulatorConfig(seed=3)) as handle:
        handle.create_account("sync-key", "sync-secret", {"USDC": 10_000})
        client = point_at(
            ccxt.binance({"apiKey": "sync-key", "secret": "sync-secret", "options": OPTIONS}),
            handle.simulator,
        )
        client.load_markets()
        order = client.create_order("BTC/USDC", "market", "buy", 0.001)
        assert order["status"] == "closed" and order["filled"] == 0.001
        assert client.fetch_balance()["BTC"]["free"] == 0.001 - 0.000001
        assert handle.call(lambda: len(handle.simulator.engine.trades["BTCUSDC"])) >= 1


def test_python_dash_m_runs_standalone_and_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "oms_chain.devnet.exchange", "--seed", "1", "--account", "k:s"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # summary line
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/api/v3/ping", timeout=5) as response:
            assert json.load(response) == {}
        with urllib.request.urlopen(f"{url}/_sim/state", timeout=5) as response:
            assert "acct-k" in json.load(response)["accounts"]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


async def test_a_taken_port_is_a_devnet_error() -> None:
    first = await ExchangeSimulator(SimulatorConfig(agents=False)).start()
    try:
        with pytest.raises(DevnetError, match=str(first.port)):
            await ExchangeSimulator(SimulatorConfig(agents=False, port=first.port)).start()
    finally:
        await first.stop()
