"""The local order book from ccxt.pro's websocket stream: liquidity, quotes, resync after faults."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.model import Side, VenueRejected
from oms_chain.venues import LiquidityLevel
from oms_chain.venues.cex import CcxtVenue, levels_from_ccxt

SYMBOL = "ETH/USDC"


def engine_levels(
    sim: ExchangeSimulator,
) -> tuple[int, tuple[LiquidityLevel, ...], tuple[LiquidityLevel, ...]]:
    update_id, bids, asks = sim.engine.depth("ETHUSDC", 5000)
    return (
        update_id,
        tuple(LiquidityLevel(p, q) for p, q in bids),
        tuple(LiquidityLevel(p, q) for p, q in asks),
    )


async def assert_book_equals_exchange(venue: CcxtVenue, sim: ExchangeSimulator) -> int:
    """Freeze the agents, wait for the stream to catch up, compare with the engine and REST."""
    sim.pause_agents()
    instrument = venue.market(SYMBOL).instrument
    target, bids, asks = engine_levels(sim)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while venue.book(instrument)[0] != target:
        assert loop.time() < deadline, f"book stuck at {venue.book(instrument)[0]} != {target}"
        await asyncio.sleep(0.02)
    nonce, our_bids, our_asks = venue.book(instrument)
    assert (our_bids, our_asks) == (bids, asks)
    market = venue.market(SYMBOL)
    rest = await venue.exchange.fetch_order_book(SYMBOL, 5000)
    assert rest["nonce"] == nonce
    assert levels_from_ccxt(rest["bids"], market) == our_bids
    assert levels_from_ccxt(rest["asks"], market) == our_asks
    assert our_bids[0].price < our_asks[0].price
    return target


async def test_liquidity_is_the_book_side_with_the_market_taker_fee(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    instrument = venue.market(SYMBOL).instrument
    buy = await venue.liquidity(instrument, Side.BUY)
    sell = await venue.liquidity(instrument, Side.SELL)
    _, bids, asks = engine_levels(sim)
    assert buy.levels == asks and sell.levels == bids
    assert buy.taker_fee_bps == Decimal(10) and buy.fixed_cost == 0
    assert buy.instrument_id == instrument.id


async def test_quote_walks_the_book_exactly(venue: CcxtVenue, sim: ExchangeSimulator) -> None:
    instrument = venue.market(SYMBOL).instrument
    _, _, asks = engine_levels(sim)
    qty = asks[0].quantity + asks[1].quantity / 2
    q = await venue.quote(instrument, Side.BUY, qty)
    cost = asks[0].quantity * asks[0].price + asks[1].quantity / 2 * asks[1].price
    assert q.avg_price == cost / qty
    assert q.fee == cost * Decimal("0.001")
    with pytest.raises(VenueRejected, match="holds only"):
        await venue.quote(instrument, Side.BUY, sum(a.quantity for a in asks) + 1)


async def test_book_follows_a_moving_market(
    live_venue: CcxtVenue, live_sim: ExchangeSimulator
) -> None:
    await live_venue.watch_book(live_venue.market(SYMBOL).instrument)
    first = live_venue.book(live_venue.market(SYMBOL).instrument)[0]
    await asyncio.sleep(0.5)
    last = await assert_book_equals_exchange(live_venue, live_sim)
    assert first is not None and last > first


async def test_after_dropped_websockets_the_book_resyncs_and_equals_rest_depth(
    live_venue: CcxtVenue, live_sim: ExchangeSimulator
) -> None:
    instrument = live_venue.market(SYMBOL).instrument
    await live_venue.watch_book(instrument)
    assert await live_sim.drop_websockets() == 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while live_venue.stats["book_resyncs"] == 0:
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # the market keeps moving while we reconnect
    await live_venue.watch_book(instrument)
    await assert_book_equals_exchange(live_venue, live_sim)


async def test_a_skipped_update_id_forces_a_resync_to_the_exchange_book(
    live_venue: CcxtVenue, live_sim: ExchangeSimulator
) -> None:
    instrument = live_venue.market(SYMBOL).instrument
    await live_venue.watch_book(instrument)
    live_sim.skip_depth_updates("ETHUSDC")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while live_venue.stats["book_resyncs"] == 0:
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    assert live_sim.faults.fired["skip_depth"] == 1
    await live_venue.watch_book(instrument)
    await assert_book_equals_exchange(live_venue, live_sim)
