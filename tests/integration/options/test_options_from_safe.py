"""The on-chain options venue trading from a 2-of-3 Safe: the approval and the fill are one Safe
transaction executed by a relayer that pays the gas, the long sits in the Safe, and the redeem at
expiry (another Safe transaction) pays the Safe the payoff to the wei; a restart on the same
store finds the fill and sends nothing."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from onchain_helpers import balance, erc20, market, order, put_of, settle, store_at

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "safe"))

from safe_rig import create_safe, owner_signers, relayer_signer, safe_addresses

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.safe_executor import SafeExecutor
from oms_chain.compliance import AddressScreen
from oms_chain.custody.safe import SafeAccount
from oms_chain.devnet.options_maker import OptionsMaker
from oms_chain.devnet.options_market import set_feed_price, warp_to
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.store.base import EventStore
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.base import VenueOrderStatus
from oms_chain.venues.options import OnchainOptionsVenue, onchain_options_venue
from oms_chain.venues.screening import DestinationBlocked, ScreeningExecutor

D = Decimal


@asynccontextmanager
async def safe_options_venue(
    chain: DevnetChain,
    safe: str,
    store: EventStore,
    maker_url: str,
    screen: AddressScreen | None = None,
) -> AsyncIterator[tuple[OnchainOptionsVenue, SafeExecutor]]:
    rpc = RpcClient([chain.rpc_url])
    account_of_safe = SafeAccount(rpc, safe, chain.chain_id, safe_addresses(chain))
    executors: list[SafeExecutor] = []

    def make(sender):  # type: ignore[no-untyped-def]
        executors.append(
            SafeExecutor(account_of_safe, owner_signers(chain)[:2], sender, store, rpc=rpc)
        )
        return executors[0] if screen is None else ScreeningExecutor(executors[0], screen)

    account = ChainAccount(
        rpc, chain_info(chain.chain_id), relayer_signer(chain), store, executor=make
    )
    venue = onchain_options_venue(account, chain.book, (maker_url,))
    try:
        yield await venue.start(), executors[0]
    finally:
        await venue.close()
        await account.close()
        await rpc.close()


async def test_a_put_bought_from_a_2_of_3_safe_is_redeemed_at_expiry_to_the_wei(
    l1: DevnetChain,
    maker: OptionsMaker,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    funder = devnet_accounts[0]
    safe = await create_safe(l1, salt=7_301)
    tx = (
        erc20(l1, "USDC")
        .functions.transfer(safe, 10_000 * 10**6)
        .transact({"from": funder.address})
    )
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    relayer = relayer_signer(l1).address
    relayer_usdc = balance(l1, "USDC", relayer)
    relayer_eth = l1.w3.eth.get_balance(relayer)
    store = store_at(tmp_path)
    async with safe_options_venue(l1, safe, store, maker.url) as (venue, executor):
        assert venue.holder == safe
        put = put_of(venue)  # 3,000 strike, 0.1 WETH contracts
        sid = venue.series_id(put)
        usdc0 = balance(l1, "USDC", safe)
        placed = await venue.place(order(put, "safe-put", "1"))  # 10 contracts
        assert placed.status is VenueOrderStatus.OPEN
        filled = await settle(venue, placed.client_order_id)
        (fill,) = filled.fills
        premium_units = usdc0 - balance(l1, "USDC", safe)
        assert premium_units > 0
        assert fill.quantity == D(1) and fill.price == D(premium_units).scaleb(-6)
        assert market(l1).position(safe, sid) == (10, 0)
        assert market(l1).position(relayer, sid) == (0, 0)
        (pos,) = await venue.positions()
        assert (pos.name, pos.quantity) == (str(sid), D(1))
        (proposal,) = executor.proposals()  # approve + fill: one Safe transaction
        assert proposal.nonce == 0 and len(proposal.signers) == 2
        assert proposal.execution is not None
        approve, fill_call = (c.split(":") for c in proposal.proposed.calls)
        assert approve[2] == "0x095ea7b3"  # approve(market, premium)
        assert fill_call[0] == venue.market_address

    # restart on the same store: the fill is found, nothing is sent again
    async with safe_options_venue(l1, safe, store, maker.url) as (venue, executor):
        again = await venue.status(placed.client_order_id)
        assert again is not None and again.status is VenueOrderStatus.FILLED
        assert await executor.account_nonce() == 1

        warp_to(l1.w3, put.expiry_ns // 1_000_000_000 + 60)
        set_feed_price(l1.w3, l1.book.address("OracleETHUSD"), D("2500.5"), sender=funder.address)
        before = balance(l1, "USDC", safe)
        s = await venue.redeem(put)
        # (3000 - 2500.5) USDC per ETH x 0.1 ETH per contract x 10 contracts = 499.5 USDC
        assert (s.quantity, s.settlement_price, s.payoff) == (D(1), D("2500.5"), D("499.5"))
        assert balance(l1, "USDC", safe) - before == 499_500_000
        assert market(l1).position(safe, sid) == (0, 0)
        assert await venue.positions() == []
        assert await executor.account_nonce() == 2  # the fill, the redeem
        assert executor.proposals()[-1].proposed.what.startswith("redeem series")
        gas = [
            l1.w3.eth.get_transaction_receipt(p.execution.tx_hash)["gasUsed"]
            for p in executor.proposals()
            if p.execution is not None
        ]
        print(f"gas: fill from the Safe {gas[0]}, redeem {gas[1]}")
        assert len(gas) == 2 and all(g < 400_000 for g in gas)
    assert balance(l1, "USDC", relayer) == relayer_usdc  # the relayer only paid gas
    assert l1.w3.eth.get_balance(relayer) < relayer_eth


async def test_a_safe_account_with_a_batch_executor_as_well_is_refused(
    l1: DevnetChain, maker: OptionsMaker, tmp_path: Path
) -> None:
    safe = await create_safe(l1, salt=7_302)
    store = store_at(tmp_path)
    rpc = RpcClient([l1.rpc_url])
    sa = SafeAccount(rpc, safe, l1.chain_id, safe_addresses(l1))
    account = ChainAccount(
        rpc,
        chain_info(l1.chain_id),
        relayer_signer(l1),
        store,
        executor=lambda s: SafeExecutor(sa, owner_signers(l1)[:2], s, store, rpc=rpc),
    )
    try:
        with pytest.raises(InvalidInput, match="not both"):
            onchain_options_venue(
                account, l1.book, (maker.url,), executor=l1.book.address("BatchExecutor")
            )
    finally:
        await account.close()
        await rpc.close()


async def test_a_market_listed_after_the_venue_started_is_refused_at_execution(
    l1: DevnetChain,
    maker: OptionsMaker,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    safe = await create_safe(l1, salt=7_303)
    tx = (
        erc20(l1, "USDC")
        .functions.transfer(safe, 10_000 * 10**6)
        .transact({"from": devnet_accounts[0].address})
    )
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    lists = tmp_path / "blocked.txt"
    lists.write_text("0x000000000000000000000000000000000000dEaD,burn\n")
    screen = AddressScreen.from_files([lists])
    store = store_at(tmp_path)
    async with safe_options_venue(l1, safe, store, maker.url, screen) as (venue, executor):
        put = put_of(venue)
        market_address = venue.market_address
        # the list is updated while the session runs: the market is blocked now
        lists.write_text(lists.read_text() + f"{market_address},test entry\n")
        with pytest.raises(DestinationBlocked, match=r"blocked.txt:2 \(test entry\)") as info:
            await venue.place(order(put, "blocked", "1"))
        assert {m.role for m in info.value.matches} == {"destination", "argument"}
        assert "nothing was signed or sent" in str(info.value)
        assert executor.proposals() == []  # nothing proposed, nothing signed
        assert await executor.account_nonce() == 0
        assert await venue.status(order(put, "blocked", "1").client_order_id) is None
        assert market(l1).position(safe, venue.series_id(put)) == (0, 0)
        # taken off the list again: the same order goes through
        lists.write_text("0x000000000000000000000000000000000000dEaD,burn\n")
        placed = await venue.place(order(put, "blocked", "1"))
        await settle(venue, placed.client_order_id)
        assert market(l1).position(safe, venue.series_id(put)) == (10, 0)
