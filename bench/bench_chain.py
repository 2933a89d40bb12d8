"""Transactions: EIP-1559 signatures per second, and build + simulate + sign + send per second.

Baselines measured in the same run: eth-account's own ``sign_transaction`` for signing, and bare
web3.py doing the same work (estimate gas, read fee history, sign, send raw) for sending, on the
devnet L1 (automine). Target: at least 2,000 EIP-1559 signatures per second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from eth_account import Account

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.world import Devnet, DevnetConfig

SIGNATURES = 3000
SENDS = 200
SINK = "0x000000000000000000000000000000000000bEEF"


def _tx(nonce: int) -> dict[str, Any]:
    return {
        "chainId": 31337,
        "nonce": nonce,
        "gas": 21000,
        "to": SINK,
        "value": 1,
        "data": "0x",
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }


def _rate(fn: Any, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


def run() -> dict[str, Any]:
    key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    account = Account.from_key(key)
    signer = LocalSigner(key)
    baseline_sign = _rate(lambda i: account.sign_transaction(_tx(i)), SIGNATURES)
    ours_sign = _rate(lambda i: signer._sign_tx_sync(_tx(i)), SIGNATURES)

    with Devnet(DevnetConfig(with_l2=False)) as world:
        l1 = world.l1
        bare_key = Account.from_key(l1.accounts[3].private_key)
        w3 = l1.w3

        def bare(_i: int) -> None:
            tx = {
                "from": bare_key.address,
                "to": SINK,
                "value": 1,
                "chainId": 31337,
                "nonce": w3.eth.get_transaction_count(bare_key.address, "pending"),
            }
            tx["gas"] = w3.eth.estimate_gas(tx)
            history = w3.eth.fee_history(10, "latest", [50])
            tip = 10**9
            tx["maxFeePerGas"] = 2 * int(history["baseFeePerGas"][-1]) + tip
            tx["maxPriorityFeePerGas"] = tip
            w3.eth.send_raw_transaction(bare_key.sign_transaction(tx).raw_transaction)

        bare_rate = _rate(bare, SENDS)

        async def ours() -> float:
            async with RpcClient([l1.rpc_url]) as rpc:
                sender = TxSender(rpc, chain_info(31337), LocalSigner(l1.accounts[4].private_key))
                started = time.perf_counter()
                for _ in range(SENDS):
                    await sender.send(to=SINK, value=1)
                return SENDS / (time.perf_counter() - started)

        ours_rate = asyncio.run(ours())
    return {
        "eip1559_signatures_per_s": round(ours_sign),
        "eth_account_baseline_signatures_per_s": round(baseline_sign),
        "signing_vs_baseline": round(ours_sign / baseline_sign, 3),
        "signing_target_per_s": 2000,
        "signing_meets_target": ours_sign >= 2000,
        "send_per_s": round(ours_rate, 1),
        "bare_web3_send_per_s": round(bare_rate, 1),
        "send_vs_bare_web3": round(ours_rate / bare_rate, 3),
    }
