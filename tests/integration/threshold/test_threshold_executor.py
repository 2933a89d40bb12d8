"""The threshold account as the account a venue trades from (``ThresholdExecutor``), on Anvil.

A 2-of-3 group (in-process participants on loopback; the separate-process paths are tested in
test_threshold_processes.py), one participant offline and one with its own policy: a batch of
calls (wrap ETH, pay WETH) runs as one ``executeBatch`` sent and paid by a relayer, tracked by
the relayer's settlement tracker; a single call runs as ``execute``; a call outside the policy is
not signed and nothing is sent; an execution left pending across a "restart" keeps its account
nonce (recovered from its signature), so the next one takes the one after."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

pytest.importorskip("frost_rs")

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.chain.threshold_executor import ThresholdExecutor
from oms_chain.custody import LocalSigner, SigningPolicy
from oms_chain.custody.threshold import (
    AccountCall,
    Coordinator,
    ParticipantServer,
    ThresholdRefused,
    ThresholdSigner,
    auth,
    key_coordinates,
    run_keygen,
)
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.solidity import load_artifact
from oms_chain.model.orders import SettlementStatus

RECIPIENT = "0x000000000000000000000000000000000000dEaD"
pytestmark = pytest.mark.timeout(180)


def _selector(tx: dict[str, Any]) -> bytes:
    data = tx["data"]
    return bytes.fromhex(data.removeprefix("0x"))[:4] if isinstance(data, str) else bytes(data)[:4]


async def _mined(rpc: RpcClient, tx_hash: str) -> dict[str, Any]:
    # automine mines right after the send returns, not before: on a busy machine the receipt
    # can lag the hash by a moment, so wait for it (bounded) instead of reading it once
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while (receipt := await rpc.call("eth_getTransactionReceipt", [tx_hash])) is None:
        assert loop.time() < end, f"{tx_hash} was not mined within 60 s (automine)"
        await asyncio.sleep(0.05)
    return dict(receipt)


async def test_the_group_trades_from_its_account_through_a_relayer(tmp_path: Path, l1) -> None:
    w3 = l1.w3
    weth = l1.book.address("WETH")
    art = load_artifact("ThresholdAccount")

    key = auth.new_signing_key()
    servers = []
    try:
        for name in ("p1", "p2", "p3"):
            servers.append(
                ParticipantServer(
                    tmp_path, name, f"pass-of-{name}".encode(), coordinator_key=auth.public_hex(key)
                )
            )
            await servers[-1].start()
        roster = await run_keygen(tmp_path, 2, 3, [s.identity() for s in servers], key)
        x, parity = key_coordinates(roster.group_key)
        deployer = l1.accounts[1].address
        h = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(x, parity)
        receipt = w3.eth.wait_for_transaction_receipt(h.transact({"from": deployer}))
        account = str(receipt.contractAddress)
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": deployer, "to": account, "value": 10**18})
        )
        # p1 may only wrap ETH (deposit, at most 1 ETH) and pay WETH to RECIPIENT
        policy_text = (
            f'[signers."{account}"]\nchains = [31337]\nmax_value = "{10**18}"\n'
            f'[[signers."{account}".rules]]\nname = "wrap"\ncontract = "{weth}"\n'
            f'function = "deposit()"\n'
            f'[[signers."{account}".rules]]\nname = "pay"\ncontract = "{weth}"\n'
            f'function = "transfer(address,uint256)"\nargs."0" = {{ one_of = ["{RECIPIENT}"] }}\n'
        )
        # p1 restarts with its own policy; p2 stays offline
        await servers[0].stop()
        servers[0] = ParticipantServer(
            tmp_path, "p1", b"pass-of-p1", policy=SigningPolicy.from_toml(policy_text)
        )
        await servers[0].start()
        await servers[1].stop()
        endpoints = {s.name: s.url or "" for s in servers if s.name != "p2"}
        group = ThresholdSigner(Coordinator(roster, key, endpoints), account, 31337)

        async with RpcClient([l1.rpc_url]) as rpc:
            relayer = TxSender(rpc, chain_info(31337), LocalSigner(l1.accounts[9].private_key))
            executor = ThresholdExecutor(group, roster.group_key, relayer, rpc=rpc)
            assert (executor.address, executor.batches) == (account, True)
            assert await executor.account_nonce() == 0

            transfer = keccak(text="transfer(address,uint256)")[:4]
            pay = transfer + abi_encode(["address", "uint256"], [RECIPIENT, 10**17])
            calls = [
                AccountCall(weth, 4 * 10**17, keccak(text="deposit()")[:4]),
                AccountCall(weth, 0, pay),
            ]
            signed: list[str] = []

            async def journal(sent: Any) -> None:
                signed.append(sent.tx_hash)

            sent = await executor.execute_calls(calls, what="wrap and pay", on_signed=journal)
            assert signed == [sent.tx_hash]  # journaled before the broadcast
            assert sent.signed.sender == l1.accounts[9].address and sent.tx["to"] == account
            batch = keccak(text="executeBatch((address,uint256,bytes)[],uint256,bytes)")
            assert _selector(sent.tx) == batch[:4]
            assert (await _mined(rpc, sent.tx_hash))["status"] == "0x1"
            await relayer.tracker.poll()
            assert relayer.tracker.state(sent.tx_hash).status is not SettlementStatus.SUBMITTED
            token = w3.eth.contract(address=weth, abi=ERC20_ABI)
            assert token.functions.balanceOf(account).call() == 3 * 10**17
            assert token.functions.balanceOf(RECIPIENT).call() >= 10**17
            assert executor.nonce_of(sent.tx_hash, 0) == 0
            assert await executor.account_nonce() == 1

            # a call outside p1's policy: p3 alone is not t, nothing is sent
            before = w3.eth.get_transaction_count(l1.accounts[9].address)
            bad = transfer + abi_encode(["address", "uint256"], [deployer, 1])
            with pytest.raises(ThresholdRefused, match="participant p1 refused"):
                await executor.execute_calls([AccountCall(weth, 0, bad)], what="pay elsewhere")
            assert w3.eth.get_transaction_count(l1.accounts[9].address) == before

            # one call: `execute`; left pending across a restart of the executor
            l1.process.rpc("evm_setAutomine", [False])
            try:
                pending = await executor.execute_calls(
                    [AccountCall(weth, 0, pay)], what="pay again"
                )
                single = keccak(text="execute(address,uint256,bytes,uint256,bytes)")
                assert _selector(pending.tx) == single[:4]
                restarted = ThresholdExecutor(group, roster.group_key, relayer, rpc=rpc)
                await restarted.reconcile()
                assert restarted.nonce_of(pending.tx_hash, 0) == 1  # recovered from the sig
                assert await restarted._next_nonce() == 2  # not 1: that one is in flight
            finally:
                l1.process.rpc("evm_setAutomine", [True])
                l1.process.rpc("evm_mine", [])
            assert (await _mined(rpc, pending.tx_hash))["status"] == "0x1"
            assert await executor.account_nonce() == 2

            # the chain runs two hours ahead of the host (a warped devnet): the deadline counts
            # from the chain's time, so the execution is not signed already expired
            await rpc.call("evm_increaseTime", [7200])
            await rpc.call("evm_mine", [])
            later = await executor.execute_calls([AccountCall(weth, 0, pay)], what="pay later")
            assert (await _mined(rpc, later.tx_hash))["status"] == "0x1"
            assert await executor.account_nonce() == 3
    finally:
        for s in servers:
            await s.stop()
