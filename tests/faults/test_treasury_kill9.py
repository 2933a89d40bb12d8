"""kill -9 of `execute` after the Safe transaction went out and before it was mined: the restart
follows the same transaction to its receipt; the Safe executes the hedge once, nothing is sent
again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from web3.exceptions import TransactionNotFound

from oms_chain.chain.rpc import RpcClient
from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import sign_safe_transaction
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.options_maker import MakerConfig, run_maker_in_thread
from oms_chain.devnet.options_market import OptionsMarketClient, set_feed_price
from oms_chain.devnet.treasury import create_treasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import open_store
from oms_chain.treasury import TreasuryDesk, TreasuryPolicy, run_state

WORKER = Path(__file__).with_name("_treasury_worker.py")


def _receipt(l1: DevnetChain, tx_hash: str) -> object:
    try:
        return l1.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


def test_a_kill_9_between_broadcast_and_receipt_executes_the_hedge_once(
    l1: DevnetChain, tmp_path: Path
) -> None:
    feed, deployer = l1.book.address("OracleETHUSD"), l1.accounts[0].address
    set_feed_price(l1.w3, feed, Decimal(3000), sender=deployer)
    keys = tuple(a.private_key for a in l1.accounts[5:8])
    treasury = create_treasury(l1, keys, 2, eth=100, usdc=450_000)
    maker = run_maker_in_thread(
        OptionsMarketClient.from_book(l1.w3, l1.book),
        l1.accounts[3].private_key,
        config=MakerConfig(ttl_s=3600, max_size=1_000_000),
    )
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(policy_toml(l1, treasury, makers=[maker.url]))
    policy = TreasuryPolicy.from_toml(policy_file.read_text())
    store_url = f"sqlite:///{tmp_path / 'treasury.db'}"
    relayer = l1.accounts[9]
    set_feed_price(l1.w3, feed, Decimal(3450), sender=deployer)

    async def prepare() -> None:
        with open_store(store_url) as store:
            async with RpcClient([l1.rpc_url]) as rpc:
                desk = TreasuryDesk(policy, store, rpc)
                st = await desk.plan("k9")
                await desk.propose("k9")
                (p,) = st.proposals
                tx = p.safe_tx(policy, desk.multisend)
                for key in keys[:2]:
                    sig = await sign_safe_transaction(LocalSigner(key), tx)
                    await desk.add_signature("k9", p.proposal_id, f"{sig.owner}:0x{sig.data.hex()}")
                await desk.close()

    try:
        asyncio.run(prepare())
        cfg = {"policy": str(policy_file), "store": store_url, "rpc_url": l1.rpc_url,
               "key": relayer.private_key, "run": "k9"}  # fmt: skip
        (tmp_path / "cfg.json").write_text(json.dumps(cfg))
        nonce0 = l1.w3.eth.get_transaction_count(relayer.address)
        l1.process.rpc("evm_setAutomine", [False])
        try:
            with (tmp_path / "worker.log").open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-X", "faulthandler", str(WORKER), str(tmp_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                )
                tx_hash = None
                end = time.monotonic() + 120
                while tx_hash is None:  # waiting on another process, not on our own code
                    assert proc.poll() is None, (tmp_path / "worker.log").read_text()
                    assert time.monotonic() < end, "the worker never sent"
                    with open_store(store_url) as store:
                        sent = run_state(store, "k9").sent.get("k9-p0")
                    if sent and l1.w3.eth.get_transaction(sent["tx_hash"]):
                        tx_hash = sent["tx_hash"]
                    time.sleep(0.05)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            assert _receipt(l1, tx_hash) is None  # killed before it was mined
            l1.process.mine(1)
        finally:
            l1.process.rpc("evm_setAutomine", [True])

        async def resume() -> object:
            with open_store(store_url) as store:
                async with RpcClient([l1.rpc_url]) as rpc:
                    desk = TreasuryDesk(policy, store, rpc)
                    done = await desk.execute("k9", LocalSigner(relayer.private_key))
                    await desk.close()
                    return done

        done = asyncio.run(resume())
    finally:
        maker.stop()
    assert done.stage == "remeasured"  # type: ignore[attr-defined]
    assert done.executed["k9-p0"]["tx_hash"] == tx_hash  # type: ignore[attr-defined]
    assert l1.w3.eth.get_transaction_count(relayer.address) == nonce0 + 1  # sent once
    safe = l1.w3.eth.contract(address=treasury.safe, abi=load_protocol_artifact("SafeL2").abi)
    assert safe.functions.nonce().call() == 1  # the hedge ran once
