"""The ``oms devnet`` and ``oms demo`` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

OMS = [sys.executable, "-m", "oms_chain.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["OMS_CHAIN_RUNTIME"] = str(tmp_path / "running.json")
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def _run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(OMS + args, env=env, capture_output=True, text=True, timeout=timeout)


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_status_without_a_running_devnet_says_so(tmp_path: Path) -> None:
    _assert_one_line_error(_run(["devnet", "status"], _env(tmp_path)), "no devnet is running")


def test_a_fork_url_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    proc = _run(["devnet", "up", "--no-l2", "--fork-url", _dead_url()], _env(tmp_path))
    _assert_one_line_error(proc, "does not answer")


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = _run(["devnet", "up", "--no-l2", "--port", str(port)], _env(tmp_path))
    _assert_one_line_error(proc, f"port {port} on 127.0.0.1 is already in use")


def test_a_corrupt_state_file_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"block": ')
    proc = _run(["devnet", "up", "--no-l2", "--load-state", str(state)], _env(tmp_path))
    _assert_one_line_error(proc, "is not valid JSON")


def test_a_missing_toolchain_is_one_line(tmp_path: Path) -> None:
    proc = _run(
        ["devnet", "up", "--no-l2", "--fresh"], _env(tmp_path, OMS_CHAIN_HOME=str(tmp_path))
    )
    _assert_one_line_error(proc, "make setup")


def test_devnet_up_prints_json_status_sees_it_and_ctrl_c_saves_state(tmp_path: Path) -> None:
    env = _env(tmp_path)
    saved = tmp_path / "saved.json"
    up = subprocess.Popen(
        [*OMS, "devnet", "up", "--no-l2", "--json", "--dump-state", str(saved)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            text += line
            if line.startswith("}"):
                break
        summary = json.loads(text)
        assert summary["l1"]["chain_id"] == 31337
        assert "SwapRouter" in summary["l1"]["address_book"]["contracts"]
        status = _run(["devnet", "status", "--json"], env)
        assert status.returncode == 0, status.stderr
        rows = {r["name"]: r for r in json.loads(status.stdout)}
        assert rows["l1"]["rpc_url"] == summary["l1"]["rpc_url"] and rows["l1"]["block"] > 0
        # the exchange simulator came up beside the chain and answers Binance's REST API
        exchange = summary["exchange"]
        assert exchange["accounts"][0]["api_key"] == "oms-devnet-key-0"
        assert rows["exchange"]["block"] is not None and rows["exchange"]["block"] > 0
    finally:
        up.send_signal(signal.SIGINT)
        _out, err = up.communicate(timeout=30)
    assert up.returncode == 0, err
    assert not (tmp_path / "running.json").exists()
    assert saved.is_file()
    # the saved state starts again, with the deployed contracts in it
    again = subprocess.Popen(
        [*OMS, "devnet", "up", "--no-l2", "--json", "--load-state", str(saved)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert again.stdout is not None
        text = ""
        while not text.rstrip().endswith("}\n}") and (line := again.stdout.readline()):
            text += line
            if line.startswith("}"):
                break
        url = json.loads(text)["l1"]["rpc_url"]
        from oms_chain.devnet.anvil import json_rpc

        router = summary["l1"]["address_book"]["contracts"]["SwapRouter"]
        assert len(json_rpc(url, "eth_getCode", [router, "latest"])) > 2
    finally:
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=30)


@pytest.mark.slow
def _demo_serving(tmp_path: Path) -> tuple[int, str, str]:
    """``oms demo --json --serve``: read the walk-through until the dashboard is kept up, ask
    it for its page, then SIGINT; returns the exit code, stderr and stdout."""
    import re
    import urllib.request

    proc = subprocess.Popen(
        [*OMS, "demo", "--json", "--serve"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    err = ""
    served = False
    try:
        while line := proc.stderr.readline():
            err += line
            if found := re.search(r"dashboard kept up at (http://127\.0\.0\.1:\d+)/", line):
                url = found.group(1)
                with urllib.request.urlopen(url + "/", timeout=30) as r:
                    assert r.status == 200 and b"<html" in r.read().lower()
                line = proc.stderr.readline()  # the token, on the next line
                err += line
                token = re.search(r"trading token \(devnet only\): (oms_\S+)", line)
                assert token is not None, line
                served = _served_risk(url, token.group(1))
                proc.send_signal(signal.SIGINT)
                break
        out, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert served, f"the demo never said its dashboard was kept up:\n{(err + rest)[-4000:]}"
    return proc.returncode, err + rest, out


def _served_risk(url: str, token: str) -> bool:
    """The served demo answers its risk, alerts, hedger (running) and structures."""
    import urllib.request

    def get(path: str) -> Any:
        req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 200, path
            return json.loads(r.read())

    greeks = get("/api/v1/risk/greeks")
    assert {u["underlying"] for u in greeks["underlyings"]} >= {"ETH"}
    assert [r["name"] for r in get("/api/v1/risk/alerts")["rules"]] == [
        "delta-100k",
        "margin-excess",
    ]
    hedger = get("/api/v1/hedger")
    assert hedger["policy"] == "demo-jump" and hedger["running"] is True
    assert hedger["evaluations"] >= 1 and hedger["delta"] is not None
    ids = [s["structure_id"] for s in get("/api/v1/structures")]
    assert {"demo-iron-condor", "demo-served-spread"} <= set(ids)
    return True


def test_demo_tells_the_story_and_every_step_is_checked(tmp_path: Path) -> None:
    code, out, stdout = _demo_serving(tmp_path)  # the walk-through; the JSON is on stdout
    assert code == 0, out
    assert "dashboard kept up at http://127.0.0.1:" in out and "dashboard stopped" in out
    assert "Route plan: sell 25 ETH for USDC" in out and "vs best single venue" in out
    assert "filled, 25 ETH sold" in out and "final" in out
    assert "exact to the wei" in out or "the exchange took it all" in out
    assert "audit chain OK" in out
    assert "exchange ETH" in out and "wallet USDC" in out
    for n in range(1, 15):
        assert f"step {n}:" in out or n == 1
    doc = json.loads(stdout)
    assert doc["exact"] is True and doc["audit_ok"] is True
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == [
        "routed sale", "iron condor", "atomic iron condor", "on-chain put", "deribit option",
        "portfolio risk", "safe multisend", "threshold transfer", "twap on the L2",
        "hedger on a price jump", "injected reorg", "dashboard", "html report", "audit log",
    ]  # fmt: skip
    assert all(s["status"] == "ok" and s["checks"] for s in doc["steps"]), doc["steps"]

    sale = steps["routed sale"]["detail"]
    assert Decimal(sale["filled"]) == 25 and sale["vs_best_single_bps"] is not None

    condor = steps["iron condor"]
    assert "payoff table == leg sum at 13 prices" in condor["checks"]
    d = condor["detail"]
    assert (d["net_premium"], d["max_profit"], d["max_loss"]) == ("-105.11", "105.11", "94.89")
    assert d["breakevens"] == ["2694.89", "3305.11"]
    assert all(r["payoff"] == r["leg_sum"] for r in d["payoff"])

    atomic = steps["atomic iron condor"]
    assert "all four legs went out in ONE transaction" in atomic["checks"]
    a = atomic["detail"]
    assert (a["status"], a["transactions"]) == ("open", 1)
    assert a["positions"] == [[10, 0], [0, 10], [0, 10], [10, 0]]
    assert Decimal(a["net_premium"]) < 0 and a["gas"] > 0

    put = steps["on-chain put"]["detail"]
    assert (put["settlement_price"], put["payoff_per_contract"]) == (2_750_500_000, 24_950_000)
    assert (put["redeemed"], put["withdrawn"]) == (49_900_000, 550_100_000)

    deribit = steps["deribit option"]
    assert "the position shows 1 long" in deribit["checks"]
    assert deribit["detail"]["markets"] == 114 and deribit["detail"]["instrument"].endswith("-P")

    risk = steps["portfolio risk"]
    assert {"maintenance >= 0", "initial >= maintenance"} <= set(risk["checks"])
    margin = risk["detail"]["margin"]
    assert float(margin["initial"]) >= float(margin["maintenance"]) >= 0
    assert "ETH" in risk["detail"]["greeks"] and "monte_carlo" in risk["detail"]["var"]

    safe = steps["safe multisend"]["detail"]
    assert [t["amount"] for t in safe["transfers"]] == [1_250_000, 750_000]
    assert (safe["left"], safe["nonce"]) == (3_000_000, 1)
    assert safe["trade"]["status"] == "filled" and safe["trade"]["eth_paid_wei"] == 5 * 10**16

    frost = steps["threshold transfer"]["detail"]
    assert frost["received_wei"] == 25 * 10**16 and frost["in_process_participants"] is True
    assert frost["trade"]["status"] == "filled" and frost["trade"]["eth_paid_wei"] == 5 * 10**16
    assert steps["audit log"]["checks"] == ["the hash chain of every event verifies"]

    twap = steps["twap on the L2"]["detail"]
    assert Decimal(twap["filled"]) == Decimal("0.3") and twap["children"] == 3
    hedge = steps["hedger on a price jump"]["detail"]
    assert Decimal(hedge["move_pct"]) < 0 and hedge["hedge"]["side"] == "sell"
    assert abs(Decimal(hedge["delta_after"]) - Decimal(hedge["target"])) <= Decimal(hedge["band"])
    reorg = steps["injected reorg"]["detail"]
    assert reorg["included_again"] > reorg["included"]
    assert reorg["events"].count("FillReversed") == 1
    dash = steps["dashboard"]
    assert dash["detail"]["parents"] >= 3
    assert "demo-served-spread" in dash["detail"]["structures"]
    assert dash["detail"]["hedger"] == {"policy": "demo-jump", "running": False}
    assert any(c.startswith("/api/v1/risk/greeks: the portfolio-risk step") for c in dash["checks"])
    report = steps["html report"]["detail"]
    assert report["sale_arrival_source"] == "arrival" and report["bytes"] > 1000


def test_tx_status_follows_a_transaction_to_final(tmp_path: Path, l1: Any) -> None:
    env = _env(tmp_path)
    sender = l1.accounts[1].address
    tx_hash = (
        "0x" + bytes(l1.w3.eth.send_transaction({"from": sender, "to": sender, "value": 1})).hex()
    )
    l1.w3.eth.wait_for_transaction_receipt(tx_hash)
    first = _run(["tx", "status", tx_hash, "--rpc-url", l1.rpc_url, "--json"], env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "included"
    l1.process.mine(3)
    final = json.loads(
        _run(["tx", "status", tx_hash, "--rpc-url", l1.rpc_url, "--json"], env).stdout
    )
    assert (final["status"], final["confirmations"], final["succeeded"]) == ("final", 3, True)
    unknown = "0x" + "ab" * 32
    _assert_one_line_error(
        _run(["tx", "status", unknown, "--rpc-url", l1.rpc_url], env), "does not know"
    )
    _assert_one_line_error(
        _run(["tx", "status", "0x12", "--rpc-url", l1.rpc_url], env),
        "is not 0x followed by 64 hex digits",
    )
