"""The treasury e2e with a FROST threshold group as one of the Safe's owners: a 2-of-3 Safe
owned by two EOAs and the group's ThresholdAccount; after the jump the group (participants as
processes, one offline) signs each proposal with `oms safe sign --threshold-group`, one EOA
owner signs, `approve` records both (the group's through the Safe's own EIP-1271 check) and the
hedge executes into the band."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from treasury_helpers import jump

pytest.importorskip("frost_rs")

from oms_chain.chain.rpc import RpcClient
from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import sign_safe_transaction
from oms_chain.custody.threshold.process import spawn_participants
from oms_chain.devnet.options_maker import OptionsMakerThread
from oms_chain.devnet.options_market import set_feed_price
from oms_chain.devnet.treasury import create_treasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import open_store
from oms_chain.treasury import RunState, TreasuryDesk, TreasuryPolicy

PASS = "treasury-threshold-test"
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _oms(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args, "--json"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def test_a_threshold_group_co_signs_the_treasury_hedge(
    l1: DevnetChain,
    maker: OptionsMakerThread,
    tmp_path: Path,
) -> None:
    env = {**os.environ, "OMS_THRESHOLD_COORDINATOR_PASSPHRASE": PASS, "RUST_BACKTRACE": "0"}
    env.update({f"OMS_THRESHOLD_PASSPHRASE_P{i}": f"{PASS}-p{i}" for i in (1, 2, 3)})
    set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), Decimal(3000), sender=l1.accounts[0].address
    )
    group = tmp_path / "group"
    _oms(env, "threshold", "keygen", "--t", "2", "--n", "3", "--dir", str(group))
    payer = {**env, "OMS_TEST_PAYER_KEY": l1.accounts[1].private_key}
    deployed = _oms(payer, "threshold", "deploy", "--dir", str(group), "--key-env",
                    "OMS_TEST_PAYER_KEY", "--rpc-url", l1.rpc_url)  # fmt: skip
    account = str(deployed["account"])
    keys = tuple(a.private_key for a in l1.accounts[5:7])
    treasury = create_treasury(
        l1, keys, 2, eth=100, usdc=450_000, salt=2113, contract_owners=[account]
    )
    participants = spawn_participants(group, ["p1", "p3"], env=env)  # p2 offline
    try:
        done = _hedge(l1, treasury, maker, tmp_path, env, group, account, keys)
    finally:
        for proc in participants:
            proc.stop()
    for p in done.proposals:
        assert set(done.signature_kinds[p.proposal_id].values()) == {"eoa", "contract"}
        assert done.signature_kinds[p.proposal_id][account] == "contract"


def _hedge(
    l1: DevnetChain,
    treasury: Any,
    maker: OptionsMakerThread,
    tmp_path: Path,
    env: dict[str, str],
    group: Path,
    account: str,
    keys: tuple[str, ...],
) -> RunState:
    """Plan and propose after the jump; the group and one EOA sign; approve and execute."""
    policy = TreasuryPolicy.from_toml(policy_toml(l1, treasury, makers=[maker.url]))
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    relayer = LocalSigner(l1.accounts[9].private_key)
    jump(l1, 3450)

    async def propose() -> RunState:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            try:
                await desk.plan("group")
                return await desk.propose("group", tmp_path)
            finally:
                await desk.close()

    st = asyncio.run(propose())
    tokens: dict[str, list[str]] = {}
    for p in st.proposals:
        signed = _oms(env, "safe", "sign", str(tmp_path / f"{p.proposal_id}.json"), "--nonce",
                      str(p.nonce), "--threshold-group", str(group))  # fmt: skip
        assert signed["owner"] == account and signed["kind"] == "contract"
        tokens[p.proposal_id] = [str(signed["token"])]

    async def approve_and_execute() -> RunState:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            try:
                for p in st.proposals:
                    tx = p.safe_tx(policy, desk.multisend)
                    sig = await sign_safe_transaction(LocalSigner(keys[0]), tx)
                    tokens[p.proposal_id].append(f"{sig.owner}:0x{sig.data.hex()}")
                    for token in tokens[p.proposal_id]:
                        await desk.add_signature("group", p.proposal_id, token)
                return await desk.execute("group", relayer)
            finally:
                await desk.close()

    done = asyncio.run(approve_and_execute())
    store.close()
    assert done.stage == "remeasured" and all(e["success"] for e in done.executed.values())
    share = Decimal(done.after["delta_share"])  # type: ignore[index]
    assert policy.exposure.low() <= share <= policy.exposure.high()
    return done
