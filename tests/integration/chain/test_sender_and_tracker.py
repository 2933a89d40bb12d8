"""Sending and settlement on a real Anvil: nonces, simulation, drops, replacements, reorgs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from oms_chain.chain.registry import chain_info
from oms_chain.chain.revert import TransactionWouldRevert, error_selectors
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import BroadcastUncertain, TxSender
from oms_chain.chain.tracker import SettlementTracker
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.solidity import load_artifact
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.orders import SettlementStatus as S

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


def _transfer(to: str, amount: int) -> bytes:
    return keccak(text="transfer(address,uint256)")[:4] + abi_encode(
        ["address", "uint256"], [to, amount]
    )


@pytest.fixture
async def rpc(l1: DevnetChain) -> AsyncIterator[RpcClient]:
    async with RpcClient([l1.rpc_url]) as client:
        yield client


def _sender(rpc: RpcClient, account: DevAccount, **kw: Any) -> TxSender:
    known = error_selectors([load_artifact("DevToken")["abi"]])
    return TxSender(
        rpc,
        chain_info(31337),
        LocalSigner(account.private_key),
        known_errors=known,
        tracker=SettlementTracker(rpc, chain_info(31337)),
        **kw,
    )


def _usdc_balance(l1: DevnetChain, who: str) -> int:
    c = l1.w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
    return int(c.functions.balanceOf(who).call())


async def test_concurrent_sends_use_consecutive_nonces_and_settle_to_final(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    sender = _sender(rpc, devnet_accounts[2])
    start_nonce = await rpc.nonce(devnet_accounts[2].address, "latest")
    sent = await asyncio.gather(
        *(
            sender.send(
                to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 1_000 + i), what=f"t{i}"
            )
            for i in range(12)
        )
    )
    assert sorted(s.signed.nonce for s in sent) == list(range(start_nonce, start_nonce + 12))
    reports = await sender.tracker.poll()
    assert {r.status for r in reports} <= {S.INCLUDED, S.CONFIRMED, S.FINAL}
    await asyncio.sleep(0.1)  # let automine take the last of them
    l1.process.mine(3)
    await sender.tracker.poll()
    for s in sent:
        assert sender.tracker.state(s.tx_hash).status is S.FINAL
        assert sender.tracker.history(s.tx_hash)[0] is S.INCLUDED
    assert _usdc_balance(l1, RECIPIENT) == sum(1_000 + i for i in range(12))


async def test_a_revert_is_decoded_before_signing_and_the_nonce_is_not_used(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    account = devnet_accounts[3]
    sender = _sender(rpc, account)
    before = await rpc.nonce(account.address)
    too_much = _usdc_balance(l1, account.address) + 1
    with pytest.raises(TransactionWouldRevert) as info:
        await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, too_much))
    assert info.value.reason.kind == "custom"
    assert "Insufficient" in info.value.reason.message
    # Error(string) from the real Uniswap V2 router: a deadline in the past
    router = l1.w3.eth.contract(address=l1.book.address("UniswapV2Router02"), abi=_v2_router_abi())
    data = router.encode_abi(
        "swapExactTokensForTokens",
        args=[1, 0, [l1.book.address("USDC"), l1.book.address("WETH")], account.address, 1],
    )
    with pytest.raises(TransactionWouldRevert, match="UniswapV2Router: EXPIRED"):
        await sender.send(to=router.address, data=data, what="swap")
    assert await rpc.nonce(account.address) == before
    assert sender.nonces.next_nonce in (None, before)


def _v2_router_abi() -> list[dict[str, Any]]:
    from oms_chain.devnet.artifacts import load_protocol_artifact

    return load_protocol_artifact("UniswapV2Router02").abi


async def test_a_dropped_transaction_is_rebroadcast_and_then_included(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    sender = _sender(rpc, devnet_accounts[4])
    l1.process.rpc("evm_setAutomine", [False])
    try:
        sent = await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 5))
        assert await sender.tracker.poll() == []  # pending in the pool: nothing to report
        l1.process.rpc("anvil_dropTransaction", [sent.tx_hash])
        assert await rpc.call("eth_getTransactionByHash", [sent.tx_hash]) is None
        await sender.tracker.poll()  # missing: rebroadcast
        assert await rpc.call("eth_getTransactionByHash", [sent.tx_hash]) is not None
        l1.process.mine(1)
        reports = await sender.tracker.poll()
        assert [r.status for r in reports] == [S.INCLUDED]
    finally:
        l1.process.rpc("evm_setAutomine", [True])
    assert _usdc_balance(l1, RECIPIENT) == 5


async def test_a_stuck_transaction_is_replaced_with_bumped_fees(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    sender = _sender(rpc, devnet_accounts[5])
    l1.process.rpc("evm_setAutomine", [False])
    try:
        stuck = await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 7))
        faster = await sender.replace(stuck)
        assert faster.signed.nonce == stuck.signed.nonce and faster.tx_hash != stuck.tx_hash
        assert faster.fees.max_priority_fee_per_gas is not None
        assert stuck.fees.max_priority_fee_per_gas is not None
        assert (
            faster.fees.max_priority_fee_per_gas >= stuck.fees.max_priority_fee_per_gas * 11 // 10
        )
        l1.process.mine(1)
        await sender.tracker.poll()
    finally:
        l1.process.rpc("evm_setAutomine", [True])
    assert sender.tracker.state(stuck.tx_hash).status is S.REPLACED
    assert sender.tracker.state(faster.tx_hash).status is S.INCLUDED
    assert _usdc_balance(l1, RECIPIENT) == 7  # once, not twice


async def test_a_pending_transaction_can_be_cancelled(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    sender = _sender(rpc, devnet_accounts[6])
    l1.process.rpc("evm_setAutomine", [False])
    try:
        order = await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 9))
        cancel = await sender.cancel(order)
        l1.process.mine(1)
        await sender.tracker.poll()
    finally:
        l1.process.rpc("evm_setAutomine", [True])
    assert sender.tracker.state(order.tx_hash).status is S.REPLACED
    assert sender.tracker.state(cancel.tx_hash).status is S.INCLUDED
    assert _usdc_balance(l1, RECIPIENT) == 0


async def test_a_reorged_transaction_is_detected_rebroadcast_and_included_again(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    sender = _sender(rpc, devnet_accounts[7])
    fork_point = l1.snapshot()
    sent = await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 11))
    l1.process.mine(1)
    first = await sender.tracker.poll()
    assert [r.status for r in first] == [S.INCLUDED, S.CONFIRMED]
    old_block = first[0].block_number
    # The chain reorganises: the block holding our transaction is replaced by other blocks.
    l1.revert(fork_point)
    l1.process.mine(2)
    second = await sender.tracker.poll()
    assert [r.status for r in second][:2] == [S.REORGED, S.SUBMITTED]
    assert _usdc_balance(l1, RECIPIENT) in (0, 11)  # automine may already have re-mined it
    third: list[S] = []
    for _ in range(100):  # automine mines the rebroadcast bytes within moments
        third += [r.status for r in await sender.tracker.poll()]
        if S.INCLUDED in third:
            break
        await asyncio.sleep(0.02)
    assert S.INCLUDED in third
    state = sender.tracker.state(sent.tx_hash)
    assert state.block_number is not None and state.block_number > old_block
    assert _usdc_balance(l1, RECIPIENT) == 11


async def test_a_lost_broadcast_response_is_uncertain_then_settles(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with RpcClient([dead], timeout=1) as relay:
        sender = _sender(rpc, devnet_accounts[8], broadcast=relay)
        with pytest.raises(BroadcastUncertain) as info:
            await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 13))
        tx_hash = info.value.tx_hash
        assert sender.tracker.state(tx_hash).status is S.SUBMITTED
        await sender.tracker.poll()  # not anywhere: rebroadcast through the main endpoint
        for _ in range(100):  # automine mines the rebroadcast bytes within moments
            await sender.tracker.poll()
            if sender.tracker.state(tx_hash).status is S.INCLUDED:
                break
            await asyncio.sleep(0.02)
        assert sender.tracker.state(tx_hash).status is S.INCLUDED
    assert _usdc_balance(l1, RECIPIENT) == 13


async def test_nonces_used_elsewhere_are_detected(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    account = devnet_accounts[9]
    sender = _sender(rpc, account)
    first = await sender.nonces.allocate()
    sender.nonces.release(first)
    # the same key used by another wallet: an unlocked-account send behind our back
    l1.w3.eth.send_transaction({"from": account.address, "to": RECIPIENT, "value": 1})
    sync = await sender.nonces.sync()
    assert sync.external == (first,)
    assert sync.next_nonce == first + 1
    sent = await sender.send(to=RECIPIENT, value=2)
    assert sent.signed.nonce == first + 1


async def test_settlement_on_the_l2_reaches_final(
    l2: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    async with RpcClient([l2.rpc_url]) as rpc:
        sender = TxSender(rpc, chain_info(31338), LocalSigner(devnet_accounts[2].private_key))
        sent = await sender.send(to=RECIPIENT, value=3)
        seen: list[S] = []
        for _ in range(80):
            seen += [r.status for r in await sender.tracker.poll()]
            if S.FINAL in seen:
                break
            await asyncio.sleep(0.1)
        assert seen[0] is S.INCLUDED and seen[-1] is S.FINAL
        assert sender.tracker.state(sent.tx_hash).confirmations >= 8


async def test_nonces_survive_a_restart_through_the_event_store(
    tmp_path: Any, l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    from oms_chain.chain.nonces import NonceManager, StoreNonceJournal
    from oms_chain.store import open_store

    account = devnet_accounts[1].address
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    with open_store(url) as store:
        first = NonceManager(rpc, 31337, account, StoreNonceJournal(store))
        a = await first.allocate()
        b = await first.allocate()
        c = await first.allocate()
        first.release(b)  # b was never broadcast
    with open_store(url) as store:  # the process restarts
        second = NonceManager(rpc, 31337, account, StoreNonceJournal(store))
        assert await second.allocate() == b  # the released nonce is reused first
        assert await second.allocate() == c + 1
        assert a < b < c


async def test_a_resend_of_bytes_that_already_landed_is_not_a_refusal(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    """A failover or retried socket sends the same signed bytes again after they were mined:
    the node says "nonce too low", but the transaction is ours and in; nothing is re-signed."""
    sender = _sender(rpc, devnet_accounts[9])
    first = await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 7))
    for _ in range(100):  # automine answers the send first, then mines
        if await rpc.call("eth_getTransactionReceipt", [first.tx_hash]) is not None:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the first send was not mined")
    next_nonce = sender.nonces.next_nonce
    again = await sender._broadcast_signed(first.signed, first.tx, first.fees, "resend", None)
    assert again.tx_hash == first.tx_hash
    assert sender.nonces.next_nonce == next_nonce  # the nonce was not given back
    assert sender.tracker.state(first.tx_hash).status is not None  # still tracked


async def test_the_tracker_journal_writes_only_what_moved_and_forgets_what_settled(
    l1: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...], tmp_path: Any
) -> None:
    from oms_chain.chain.tracker import StoreTrackerJournal
    from oms_chain.model.errors import InvalidInput
    from oms_chain.store import open_store

    with open_store(f"sqlite:///{tmp_path / 't.db'}") as store:
        journal = StoreTrackerJournal(store)
        tracker = SettlementTracker(rpc, chain_info(31337), journal=journal)
        sender = TxSender(
            rpc, chain_info(31337), LocalSigner(devnet_accounts[3].private_key), tracker=tracker
        )
        sent = await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 5))
        while tracker.state(sent.tx_hash).status is S.SUBMITTED:
            await tracker.poll()
        assert tracker.open == [sent.tx_hash]
        written = journal.writes
        for _ in range(5):
            await tracker.poll()  # polled, but no block came: nothing moved, nothing written
        assert journal.writes == written
        l1.process.mine(3)
        await tracker.poll()
        assert tracker.state(sent.tx_hash).status is S.FINAL and tracker.open == []
        assert journal.writes == written + 1  # that one transaction's row, not the journal
        # a restart reads the same state back
        again = SettlementTracker(rpc, chain_info(31337), journal=StoreTrackerJournal(store))
        assert again.state(sent.tx_hash).status is S.FINAL
        tracker.forget(sent.tx_hash)
        fresh = SettlementTracker(rpc, chain_info(31337), journal=StoreTrackerJournal(store))
        assert fresh.open == []
        with pytest.raises(InvalidInput, match="not tracked"):
            fresh.state(sent.tx_hash)


async def test_a_receipt_without_status_leaves_the_transaction_in_flight_never_succeeded(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    """A node (here a loopback proxy in front of Anvil) answers receipts without ``status``: the
    tracker does not read them as a success; once real receipts come back it moves on."""
    import json

    from aiohttp import ClientSession, web

    from oms_chain.chain.tracker import MalformedReceipt, lookup_settlement

    strip = {"on": True}

    def scrub(reply: Any) -> Any:
        if strip["on"] and isinstance(reply, dict) and isinstance(reply.get("result"), dict):
            reply["result"].pop("status", None)
        return reply

    async with ClientSession() as upstream:

        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            async with upstream.post(l1.rpc_url, json=body) as answer:
                reply = await answer.json(content_type=None)
            calls = body if isinstance(body, list) else [body]
            replies = reply if isinstance(reply, list) else [reply]
            by_id = {c["id"]: c["method"] for c in calls}
            for r in replies:
                if by_id.get(r.get("id")) == "eth_getTransactionReceipt":
                    scrub(r)
            return web.Response(text=json.dumps(reply), content_type="application/json")

        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with RpcClient([f"http://127.0.0.1:{port}"]) as proxied:
                sender = _sender(proxied, devnet_accounts[3])
                sent = await sender.send(to=l1.book.address("USDC"), data=_transfer(RECIPIENT, 3))
                # send returns once the node has the transaction; automine may take a moment
                mined = l1.w3.eth.wait_for_transaction_receipt(sent.tx_hash, timeout=60)
                assert mined["status"] == 1
                for _ in range(3):
                    assert await sender.tracker.poll() == []
                assert sender.tracker.state(sent.tx_hash).status is S.SUBMITTED
                with pytest.raises(MalformedReceipt, match="no valid status"):
                    await lookup_settlement(proxied, chain_info(31337), sent.tx_hash)
                strip["on"] = False
                (report,) = await sender.tracker.poll()
                assert report.status is S.INCLUDED and report.succeeded is True
        finally:
            await runner.cleanup()
