"""``oms swap --config`` from a ``signer = "threshold"`` account, as a user runs it: the group is
made with ``oms threshold keygen``, its account created with ``oms threshold deploy``, two of
the three participants run as their own processes (``oms signer participant``), and the
config names the group's folder and the relayer's key. The swap is one ``executeBatch`` of the
account (wrap + approve + swap), sent and paid for by the relayer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from threshold_rig import oms

pytest.importorskip("frost_rs")

from oms_chain.custody.threshold.process import ParticipantProcess, spawn_participants
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.solidity import load_artifact

PASS = "config-threshold-passphrase"
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _env(tmp_path: Path, l1: Any) -> dict[str, str]:
    secrets = {"DESK_COORDINATOR_PASS": PASS, "OMS_THRESHOLD_COORDINATOR_PASSPHRASE": PASS} | {
        f"OMS_THRESHOLD_PASSPHRASE_{n.upper()}": f"{PASS}-{n}" for n in ("p1", "p2", "p3")
    }
    books = tmp_path / "deployments"
    books.mkdir()
    (books / f"devnet-{l1.chain_id}.json").write_text(json.dumps(l1.book.to_json()))
    return {
        **os.environ,
        **secrets,
        "OMS_CHAIN_DEPLOYMENTS": str(books),
        "PAYER_KEY": l1.accounts[0].private_key,
        "RELAYER_KEY": l1.accounts[9].private_key,
        "RUST_BACKTRACE": "0",
        "COLUMNS": "200",
    }


def test_oms_swap_with_a_threshold_account_config_trades_from_the_group_account(
    l1: Any, tmp_path: Path, procs: list[ParticipantProcess]
) -> None:
    env = _env(tmp_path, l1)
    group = tmp_path / "desk-group"
    made = oms(env, "threshold", "keygen", "--t", "2", "--n", "3", "--dir", str(group), "--json")
    assert made.returncode == 0, made.stderr
    deployed = oms(
        env, "threshold", "deploy", "--dir", str(group), "--key-env", "PAYER_KEY",
        "--rpc-url", l1.rpc_url, "--json",
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    account = json.loads((group / "group.json").read_text())["account"]
    w3 = l1.w3
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction(
            {"from": l1.accounts[0].address, "to": account, "value": 2 * 10**18}
        )
    )
    procs += spawn_participants(group, ["p1", "p2"], env=env)  # p3 stays offline

    store = tmp_path / "desk.db"
    config = tmp_path / "oms.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{store}"\n\n'
        f'[[chains]]\nname = "devnet"\nchain_id = {l1.chain_id}\nrpc_url = "{l1.rpc_url}"\n\n'
        f'[[accounts]]\nname = "desk"\nsigner = "threshold"\nthreshold_dir = "{group}"\n'
        'private_key_env = "RELAYER_KEY"\ncoordinator_passphrase_env = "DESK_COORDINATOR_PASS"\n'
        f'address = "{account}"\n'
    )
    relayer = l1.accounts[9].address
    eth_before, relayer_before = w3.eth.get_balance(account), w3.eth.get_balance(relayer)
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    args = ["swap", "--config", str(config), "--sell", "ETH", "--buy", "USDC", "--amount", "0.25"]
    swap = oms(env, *args, "--venue", vid, "--no-exchange", "--json")
    assert swap.returncode == 0, swap.stderr + swap.stdout
    out = json.loads(swap.stdout)
    assert out["status"] == "filled" and out["order_id"].startswith("o-desk-")
    (child,) = out["children"]
    tx = w3.eth.get_transaction(child["tx_hash"])
    assert tx["to"] == account and tx["from"] == relayer  # the relayer sent the execution
    art = load_artifact("ThresholdAccount")
    assert w3.eth.contract(address=account, abi=art["abi"]).functions.nonce().call() == 1
    assert eth_before - w3.eth.get_balance(account) == 25 * 10**16  # the account's ETH sold
    assert w3.eth.get_balance(relayer) < relayer_before  # ... and the relayer paid the gas
    usdc = w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
    assert usdc.functions.balanceOf(account).call() > 0

    # a wrong coordinator passphrase is refused before anything is sent, naming the key
    bad = oms({**env, "DESK_COORDINATOR_PASS": "not-the-passphrase"}, *args, "--json")
    assert bad.returncode == 2, bad.stderr
    error = json.loads(bad.stdout)
    assert error["kind"] == "ConfigError"
    assert "accounts.desk.coordinator_passphrase_env" in error["error"]
    assert w3.eth.contract(address=account, abi=art["abi"]).functions.nonce().call() == 1
