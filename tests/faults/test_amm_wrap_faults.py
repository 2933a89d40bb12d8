"""Wrapping native ETH against a node whose indexes lag its state (issue 11: a split over three
pools once wrapped more WETH than it sold).

Anvil, asked for the state at its head while it mines the next block, answers from the block it
is mining: a balance read "at block n" can already show a swap whose receipt (and block number)
is not out yet. A wallet that judged "mined" from receipts counted that swap as spent in the
balance *and* as still to pull, and wrapped it a second time. The test forces that interleaving
deterministically: the first swap is mined, its receipt is withheld from the venue's RPC client
(exactly what the node shows in that window), and a second sell of native ETH is placed. The
wallet must wrap exactly what it sells. And a sell the router refuses after its wrap unwraps
again: an order that sent no swap leaves the wallet's ETH as it was, less gas."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))

from test_amm_venue import balance, devnet_venues, instrument, order, settle, store_at

from oms_chain.chain.rpc import RpcClient
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model import Side
from oms_chain.model.errors import VenueRejected
from oms_chain.venues.amm.weth import unwrap

V3_500, V2 = "uniswap-v3-500-31337", "uniswap-v2-31337"
ETH = 10**18
DEPOSIT = bytes.fromhex("d0e30db0")  # WETH9 deposit()
WITHDRAW = bytes.fromhex("2e1a7d4d")  # WETH9 withdraw(uint256)
APPROVE = bytes.fromhex("095ea7b3")  # approve(address,uint256)


@pytest.fixture
def trader(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[5]


def withhold_receipts(monkeypatch: pytest.MonkeyPatch, rpc: RpcClient, hidden: set[str]) -> None:
    """Answer ``None`` for the receipts of ``hidden`` transactions (the node's receipt index
    lagging its state), through both ``call`` and ``batch``."""
    call, batch = rpc.call, rpc.batch

    async def lagging_call(method: str, params: Sequence[Any] = ()) -> Any:
        if method == "eth_getTransactionReceipt" and str(params[0]).lower() in hidden:
            return None
        return await call(method, params)

    async def lagging_batch(calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        answers = await batch(calls)
        return [
            None
            if method == "eth_getTransactionReceipt" and str(params[0]).lower() in hidden
            else answer
            for (method, params), answer in zip(calls, answers, strict=True)
        ]

    monkeypatch.setattr(rpc, "call", lagging_call)
    monkeypatch.setattr(rpc, "batch", lagging_batch)


def wrapped_since(chain: DevnetChain, who: str, first_block: int) -> list[int]:
    """The value of every ``deposit()`` (wrap) ``who`` sent to WETH from ``first_block`` on."""
    weth = chain.book.address("WETH").lower()
    out = []
    for n in range(first_block, chain.w3.eth.block_number + 1):
        for tx in chain.w3.eth.get_block(n, full_transactions=True)["transactions"]:
            to = (tx["to"] or "").lower()
            if tx["from"].lower() == who.lower() and to == weth and tx["input"][:4] == DEPOSIT:
                out.append(int(tx["value"]))
    return out


@pytest.mark.parametrize("second", [V3_500, V2], ids=["same-router", "other-router"])
async def test_a_swap_mined_before_its_receipt_is_out_is_not_wrapped_twice(
    l1: DevnetChain,
    trader: DevAccount,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    second: str,
) -> None:
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        account = venues.account
        weth0 = balance(l1, "WETH", trader.address)
        if weth0:  # a clean wallet: every wei of WETH below comes from these two sells
            await unwrap(account.sender, account.rpc, l1.book.address("WETH"), weth0)
        first_block = l1.w3.eth.block_number + 1

        a = await venues.venue(V3_500).place(
            order(instrument(venues, V3_500, "ETH/USDC"), Side.SELL, "1", "wrap-a")
        )
        assert a.venue_order_id is not None
        receipt = l1.w3.eth.wait_for_transaction_receipt(a.venue_order_id, timeout=15)
        assert receipt["status"] == 1 and balance(l1, "WETH", trader.address) == 0
        # The chain's state has the first swap; the venue's node does not show its receipt.
        withhold_receipts(monkeypatch, account.rpc, {str(a.venue_order_id).lower()})

        b = await venues.venue(second).place(
            order(instrument(venues, second, "ETH/USDC"), Side.SELL, "2", "wrap-b")
        )
        await settle(venues, second, b.client_order_id)

        assert wrapped_since(l1, trader.address, first_block) == [1 * ETH, 2 * ETH]
        assert balance(l1, "WETH", trader.address) == 0  # wrapped exactly what it sold
        monkeypatch.undo()  # the receipt is out: the first swap settles as filled
        done = await settle(venues, V3_500, a.client_order_id)
        assert done.filled_quantity == 1


async def test_a_sell_refused_after_its_wrap_unwraps_again_and_leaves_only_gas_spent(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        account, venue = venues.account, venues.venue(V3_500)
        weth0 = balance(l1, "WETH", trader.address)
        first_block = l1.w3.eth.block_number + 1
        eth0 = l1.w3.eth.get_balance(trader.address)
        calldata = venue._calldata

        def unfillable(states: Any, swap: Any, recipient: str, deadline: int) -> bytes:
            # a min-out no pool can pay: the router's simulation reverts after the wrap
            return calldata(states, replace(swap, bound=swap.quoted * 2), recipient, deadline)

        monkeypatch.setattr(venue, "_calldata", unfillable)
        refused = order(instrument(venues, V3_500, "ETH/USDC"), Side.SELL, "3", "refused")
        with pytest.raises(VenueRejected, match="nothing was sent"):
            await venue.place(refused)
        assert account.journal.get(refused.client_order_id) is None
        assert balance(l1, "WETH", trader.address) == weth0
        gas, calls = 0, []
        for n in range(first_block, l1.w3.eth.block_number + 1):
            for tx in l1.w3.eth.get_block(n, full_transactions=True)["transactions"]:
                receipt = l1.w3.eth.get_transaction_receipt(tx["hash"])
                gas += receipt["gasUsed"] * receipt["effectiveGasPrice"]
                calls.append((tx["input"][:4], int(tx["value"])))
        # wrapped, approved the router (kept for later swaps), refused, unwrapped
        assert calls == [(DEPOSIT, 3 * ETH), (APPROVE, 0), (WITHDRAW, 0)]
        assert eth0 - l1.w3.eth.get_balance(trader.address) == gas
