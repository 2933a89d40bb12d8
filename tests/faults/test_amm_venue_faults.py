"""Uniswap venue faults on a real Anvil: reorgs of depth 1-5 after a fill (the fill leaves the
reports, then returns with its new block), a restart while a swap is pending, a crash between
signing and broadcasting, cancellation of a pending swap, a deadline that passes while pending
and a swap that reverts on chain (dropped from the pool, front-run, rebroadcast). Each test ends
with the canonical chain: the swap landed once (or not at all)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))

from amm_chain_helpers import erc20, transact
from test_amm_venue import (
    CountingSigner,
    balance,
    devnet_venues,
    instrument,
    order,
    settle,
    store_at,
)

from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model import Side
from oms_chain.model.orders import SettlementStatus as S
from oms_chain.venues import OrderStatusReport, VenueOrderStatus
from oms_chain.venues.amm.approvals import MAX_UINT256

V3 = "uniswap-v3-3000-{}"
FILLED, OPEN = VenueOrderStatus.FILLED, VenueOrderStatus.OPEN


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> DevnetChain:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def trader(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[8]


@pytest.fixture
def paused(l1: DevnetChain) -> Iterator[DevnetChain]:
    """The L1 with automine off (blocks only when the test mines one)."""
    l1.process.rpc("evm_setAutomine", [False])
    try:
        yield l1
    finally:
        l1.process.rpc("evm_setAutomine", [True])


def approve_router(chain: DevnetChain, who: str, symbol: str = "WBTC") -> None:
    transact(
        chain,
        erc20(chain, symbol).functions.approve(chain.book.address("SwapRouter"), MAX_UINT256),
        who,
    )


def pushed(reports: list[Any]) -> list[tuple[VenueOrderStatus, S | None, tuple[str, ...]]]:
    out = []
    for r in reports:
        assert isinstance(r, OrderStatusReport)
        out.append(
            (
                r.status,
                r.settlement.status if r.settlement else None,
                tuple(f.trade_id for f in r.fills),
            )
        )
    return out


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
async def test_a_reorg_after_a_fill_takes_the_fill_back_and_it_returns_in_a_new_block(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path, depth: int
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3.format(chain.chain_id)
        venue = venues.venue(vid)
        before = balance(chain, "USDC", trader.address)
        placed = await venue.place(order(instrument(venues, vid, "WBTC/USDC"), Side.SELL, "0.1"))
        first = await settle(venues, vid, placed.client_order_id)
        (fill,) = first.fills
        received = balance(chain, "USDC", trader.address) - before
        assert first.settlement is not None
        included_at = first.settlement.block_number
        assert included_at is not None
        head = chain.process.block_number()
        if head - included_at + 1 < depth:
            chain.process.mine(depth - (head - included_at + 1))
        chain.process.rpc("anvil_reorg", [chain.process.block_number() - included_at + 1, []])
        again = await settle(venues, vid, placed.client_order_id)
        (refill,) = again.fills
        assert refill.trade_id != fill.trade_id
        assert refill.trade_id.split("@")[0] == fill.trade_id.split("@")[0] == placed.venue_order_id
        assert (refill.quantity, refill.price) == (fill.quantity, fill.price)
        moves = pushed(venue.drain())
        left = next(i for i, m in enumerate(moves) if m[1] is S.REORGED)
        assert moves[left] == (OPEN, S.REORGED, ())
        assert any(m[0] is FILLED and m[2] == (fill.trade_id,) for m in moves[:left])
        assert any(m[0] is FILLED and m[2] == (refill.trade_id,) for m in moves[left:])
        assert balance(chain, "USDC", trader.address) - before == received  # landed once


async def test_a_restarted_venue_tracks_a_pending_swap_to_the_end_without_signing_again(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    """On the L1 mining is paused so the swap is surely pending at the restart; on the L2 the
    restart comes within its 250 ms block."""
    approve_router(chain, trader.address)
    on_l1 = chain.chain_id == 31337
    if on_l1:
        chain.process.rpc("evm_setAutomine", [False])
    try:
        await _restart_while_pending(chain, trader, tmp_path)
    finally:
        if on_l1:
            chain.process.rpc("evm_setAutomine", [True])


async def _restart_while_pending(chain: DevnetChain, trader: DevAccount, tmp_path: Path) -> None:
    l1 = chain
    store = store_at(tmp_path)
    vid = V3.format(chain.chain_id)
    async with devnet_venues(l1, trader.private_key, store) as venues:
        placed = await venues.venue(vid).place(
            order(instrument(venues, vid, "WBTC/USDC"), Side.SELL, "0.1")
        )
    # the process is gone; a new one on the same store
    signer = CountingSigner(trader.private_key)
    CountingSigner.signed = 0
    async with devnet_venues(l1, trader.private_key, store, signer=signer) as venues:
        venue = venues.venue(vid)
        pending = await venue.status(placed.client_order_id)
        assert pending is not None and pending.venue_order_id == placed.venue_order_id
        if chain.chain_id == 31337:
            assert pending.status is OPEN
            # the restarted account still holds the router's allowance for the pending swap
            wbtc = l1.book.address("WBTC")
            assert venues.account.reserved(wbtc, venue.router) == 10**7
            l1.process.mine(1)
        done = await settle(venues, vid, placed.client_order_id)
        assert done.fills[0].quantity == Decimal("0.1")
        assert CountingSigner.signed == 0
        assert any(r.status is FILLED for r in venue.drain())


class _Crash(BaseException):
    """The process dies (kill -9) right after the signed bytes were journaled."""


async def test_a_crash_between_signing_and_broadcasting_leaves_a_journaled_swap_that_lands_once(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    l1 = chain
    approve_router(l1, trader.address)
    store = store_at(tmp_path)
    before = balance(l1, "WBTC", trader.address)
    async with devnet_venues(l1, trader.private_key, store) as venues:
        vid = V3.format(chain.chain_id)

        async def die(*args: Any, **kw: Any) -> Any:
            raise _Crash

        venues.account.sender._broadcast_signed = die  # type: ignore[method-assign]
        o = order(instrument(venues, vid, "WBTC/USDC"), Side.SELL, "0.1")
        with pytest.raises(_Crash):
            await venues.venue(vid).place(o)
    assert balance(l1, "WBTC", trader.address) == before  # nothing reached the chain
    signer = CountingSigner(trader.private_key)
    CountingSigner.signed = 0
    async with devnet_venues(l1, trader.private_key, store, signer=signer) as venues:
        venue = venues.venue(V3.format(chain.chain_id))
        found = await venue.status(o.client_order_id)
        assert found is not None
        assert found.settlement is not None
        assert found.venue_order_id == found.settlement.tx_hash
        done = await settle(venues, V3.format(chain.chain_id), o.client_order_id)
        assert done.fills[0].trade_id.startswith(found.venue_order_id)
        assert CountingSigner.signed == 0
    assert before - balance(l1, "WBTC", trader.address) == 10**7  # exactly once


async def test_a_pending_swap_is_cancelled_by_a_self_transfer_at_its_nonce(
    paused: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    l1 = paused
    l1.process.rpc("evm_setAutomine", [True])
    approve_router(l1, trader.address)
    l1.process.rpc("evm_setAutomine", [False])
    before = balance(l1, "WBTC", trader.address)
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3.format(31337)
        venue = venues.venue(vid)
        placed = await venue.place(order(instrument(venues, vid, "WBTC/USDC"), Side.SELL, "0.1"))
        cancelling = asyncio.create_task(venue.cancel(placed.client_order_id))
        for _ in range(100):  # the cancellation is in the pool
            entry = venues.account.journal.get(placed.client_order_id)
            if entry and entry.get("cancel"):
                break
            await asyncio.sleep(0.02)
        l1.process.mine(1)
        done = await cancelling
        assert done.status is VenueOrderStatus.CANCELLED
        assert done.settlement is not None and done.settlement.status is S.REPLACED
        again = await venue.cancel(placed.client_order_id)
        assert again.status is VenueOrderStatus.CANCELLED
    assert balance(l1, "WBTC", trader.address) == before


async def test_a_deadline_that_passes_while_pending_expires_the_order(
    paused: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    l1 = paused
    l1.process.rpc("evm_setAutomine", [True])
    approve_router(l1, trader.address)
    l1.process.rpc("evm_setAutomine", [False])
    before = balance(l1, "WBTC", trader.address)
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3.format(31337)
        deadline = (time.time_ns() // 10**9 + 60) * 10**9
        placed = await venues.venue(vid).place(
            order(instrument(venues, vid, "WBTC/USDC"), Side.SELL, "0.1", deadline_ns=deadline)
        )
        l1.process.rpc("evm_setNextBlockTimestamp", [deadline // 10**9 + 600])
        l1.process.mine(1)
        done = await settle(venues, vid, placed.client_order_id, VenueOrderStatus.EXPIRED)
        assert done.reason is not None and "Transaction too old" in done.reason
        assert done.fills == ()
    assert balance(l1, "WBTC", trader.address) == before


async def test_a_swap_front_run_past_its_limit_reverts_on_chain_and_is_rejected(
    paused: DevnetChain, devnet_accounts: tuple[DevAccount, ...], tmp_path: Path
) -> None:
    l1 = paused
    me, other = devnet_accounts[8], devnet_accounts[9]
    l1.process.rpc("evm_setAutomine", [True])
    approve_router(l1, me.address)
    approve_router(l1, other.address)
    l1.process.rpc("evm_setAutomine", [False])
    before = balance(l1, "WBTC", me.address)
    async with (
        devnet_venues(l1, me.private_key, store_at(tmp_path, "me.db")) as mine,
        devnet_venues(l1, other.private_key, store_at(tmp_path, "other.db")) as theirs,
    ):
        vid = V3.format(31337)
        inst = instrument(mine, vid, "WBTC/USDC")
        exact = await mine.venue(vid).quote(inst, Side.SELL, Decimal("0.1"))
        placed = await mine.venue(vid).place(
            order(inst, Side.SELL, "0.1", limit=str(exact.avg_price))  # min out = exact quote
        )
        # ours leaves the pool; a big sell is mined first; the tracker rebroadcasts ours
        l1.process.rpc("anvil_dropTransaction", [placed.venue_order_id])
        await theirs.venue(vid).place(
            order(inst, Side.SELL, "1", "front", max_slippage_bps=Decimal(1000))
        )
        l1.process.mine(1)
        pending = await mine.venue(vid).status(placed.client_order_id)  # polls: rebroadcast
        assert pending is not None and pending.status is OPEN
        l1.process.mine(1)
        done = await settle(mine, vid, placed.client_order_id, VenueOrderStatus.REJECTED)
        assert done.reason is not None and "Too little received" in done.reason
        assert done.fills == ()
    assert balance(l1, "WBTC", me.address) == before


# -- bounded journals ------------------------------------------------------------------------


def _account(chain: DevnetChain, key: str, store: Any, clock: Any) -> Any:
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody.local import LocalSigner
    from oms_chain.venues.amm import ChainAccount, UniswapV3Venue, UniswapVenues, book_routes

    account = ChainAccount(
        RpcClient([chain.rpc_url]),
        chain_info(chain.chain_id),
        LocalSigner(key),
        store,
        weth=chain.book.contracts["WETH"],
        clock_ns=clock,
        journal_retention_s=60,
    )
    venue = UniswapV3Venue(
        account,
        venue_id=V3.format(chain.chain_id),
        router=chain.book.contracts["SwapRouter"],
        routes=book_routes(chain.book, "uniswap-v3", 3000),
    )
    return UniswapVenues(account, [venue])


async def test_a_settled_order_is_pruned_after_its_retention_and_a_pending_one_survives_a_restart(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    now = [time.time_ns()]
    store = store_at(tmp_path)
    vid = V3.format(l1.chain_id)
    approve_router(l1, trader.address)
    async with _account(l1, trader.private_key, store, lambda: now[0]) as venues:
        venue = venues.venue(vid)
        inst = instrument(venues, vid, "WBTC/USDC")
        done = await venue.place(order(inst, Side.SELL, "0.1", 1))
        await settle(venues, vid, done.client_order_id)
        l1.process.mine(3)  # final on the devnet L1
        await venues.account.poll()
        tx = done.venue_order_id
        assert venues.account.tracker.state(tx).status is S.FINAL
        entry = venues.account.journal.get(done.client_order_id)
        assert entry is not None and entry["ended_ns"] == now[0]
        # within the retention it still answers
        assert venues.account.prune() == []
        assert (await venue.status(done.client_order_id)).status is FILLED  # type: ignore[union-attr]

        l1.process.rpc("evm_setAutomine", [False])
        try:
            pending = await venue.place(order(inst, Side.SELL, "0.1", 2))
            now[0] += 61 * 10**9
            await venues.account.poll()  # prunes the settled order, keeps the pending one
            assert venues.account.journal.get(done.client_order_id) is None
            assert not venues.account.is_tracked(tx)
            assert venues.account.journal.get(pending.client_order_id) is not None
        finally:
            l1.process.rpc("evm_setAutomine", [True])

    # A restart on the same store: only the pending order comes back, and it lands once.
    async with _account(l1, trader.private_key, store, lambda: now[0]) as venues:
        assert list(venues.account.journal.entries()) == [pending.client_order_id]
        assert venues.account.tracker.open == [pending.venue_order_id]
        assert not venues.account.is_tracked(tx)
        l1.process.mine(1)
        landed = await settle(venues, vid, pending.client_order_id)
        assert landed.fills[0].quantity == Decimal("0.1")
