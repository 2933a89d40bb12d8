"""The Safe executor's nonces on a real Anvil: an ``execTransaction`` that passed simulation and
then reverted on chain (its inner call failed, GS013) leaves the Safe's nonce where it was; the
next Safe transaction must take that nonce again, not one past it (a Safe can never run a
transaction signed for a nonce it has not reached: every later order would be refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from safe_rig import create_safe, owner_signers, relayer_signer, safe_addresses

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.safe_executor import SafeExecutor
from oms_chain.chain.sender import TxSender
from oms_chain.custody.calls import Call
from oms_chain.custody.safe import SafeAccount
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.orders import SettlementStatus
from oms_chain.store import open_store
from oms_chain.venues.amm._calls import wait_for_receipt

TARGET = "0x00000000000000000000000000000000000C0dE1"
OTHER = "0x00000000000000000000000000000000000C0dE2"
REVERT_CODE = "0x60006000fd"  # PUSH1 0 PUSH1 0 REVERT


@pytest.mark.parametrize("reads_receipts", [True, False], ids=["rpc", "tracker-only"])
async def test_a_safe_execution_reverted_on_chain_gives_its_nonce_to_the_next_transaction(
    l1: DevnetChain, tmp_path: Path, reads_receipts: bool
) -> None:
    safe_address = await create_safe(l1, salt=1901 + int(reads_receipts))
    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    async with RpcClient([l1.rpc_url]) as rpc:
        relayer = TxSender(rpc, chain_info(l1.chain_id), relayer_signer(l1))
        safe = SafeAccount(rpc, safe_address, l1.chain_id, safe_addresses(l1))
        executor = SafeExecutor(
            safe, owner_signers(l1)[:2], relayer, store, rpc=rpc if reads_receipts else None
        )
        start = await safe.nonce()
        # simulated against a target without code (succeeds), mined after it became a revert
        await rpc.call("evm_setAutomine", [False])
        try:
            sent = await executor.execute_calls([Call(TARGET, b"\x01")], what="doomed call")
            await rpc.call("anvil_setCode", [TARGET, REVERT_CODE])
            await rpc.call("evm_mine", [])
        finally:
            await rpc.call("evm_setAutomine", [True])
        receipt = await rpc.receipt(sent.tx_hash)
        assert receipt is not None and receipt.status == 0
        assert await safe.nonce() == start
        if not reads_receipts:
            await relayer.tracker.poll()
            assert relayer.tracker.state(sent.tx_hash).status is SettlementStatus.INCLUDED

        nxt = await executor.execute_calls([Call(OTHER, b"\x02")], what="next call")
        assert nxt.tx["to"] == safe_address
        after = await wait_for_receipt(rpc, nxt.tx_hash, "next call", timeout=120)
        assert after.status == 1
        assert await safe.nonce() == start + 1
        nonces = [p.nonce for p in executor.proposals()]
        assert nonces == [start, start]
