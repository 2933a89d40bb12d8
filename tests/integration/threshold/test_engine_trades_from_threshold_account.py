"""The engine trades from a FROST group's ThresholdAccount on Anvil: the Uniswap venue's wrap,
approval and swap go out as one ``executeBatch`` signed by 2 of 3 participants (one offline)
and sent by a relayer that pays gas; the order settles to final and the engine's position
equals what the account's balances moved, to the wei.

Needs the account seam of the Safe work (``oms_chain.chain.executor``, ``uniswap_venues(...,
executor=...)``): skipped where it is not there yet."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("frost_rs")
pytest.importorskip("oms_chain.chain.executor")

from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.threshold_executor import ThresholdExecutor
from oms_chain.custody import LocalSigner
from oms_chain.custody.threshold import (
    Coordinator,
    ParticipantServer,
    ThresholdSigner,
    auth,
    key_coordinates,
    run_keygen,
)
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.solidity import load_artifact
from oms_chain.engine import Engine, EngineConfig
from oms_chain.model import Intent, OrderStatus, SystemClock
from oms_chain.model.orders import SettlementStatus
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import open_store
from oms_chain.testing.waiting import until as _until
from oms_chain.venues.amm import uniswap_venues

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


async def test_a_swap_order_from_the_threshold_account_fills_and_positions_equal_its_balances(
    l1: Any, tmp_path: Path
) -> None:
    w3 = l1.w3
    key = auth.new_signing_key()
    servers = [
        ParticipantServer(
            tmp_path, n, f"pass-of-{n}".encode(), coordinator_key=auth.public_hex(key)
        )
        for n in ("p1", "p2", "p3")
    ]
    for s in servers:
        await s.start()
    store = open_store(f"sqlite:///{tmp_path / 'oms.db'}")
    try:
        roster = await run_keygen(tmp_path, 2, 3, [s.identity() for s in servers], key)
        await servers[2].stop()  # p3 offline: 2 of 3 sign
        art = load_artifact("ThresholdAccount")
        x, parity = key_coordinates(roster.group_key)
        funder = l1.accounts[0].address
        deploy = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(x, parity)
        account = str(
            w3.eth.wait_for_transaction_receipt(deploy.transact({"from": funder})).contractAddress
        )
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": funder, "to": account, "value": 2 * 10**18})
        )
        endpoints = {s.name: s.url or "" for s in servers[:2]}
        group = ThresholdSigner(Coordinator(roster, key, endpoints), account, l1.chain_id)

        rpc = RpcClient([l1.rpc_url])
        relayer = LocalSigner(l1.accounts[9].private_key)
        venues = uniswap_venues(
            l1.chain_id, l1.rpc_url, relayer, store, book=l1.book, poll_interval=0.05,
            executor=lambda sender: ThresholdExecutor(group, roster.group_key, sender, rpc=rpc),
        )  # fmt: skip
        vid = f"uniswap-v3-3000-{l1.chain_id}"
        inst = next(i for i in venues.venue(vid).instruments() if i.symbol == "ETH/USDC")
        eth_before = w3.eth.get_balance(account)
        relayer_before = w3.eth.get_balance(relayer.address)
        engine = Engine(
            store=store,
            venues=venues.venues,
            risk=RiskGate(RiskLimits(), clock=SystemClock()),
            clock=SystemClock(),
            config=EngineConfig(split_poll_s=0.05, send_timeout_s=60),
        )
        venues.account.start()
        await engine.start()
        try:
            parent = await engine.submit(
                Intent.create(
                    intent_id="threshold-sell-eth",
                    account=account,
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

        # one execution of the account (nonce 0 -> 1), sent by the relayer, who paid the gas
        tx = w3.eth.get_transaction(engine.order(child_id).settlement.tx_hash)  # type: ignore[union-attr]
        assert tx["to"] == account and tx["from"] == relayer.address
        nonce = w3.eth.contract(address=account, abi=art["abi"]).functions.nonce().call()
        assert nonce == 1
        assert w3.eth.get_balance(relayer.address) < relayer_before
        # positions are the account's, to the wei
        (pos,) = engine.positions()
        assert pos.key.account == account
        eth_paid = eth_before - w3.eth.get_balance(account)
        assert eth_paid == 25 * 10**16
        assert -pos.quantity == Decimal(eth_paid).scaleb(-18)
        usdc = w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
        got = int(usdc.functions.balanceOf(account).call())
        (fill,) = engine.projections.fills.values()
        assert got > 0
        assert (fill.quantity * fill.price).quantize(Decimal("0.000001")) == Decimal(got).scaleb(-6)
    finally:
        for s in servers:
            await s.stop()
        store.close()
