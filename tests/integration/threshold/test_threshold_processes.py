"""Threshold groups from separate processes (``oms signer participant``), and the signature on
a real ThresholdAccount on Anvil.

2-of-3 through the CLI (keygen, status), signing with one participant offline, one killed in
the middle of a round (the coordinator finishes with another subset), then too few. 3-of-5 with
two offline, then a participant that stops answering mid-round (timeout). Few, fast processes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from eth_utils import keccak
from threshold_rig import oms

pytest.importorskip("frost_rs")

from oms_chain.custody.threshold import (
    AccountCall,
    Coordinator,
    ThresholdSigner,
    ThresholdUnavailable,
    _frost,
    auth,
    execute_digest,
    key_coordinates,
    message_digest,
    rotate_digest,
    run_keygen,
    write_coordinator_key,
)
from oms_chain.custody.threshold.process import (
    ParticipantProcess,
    spawn_participants,
)

PASS = "threshold-test-passphrase"
pytestmark = pytest.mark.timeout(180)
RECIPIENT = "0x000000000000000000000000000000000000dEaD"


NAMES = ["p1", "p2", "p3", "a", "b", "c", "d", "e"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The coordinator's passphrase and one of its own for every participant."""
    secrets = {"OMS_THRESHOLD_COORDINATOR_PASSPHRASE": PASS} | {
        f"OMS_THRESHOLD_PASSPHRASE_{n.upper()}": f"{PASS}-{n}" for n in NAMES
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **secrets, "RUST_BACKTRACE": "0"}


