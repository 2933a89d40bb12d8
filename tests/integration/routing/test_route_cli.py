"""``oms route``: the plan over the devnet's pools (and the exchange simulator's book), as JSON
and as a table, without executing anything."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from oms_chain.devnet.exchange.simulator import SimulatorThread
from oms_chain.devnet.world import DevnetChain


def _oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", "route", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def _json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_oms_route_json_splits_weth_across_pools(l1: DevnetChain) -> None:
    base = ("--chain", "31337", "--rpc-url", l1.rpc_url, "--sell", "WETH", "--buy", "USDC")
    data = _json(_oms(*base, "--amount", "300", "--gas-price-gwei", "2", "--json"))
    plan = data["plan"]
    assert data["mode"] == plan["mode"] == "exact-input"
    assert plan["amount_in"] == 300 * 10**18
    assert sum(leg["amount_in"] for leg in plan["legs"]) == 300 * 10**18
    assert len(plan["legs"]) >= 2
    assert plan["net_output"] == plan["expected_output"] - plan["gas_cost"]
    assert float(plan["vs_best_single_bps"]) > 0 and float(plan["vs_greedy_bps"]) >= 0
    assert plan["best_single"]["name"] in data["sources"]
    assert data["gas_price_wei"] == 2 * 10**9
    # a small sale goes to one pool: the same exact output as `oms quote`'s best pool
    small = _json(_oms(*base, "--amount", "10", "--gas-price-gwei", "0", "--json"))["plan"]
    assert small["expected_output"] >= 29_964_537_469  # the demo's exact swap output
    assert len(small["legs"]) == 1


def test_oms_route_exact_output_buys_exactly_the_amount(l1: DevnetChain) -> None:
    data = _json(
        _oms(
            "--rpc-url",
            l1.rpc_url,
            "--sell",
            "USDC",
            "--buy",
            "WETH",
            "--amount",
            "250",
            "--exact-output",
            "--json",
        )
    )
    plan = data["plan"]
    assert plan["mode"] == "exact-output"
    assert plan["expected_output"] == 250 * 10**18
    assert sum(leg["amount_out"] for leg in plan["legs"]) == 250 * 10**18
    assert plan["net_input"] == plan["amount_in"] + plan["gas_cost"]
    assert plan["best_single"]["net_input"] >= plan["net_input"]


def test_oms_route_includes_the_exchange_book(
    l1: DevnetChain, exchange_simulator: SimulatorThread
) -> None:
    data = _json(
        _oms(
            "--rpc-url",
            l1.rpc_url,
            "--sell",
            "WETH",
            "--buy",
            "USDC",
            "--amount",
            "200",
            "--exchange-url",
            exchange_simulator.url,
            "--json",
        )
    )
    assert "binance" in data["sources"]
    kinds = {leg["kind"] for leg in data["plan"]["legs"]}
    assert "cex-book" in kinds and len(kinds) >= 2, kinds


def test_oms_route_table_and_errors(l1: DevnetChain) -> None:
    proc = _oms("--rpc-url", l1.rpc_url, "--sell", "WETH", "--buy", "USDC", "--amount", "50")
    assert proc.returncode == 0, proc.stderr
    assert "vs best single venue" in proc.stdout and "greedy" in proc.stdout
    bad = _oms("--rpc-url", l1.rpc_url, "--sell", "WETH", "--buy", "USDC", "--amount", "-1")
    assert bad.returncode == 2 and "--amount must be positive" in bad.stderr
    wrong = _oms(
        "--chain", "1", "--rpc-url", l1.rpc_url, "--sell", "WETH", "--buy", "USDC", "--amount", "1"
    )
    assert wrong.returncode == 2 and "is chain 31337" in wrong.stderr
    unknown = _oms("--rpc-url", l1.rpc_url, "--sell", "XYZ", "--buy", "USDC", "--amount", "1")
    assert unknown.returncode == 2 and "no token 'XYZ'" in unknown.stderr
