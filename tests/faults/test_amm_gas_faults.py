"""A swap's gas estimate runs in the pending block; the swap is mined in a later one.

A Uniswap V2 pair writes its two price accumulators only in a block whose timestamp moved on
since its last update (a V3 pool, an oracle observation). Under several blocks a second (the
250 ms L2 devnet, Arbitrum) an estimate made in the pair's own second misses those writes when
the swap lands in the next second: ``test_v2_sell_and_buy_match_router_quotes[l2]`` failed so,
about once in 25 runs, with an out-of-gas revert (gas used 114,107 of a 114,991 limit, no revert
data, and a replay that passes). The test forces that interleaving on the L1 with
``evm_setNextBlockTimestamp``, on a pair whose accumulators are zero (the costliest writes), with
no headroom on the estimate: the venue's margin alone must pay for the accumulators."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))

from amm_chain_helpers import erc20, transact
from test_amm_venue import devnet_venues, instrument, order, settle, store_at

from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model import Side
from oms_chain.venues.amm.approvals import MAX_UINT256

V2 = "uniswap-v2-31337"


@pytest.fixture
def trader(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[4]


async def test_a_v2_swap_estimated_in_its_pairs_second_and_mined_later_has_the_gas_it_needs(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = l1.book.contracts["UniswapV2Router02"]
    transact(l1, erc20(l1, "DAI").functions.approve(router, MAX_UINT256), trader.address)
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        sender = venues.account.sender
        sender.gas_headroom = 1.0  # the estimate as it is: the margin must cover the rest
        inst = instrument(venues, V2, "DAI/USDC")
        first = await venues.venue(V2).place(order(inst, Side.SELL, "1000", "gas-1"))
        await settle(venues, V2, first.client_order_id)
        second_of_pair = int(l1.w3.eth.get_block("latest")["timestamp"])
        # The worst case: accumulators still zero (a pair not traded since it was seeded), so
        # both writes are zero -> nonzero. UniswapV2Pair keeps them in slots 9 and 10.
        pair = next(
            p.address
            for p in l1.book.pools
            if p.protocol == "uniswap-v2"
            and {p.token0.lower(), p.token1.lower()}
            == {l1.book.address("DAI").lower(), l1.book.address("USDC").lower()}
        )
        # (Still zero at times: the first swap can land in the second the pair was seeded in.)
        for slot in (9, 10):
            l1.process.rpc("anvil_setStorageAt", [pair, hex(slot), "0x" + "00" * 32])
        simulate = sender.simulate

        async def estimate_now_mine_later(tx: Any, what: str = "transaction") -> int:
            l1.process.rpc("evm_setNextBlockTimestamp", [second_of_pair])
            try:
                return await simulate(tx, what)
            finally:
                l1.process.rpc("evm_setNextBlockTimestamp", [second_of_pair + 7])

        monkeypatch.setattr(sender, "simulate", estimate_now_mine_later)
        second = await venues.venue(V2).place(order(inst, Side.SELL, "1000", "gas-2"))
        done = await settle(venues, V2, second.client_order_id)

        assert done.filled_quantity == 1000
        receipt = l1.w3.eth.get_transaction_receipt(second.venue_order_id)
        assert l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == second_of_pair + 7
        limit = l1.w3.eth.get_transaction(second.venue_order_id)["gas"]
        assert receipt["gasUsed"] < limit
