"""Issue #6, end to end: the execution algorithms run through the engine in simulated time
(a manual clock) against the exchange simulator (CcxtVenue) and the L1 devnet's Uniswap pools.

TWAP tracks its schedule at every slice; an Iceberg never shows more than its display size on
the exchange's own book; a Sniper fires only when a venue's all-in price reaches its limit and
never fills worse; a TWAP whose process dies in the middle of sending a slice resumes in a new
engine without any client order id reaching a venue twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from e2e_world import (
    CEX,
    OTHER_ACCOUNT,
    POOLS,
    SECOND,
    SIM_ACCOUNT,
    V3_500,
    amm_venues,
    children,
    intent,
    make_engine,
    native_pair,
    sent_since,
    store_at,
)

from oms_chain.algos import ManualSleeper, TwapScheduler
from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.devnet.exchange.agents import ListPath
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.engine import Engine
from oms_chain.model import ManualClock, OrderStatus, Side, client_order_id
from oms_chain.model.events import ChildOrderCreated
from oms_chain.model.instruments import SpotPair
from oms_chain.store.base import EventStore
from oms_chain.testing.waiting import until
from oms_chain.venues import PlaceOrder, VenueOrderStatus
from oms_chain.venues.amm.factory import UniswapVenues
from oms_chain.venues.cex import CcxtVenue

MINUTE = 60 * SECOND
SYMBOL = "ETHUSDC"


class Rig:
    """The trader's engine over the CEX and the three pools, on a manual clock."""

    def __init__(self, store: EventStore, cex: CcxtVenue, amm: UniswapVenues) -> None:
        self.clock = ManualClock(time.time_ns())
        self.sleeper = ManualSleeper(self.clock)
        self.store = store
        self.cex = cex
        self.amm = amm
        self.pair: SpotPair = native_pair(amm)
        self.venues = [cex, *(v for v in amm.venues if v.venue_id in POOLS)]
        self.engine = self.new_engine()

    def new_engine(self) -> Engine:
        return make_engine(self.store, self.venues, clock=self.clock, sleeper=self.sleeper)

    def intent(self, intent_id: str, **kw: Any) -> Any:
        return intent(self.pair, intent_id, self.clock.now_ns(), **kw)

    async def tick(self, to_ns: int) -> None:
        """Move simulated time to ``to_ns`` and wait (real time: venue I/O) until the runner
        has acted and sleeps again, on a later wake-up."""
        await self.sleeper.advance_to(to_ns)
        await until(
            "the algorithm to go back to sleep",
            lambda: any(t > to_ns for t in self.sleeper.pending) or not _running_algos(),
        )


@pytest.fixture
async def rig(
    l1: DevnetChain, trader: DevAccount, cex: CcxtVenue, tmp_path: Path
) -> AsyncIterator[Rig]:
    store = store_at(tmp_path)
    async with amm_venues(l1, trader.private_key, store) as amm:
        r = Rig(store, cex, amm)
        await r.engine.start()
        try:
            yield r
        finally:
            await r.engine.stop()


def _settled(rig: Rig, parent: Any, target: Decimal) -> Callable[[], bool]:
    """No open child and at least ``target`` filled."""

    def check() -> bool:
        kids = children(rig.engine, parent)
        filled = rig.engine.order(parent.order_id).filled_quantity
        return not any(c.is_open for c in kids) and filled >= target

    return check


def _running_algos() -> list[asyncio.Task[Any]]:
    return [
        t for t in asyncio.all_tasks() if t.get_name().startswith("algorithm-") and not t.done()
    ]


def _open_on_exchange(sim: ExchangeSimulator) -> Decimal:
    """What our account shows on the exchange's book right now (the simulator's own record)."""
    return sum((o.remaining for o in sim.engine.open_orders(SIM_ACCOUNT, SYMBOL)), Decimal(0))


