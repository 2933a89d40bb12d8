"""The engine over real Uniswap venues on Anvil: a fill whose block is reorged out is reversed in
the order and the position, then recorded again from its new block; a split over three pools
executes within the plan's bounds. Every test ends with the engine's positions equal to what the
canonical chain says the wallet received and paid."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))

from test_amm_venue import balance, devnet_venues, instrument, store_at

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.engine import Engine, EngineConfig
from oms_chain.engine.split import RoutingSplitter
from oms_chain.model import Intent, OrderStatus, SystemClock
from oms_chain.model.orders import SettlementStatus
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues.amm import ChainAccount, UniswapV3Venue, UniswapVenues, book_routes
from oms_chain.venues.amm.venue import _Swap
from oms_chain.venues.base import PlaceOrder

V3_3000 = "uniswap-v3-3000-{}"


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> DevnetChain:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def trader(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[7]


class Rig:
    def __init__(self, venues: UniswapVenues, store: object, splitter: bool = False) -> None:
        self.venues = venues
        self.store = store
        self.engine = Engine(
            store=store,  # type: ignore[arg-type]
            venues=venues.venues,
            risk=RiskGate(RiskLimits(), clock=SystemClock()),
            clock=SystemClock(),
            splitter=RoutingSplitter() if splitter else None,
            config=EngineConfig(split_poll_s=0.05, send_timeout_s=30),
        )

    async def until(self, what: str, check: object, seconds: float = 20) -> None:
        for _ in range(int(seconds / 0.05)):
            if check():  # type: ignore[operator]
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def event_types(self) -> list[str]:
        return [r.event_type for r in self.store.read_all()]  # type: ignore[attr-defined]


@pytest.fixture
async def rig(chain: DevnetChain, trader: DevAccount, tmp_path: Path) -> AsyncIterator[Rig]:
    store = store_at(tmp_path)
    async with devnet_venues(chain, trader.private_key, store, poll_interval=0.05) as venues:
        venues.account.start()
        r = Rig(venues, store)
        await r.engine.start()
        try:
            yield r
        finally:
            await r.engine.stop()


def _intent(uni: UniswapVenues, venue_id: str, symbol: str, **kw: object) -> Intent:
    args: dict[str, object] = dict(
        intent_id=f"onchain-{venue_id}-{symbol.replace('/', '-')}",
        account="trader",
        instrument=instrument(uni, venue_id, symbol),
        side="sell",
        quantity="0.1",
        venues=[venue_id],
        now_ns=SystemClock().now_ns(),
        max_slippage_bps=100,
    )
    args.update(kw)
    return Intent.create(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("depth", [1, 3])
async def test_a_reorged_fill_is_reversed_and_the_position_follows_the_canonical_chain(
    chain: DevnetChain, trader: DevAccount, rig: Rig, depth: int
) -> None:
    vid = V3_3000.format(chain.chain_id)
    before = (balance(chain, "WBTC", trader.address), balance(chain, "USDC", trader.address))
    parent = await rig.engine.submit(_intent(rig.venues, vid, "WBTC/USDC"))
    await rig.until("the swap's fill", lambda: rig.engine.order(parent.order_id).is_terminal)
    parent = rig.engine.order(parent.order_id)
    assert parent.children, parent
    child_id = parent.children[0]
    child = rig.engine.order(child_id)
    assert child.status is OrderStatus.FILLED, child
    first_fills = set(rig.engine.projections.fills)
    assert child.settlement is not None and child.settlement.block_number is not None
    included_at = child.settlement.block_number

    head = chain.process.block_number()
    if head - included_at + 1 < depth:
        chain.process.mine(depth - (head - included_at + 1))
    chain.process.rpc("anvil_reorg", [chain.process.block_number() - included_at + 1, []])

    await rig.until("the fill to leave", lambda: "FillReversed" in rig.event_types())
    await rig.until(
        "the swap to be mined again",
        lambda: (
            rig.engine.order(child_id).status is OrderStatus.FILLED
            and set(rig.engine.projections.fills) != first_fills
        ),
    )
    types = rig.event_types()
    assert types.count("FillReversed") == 1 and types.count("FillRecorded") == 2
    child = rig.engine.order(child_id)
    assert child.settlement is not None
    assert child.settlement.status in (SettlementStatus.INCLUDED, SettlementStatus.CONFIRMED)
    assert rig.engine.order(parent.order_id).status is OrderStatus.FILLED

    # Positions equal the canonical chain: what left and arrived in the wallet, exactly.
    (pos,) = rig.engine.positions()
    paid = before[0] - balance(chain, "WBTC", trader.address)
    got = balance(chain, "USDC", trader.address) - before[1]
    assert -pos.quantity == Decimal(paid).scaleb(-8) == Decimal("0.1")
    (fill,) = rig.engine.projections.fills.values()
    assert (fill.quantity * fill.price).quantize(Decimal("0.000001")) == Decimal(got).scaleb(-6)
    assert pos.fill_count == 1


async def test_a_split_over_three_pools_fills_within_its_bounds_and_matches_the_chain(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    store = store_at(tmp_path)
    async with devnet_venues(l1, trader.private_key, store, poll_interval=0.05) as venues:
        venues.account.start()
        rig = Rig(venues, store, splitter=True)
        await rig.engine.start()
        try:
            pools = ["uniswap-v3-500-31337", "uniswap-v3-3000-31337", "uniswap-v2-31337"]
            before = (
                balance(l1, "WETH", trader.address),
                balance(l1, "USDC", trader.address),
                l1.w3.eth.get_balance(trader.address),
            )
            intent = _intent(
                venues, pools[1], "ETH/USDC", quantity="300", venues=pools, intent_id="split3"
            )
            parent = await rig.engine.submit(intent)
            try:
                await rig.until(
                    "the split to fill",
                    lambda: rig.engine.order(parent.order_id).is_terminal,
                    seconds=20,
                )
            except AssertionError:
                p = rig.engine.order(parent.order_id)
                dbg = [rig.engine.order(c) for c in p.children]
                raise AssertionError(
                    [
                        (k.venue, k.quantity, k.limit_price, k.status, k.settlement, k.reason)
                        for k in dbg
                    ]
                ) from None
            parent = rig.engine.order(parent.order_id)
            assert parent.status is OrderStatus.FILLED, parent.reason
            kids = [rig.engine.order(c) for c in parent.children]
            assert len({k.venue for k in kids}) >= 2, [(k.venue, k.quantity) for k in kids]
            for k in kids:
                assert k.status is OrderStatus.FILLED
                assert k.limit_price is not None and k.avg_fill_price is not None
                assert k.avg_fill_price >= k.limit_price  # a sell never below its min-out
            got = balance(l1, "USDC", trader.address) - before[1]
            assert balance(l1, "WETH", trader.address) == before[0]  # wrapped exactly what sold
            paid = before[2] - l1.w3.eth.get_balance(trader.address)
            fills = list(rig.engine.projections.fills.values())
            assert sum((f.quantity for f in fills), Decimal(0)) == Decimal(300)
            gas = Decimal(paid).scaleb(-18) - Decimal(300)  # swaps, wraps and approvals
            assert Decimal(0) < gas < Decimal("0.05")
            received = sum((f.quantity * f.price for f in fills), Decimal(0))
            assert abs(received - Decimal(got).scaleb(-6)) < Decimal("0.00001")
            net = sum((p.quantity for p in rig.engine.positions()), Decimal(0))
            assert net == Decimal(-300)
        finally:
            await rig.engine.stop()


def _nonce(chain: DevnetChain, who: str) -> int:
    return int(chain.w3.eth.get_transaction_count(who))  # type: ignore[arg-type]


async def test_a_one_wei_sell_is_refused_before_anything_is_sent(
    chain: DevnetChain, trader: DevAccount, rig: Rig
) -> None:
    l1 = chain
    vid = V3_3000.format(l1.chain_id)
    nonce = _nonce(l1, trader.address)
    intent = _intent(rig.venues, vid, "WETH/USDC", quantity="0.000000000000000001")
    rig.engine.set_reference_price(intent.instrument.id, Decimal(3000))  # the gate values it
    parent = await rig.engine.submit(intent)
    await rig.until("the parent to end", lambda: rig.engine.order(parent.order_id).is_terminal)
    (child_id,) = rig.engine.order(parent.order_id).children
    child = rig.engine.order(child_id)
    assert child.status is OrderStatus.REJECTED, child
    assert child.reason is not None and "floors to zero" in child.reason
    assert child.filled_quantity == 0 and child.venue_order_id is None
    assert _nonce(l1, trader.address) == nonce  # nothing was signed or sent
    assert rig.engine.positions() == []


class _VenueBeforeTheDustGuard(UniswapV3Venue):
    """The V3 venue as it was before dust was refused: prices the swap with a minimum output of
    0 and sends it, so the store records what that version recorded."""

    def _refuse_dust(self, order: PlaceOrder, route: Any, quoted: int) -> None:
        return None

    def _price_swap(self, order: PlaceOrder, route: Any, states: Any, base_units: int) -> Any:
        quoted = self._price(states, route, order.side, base_units)
        base, quote = self._token(route.instrument.base), self._token(route.instrument.quote)
        return _Swap(base, quote, True, base_units, 0, quoted, base_units)


async def test_a_store_that_recorded_a_zero_output_swap_keeps_trading_after_reopening(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    vid = V3_3000.format(l1.chain_id)
    store = store_at(tmp_path)
    usdc_before = balance(l1, "USDC", trader.address)
    account = ChainAccount(
        RpcClient([l1.rpc_url]),
        chain_info(l1.chain_id),
        LocalSigner(trader.private_key),
        store,
        weth=l1.book.contracts["WETH"],
        poll_interval=0.05,
    )
    old = _VenueBeforeTheDustGuard(
        account,
        venue_id=vid,
        router=l1.book.contracts["SwapRouter"],
        routes=book_routes(l1.book, "uniswap-v3", 3000),
    )
    async with UniswapVenues(account, [old]) as venues:
        rig = Rig(venues, store)
        await rig.engine.start()
        try:
            intent = _intent(
                venues, vid, "ETH/USDC", quantity="0.000000000000000001", intent_id="dust"
            )
            rig.engine.set_reference_price(intent.instrument.id, Decimal(3000))
            parent = await rig.engine.submit(intent)
            await rig.until(
                "the dust swap to end", lambda: rig.engine.order(parent.order_id).is_terminal
            )
            (child_id,) = rig.engine.order(parent.order_id).children
            child = rig.engine.order(child_id)
            # mined, nothing received: ended with nothing filled, the reason says so
            assert child.venue_order_id is not None
            assert child.status is OrderStatus.FAILED, child
            assert child.reason is not None and "zero-output" in child.reason
            assert child.filled_quantity == 0
        finally:
            await rig.engine.stop()
    assert balance(l1, "USDC", trader.address) == usdc_before  # it really got 0

    # A new session on the same store reconciles and trades.
    async with devnet_venues(l1, trader.private_key, store, poll_interval=0.05) as venues:
        venues.account.start()
        rig = Rig(venues, store)
        await rig.engine.start()
        try:
            parent = await rig.engine.submit(_intent(venues, vid, "WBTC/USDC", intent_id="after"))
            await rig.until("the next swap", lambda: rig.engine.order(parent.order_id).is_terminal)
            assert rig.engine.order(parent.order_id).status is OrderStatus.FILLED
            got = balance(l1, "USDC", trader.address) - usdc_before
            (fill,) = rig.engine.projections.fills.values()
            assert fill.quantity == Decimal("0.1") and got > 0
        finally:
            await rig.engine.stop()