@pytest.mark.slow
async def test_2_of_3_from_processes_signs_for_the_account_on_anvil(
    tmp_path: Path, env: dict[str, str], procs: list[ParticipantProcess], l1
) -> None:
    group = tmp_path / "group"
    out = oms(env, "threshold", "keygen", "--t", "2", "--n", "3", "--dir", str(group), "--json")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["threshold"] == "2 of 3" and made["participants"] == "p1, p2, p3"

    # participants restart from their sealed shares; p2 stays offline
    procs += spawn_participants(group, ["p1", "p3"], env=env)
    status = oms(env, "threshold", "status", "--dir", str(group), "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert (doc["online"], doc["can_sign"]) == (2, True)
    assert [(p["name"], p["online"]) for p in doc["participants"]] == [
        ("p1", True),
        ("p2", False),
        ("p3", True),
    ]
    procs += spawn_participants(group, ["p2"], env=env)

    killed: list[str] = []
    by_name = {p.name: p for p in procs}

    async def kill_one(phase: str, chosen: tuple[str, ...]) -> None:
        if not killed:  # first round: kill a chosen signer between commit and share
            killed.append(chosen[0])
            by_name[chosen[0]].kill()

    coordinator = Coordinator.from_directory(group, PASS.encode(), timeout_s=5, on_phase=kill_one)
    assert "0x" + coordinator.roster.group_key.hex() == made["group_key"]

    # the account on Anvil, owned by the group key
    from oms_chain.devnet.solidity import load_artifact

    w3 = l1.w3
    relayer = l1.accounts[0].address
    art = load_artifact("ThresholdAccount")
    x, parity = key_coordinates(coordinator.roster.group_key)
    deploy_env = {**env, "OMS_TEST_PAYER_KEY": l1.accounts[1].private_key}
    out = oms(deploy_env, "threshold", "deploy", "--dir", str(group), "--key-env",
               "OMS_TEST_PAYER_KEY", "--rpc-url", l1.rpc_url, "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    deployed = json.loads(out.stdout)
    assert deployed["chain_id"] == w3.eth.chain_id
    account = w3.eth.contract(address=deployed["account"], abi=art["abi"])
    assert (account.functions.groupKeyX().call(), account.functions.groupKeyParity().call()) == (
        x,
        parity,
    )
    status = oms(env, "threshold", "status", "--dir", str(group), "--json")
    assert json.loads(status.stdout)["account"] == deployed["account"]
    w3.eth.send_transaction({"from": relayer, "to": account.address, "value": 10**18})
    chain_id = w3.eth.chain_id
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600

    # RFC 9591's secp256k1 vector through the contract's verifier on Anvil
    rfc_x = 0xF37C34B66CED1FB51C34A90BDAE006901F10625CC06C4F64663B0EAE87D87B4F
    rfc_sig = bytes.fromhex(
        "024c1ad4e031872661fa6ebd05dfc7fb30db08b38d79f0edbc82051ae931381bc6"
        "a46881e25c7989d3816eae32074f1ab0d49ee908a59713ed5284c6bade7cfb02"
    )
    assert _frost.verify(b"test", bytes([2]) + rfc_x.to_bytes(32, "big"), rfc_sig)
    assert account.functions.verifyFrost(rfc_x, 0, b"test", rfc_sig).call() is True
    assert account.functions.verifyFrost(rfc_x, 0, b"tesu", rfc_sig).call() is False

    calls = [AccountCall(RECIPIENT, 25 * 10**16, b"")]
    digest = execute_digest(chain_id, account.address, calls, 0, deadline)
    assert account.functions.executeDigest([(RECIPIENT, 25 * 10**16, b"")], 0, deadline).call() == (
        digest
    )
    signer = ThresholdSigner(coordinator, account.address, chain_id)
    sig = await signer.sign_execute(calls, 0, deadline)
    assert coordinator.rounds == 2 and len(killed) == 1  # finished with another subset
    assert _frost.verify(digest, coordinator.roster.group_key, sig[:65])
    assert account.functions.verifyFrost(x, parity, digest, sig[:65]).call() is True

    before = w3.eth.get_balance(RECIPIENT)
    h = account.functions.execute(RECIPIENT, 25 * 10**16, b"", deadline, sig).transact(
        {"from": relayer}
    )
    assert w3.eth.wait_for_transaction_receipt(h).status == 1
    assert w3.eth.get_balance(RECIPIENT) - before == 25 * 10**16
    assert account.functions.nonce().call() == 1
    new_key = b"\x02" + (x ^ 1).to_bytes(32, "big")
    assert account.functions.rotateDigest(x ^ 1, 0, 1, deadline).call() == rotate_digest(
        chain_id, account.address, new_key, 1, deadline
    )
    assert account.functions.messageDigest(b"\x5a" * 32).call() == message_digest(
        chain_id, account.address, b"\x5a" * 32
    )
    # the same signature again (replay) and the 65-byte RFC form of a fresh one
    with pytest.raises(Exception, match="0x"):
        account.functions.execute(RECIPIENT, 25 * 10**16, b"", deadline, sig).call(
            {"from": relayer}
        )
    approval = await signer.sign_hash(b"\x5a" * 32)
    is_valid = account.get_function_by_signature("isValidSignature(bytes32,bytes)")
    assert is_valid(b"\x5a" * 32, approval).call() == bytes.fromhex("1626ba7e")
    assert is_valid(b"\x5a" * 32, approval[:65]).call() == bytes.fromhex("1626ba7e")
    # the legacy form Safe v1.4.1 calls: the same approval for data whose keccak is the hash
    preimage = b"a SafeTx preimage"
    legacy = account.get_function_by_signature("isValidSignature(bytes,bytes)")
    approval = await signer.sign_hash(keccak(preimage))
    assert legacy(preimage, approval).call() == bytes.fromhex("20c13b0b")
    assert legacy(preimage + b"!", approval).call() == bytes.fromhex("ffffffff")

    # a second participant gone: fewer than t, refused with the reason
    survivors = [p for p in procs if p.process.poll() is None]
    survivors[0].kill()
    with pytest.raises(ThresholdUnavailable, match="need t=2 of n=3"):
        await coordinator.sign(b"\x01" * 32)


@pytest.mark.slow
async def test_3_of_5_with_two_offline_then_a_stalled_participant(
    tmp_path: Path, env: dict[str, str], procs: list[ParticipantProcess]
) -> None:
    names = ["a", "b", "c", "d", "e"]
    key = write_coordinator_key(tmp_path, PASS.encode())
    procs += spawn_participants(tmp_path, names, coordinator_key=auth.public_hex(key), env=env)
    roster = await run_keygen(tmp_path, 3, 5, [p.identity for p in procs], key)
    for p in procs:
        if p.name in ("a", "d"):
            p.stop()  # offline: endpoint file removed

    coordinator = Coordinator.from_directory(tmp_path, PASS.encode(), timeout_s=1)
    assert sorted(coordinator.endpoints) == ["b", "c", "e"]
    message = b"\x33" * 32
    sig = await coordinator.sign(message)
    assert _frost.verify(message, roster.group_key, sig)

    # d comes back (from its sealed share); then a chosen signer stops answering in round 2:
    # its request times out and the coordinator finishes with another subset
    procs += spawn_participants(tmp_path, ["d"], env=env)
    stalled: list[str] = []

    async def stall(phase: str, chosen: tuple[str, ...]) -> None:
        if not stalled:
            stalled.append(chosen[-1])
            pid = next(p for p in procs if p.name == chosen[-1] and p.process.poll() is None)
            os.kill(pid.process.pid, signal.SIGSTOP)

    coordinator.on_phase = stall  # the same coordinator sees d's endpoint at the next round
    sig = await coordinator.sign(message)
    assert sorted(coordinator.endpoints) == ["b", "c", "d", "e"]
    assert _frost.verify(message, roster.group_key, sig)
    assert coordinator.rounds == 3 and len(stalled) == 1  # 1 before, then 2


def test_a_participant_with_the_wrong_passphrase_does_not_start(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from oms_chain.custody.threshold import ThresholdError
    from oms_chain.custody.threshold.keystore import write_sealed

    folder = tmp_path / "participants"
    folder.mkdir()
    # p1's share sealed with p2's passphrase: p1 (reading its own) does not start
    write_sealed(folder / "p1.share", {"participant": "p1"}, {"x": "y"}, f"{PASS}-p2".encode())
    with pytest.raises(ThresholdError, match="exited with code 1 before serving"):
        spawn_participants(tmp_path, ["p1"], env=env)
    assert not (folder / "p1.endpoint.json").exists()


def test_keygen_refuses_a_passphrase_shared_by_two_participants(
    tmp_path: Path, env: dict[str, str]
) -> None:
    same = {**env, "OMS_THRESHOLD_PASSPHRASE_P3": env["OMS_THRESHOLD_PASSPHRASE_P1"]}
    out = oms(same, "threshold", "keygen", "--t", "2", "--n", "3", "--dir", str(tmp_path / "g"))
    assert out.returncode == 2, out.stderr
    said = " ".join(out.stderr.split())
    assert "_P3 holds the same passphrase as OMS_THRESHOLD_PASSPHRASE_P1" in said
    assert not (tmp_path / "g").exists()  # refused before anything was written
    unset = {k: v for k, v in env.items() if k != "OMS_THRESHOLD_PASSPHRASE_P2"}
    out = oms(unset, "threshold", "keygen", "--t", "2", "--n", "3", "--dir", str(tmp_path / "g"))
    assert out.returncode == 2 and "OMS_THRESHOLD_PASSPHRASE_P2 is not set" in out.stderr