async def test_twap_over_the_cex_and_pools_tracks_its_schedule_at_every_slice(
    rig: Rig, sim: ExchangeSimulator
) -> None:
    qty, slices = Decimal(20), 4
    order = rig.intent(
        "e2e-twap", quantity=qty, algo="twap", algo_params={"duration": "20m", "slices": slices}
    )
    schedule = TwapScheduler(order)
    parent = await rig.engine.submit(order)
    errors: list[Decimal] = []
    for k in range(slices):
        at = order.ts_init + k * 5 * MINUTE
        target = schedule.target_at(qty, at)
        assert target == qty * (k + 1) / slices
        await rig.tick(at)
        await until(
            f"slice {k} to settle",
            _settled(rig, parent, target),
        )
        # Tracking error at the slice time, once its children have settled: none.
        errors.append(target - rig.engine.order(parent.order_id).filled_quantity)
        sim.step_agents(1)  # market makers refill the book between slices
    assert errors == [Decimal(0)] * slices
    await rig.tick(order.ts_init + 20 * MINUTE)
    final = rig.engine.order(parent.order_id)
    assert final.status is OrderStatus.FILLED and final.filled_quantity == qty
    kids = children(rig.engine, parent)
    venues = {k.venue for k in kids}
    assert CEX in venues and venues & set(POOLS), [(k.venue, k.quantity) for k in kids]
    fills = [f for f in rig.engine.projections.fills.values()]
    assert sum((f.quantity for f in fills), Decimal(0)) == qty
    # Every slice was routed at its own time: no child before its slice started.
    for k in kids:
        assert k.ts_init >= order.ts_init


async def test_iceberg_on_the_cex_never_shows_more_than_its_display_size(
    rig: Rig, sim: ExchangeSimulator
) -> None:
    display = Decimal("0.5")
    # Rests as the best ask (market makers quote from 3001.50 up), so takers hit it first.
    order = rig.intent(
        "e2e-iceberg",
        quantity=Decimal(2),
        limit_price=Decimal("3001.00"),
        venues=[CEX],
        algo="iceberg",
        algo_params={"display_quantity": str(display)},
    )
    parent = await rig.engine.submit(order)
    seen: list[Decimal] = []

    async def watch() -> None:  # the exchange's own view, sampled continuously
        while True:
            seen.append(_open_on_exchange(sim))
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    try:
        await until("the first slice on the book", lambda: _open_on_exchange(sim) == display)
        buys = 0
        while rig.engine.order(parent.order_id).filled_quantity < 2:
            assert buys < 20, "the iceberg did not fill"
            if _open_on_exchange(sim) > 0:
                # another account takes 0.3 ETH: our resting slice first, then the makers
                sim.engine.place(OTHER_ACCOUNT, SYMBOL, "BUY", "MARKET", quantity=Decimal("0.3"))
                buys += 1
                sim.step_agents(1)  # agents trade too (market maker refill, random taker)
            await asyncio.sleep(0.05)
        await until("the parent to close", lambda: rig.engine.order(parent.order_id).is_terminal)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    # What the exchange showed, sampled while it worked: never more than the display size, and
    # the display size itself at some point. (No count of samples: that is wall time.)
    assert max(seen, default=Decimal(0)) == display
    final = rig.engine.order(parent.order_id)
    assert final.status is OrderStatus.FILLED and final.filled_quantity == 2
    kids = children(rig.engine, parent)
    assert len(kids) >= 4 and all(k.quantity <= display for k in kids)
    assert all(k.limit_price == Decimal("3001.00") for k in kids)
    trades = sim.engine.account_trades(SIM_ACCOUNT, SYMBOL)
    assert sum((t.qty for t in trades), Decimal(0)) == 2
    assert all(t.price == Decimal("3001.00") for t in trades)


