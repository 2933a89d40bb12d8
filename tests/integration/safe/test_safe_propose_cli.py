"""`oms safe propose` end to end on Anvil: a Transaction Builder file becomes a proposal awaiting
signatures, two owners sign the same file, `oms safe approve` executes it once. Every step is a
fresh process over the store (a restart), and a kill between the relayer's signature and the
broadcast still executes exactly once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from safe_rig import OWNERS, cli_sign, create_safe, on_executor

from oms_chain.cli import main
from oms_chain.devnet.world import DevnetChain

RECIPIENT = "0x000000000000000000000000000000000000bEEF"
OTHER = "0x000000000000000000000000000000000000cafE"
ETH = 10**18


def _oms(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 0) -> Any:
    assert main([*argv, "--json"]) == code
    return json.loads(capsys.readouterr().out)


def _batch(l1: DevnetChain, safe: str, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["safe", "export", "--safe", safe, "--chain", str(l1.chain_id), "--out", str(path),
            "--call", f"{RECIPIENT},{ETH}", "--call", f"{OTHER},2",
            "--name", "pay two"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()


_sign = cli_sign


def _executor(l1: DevnetChain, safe: str, url: str, fn: Any) -> Any:
    return on_executor(l1, safe, url, fn)


def test_propose_a_file_two_owners_sign_approve_executes_once(
    l1: DevnetChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    safe = asyncio.run(create_safe(l1, 8_201, eth=3 * ETH))
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    batch = tmp_path / "batch.json"
    _batch(l1, safe, batch, capsys)
    base = ["--safe", safe, "--chain", str(l1.chain_id), "--store", url, "--rpc-url", l1.rpc_url]

    p = _oms(["safe", "propose", str(batch), *base, "--deadline", "2h"], capsys)
    h = p["safe_tx_hash"]
    assert (p["state"], p["nonce"], p["threshold"], p["what"]) == (
        "awaiting signatures",
        0,
        2,
        "pay two",
    )
    assert p["proposer"] == "oms safe propose" and len(p["calls"]) == 2
    # the offline hash of the file at that nonce is the proposal's
    assert _oms(["safe", "hash", str(batch), "--nonce", "0"], capsys)["safe_tx_hash"] == h
    # its nonce is taken: proposing at it again is refused, nothing recorded
    again = _oms(["safe", "propose", str(batch), *base, "--nonce", "0"], capsys, code=2)
    assert "nonce 0 is taken" in again["error"]
    # the engine's executor, restarted, does not reuse it either
    assert _executor(l1, safe, url, lambda ex: ex._next_nonce()) == 1

    # round trip: export from the store -> same calls -> same hash at that nonce
    exported = tmp_path / "exported.json"
    _oms(["safe", "proposals", "export", h, "--store", url, "--out", str(exported)], capsys)
    assert _oms(["safe", "hash", str(exported), "--nonce", "0"], capsys)["safe_tx_hash"] == h

    (listed,) = _oms(["safe", "list", "--store", url], capsys)
    assert _oms(["safe", "proposals", "list", "--store", url], capsys) == [listed]
    assert (listed["safe_tx_hash"], listed["state"]) == (h, "awaiting signatures")
    shown = _oms(["safe", "show", h, "--store", url], capsys)
    assert shown == _oms(["safe", "proposals", "show", h, "--store", url], capsys)
    assert shown["deadline_ns"] > shown["proposed_ns"]
    assert main(["safe", "list", "--store", url]) == 0  # the table
    assert h[:10] in capsys.readouterr().out

    # the owners sign the file they received (exported or the original: same hash)
    tokens = [_sign(l1, exported, 0, i, monkeypatch, capsys) for i in OWNERS[:2]]
    approve = ["safe", "approve", h, "--store", url, "--rpc-url", l1.rpc_url]
    row = _oms([*approve, "--signature", tokens[0]], capsys)
    assert (row["state"], row["signatures"], row["sent"]) == ("awaiting signatures", 1, None)
    assert _executor(l1, safe, url, lambda ex: ex.execute_ready(h)) is None  # one of two

    before = (l1.w3.eth.get_balance(RECIPIENT), l1.w3.eth.get_balance(OTHER))
    monkeypatch.setenv("OMS_TEST_RELAYER", l1.accounts[9].private_key)
    relay = [*approve, "--key-env", "OMS_TEST_RELAYER"]
    done = _oms([*relay, "--signature", tokens[1]], capsys)
    assert done["state"] == "executed" and done["sent"] == done["tx_hash"]
    assert l1.w3.eth.wait_for_transaction_receipt(done["sent"])["status"] == 1
    after = (l1.w3.eth.get_balance(RECIPIENT), l1.w3.eth.get_balance(OTHER))
    assert (after[0] - before[0], after[1] - before[1]) == (ETH, 2)

    # again, from the CLI and from a restarted session: never twice
    assert "is executed" in _oms([*relay, "--signature", tokens[1]], capsys, code=2)["error"]
    with pytest.raises(Exception, match="is executed"):
        _executor(l1, safe, url, lambda ex: ex.execute_ready(h))
    assert l1.w3.eth.get_balance(RECIPIENT) - before[0] == ETH
    # the Safe moved on: the same file proposed again takes the next nonce (a new SafeTx)
    nxt = _oms(["safe", "propose", str(batch), *base], capsys)
    assert nxt["nonce"] == 1 and nxt["safe_tx_hash"] != h
    stale = _oms(["safe", "propose", str(batch), *base, "--nonce", "0"], capsys, code=2)
    assert "nonce 0 was used" in stale["error"]


def test_killed_after_the_relayer_signed_the_approval_executes_once(
    l1: DevnetChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    safe = asyncio.run(create_safe(l1, 8_202, eth=2 * ETH))
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    batch = tmp_path / "batch.json"
    _batch(l1, safe, batch, capsys)
    base = ["--safe", safe, "--chain", str(l1.chain_id), "--store", url, "--rpc-url", l1.rpc_url]
    h = _oms(["safe", "propose", str(batch), *base], capsys)["safe_tx_hash"]
    tokens = [_sign(l1, batch, 0, i, monkeypatch, capsys) for i in OWNERS[1:]]
    approve = ["safe", "approve", h, "--store", url, "--rpc-url", l1.rpc_url]
    _oms([*approve, "--signature", tokens[0], "--signature", tokens[1]], capsys)

    class Killed(Exception):
        pass

    async def killed(_sent: Any) -> None:
        raise Killed  # the process dies after the journal, before the broadcast

    before = l1.w3.eth.get_balance(RECIPIENT)
    with pytest.raises(Killed):
        _executor(l1, safe, url, lambda ex: ex.execute_ready(h, on_signed=killed))
    assert _oms(["safe", "show", h, "--store", url], capsys)["tx_hash"] is not None
    assert l1.w3.eth.get_balance(RECIPIENT) == before  # journaled, never broadcast

    monkeypatch.setenv("OMS_TEST_RELAYER", l1.accounts[9].private_key)
    relay = [*approve, "--key-env", "OMS_TEST_RELAYER"]
    # a signature already collected is no news; a stranger's is refused, nothing sent
    stranger = _sign(l1, batch, 0, 8, monkeypatch, capsys)
    assert "is executed" in _oms([*approve, "--signature", stranger], capsys, code=2)["error"]
    row = _oms([*approve, "--signature", tokens[0]], capsys)
    assert (row["signatures"], row["sent"]) == (2, None)
    assert l1.w3.eth.get_balance(RECIPIENT) == before
    done = _oms(relay, capsys)  # the relayer alone resumes it: the journaled tx never ran
    assert done["sent"] is not None
    assert l1.w3.eth.wait_for_transaction_receipt(done["sent"])["status"] == 1
    assert "is executed" in _oms(relay, capsys, code=2)["error"]
    assert "is executed" in _oms([*relay, "--signature", tokens[0]], capsys, code=2)["error"]
    assert l1.w3.eth.get_balance(RECIPIENT) - before == ETH
