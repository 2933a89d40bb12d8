"""The devnet's Deribit-protocol options exchange: started beside the chains, its index
anchored to the L1 pools, its URL and credentials in ``describe()`` / ``oms devnet up --json``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from oms_chain.devnet.world import Devnet, DevnetConfig


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_the_world_starts_the_options_exchange_with_its_index_on_the_pools() -> None:
    config = DevnetConfig(with_l2=False, with_deribit=True, exchange_agents="still")
    with Devnet(config) as world:
        assert world.deribit is not None
        summary = world.describe()["deribit"]
        assert summary["kind"] == "deribit-options-simulator"
        assert summary["anchored_to_pools"] is True
        assert summary["accounts"][0] == {
            "client_id": "oms-deribit-id-0",
            "client_secret": "oms-deribit-secret-0",
        }
        index = _get(f"{summary['rest_url']}/api/v2/public/get_index_price?index_name=eth_usd")
        assert abs(index["result"]["index_price"] - 3000) < 1e-4  # the pools' seeded price
        book = _get(
            f"{summary['rest_url']}/api/v2/public/get_order_book?instrument_name=ETH-PERPETUAL"
        )
        assert book["result"]["bids"][0][0] < 3000 < book["result"]["asks"][0][0]
    assert world.deribit is None


def test_devnet_up_json_names_the_deribit_exchange_status_pings_it_keys_list_it(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "OMS_CHAIN_RUNTIME": str(tmp_path / "running.json"), "COLUMNS": "200"}
    up = subprocess.Popen(
        [sys.executable, "-m", "oms_chain.cli", "devnet", "up", "--no-l2", "--no-exchange",
         "--json", "--agents", "still"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert up.stdout is not None
        text = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (line := up.stdout.readline()):
            text += line
            if line.startswith("}"):
                break
        summary = json.loads(text)
        assert "exchange" not in summary
        deribit = summary["deribit"]
        assert deribit["rest_url"].startswith("http://127.0.0.1:")
        assert deribit["ws_url"].endswith("/ws/api/v2")
        assert deribit["accounts"][0]["client_id"] == "oms-deribit-id-0"
        status = subprocess.run(
            [sys.executable, "-m", "oms_chain.cli", "devnet", "status", "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        rows = {r["name"]: r for r in json.loads(status.stdout)}
        assert rows["deribit"]["block"] > 0  # its server time
        keys = subprocess.run(
            [sys.executable, "-m", "oms_chain.cli", "devnet", "keys", "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert keys.returncode == 0, keys.stderr
        assert json.loads(keys.stdout)["deribit_accounts"][0] == {
            "client_id": "oms-deribit-id-0",
            "client_secret": "oms-deribit-secret-0",
            "rest_url": deribit["rest_url"],
        }
    finally:
        up.send_signal(signal.SIGINT)
        _out, err = up.communicate(timeout=30)
    assert up.returncode == 0, err