async def _sell_into_pool(chain: DevnetChain, mover: DevAccount, tmp_path: Path, eth: str) -> None:
    """Another wallet sells ``eth`` ETH into the V3 0.05 % pool (pushes its price down)."""
    (tmp_path / "mover").mkdir()
    store = store_at(tmp_path / "mover")
    async with amm_venues(chain, mover.private_key, store) as amm:
        venue = amm.venue(V3_500)
        coid = client_order_id("mover", 0)
        pair = native_pair(amm)
        await venue.place(
            PlaceOrder(
                client_order_id=coid,
                instrument=pair,
                side=Side.SELL,
                quantity=Decimal(eth),
                limit_price=None,
            )
        )

        async def filled() -> bool:
            report = await venue.status(coid)
            return report is not None and report.status is VenueOrderStatus.FILLED

        for _ in range(400):
            if await filled():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the mover's swap did not fill")


async def test_sniper_fires_only_when_a_venue_reaches_its_limit_and_never_fills_worse(
    rig: Rig, sim: ExchangeSimulator, l1: DevnetChain, mover: DevAccount, tmp_path: Path
) -> None:
    limit = Decimal(2990)  # buy: worst all-in price; the market starts at 3000
    order = rig.intent(
        "e2e-sniper",
        side="buy",
        quantity=Decimal(3),
        limit_price=limit,
        algo="sniper",
        algo_params={"poll_interval": "1s"},
    )
    parent = await rig.engine.submit(order)
    start = order.ts_init
    for s in range(1, 4):
        await rig.tick(start + s * SECOND)
    assert children(rig.engine, parent) == []  # nothing at or under 2990 all-in anywhere

    # The exchange's price path drops to 2985: makers re-quote asks from 2986.50 up, and only
    # the best level is under the limit with the 0.1 % taker fee (2986.50 x 1.001 = 2989.49).
    sim.board.paths["ETH"] = ListPath([2985])
    sim.step_agents(1)
    cex_move = rig.clock.now_ns()
    best_ask = sim.engine.best_bid_ask(SYMBOL)[1]
    assert best_ask is not None and best_ask[0] == Decimal("2986.50")
    for _ in range(200):  # our local book follows the exchange's depth stream
        asks = await rig.cex.liquidity(rig.pair, Side.BUY)
        if asks.levels and asks.levels[0].price == best_ask[0]:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the CcxtVenue book never showed the new best ask")
    await rig.tick(start + 4 * SECOND)
    await until("the CEX child to settle", lambda: all(not c.is_open for c in _kids(rig, parent)))
    first = _kids(rig, parent)
    assert [c.venue for c in first] == [CEX]
    assert first[0].ts_init >= cex_move and first[0].filled_quantity == best_ask[1] < 3
    for s in range(5, 7):  # the next ask level (2987.40 all-in 2990.39) is over the limit
        await rig.tick(start + s * SECOND)
    assert len(_kids(rig, parent)) == 1

    # Another wallet sells 60 ETH into the 0.05 % pool: its all-in ask falls under the limit.
    await _sell_into_pool(l1, mover, tmp_path, "60")
    pool_move = rig.clock.now_ns()
    await rig.tick(start + 7 * SECOND)
    await until("the parent to fill", lambda: rig.engine.order(parent.order_id).is_terminal)
    final = rig.engine.order(parent.order_id)
    assert final.status is OrderStatus.FILLED and final.filled_quantity == 3
    later = _kids(rig, parent)[1:]
    assert later and {c.venue for c in later} == {V3_500}
    assert all(c.ts_init >= pool_move for c in later)
    fee = Decimal("0.001")
    for f in rig.engine.projections.fills.values():
        all_in = f.price * (1 + fee) if f.venue == CEX else f.price  # pool prices include fees
        assert all_in <= limit, f
    for c in _kids(rig, parent):
        assert c.limit_price is not None and c.limit_price <= limit


def _kids(rig: Rig, parent: Any) -> list[Any]:
    return sorted(children(rig.engine, parent), key=lambda c: c.seq)


