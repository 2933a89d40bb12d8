"""Review findings of the treasury desk on the devnet: an ``execTransaction`` that reverts on
chain is recorded and sent anew (the Safe nonce is unused); the relayer takes its nonces from
the journal the engine's accounts keep in the same store; a SafeTx executed by someone else is
found in the Safe's logs from the proposal's creation block, in bounded chunks."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from treasury_helpers import sign_all

from oms_chain.chain.nonces import NonceManager, StoreNonceJournal
from oms_chain.chain.registry import ChainInfo
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.cli.treasury import _summary
from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import OwnerSignature
from oms_chain.devnet.treasury import DevTreasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import EventStore, open_store
from oms_chain.treasury import ExecutionReverted, RunState, TreasuryDesk, TreasuryPolicy
from oms_chain.treasury import desk as desk_module


def _sale_policy(l1: DevnetChain, treasury: DevTreasury) -> TreasuryPolicy:
    text = policy_toml(
        l1, treasury, makers=[], allowed=["twap_sale"], target_share=Decimal("0.35"),
        twap_slices=1,
    )  # fmt: skip
    return TreasuryPolicy.from_toml(text)


def _events(store: EventStore, run_id: str, kind: str) -> list[Any]:
    return [e for e in store.read_stream(f"treasury-{run_id}") if e.event_type == kind]


def test_a_reverted_exec_transaction_is_recorded_and_sent_anew(
    l1: DevnetChain, treasury: DevTreasury, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _sale_policy(l1, treasury)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    relayer = LocalSigner(l1.accounts[9].private_key)
    real_send = desk_module._JournaledRelayer.send

    async def out_of_gas(self: Any, **kw: Any) -> Any:  # too little gas: mined, reverted
        return await real_send(self, **{**kw, "gas": 60_000})

    async def scenario() -> tuple[RunState, int, int, RunState]:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc, poll_s=0.02)
            await desk.plan("rev")
            await desk.propose("rev")
            await sign_all(desk, "rev", treasury.owner_keys[:2])
            safe_nonce = await desk._safe().nonce()
            monkeypatch.setattr(desk_module._JournaledRelayer, "send", out_of_gas)
            with pytest.raises(ExecutionReverted, match=r"Safe nonce \d+ is unused"):
                await desk.execute("rev", relayer)
            reverted = desk.state("rev")
            with pytest.raises(ExecutionReverted):  # not stuck: a second try is sent anew
                await desk.execute("rev", relayer)
            assert await desk._safe().nonce() == safe_nonce  # both reverted: nonce unused
            monkeypatch.setattr(desk_module._JournaledRelayer, "send", real_send)
            done = await desk.execute("rev", relayer)
            return reverted, safe_nonce, await desk._safe().nonce(), done

    reverted, before, after, done = asyncio.run(scenario())
    assert reverted.stage == "reverted" and reverted.reverts_of("rev-p0") == 1
    row = _summary(reverted)["proposals"][0]
    assert row["state"] == "reverted" and row["executed"] is None and len(row["reverted"]) == 1
    assert after == before + 1  # executed once
    assert done.stage == "remeasured" and done.executed["rev-p0"]["success"]
    assert done.reverts_of("rev-p0") == 2 and _summary(done)["proposals"][0]["state"] == "executed"
    sent = _events(store, "rev", "ProposalSent")
    assert len(sent) == 3 and len({e.payload["tx_hash"] for e in sent}) == 3
    nonces = [e.payload["nonce"] for e in sent]
    assert nonces == list(range(nonces[0], nonces[0] + 3))
    # the relayer's nonces are in the store's journal, where the engine's accounts look
    saved = StoreNonceJournal(store).load(policy.safe.chain_id, relayer.address)
    assert saved is not None and saved[0] == nonces[-1] + 1


def test_the_relayer_never_takes_a_nonce_the_engine_holds(
    l1: DevnetChain, treasury: DevTreasury, tmp_path: Path
) -> None:
    """The engine's account with the relayer's key has allocated a nonce it has not broadcast
    yet: the treasury's execTransaction takes the next one, and both land."""
    policy = _sale_policy(l1, treasury)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    key = l1.accounts[9].private_key
    relayer = LocalSigner(key)
    info = ChainInfo(chain_id=policy.safe.chain_id, name="treasury")

    async def scenario() -> tuple[int, int, RunState]:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc, poll_s=0.02)
            await desk.plan("shared")
            await desk.propose("shared")
            await sign_all(desk, "shared", treasury.owner_keys[:2])
            engine_nonces = NonceManager(
                rpc, info.chain_id, relayer.address, journal=StoreNonceJournal(store)
            )
            held = await engine_nonces.allocate()  # in the engine's hands, not yet sent
            task = asyncio.create_task(desk.execute("shared", relayer))
            for _ in range(2_000):  # until the treasury journaled its signed transaction
                if _events(store, "shared", "ProposalSent") or task.done():
                    break
                await asyncio.sleep(0.01)
            (sent,) = _events(store, "shared", "ProposalSent")
            engine = TxSender(rpc, info, LocalSigner(key), nonces=engine_nonces)
            signed = await engine.signer.sign_transaction(
                {"chainId": info.chain_id, "nonce": held, "to": l1.accounts[1].address,
                 "value": 1, "data": "0x", "gas": 21_000, **(await engine.fees()).as_tx_fields()}
            )  # fmt: skip
            await rpc.call("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
            return held, int(sent.payload["nonce"]), await task

    held, treasury_nonce, done = asyncio.run(scenario())
    assert treasury_nonce == held + 1
    assert done.stage == "remeasured" and done.executed["shared-p0"]["success"]


def test_a_safe_tx_executed_elsewhere_is_found_from_its_creation_block_in_chunks(
    l1: DevnetChain, treasury: DevTreasury, tmp_path: Path
) -> None:
    policy = _sale_policy(l1, treasury)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    ranges: list[tuple[int, int]] = []

    async def scenario() -> tuple[RunState, str]:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc, poll_s=0.02, log_chunk_blocks=2)
            await desk.plan("other")
            st = await desk.propose("other")
            await sign_all(desk, "other", treasury.owner_keys[:2])
            st = desk.state("other")
            (p,) = st.proposals
            sigs = [
                OwnerSignature.eoa(o, bytes.fromhex(s[2:]))
                for o, s in st.signatures[p.proposal_id].items()
            ]
            info = ChainInfo(chain_id=policy.safe.chain_id, name="treasury")
            other = TxSender(rpc, info, LocalSigner(l1.accounts[8].private_key))
            out = await desk._safe().execute(p.safe_tx(policy, desk.multisend), sigs, other)
            for _ in range(5):
                await rpc.call("evm_mine", [])
            real_call = rpc.call

            async def spy(method: str, params: Any = ()) -> Any:
                if method == "eth_getLogs":
                    q = params[0]
                    ranges.append((int(q["fromBlock"], 16), int(q["toBlock"], 16)))
                return await real_call(method, params)

            rpc.call = spy  # type: ignore[method-assign]
            try:
                return await desk.execute("other", LocalSigner(l1.accounts[9].private_key)), str(
                    out.tx_hash
                )
            finally:
                rpc.call = real_call  # type: ignore[method-assign]

    done, tx_hash = asyncio.run(scenario())
    assert done.stage == "remeasured" and done.executed["other-p0"]["tx_hash"] == tx_hash
    assert not _events(store, "other", "ProposalSent")  # found, not sent
    assert ranges and ranges[0][0] == done.created_block
    assert all(0 <= b - a < 2 for a, b in ranges)
