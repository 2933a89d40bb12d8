"""The devnet's exchange simulator: anchored to the L1 pools by default, with ``--seed``,
``--volatility`` and ``--agents off`` from ``oms devnet up`` (and their DevnetConfig fields)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms_chain.devnet.world import Devnet, DevnetConfig
from oms_chain.model.errors import InvalidInput


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_with_no_volatility_the_exchange_quotes_the_pools_price_within_its_half_spread() -> None:
    config = DevnetConfig(with_l2=False, with_exchange=True, exchange_volatility=0.0)
    with Devnet(config) as world:
        assert world.exchange is not None
        summary = world.describe()["exchange"]
        assert summary["anchored_to_pools"] is True and summary["volatility"] == 0.0
        book = _get(f"{world.exchange.url}/api/v3/depth?symbol=ETHUSDC&limit=5")
        best_bid, best_ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
        prices = _get(f"{world.exchange.url}/_sim/prices")
        pools = Decimal(prices["ETH"])
        assert abs(pools - 3000) < Decimal("0.00001")  # the pools' seeded price
        # market makers quote 5 bps each side of the anchor, rounded out to the tick
        assert best_bid == (pools * Decimal("0.9995")).quantize(Decimal("0.01"), "ROUND_FLOOR")
        assert best_ask == (pools * Decimal("1.0005")).quantize(Decimal("0.01"), "ROUND_CEILING")


def test_with_agents_off_the_book_is_empty() -> None:
    config = DevnetConfig(with_l2=False, with_exchange=True, exchange_agents="off")
    with Devnet(config) as world:
        assert world.exchange is not None
        book = _get(f"{world.exchange.url}/api/v3/depth?symbol=ETHUSDC")
        assert book["bids"] == [] and book["asks"] == []
        assert world.describe()["exchange"]["agents"] == "off"


def test_still_agents_with_one_seed_give_the_same_book_in_every_world() -> None:
    books = []
    for seed in (7, 7, 8):
        config = DevnetConfig(
            with_l2=False, with_exchange=True, exchange_agents="still", exchange_seed=seed
        )
        with Devnet(config) as world:
            assert world.exchange is not None
            books.append(_get(f"{world.exchange.url}/api/v3/depth?symbol=ETHUSDC&limit=20"))
            assert not world.exchange.simulator.agents.running
    assert books[0]["bids"] == books[1]["bids"] and books[0]["asks"] == books[1]["asks"]
    assert books[0]["bids"] != books[2]["bids"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("exchange_volatility", -0.001),
        ("exchange_volatility", 0.2),
        ("exchange_seed", -1),
        ("exchange_agents", "sometimes"),
    ],
)
def test_bad_exchange_settings_are_invalid_input_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=field):
        DevnetConfig(**{field: value})


def test_devnet_up_passes_seed_volatility_and_agents_to_the_simulator(tmp_path: Path) -> None:
    env = {**os.environ, "OMS_CHAIN_RUNTIME": str(tmp_path / "running.json"), "COLUMNS": "200"}
    up = subprocess.Popen(
        [
            *(sys.executable, "-m", "oms_chain.cli", "devnet", "up", "--no-l2", "--json"),
            *("--seed", "42", "--volatility", "0.001", "--agents", "OFF"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        text = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (line := up.stdout.readline()):
            text += line
            if line.startswith("}"):
                break
        exchange = json.loads(text)["exchange"]
        assert (exchange["seed"], exchange["volatility"], exchange["agents"]) == (42, 0.001, "off")
        assert exchange["anchored_to_pools"] is True
        book = _get(f"{exchange['rest_url']}/api/v3/depth?symbol=ETHUSDC")
        assert book["bids"] == [] and book["asks"] == []
    finally:
        up.send_signal(signal.SIGINT)
        _out, err = up.communicate(timeout=30)
    assert up.returncode == 0, err


@pytest.mark.parametrize("args", [["--agents", "maybe"], ["--volatility", "0.5"], ["--seed", "-3"]])
def test_devnet_up_refuses_bad_exchange_options_before_starting_anything(
    tmp_path: Path, args: list[str]
) -> None:
    env = {**os.environ, "OMS_CHAIN_RUNTIME": str(tmp_path / "running.json")}
    proc = subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", "devnet", "up", "--no-l2", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert not (tmp_path / "running.json").exists()
