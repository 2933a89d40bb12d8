"""The engine trades from a 2-of-3 Safe created by the toolkit (Safe v1.4.1 from the npm
artifacts on Anvil): the venue's wrap, approval and swap go out as one Safe transaction
(MultiSendCallOnly), signed by two owners and executed by a relayer that pays gas; the order
settles to final and the engine's positions equal what the Safe's balances moved, to the wei."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from safe_rig import create_safe, owner_signers, relayer_signer, safe_venues

from oms_chain.cli import main
from oms_chain.compliance.screening import AddressScreen, BlockList
from oms_chain.custody.safe.proposals import read_proposals
from oms_chain.devnet.world import DevnetChain
from oms_chain.engine import Engine, EngineConfig
from oms_chain.model import Intent, OrderStatus, SystemClock
from oms_chain.model.errors import VenueRejected
from oms_chain.model.ids import client_order_id
from oms_chain.model.intent import Side
from oms_chain.model.orders import SettlementStatus
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import open_store
from oms_chain.testing.waiting import until as _until
from oms_chain.venues.base import PlaceOrder

V3 = "uniswap-v3-3000-{}"


def _erc20(chain: DevnetChain, symbol: str, who: str) -> int:
    from oms_chain.devnet.deploy import ERC20_ABI

    c = chain.w3.eth.contract(address=chain.book.address(symbol), abi=ERC20_ABI)
    return int(c.functions.balanceOf(who).call())


def _engine(store: Any, venues: Any, screen: AddressScreen | None = None) -> Engine:
    return Engine(
        store=store,
        venues=venues.venues,
        risk=RiskGate(RiskLimits(), clock=SystemClock(), screen=screen),
        clock=SystemClock(),
        config=EngineConfig(split_poll_s=0.05, send_timeout_s=30),
    )


async def test_a_swap_order_from_a_two_of_three_safe_fills_and_positions_equal_its_balances(
    l1: DevnetChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    safe = await create_safe(l1, salt=1401, eth=2 * 10**18)
    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    venues, rpc = safe_venues(l1, safe, store, poll_interval=0.05)
    relayer = relayer_signer(l1).address
    vid = V3.format(l1.chain_id)
    inst = next(i for i in venues.venue(vid).instruments() if i.symbol == "ETH/USDC")
    eth_before = l1.w3.eth.get_balance(safe)
    relayer_before = l1.w3.eth.get_balance(relayer)
    engine = _engine(store, venues)
    venues.account.start()
    await engine.start()
    try:
        parent = await engine.submit(
            Intent.create(
                intent_id="safe-sell-eth",
                account=safe,
                instrument=inst,
                side="sell",
                quantity="0.25",
                venues=[vid],
                now_ns=SystemClock().now_ns(),
                max_slippage_bps=100,
            )
        )
        await _until("the fill", lambda: engine.order(parent.order_id).is_terminal)
        (child_id,) = engine.order(parent.order_id).children
        assert engine.order(child_id).status is OrderStatus.FILLED
        l1.process.mine(4)

        def final() -> bool:
            s = engine.order(child_id).settlement
            return s is not None and s.status is SettlementStatus.FINAL

        await _until("final settlement", final)
    finally:
        await engine.stop()
        await venues.close()
        await rpc.close()

    # One Safe transaction: wrap + approve + swap through MultiSendCallOnly, two owners signed.
    (proposal,) = read_proposals(store, safe=safe)
    assert proposal.nonce == 0 and proposal.proposed.operation == 1
    assert proposal.proposed.to == l1.book.address("MultiSendCallOnly")
    assert len(proposal.proposed.calls) == 3  # deposit, approve, swap
    assert set(proposal.signers) == {s.address for s in owner_signers(l1)[:2]}
    child = engine.order(child_id)
    assert child.settlement is not None
    assert proposal.execution is not None
    assert proposal.execution.tx_hash == child.settlement.tx_hash

    # Positions are the Safe's, to the wei; the relayer paid the gas.
    (pos,) = engine.positions()
    assert pos.key.account == safe
    eth_paid = eth_before - l1.w3.eth.get_balance(safe)
    assert eth_paid == 25 * 10**16
    assert -pos.quantity == Decimal(eth_paid).scaleb(-18)
    assert _erc20(l1, "WETH", safe) == 0
    (fill,) = engine.projections.fills.values()
    got = _erc20(l1, "USDC", safe)
    assert got > 0
    assert (fill.quantity * fill.price).quantize(Decimal("0.000001")) == Decimal(got).scaleb(-6)
    assert l1.w3.eth.get_balance(relayer) < relayer_before

    # a restarted engine replays the store, Safe proposal events included, to the same position
    venues2, rpc2 = safe_venues(l1, safe, store)
    engine2 = _engine(store, venues2)
    await engine2.start()
    try:
        assert [p.quantity for p in engine2.positions()] == [pos.quantity]
        assert await venues2.account.executor.account_nonce() == 1
    finally:
        await engine2.stop()
        await venues2.close()
        await rpc2.close()
    store.close()

    # `oms safe proposals list | show` read the same from the store
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    capsys.readouterr()
    assert main(["safe", "proposals", "list", "--store", url, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["nonce"], row["tx_hash"]) == (0, child.settlement.tx_hash)
    assert sorted(row["signers"]) == sorted(proposal.signers)
    assert main(["safe", "proposals", "show", proposal.safe_tx_hash, "--store", url]) == 0
    assert proposal.safe_tx_hash in capsys.readouterr().out
    assert main(["safe", "proposals", "show", "0x" + "00" * 32, "--store", url]) == 2


async def test_too_few_owner_signers_refuse_the_order_before_anything_is_sent(
    l1: DevnetChain, tmp_path: Path
) -> None:
    safe = await create_safe(l1, salt=1402, eth=10**18)
    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    venues, rpc = safe_venues(l1, safe, store, owners=owner_signers(l1)[:1])
    vid = V3.format(l1.chain_id)
    inst = next(i for i in venues.venue(vid).instruments() if i.symbol == "ETH/USDC")
    nonce = l1.w3.eth.get_transaction_count(relayer_signer(l1).address)
    try:
        with pytest.raises(VenueRejected, match="needs 2 owner signatures"):
            await venues.venue(vid).place(
                PlaceOrder(
                    client_order_id=client_order_id("safe-one-owner", 0),
                    instrument=inst,
                    side=Side.SELL,
                    quantity=Decimal("0.1"),
                )
            )
    finally:
        await venues.close()
        await rpc.close()
    assert l1.w3.eth.get_transaction_count(relayer_signer(l1).address) == nonce
    assert read_proposals(store, safe=safe) == []
    store.close()


async def test_the_gate_screens_the_addresses_the_venue_calls_and_records_the_match(
    l1: DevnetChain, tmp_path: Path
) -> None:
    safe = await create_safe(l1, salt=1403, eth=10**18)
    router = l1.book.address("SwapRouter")
    listed = BlockList.from_text(f"# test list\n{router},a listed router\n", "devnet-test")
    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    venues, rpc = safe_venues(l1, safe, store)
    vid = V3.format(l1.chain_id)
    inst = next(i for i in venues.venue(vid).instruments() if i.symbol == "ETH/USDC")
    engine = _engine(store, venues, AddressScreen([listed]))
    before = l1.w3.eth.get_balance(safe)
    await engine.start()
    try:
        parent = await engine.submit(
            Intent.create(
                intent_id="safe-screened",
                account=safe,
                instrument=inst,
                side="sell",
                quantity="0.1",
                venues=[vid],
                now_ns=SystemClock().now_ns(),
            )
        )
        order = engine.order(parent.order_id)
        assert order.status is OrderStatus.REJECTED and not order.children
    finally:
        await engine.stop()
        await venues.close()
        await rpc.close()
    records = [r for r in store.read_all() if r.event_type == "AddressScreeningMatched"]
    (match,) = [r.payload for r in records]
    assert (match["role"], match["address"].lower()) == ("destination", router.lower())
    assert (match["list_name"], match["entry"], match["label"]) == (
        "devnet-test",
        "devnet-test:2",
        "a listed router",
    )
    assert match["account"] == safe
    rejected = next(r.payload for r in store.read_all() if r.event_type == "OrderRejected")
    assert "destination" in rejected["reason"] and "devnet-test:2" in rejected["reason"]
    assert read_proposals(store, safe=safe) == []  # nothing proposed, signed or sent
    assert l1.w3.eth.get_balance(safe) == before
    store.close()


async def test_a_reorged_safe_fill_is_reversed_and_recorded_again_from_its_new_block(
    l1: DevnetChain, tmp_path: Path
) -> None:
    safe = await create_safe(l1, salt=1404, eth=10**18)
    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    venues, rpc = safe_venues(l1, safe, store, poll_interval=0.05)
    vid = V3.format(l1.chain_id)
    inst = next(i for i in venues.venue(vid).instruments() if i.symbol == "ETH/USDC")
    before = l1.w3.eth.get_balance(safe)
    engine = _engine(store, venues)
    venues.account.start()
    await engine.start()

    def types() -> list[str]:
        return [r.event_type for r in store.read_all()]

    try:
        parent = await engine.submit(
            Intent.create(
                intent_id="safe-reorged",
                account=safe,
                instrument=inst,
                side="sell",
                quantity="0.1",
                venues=[vid],
                now_ns=SystemClock().now_ns(),
                max_slippage_bps=100,
            )
        )
        await _until("the fill", lambda: engine.order(parent.order_id).is_terminal)
        (child_id,) = engine.order(parent.order_id).children
        first = set(engine.projections.fills)
        settlement = engine.order(child_id).settlement
        assert settlement is not None and settlement.block_number is not None
        depth = l1.process.block_number() - settlement.block_number + 1
        l1.process.rpc("anvil_reorg", [depth, []])
        await _until("the fill to leave", lambda: "FillReversed" in types())
        await _until(
            "the Safe transaction to be mined again",
            lambda: (
                engine.order(child_id).status is OrderStatus.FILLED
                and set(engine.projections.fills) not in (set(), first)
            ),
        )
        assert types().count("FillReversed") == 1 and types().count("FillRecorded") == 2
        (pos,) = engine.positions()
        assert -pos.quantity == Decimal(before - l1.w3.eth.get_balance(safe)).scaleb(-18)
        assert pos.quantity == Decimal("-0.1") and pos.fill_count == 1
        assert await venues.account.executor.account_nonce() == 1  # executed once
    finally:
        await engine.stop()
        await venues.close()
        await rpc.close()
        store.close()