async def test_a_twap_killed_while_sending_a_slice_resumes_without_sending_any_id_twice(
    rig: Rig, sim: ExchangeSimulator, l1: DevnetChain
) -> None:
    chain = l1
    first_block = chain.w3.eth.get_block("latest")["number"] + 1
    qty, slices = Decimal(20), 4
    order = rig.intent(
        "e2e-kill", quantity=qty, algo="twap", algo_params={"duration": "20m", "slices": slices}
    )
    parent = await rig.engine.submit(order)
    await rig.tick(order.ts_init)
    await until("slice 0", lambda: rig.engine.order(parent.order_id).filled_quantity == 5)
    sim.step_agents(1)

    # Kill the process the moment slice 1's first child is recorded: the runner (and the sends
    # it awaits) and the report pumps die mid-flight; the venues' own connections live on.
    events = rig.engine.subscribe()
    seen_before = len(children(rig.engine, parent))
    await rig.sleeper.advance_to(order.ts_init + 5 * MINUTE)
    async for event in events:
        if isinstance(event, ChildOrderCreated):
            break
    doomed = [
        t
        for t in asyncio.all_tasks()
        if t.get_name().startswith(("algorithm-", "pump-")) and not t.done()
    ]
    assert doomed
    for t in doomed:
        t.cancel()
    await asyncio.gather(*doomed, return_exceptions=True)
    cut = [c for c in children(rig.engine, parent)][seen_before:]
    assert cut and any(c.status in (OrderStatus.SENDING, OrderStatus.IN_FLIGHT) for c in cut)

    await asyncio.sleep(0.5)  # what was on the wire lands (or not) while nobody listens
    rig.engine = rig.new_engine()
    await rig.engine.start()  # replay, reconcile the half-sent children, resume the schedule
    for k in (1, 2, 3):
        await rig.tick(order.ts_init + k * 5 * MINUTE)
        target = qty * (k + 1) / slices
        await until(
            f"slice {k} to settle",
            _settled(rig, parent, target),
        )
        sim.step_agents(1)
    await rig.tick(order.ts_init + 20 * MINUTE)
    final = rig.engine.order(parent.order_id)
    assert final.status is OrderStatus.FILLED and final.filled_quantity == qty
    kids = children(rig.engine, parent)
    coids = [k.client_order_id for k in kids]
    assert len(set(coids)) == len(coids)
    # The exchange saw each client order id at most once...
    on_exchange = Counter(o.client_order_id for o in sim.engine.all_orders(SIM_ACCOUNT, SYMBOL))
    assert on_exchange and max(on_exchange.values()) == 1
    assert set(on_exchange) <= set(coids)
    # ... and the chain: one journaled swap per id, one transaction each.
    journal = rig.amm.account.journal.entries()
    assert set(journal) <= set(coids)
    hashes = [tx for v in rig.amm.venues for tx, _ in v.owned_transactions()]
    assert len(hashes) == len(set(hashes))
    # On chain: exactly one swap per filled pool child, nothing else sent to a router.
    routers = {v.router.lower() for v in rig.amm.venues}
    swaps = [
        tx
        for tx in sent_since(chain, rig.amm.account.address, first_block)
        if (tx["to"] or "").lower() in routers
    ]
    pool_fills = [k for k in kids if k.venue != CEX and k.status is OrderStatus.FILLED]
    assert len(swaps) == len(pool_fills) > 0
    # The children cut mid-send: reconciliation found them on their venue (and recorded what
    # they did there) or proved they never arrived (failed, and the schedule sent a new child).
    for c in cut:
        now = rig.engine.order(c.order_id)
        known = on_exchange if c.venue == CEX else journal
        if now.status is OrderStatus.FAILED:
            assert "never received" in (now.reason or "") and c.client_order_id not in known
        else:
            assert now.status is OrderStatus.FILLED and c.client_order_id in known
    fills = rig.engine.projections.fills.values()
    assert sum((f.quantity for f in fills), Decimal(0)) == qty
    # What the venues filled is what the engine recorded: the exchange's own trades.
    cex_filled = sum((t.qty for t in sim.engine.account_trades(SIM_ACCOUNT, SYMBOL)), Decimal(0))
    assert cex_filled == sum((f.quantity for f in fills if f.venue == CEX), Decimal(0))
