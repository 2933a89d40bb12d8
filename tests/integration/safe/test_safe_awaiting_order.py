"""A Safe whose owners sign elsewhere as the account an order trades from: ``execute_calls``
proposes the venue's calls and waits ("awaiting signatures") until ``oms safe approve`` brings
the owners' signatures, then executes once. Killed while waiting, the restarted executor
resumes the same proposal (never proposes it again); past the deadline nothing is sent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from safe_rig import OWNERS, create_safe, on_executor

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
HOUR = 3600 * 10**9


class Killed(Exception):
    pass


def _run(l1: DevnetChain, safe: str, url: str, clock: ManualClock, sleep: Any, fn: Any) -> Any:
    """``fn`` on a fresh waiting executor over the store (each call is a restarted session)."""
    return on_executor(l1, safe, url, fn, clock_ns=clock.now_ns, await_signatures_ns=HOUR,
                       poll_s=5.0, sleep=sleep)  # fmt: skip


async def _killed(_s: float) -> None:
    raise Killed  # the session dies while the order waits for signatures


def test_the_order_waits_for_approve_and_executes_once_across_a_restart(
    l1: DevnetChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    safe = asyncio.run(create_safe(l1, 8_301, eth=2 * ETH))
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    clock = ManualClock(1_800_000_000 * 10**9)
    pay = [Call.to_address(RECIPIENT, b"", ETH)]
    before = l1.w3.eth.get_balance(RECIPIENT)

    def order(ex: SafeExecutor) -> Any:
        return ex.execute_calls(pay, what="sell 1 ETH")

    with pytest.raises(Killed):
        _run(l1, safe, url, clock, _killed, order)
    (p,) = _run(l1, safe, url, clock, _killed, lambda ex: asyncio.sleep(0, ex.proposals()))
    assert (p.state, p.nonce, p.proposed.what) == ("awaiting signatures", 0, "sell 1 ETH")
    assert l1.w3.eth.get_balance(RECIPIENT) == before

    tokens = []
    for i in OWNERS[:2]:
        sig = asyncio.run(sign_safe_transaction(LocalSigner(l1.accounts[i].private_key),
                                                p.transaction()))  # fmt: skip
        tokens.append(f"{sig.owner}:0x{sig.data.hex()}")
    polls: list[float] = []

    async def owners_approve(s: float) -> None:
        polls.append(s)
        if len(polls) == 1:  # while the order waits, the owners run `oms safe approve`
            argv = ["safe", "approve", p.safe_tx_hash, "--store", url, "--rpc-url", l1.rpc_url]
            for t in tokens:
                argv += ["--signature", t]
            assert await asyncio.to_thread(main, argv) == 0
        clock.advance(5 * 10**9)

    sent = _run(l1, safe, url, clock, owners_approve, order)  # restarted: resumes, no new one
    assert polls == [5.0]
    assert l1.w3.eth.wait_for_transaction_receipt(sent.tx_hash)["status"] == 1
    assert l1.w3.eth.get_balance(RECIPIENT) - before == ETH
    (done,) = _run(l1, safe, url, clock, _killed, lambda ex: asyncio.sleep(0, ex.proposals()))
    assert done.safe_tx_hash == p.safe_tx_hash and done.state == "executed"
    assert done.execution is not None and done.execution.tx_hash == sent.tx_hash
    with pytest.raises(InvalidInput, match="is executed"):
        _run(l1, safe, url, clock, _killed, lambda ex: ex.execute_ready(p.safe_tx_hash))
    capsys.readouterr()


def test_an_order_whose_signatures_never_come_ends_at_the_deadline(
    l1: DevnetChain, tmp_path: Path
) -> None:
    safe = asyncio.run(create_safe(l1, 8_302, eth=ETH))
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    clock = ManualClock(1_800_000_000 * 10**9)
    pay = [Call.to_address(RECIPIENT, b"", 1)]

    async def time_passes(_s: float) -> None:
        clock.advance(HOUR // 4)

    with pytest.raises(SignaturesExpired, match="deadline"):
        _run(l1, safe, url, clock, time_passes, lambda ex: ex.execute_calls(pay, what="pay"))
    (p,) = _run(l1, safe, url, clock, _killed, lambda ex: asyncio.sleep(0, ex.proposals()))
    assert p.state == "expired" and p.execution is None
    assert _run(l1, safe, url, clock, _killed, lambda ex: ex.account_nonce()) == 0
    with pytest.raises(InvalidInput, match="await_signatures_ns"):
        SafeExecutor(None, [], None, None, await_signatures_ns=0)  # type: ignore[arg-type]
