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

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))

from test_amm_venue import balance, devnet_venues, instrument, store_at

from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.engine import Engine, EngineConfig
from oms_chain.engine.split import RoutingSplitter
from oms_chain.model import Intent, OrderStatus, SystemClock
from oms_chain.model.orders import SettlementStatus
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.venues.amm import UniswapVenues

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
