"""A FROST group as an EIP-1271 owner of a Safe, end to end on Anvil through the CLI.

A 2-of-3 Safe v1.4.1 (npm artifacts) owned by two EOAs and the group's ThresholdAccount; the
group (participants as processes, p2 offline, p1 with its own signing policy) and one EOA owner
sign with `oms safe sign`, a relayer runs `oms safe execute`, and the Safe's USDC moves. A batch
outside p1's policy gets no group signature: p3 alone is fewer than t."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from threshold_rig import oms

pytest.importorskip("frost_rs")

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import SafeAddresses, SafeFactory
from oms_chain.custody.threshold.process import ParticipantProcess, spawn_participants
from oms_chain.devnet.deploy import ERC20_ABI

PASS = "threshold-safe-test"
RECIPIENT = "0x000000000000000000000000000000000000dEaD"
OTHER = "0x000000000000000000000000000000000000bEEF"
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture
def env() -> dict[str, str]:
    secrets = {"OMS_THRESHOLD_COORDINATOR_PASSPHRASE": PASS} | {
        f"OMS_THRESHOLD_PASSPHRASE_P{i}": f"{PASS}-p{i}" for i in (1, 2, 3)
    }
    return {**os.environ, **secrets, "RUST_BACKTRACE": "0"}


def _ok(out: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert out.returncode == 0, out.stderr + out.stdout
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def _create_safe(l1, owners: list[str]) -> str:  # type: ignore[no-untyped-def]
    b = l1.book
    addresses = SafeAddresses(
        singleton=b.address("SafeL2"),
        proxy_factory=b.address("SafeProxyFactory"),
        fallback_handler=b.address("CompatibilityFallbackHandler"),
        multisend_call_only=b.address("MultiSendCallOnly"),
    )

    async def create() -> str:
        async with RpcClient([l1.rpc_url]) as rpc:
            relayer = TxSender(rpc, chain_info(31337), LocalSigner(l1.accounts[9].private_key))
            safe, sent = await SafeFactory(rpc, addresses, 31337).create(relayer, owners, 2, 77)
        assert l1.w3.eth.wait_for_transaction_receipt(sent.tx_hash).status == 1
        return str(safe.address)

    return asyncio.run(create())


def test_a_threshold_group_co_signs_a_2_of_3_safe_transaction(
    tmp_path: Path, env: dict[str, str], procs: list[ParticipantProcess], l1
) -> None:
    group = tmp_path / "group"
    _ok(oms(env, "threshold", "keygen", "--t", "2", "--n", "3", "--dir", str(group), "--json"))
    payer = {**env, "OMS_TEST_PAYER_KEY": l1.accounts[1].private_key}
    deployed = _ok(oms(payer, "threshold", "deploy", "--dir", str(group), "--key-env",
                        "OMS_TEST_PAYER_KEY", "--rpc-url", l1.rpc_url, "--json"))  # fmt: skip
    account = str(deployed["account"])

    eoa, offline = l1.accounts[5], l1.accounts[6]
    safe = _create_safe(l1, [eoa.address, account, offline.address])
    usdc = l1.w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
    l1.w3.eth.wait_for_transaction_receipt(
        usdc.functions.transfer(safe, 3_000_000).transact({"from": l1.accounts[0].address})
    )

    # p1 signs only USDC transfers of at most 2 USDC to RECIPIENT from this Safe
    policy = tmp_path / "p1-policy.toml"
    policy.write_text(
        f'[signers."{account}"]\naccount = "{safe}"\nchains = [31337]\n'
        f'[[signers."{account}".rules]]\nname = "usdc-out"\ncontract = "{usdc.address}"\n'
        f'function = "transfer(address,uint256)"\nargs."0" = {{ one_of = ["{RECIPIENT}"] }}\n'
        f'args."1" = {{ max = "2000000" }}\n'
    )
    procs += spawn_participants(group, ["p1", "p3"], env=env, policies={"p1": policy})
    status = _ok(oms(env, "threshold", "status", "--dir", str(group), "--json"))
    assert [(p["name"], p["online"], p["policy"]) for p in status["participants"]] == [  # type: ignore[attr-defined]
        ("p1", True, True),
        ("p2", False, None),
        ("p3", True, False),
    ]

    def batch(to: str, amount: int, name: str) -> Path:
        data = "0xa9059cbb" + to[2:].lower().rjust(64, "0") + f"{amount:064x}"
        path = tmp_path / name
        out = oms(env, "safe", "export", "--safe", safe, "--chain", "31337", "--out", str(path),
                   "--call", f"{usdc.address},0,{data}")  # fmt: skip
        assert out.returncode == 0, out.stderr
        return path

    # outside p1's policy: p1 refuses, p3 alone is not enough, no group signature
    bad = batch(OTHER, 10**6, "bad.json")
    out = oms(env, "safe", "sign", str(bad), "--nonce", "0", "--threshold-group", str(group),
               "--json")  # fmt: skip
    assert out.returncode == 1
    refused = json.loads(out.stdout)
    assert refused["kind"] == "ThresholdRefused" and "participant p1 refused" in refused["error"]
    assert "usdc-out" in refused["error"], refused

    good = batch(RECIPIENT, 15 * 10**5, "good.json")
    signed = _ok(oms(env, "safe", "sign", str(good), "--nonce", "0", "--threshold-group",
                      str(group), "--json"))  # fmt: skip
    assert signed["owner"] == account and signed["kind"] == "contract"
    assert str(signed["token"]).startswith(f"{account}:contract:0x")
    keyed = {**env, "OMS_TEST_OWNER": eoa.private_key}
    mine = _ok(oms(keyed, "safe", "sign", str(good), "--nonce", "0", "--key-env",
                    "OMS_TEST_OWNER", "--json"))  # fmt: skip

    relayer = {**env, "OMS_TEST_RELAYER": l1.accounts[9].private_key}
    execute = ["safe", "execute", str(good), "--nonce", "0", "--key-env", "OMS_TEST_RELAYER",
               "--rpc-url", l1.rpc_url, "--json"]  # fmt: skip
    # the group's approval alone is one of two: refused before anything is sent
    alone = oms(relayer, *execute, "--signature", str(signed["token"]))
    assert alone.returncode == 1 and json.loads(alone.stdout)["kind"] == "SignatureRejected"
    done = _ok(oms(relayer, *execute, "--signature", str(signed["token"]),
                    "--signature", str(mine["token"])))  # fmt: skip
    receipt = l1.w3.eth.wait_for_transaction_receipt(str(done["tx_hash"]))
    assert receipt.status == 1
    assert usdc.functions.balanceOf(safe).call() == 15 * 10**5
    assert usdc.functions.balanceOf(RECIPIENT).call() >= 15 * 10**5
    shown = _ok(oms(env, "safe", "show", safe, "--rpc-url", l1.rpc_url, "--json"))
    assert shown["nonce"] == 1 and account in shown["owners"]  # type: ignore[operator]
