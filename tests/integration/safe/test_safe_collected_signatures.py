"""Owner signatures collected across machines: the session holds no owner key, proposes a Safe
transaction (events), the owners sign the exported Transaction Builder file with `oms safe sign`
elsewhere and submit with `oms safe approve`; the relayer executes once the threshold is met,
never twice across restarts; a deadline ends a proposal and frees its nonce."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from safe_rig import OWNERS, cli_sign, create_safe, on_executor, relayer_signer

from oms_chain.chain.safe_executor import SafeExecutor, SignaturesExpired
from oms_chain.cli import main
from oms_chain.custody.calls import Call
from oms_chain.custody.local import LocalSigner
from oms_chain.custody.safe import sign_safe_transaction
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.clock import ManualClock
from oms_chain.model.errors import InvalidInput

RECIPIENT = "0x000000000000000000000000000000000000bEEF"
ETH = 10**18
MINUTE = 60 * 10**9
T = TypeVar("T")


def _run(
    l1: DevnetChain, safe: str, url: str, clock: ManualClock, fn: Callable[[SafeExecutor], Any]
) -> Any:
    """``fn`` on a fresh executor over the store (each call is a restart of the session)."""
    return on_executor(l1, safe, url, fn, clock_ns=clock.now_ns)


_sign = cli_sign


def test_owners_sign_elsewhere_and_the_proposal_executes_once(
    l1: DevnetChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    safe = asyncio.run(create_safe(l1, 8_101, eth=3 * ETH))
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    clock = ManualClock(1_800_000_000 * 10**9)
    pay = [Call.to_address(RECIPIENT, b"", ETH)]
    relayer = relayer_signer(l1).address
    start_relayer_nonce = l1.w3.eth.get_transaction_count(relayer)

    p = _run(
        l1, safe, url, clock,
        lambda ex: ex.propose(pay, what="pay 1 ETH", deadline_ns=clock.now_ns() + 60 * MINUTE),
    )  # fmt: skip
    h = p.safe_tx_hash
    assert (p.state, p.nonce, len(p.submitted)) == ("awaiting signatures", 0, 0)
    assert _run(l1, safe, url, clock, lambda ex: ex.execute_ready(h)) is None  # no signature yet
    assert l1.w3.eth.get_transaction_count(relayer) == start_relayer_nonce

    # the owners get the Transaction Builder file and sign it on their own machines
    batch = tmp_path / "proposal.json"
    argv = ["safe", "proposals", "export", h, "--store", url, "--out", str(batch), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "awaiting signatures"
    tokens = [_sign(l1, batch, 0, i, monkeypatch, capsys) for i in OWNERS[:2]]
    stranger = _sign(l1, batch, 0, 8, monkeypatch, capsys)

    approve = ["safe", "approve", h, "--store", url, "--rpc-url", l1.rpc_url, "--json"]
    assert main([*approve, "--signature", stranger]) == 1  # not an owner: refused, not recorded
    assert json.loads(capsys.readouterr().out)["kind"] == "SignatureRejected"
    assert main([*approve, "--signature", tokens[0]]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["state"], row["signatures"], row["sent"]) == ("awaiting signatures", 1, None)
    assert main(["safe", "proposals", "list", "--store", url, "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["state"], listed["threshold"], listed["tx_hash"]) == (
        "awaiting signatures",
        2,
        None,
    )
    # a restarted session still waits: one of two signatures, nothing sent
    assert _run(l1, safe, url, clock, lambda ex: ex.execute_ready(h)) is None

    before = l1.w3.eth.get_balance(RECIPIENT)
    monkeypatch.setenv("OMS_TEST_RELAYER", l1.accounts[9].private_key)
    argv = [*approve, "--signature", tokens[1], "--key-env", "OMS_TEST_RELAYER"]
    assert main(argv) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["state"] == "executed" and done["sent"] == done["tx_hash"]
    assert l1.w3.eth.wait_for_transaction_receipt(done["sent"])["status"] == 1
    assert l1.w3.eth.get_balance(RECIPIENT) - before == ETH

    # again, after a restart, by the CLI and by the session: never sent twice
    assert main(argv) == 2  # bad input: not awaiting signatures any more
    assert "is executed" in json.loads(capsys.readouterr().out)["error"]
    with pytest.raises(InvalidInput, match="is executed"):
        _run(l1, safe, url, clock, lambda ex: ex.execute_ready(h))
    assert l1.w3.eth.get_balance(RECIPIENT) - before == ETH
    assert _run(l1, safe, url, clock, lambda ex: ex.account_nonce()) == 1


def test_a_deadline_ends_a_proposal_and_frees_its_nonce(l1: DevnetChain, tmp_path: Path) -> None:
    safe = asyncio.run(create_safe(l1, 8_102, eth=ETH))
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    clock = ManualClock(1_800_000_000 * 10**9)
    now = clock.now_ns()

    def propose(deadline: int, wei: int = 1) -> Callable[[SafeExecutor], Any]:
        pay = [Call.to_address(RECIPIENT, b"", wei)]
        return lambda ex: ex.propose(pay, what=f"pay {wei} wei", deadline_ns=deadline)

    a = _run(l1, safe, url, clock, propose(now + MINUTE))
    b = _run(l1, safe, url, clock, propose(now + 10 * MINUTE, 2))
    assert (a.nonce, b.nonce) == (0, 1)  # a awaits: its nonce stays taken across restarts
    with pytest.raises(InvalidInput, match="deadline_ns"):
        _run(l1, safe, url, clock, propose(now))

    clock.advance(2 * MINUTE)
    (gone,) = _run(l1, safe, url, clock, lambda ex: ex.expire_due())
    assert gone.safe_tx_hash == a.safe_tx_hash and gone.state == "expired"
    assert "deadline" in gone.expired.reason
    c = _run(l1, safe, url, clock, propose(now + 30 * MINUTE, 3))
    assert c.nonce == 0  # the expired proposal's nonce is free again
    with pytest.raises(InvalidInput, match="is expired"):
        _run(l1, safe, url, clock, lambda ex: ex.execute_ready(a.safe_tx_hash))

    clock.advance(20 * MINUTE)  # b's deadline passes unnoticed; executing it ends it
    with pytest.raises(SignaturesExpired, match="nonce 1 is free again"):
        _run(l1, safe, url, clock, lambda ex: ex.execute_ready(b.safe_tx_hash))
    rows = {p.safe_tx_hash: p.state for p in _run(l1, safe, url, clock, lambda ex: ex.proposals())}
    assert rows[b.safe_tx_hash] == "expired" and rows[c.safe_tx_hash] == "awaiting signatures"


def test_killed_between_the_relayers_signature_and_the_broadcast_executes_once(
    l1: DevnetChain, tmp_path: Path
) -> None:
    safe = asyncio.run(create_safe(l1, 8_103, eth=2 * ETH))
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    clock = ManualClock(1_800_000_000 * 10**9)
    pay = [Call.to_address(RECIPIENT, b"", ETH)]
    p = _run(
        l1, safe, url, clock,
        lambda ex: ex.propose(pay, what="pay", deadline_ns=clock.now_ns() + 60 * MINUTE),
    )  # fmt: skip
    h = p.safe_tx_hash
    for i in OWNERS[1:]:  # two owners' signatures, from elsewhere
        owner = LocalSigner(l1.accounts[i].private_key)
        sig = asyncio.run(sign_safe_transaction(owner, p.transaction()))
        _run(l1, safe, url, clock, lambda ex, sig=sig: ex.submit_signature(h, sig))

    class Killed(Exception):
        pass

    async def killed(_sent: Any) -> None:
        raise Killed  # the process dies after the journal, before the broadcast

    before = l1.w3.eth.get_balance(RECIPIENT)
    with pytest.raises(Killed):
        _run(l1, safe, url, clock, lambda ex: ex.execute_ready(h, on_signed=killed))
    journaled = _run(l1, safe, url, clock, lambda ex: ex.proposal(h))
    assert journaled.execution is not None  # recorded as signed, never broadcast
    assert l1.w3.eth.get_balance(RECIPIENT) == before

    sent = _run(l1, safe, url, clock, lambda ex: ex.execute_ready(h))  # after the restart
    assert sent is not None  # signed again (here the same bytes: same relayer nonce and fees)
    assert l1.w3.eth.wait_for_transaction_receipt(sent.tx_hash)["status"] == 1
    with pytest.raises(InvalidInput, match="is executed"):
        _run(l1, safe, url, clock, lambda ex: ex.execute_ready(h))
    assert l1.w3.eth.get_balance(RECIPIENT) - before == ETH
    assert _run(l1, safe, url, clock, lambda ex: ex.proposal(h)).execution.tx_hash == sent.tx_hash
