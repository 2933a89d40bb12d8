"""Custody: Safe transaction build + SafeTx hash + 2 owner signatures per second, and the
latency of a signing-policy check.

Safe: each iteration builds a MultiSendCallOnly batch (approve + swap) as a SafeTransaction,
computes its EIP-712 hash (safe-eth-py) and has two LocalSigner owners sign it, then checks and
packs the pair. Baseline in the same run: two bare ``LocalSigner.sign_hash`` calls of a fixed
digest (what the signatures alone cost). Policy: p50 / p90 / p99 of
``PolicySigner.check_transaction`` on an in-policy swap with four argument constraints; baseline
is decoding the same calldata with eth-abi (p50 and p99, interleaved with the checks, so a busy
machine's stalls show in both p99s).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from oms_chain.custody import LocalSigner, PolicySigner, SigningPolicy
from oms_chain.custody.safe import (
    Call,
    SafeTransaction,
    check_signatures,
    pack_signatures,
    sign_safe_transaction,
)
from oms_chain.model import ManualClock

N_SAFE = 300
N_POLICY = 20_000
ROUTER = "0x" + "11" * 20
USDC = "0x" + "22" * 20
WETH = "0x" + "33" * 20
SAFE = "0x" + "44" * 20
MULTISEND = "0x" + "55" * 20
SWAP_SIG = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
STRUCT = ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"]


def _pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * q))] / 1000.0


def _swap(amount: int, recipient: str) -> bytes:
    return keccak(text=SWAP_SIG)[:4] + abi_encode(
        STRUCT, [(USDC, WETH, 500, recipient, 2**40, amount, 0, 0)]
    )


async def _safe_rate(owners: list[LocalSigner]) -> tuple[float, float]:
    approve = keccak(text="approve(address,uint256)")[:4]
    start = time.perf_counter()
    for i in range(N_SAFE):
        calls = [
            Call(USDC, approve + abi_encode(["address", "uint256"], [ROUTER, 10**6 + i])),
            Call(ROUTER, _swap(10**6 + i, SAFE)),
        ]
        tx = SafeTransaction.batch(
            safe=SAFE, chain_id=1, nonce=i, calls=calls, multisend_call_only=MULTISEND
        )
        sigs = [await sign_safe_transaction(o, tx) for o in owners]
        checked = check_signatures(sigs, tx, owners=[o.address for o in owners], threshold=2)
        pack_signatures(checked, tx)
    safe_rate = N_SAFE / (time.perf_counter() - start)
    digest = keccak(b"baseline")
    start = time.perf_counter()
    for _ in range(N_SAFE):
        for o in owners:
            await o.sign_hash(digest)
    return safe_rate, N_SAFE / (time.perf_counter() - start)


def run() -> dict[str, Any]:
    owners = [LocalSigner("0x" + f"{i:02x}" * 32) for i in (0x11, 0x22)]
    safe_rate, baseline_rate = asyncio.run(_safe_rate(owners))

    key = "0x" + "4c" * 32
    me = Account.from_key(key).address
    policy = SigningPolicy.from_toml(
        f"""
[signers."{me}"]
chains = [1]
max_value = "0"
[[signers."{me}".rules]]
name = "swap"
contract = "{ROUTER}"
function = "{SWAP_SIG}"
volume_arg = "0.5"
max_volume_24h = "1000000000000000"
args."0.0" = {{ one_of = ["{USDC}", "{WETH}"] }}
args."0.1" = {{ one_of = ["{USDC}", "{WETH}"] }}
args."0.3" = {{ equals = "self" }}
args."0.5" = {{ max = "1000000000" }}
"""
    )
    signer = PolicySigner(LocalSigner(key), policy, clock=ManualClock())
    data = _swap(10**6, me)
    tx = {"chainId": 1, "to": ROUTER, "value": 0, "data": data}
    checks: list[int] = []
    base: list[int] = []
    for _ in range(N_POLICY):
        t0 = time.perf_counter_ns()
        signer.check_transaction(tx)
        t1 = time.perf_counter_ns()
        abi_decode(STRUCT, data[4:])
        t2 = time.perf_counter_ns()
        checks.append(t1 - t0)
        base.append(t2 - t1)
    checks.sort()
    base.sort()
    return {
        "safe_build_hash_2sigs_per_s": round(safe_rate, 1),
        "baseline_2_sign_hash_per_s": round(baseline_rate, 1),
        "safe_vs_baseline": round(safe_rate / baseline_rate, 3),
        "policy_check_p50_us": round(_pct(checks, 0.5), 1),
        "policy_check_p90_us": round(_pct(checks, 0.9), 1),
        "policy_check_p99_us": round(_pct(checks, 0.99), 1),
        "baseline_abi_decode_p50_us": round(_pct(base, 0.5), 1),
        "baseline_abi_decode_p99_us": round(_pct(base, 0.99), 1),
        "policy_vs_decode_p50": round(_pct(checks, 0.5) / max(_pct(base, 0.5), 1e-9), 2),
    }
