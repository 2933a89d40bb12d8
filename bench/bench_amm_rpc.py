"""RPC calls and time per AMM quote on the execution path (``UniswapV3Venue.quote``).

Baseline, measured in the same run on a fresh devnet L1: the venue reloading the pool's whole
state for every quote (``follow_pools=False``: slot0, liquidity, every tick-bitmap word and
every initialized tick, about 700 ``eth_call``s for the full bitmap). Measured: the venue quoting
from its :class:`~oms_chain.venues.amm.follower.PoolFollower` (the default), which checks the
follower is at the node's latest block (one header read) and adds the gas price, with the pool
moved by another account between quotes so the follower applies a new block each time. Calls
are counted by :attr:`~oms_chain.chain.rpc.RpcClient.calls` (each call of a batch counts).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import Devnet, DevnetConfig
from oms_chain.model.intent import Side
from oms_chain.store import open_store
from oms_chain.venues.amm import AmmVenueConfig, uniswap_venues

QUOTES = 20


async def _measure(chain: Any, key: str, folder: Path, follow: bool) -> dict[str, float]:
    store = open_store(f"sqlite:///{folder / ('f' if follow else 'r')}.db")
    venues = uniswap_venues(
        chain.chain_id,
        chain.rpc_url,
        LocalSigner(key),
        store,
        book=chain.book,
        config=AmmVenueConfig(follow_pools=follow),
    )
    try:
        vid = f"uniswap-v3-3000-{chain.chain_id}"
        venue = venues.venue(vid)
        inst = next(i for i in venue.instruments() if i.symbol == "WBTC/USDC")
        rpc = venues.account.rpc
        await venue.quote(inst, Side.SELL, Decimal("0.1"))  # warm-up (the follower's first load)
        mover = chain.accounts[4].address
        router = chain.w3.eth.contract(
            address=chain.book.address("SwapRouter"), abi=load_protocol_artifact("SwapRouter").abi
        )
        usdc, wbtc = chain.book.address("USDC"), chain.book.address("WBTC")
        token = chain.w3.eth.contract(address=usdc, abi=ERC20_ABI)
        chain.w3.eth.wait_for_transaction_receipt(
            token.functions.approve(router.address, 2**256 - 1).transact({"from": mover})
        )
        counts, seconds = [], []
        for i in range(QUOTES):
            params = (usdc, wbtc, 3000, mover, 2**32 - 1, (1_000 + i) * 10**6, 0, 0)
            chain.w3.eth.wait_for_transaction_receipt(
                router.functions.exactInputSingle(params).transact({"from": mover})
            )
            before = sum(rpc.calls.values())
            started = time.perf_counter()
            await venue.quote(inst, Side.SELL, Decimal("0.1"))
            seconds.append(time.perf_counter() - started)
            counts.append(sum(rpc.calls.values()) - before)
        return {
            "calls_mean": sum(counts) / len(counts),
            "calls_max": float(max(counts)),
            "ms_mean": sum(seconds) / len(seconds) * 1e3,
        }
    finally:
        await venues.close()
        store.close()


def run() -> dict[str, Any]:
    with Devnet(DevnetConfig(with_l2=False)) as world, tempfile.TemporaryDirectory() as tmp:
        chain = world.l1
        key = chain.accounts[3].private_key
        followed = asyncio.run(_measure(chain, key, Path(tmp), follow=True))
        reloaded = asyncio.run(_measure(chain, key, Path(tmp), follow=False))
    return {
        "followed_rpc_calls_per_quote_mean": round(followed["calls_mean"], 1),
        "followed_rpc_calls_per_quote_max": int(followed["calls_max"]),
        "followed_ms_per_quote": round(followed["ms_mean"], 1),
        "reload_rpc_calls_per_quote_mean": round(reloaded["calls_mean"], 1),
        "reload_ms_per_quote": round(reloaded["ms_mean"], 1),
        "rpc_calls_saved_x": round(reloaded["calls_mean"] / max(followed["calls_mean"], 1), 1),
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:40s} {value}")
