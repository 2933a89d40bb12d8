"""A reorg on the devnet takes away the block of an executed proposal: the desk finds it, the
proposal goes back to sent, the settlement tracker follows the same signed bytes to their new
block, the treasury is re-measured, and the SafeTx runs once (one relayer transaction, the
Safe's nonce moved by one)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from treasury_helpers import sign_all

from oms_chain.chain.rpc import RpcClient
from oms_chain.custody import LocalSigner
from oms_chain.devnet.treasury import DevTreasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import open_store
from oms_chain.treasury import RunState, TreasuryDesk, TreasuryPolicy
from oms_chain.treasury.desk import budget_spent


def test_a_reorged_execution_is_followed_to_its_new_block_and_never_sent_twice(
    l1: DevnetChain, treasury: DevTreasury, tmp_path: Path
) -> None:
    text = policy_toml(
        l1, treasury, makers=[], allowed=["twap_sale"], target_share=Decimal("0.35"),
        twap_slices=1,
    )  # fmt: skip
    policy = TreasuryPolicy.from_toml(text)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    relayer = LocalSigner(l1.accounts[9].private_key)
    relayer_nonce = l1.w3.eth.get_transaction_count(relayer.address)

    async def scenario() -> tuple[RunState, RunState, RunState, int, int]:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc, poll_s=0.02)
            st = await desk.plan("reorg")
            await desk.propose("reorg")
            (p,) = st.proposals
            await sign_all(desk, "reorg", treasury.owner_keys[:2])
            nonce0 = await desk._safe().nonce()
            first = await desk.execute("reorg", relayer)
            block = first.executed[p.proposal_id]["block"]
            # the chain reorganises below the execution's block
            l1.process.rpc("anvil_reorg", [l1.process.block_number() - block + 1, []])
            back = await desk.check_executed("reorg")
            again = await desk.execute("reorg", relayer)
            return first, back, again, nonce0, await desk._safe().nonce()

    first, back, again, nonce0, nonce1 = asyncio.run(scenario())
    pid = first.proposals[0].proposal_id
    assert first.stage == "remeasured"
    assert back.stage == "executing" and pid not in back.executed and back.after is None
    assert [r["proposal_id"] for r in back.reorged] == [pid]
    assert again.stage == "remeasured"
    old, new = first.executed[pid], again.executed[pid]
    assert new["tx_hash"] == old["tx_hash"] and new["block_hash"] != old["block_hash"]
    assert new["success"]
    types = [e.event_type for e in store.read_stream("treasury-reorg")]
    assert types.count("ProposalSent") == 1 and types.count("ProposalExecuted") == 2
    assert types.count("ProposalReorged") == 1 and types.count("TreasuryRemeasured") == 2
    assert nonce1 == nonce0 + 1  # the SafeTx ran once
    assert l1.w3.eth.get_transaction_count(relayer.address) == relayer_nonce + 1
    assert policy.exposure.low() <= Decimal(again.after["delta_share"]) <= policy.exposure.high()  # type: ignore[index]
    now = store.read_stream("treasury-reorg")[-1].ts_event
    assert budget_spent(store, now, 7) == 0  # a sale spends no premium, reorged or not
    store.close()
