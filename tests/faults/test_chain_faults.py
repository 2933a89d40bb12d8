"""On-chain faults on a real Anvil, L1 (automine) and L2 (250 ms blocks): reorgs of depth 1-5,
a base-fee spike with a replacement, finality by tag, and a restart with transactions pending.

Each test ends by checking the canonical chain: the transfer landed exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hexbytes import HexBytes

from oms_chain.chain.registry import ChainInfo, FinalityModel, chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.chain.tracker import SettlementTracker, StoreTrackerJournal
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.anvil import AnvilConfig, AnvilProcess
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.orders import SettlementStatus as S

SINK = "0x000000000000000000000000000000000000bEEF"


def _transfer(to: str, amount: int) -> str:
    data = keccak(text="transfer(address,uint256)")[:4] + abi_encode(
        ["address", "uint256"], [to, amount]
    )
    return "0x" + data.hex()


def _usdc(chain: DevnetChain, who: str) -> int:
    return int(
        chain.w3.eth.contract(address=chain.book.address("USDC"), abi=ERC20_ABI)
        .functions.balanceOf(who)
        .call()
    )


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> DevnetChain:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
async def rpc(chain: DevnetChain) -> AsyncIterator[RpcClient]:
    async with RpcClient([chain.rpc_url]) as client:
        yield client


async def _until(
    tracker: SettlementTracker, tx_hash: Any, status: S | tuple[S, ...], seconds: float = 15
) -> list[S]:
    wanted = status if isinstance(status, tuple) else (status,)
    seen: list[S] = []
    for _ in range(int(seconds / 0.05)):
        seen += [r.status for r in await tracker.poll()]
        if tracker.state(tx_hash).status in wanted:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{tx_hash} stuck at {tracker.state(tx_hash).status} after {seen}")


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
async def test_a_reorg_that_drops_the_block_is_detected_and_the_transfer_lands_once(
    chain: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...], depth: int
) -> None:
    sender = TxSender(rpc, chain_info(chain.chain_id), LocalSigner(devnet_accounts[2].private_key))
    sent = await sender.send(to=chain.book.address("USDC"), data=_transfer(SINK, 17))
    await _until(sender.tracker, sent.tx_hash, S.INCLUDED)
    included_at = sender.tracker.state(sent.tx_hash).block_number
    assert included_at is not None
    head = chain.process.block_number()
    if head - included_at + 1 < depth:
        chain.process.mine(depth - (head - included_at + 1))
    # replace the last `depth` blocks (the one holding our transfer among them) with empty ones
    chain.process.rpc("anvil_reorg", [chain.process.block_number() - included_at + 1, []])
    seen = await _until(sender.tracker, sent.tx_hash, S.INCLUDED)
    assert seen[:2] == [S.REORGED, S.SUBMITTED]
    assert _usdc(chain, SINK) == 17


async def test_a_reorg_that_moves_the_transaction_to_another_block_is_followed(
    chain: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    sender = TxSender(rpc, chain_info(chain.chain_id), LocalSigner(devnet_accounts[3].private_key))
    # parent blocks with state in memory (the loaded dump has no history) to branch from
    chain.process.mine(4)
    sent = await sender.send(to=chain.book.address("USDC"), data=_transfer(SINK, 23))
    await _until(sender.tracker, sent.tx_hash, S.INCLUDED)
    first = sender.tracker.state(sent.tx_hash).block_number
    assert first is not None
    first_hash = chain.w3.eth.get_transaction_receipt(sent.tx_hash)["blockHash"]
    # A new branch from a block before ours carries the same signed bytes in a new block. The
    # L2 mines every 250 ms (more often than that goes by on a loaded machine between reading
    # the head and the reorg), so branch a couple of blocks further back than needed.
    depth = chain.process.block_number() - first + 1
    chain.process.rpc("anvil_reorg", [depth + 3, [["0x" + sent.signed.raw.hex(), 1]]])
    # On the interval-mined L2 the new branch's receipt shows up a moment after the call
    # returns: wait for the node to say the block moved, then let the tracker find out.
    for _ in range(100):
        moved = await rpc.call("eth_getTransactionReceipt", [sent.tx_hash])
        if moved is None or HexBytes(moved["blockHash"]) != HexBytes(first_hash):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("anvil_reorg did not move the transaction's block")
    # mined again, a few blocks deep already (the branch is longer than the part we needed)
    seen = await _until(sender.tracker, sent.tx_hash, (S.INCLUDED, S.CONFIRMED, S.FINAL))
    assert seen[:2] == [S.REORGED, S.INCLUDED]
    assert chain.w3.eth.get_transaction_receipt(sent.tx_hash)["blockHash"] != first_hash
    assert _usdc(chain, SINK) == 23


async def test_a_base_fee_spike_is_beaten_by_a_replacement_and_only_one_lands(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    async with RpcClient([l1.rpc_url]) as rpc:
        sender = TxSender(rpc, chain_info(31337), LocalSigner(devnet_accounts[4].private_key))
        l1.process.rpc("evm_setAutomine", [False])
        try:
            stuck = await sender.send(to=l1.book.address("USDC"), data=_transfer(SINK, 29))
            assert stuck.fees.max_fee_per_gas is not None
            spike = stuck.fees.max_fee_per_gas * 3
            l1.process.rpc("anvil_setNextBlockBaseFeePerGas", [hex(spike)])
            l1.process.mine(1)  # the spike block: our max fee is below its base fee
            assert await rpc.call("eth_getTransactionReceipt", [stuck.tx_hash]) is None
            faster = await sender.replace(stuck, bump_percent=400)
            assert (
                faster.fees.max_fee_per_gas is not None
                and faster.fees.max_fee_per_gas > stuck.fees.max_fee_per_gas
            )
            l1.process.mine(1)
            await sender.tracker.poll()
        finally:
            l1.process.rpc("evm_setAutomine", [True])
        states = {
            sender.tracker.state(stuck.tx_hash).status,
            sender.tracker.state(faster.tx_hash).status,
        }
        assert states == {S.REPLACED, S.INCLUDED}
    assert _usdc(l1, SINK) == 29


async def test_finality_follows_the_finalized_tag() -> None:
    info = ChainInfo(
        chain_id=31339,
        name="tagged",
        finality=FinalityModel.FINALIZED_TAG,
        confirmations=1,
        final_confirmations=1000,
    )
    key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil account 0
    with AnvilProcess(AnvilConfig(chain_id=31339, extra_args=("--slots-in-an-epoch", "1"))) as node:
        async with RpcClient([node.rpc_url]) as rpc:
            sender = TxSender(rpc, info, LocalSigner(key))
            sent = await sender.send(to=SINK, value=1)
            await _until(sender.tracker, sent.tx_hash, S.INCLUDED)
            node.mine(1)
            await sender.tracker.poll()
            assert sender.tracker.state(sent.tx_hash).status is S.CONFIRMED
            node.mine(2)  # two epochs of one slot: the block is now at or below `finalized`
            await sender.tracker.poll()
            state = sender.tracker.state(sent.tx_hash)
            assert state.status is S.FINAL and state.confirmations < info.final_confirmations


async def test_a_restarted_process_tracks_pending_transactions_to_the_end_without_resending(
    tmp_path: Path, l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    from oms_chain.chain.nonces import NonceManager, StoreNonceJournal
    from oms_chain.store import open_store

    url = f"sqlite:///{tmp_path / 'oms.db'}"
    account = devnet_accounts[5]
    info = chain_info(31337)
    l1.process.rpc("evm_setAutomine", [False])
    try:
        async with RpcClient([l1.rpc_url]) as rpc:
            with open_store(url) as store:
                tracker = SettlementTracker(rpc, info, journal=StoreTrackerJournal(store))
                nonces = NonceManager(rpc, 31337, account.address, StoreNonceJournal(store))
                sender = TxSender(
                    rpc, info, LocalSigner(account.private_key), tracker=tracker, nonces=nonces
                )
                sent = [
                    await sender.send(to=l1.book.address("USDC"), data=_transfer(SINK, 31 + i))
                    for i in range(3)
                ]
            # the process dies here; the node mines the pending transactions meanwhile
            l1.process.mine(1)
            with open_store(url) as store:
                tracker = SettlementTracker(rpc, info, journal=StoreTrackerJournal(store))
                assert set(tracker.open) == {s.tx_hash for s in sent}
                nonces = NonceManager(rpc, 31337, account.address, StoreNonceJournal(store))
                sync = await nonces.sync()
                assert sync.external == ()  # our own, tracked, not someone else's
                await tracker.poll()
                l1.process.mine(info.final_confirmations)
                await tracker.poll()
                assert all(tracker.state(s.tx_hash).status is S.FINAL for s in sent)
                assert await nonces.allocate() == sent[-1].signed.nonce + 1
    finally:
        l1.process.rpc("evm_setAutomine", [True])
    assert _usdc(l1, SINK) == 31 + 32 + 33
