"""The local order book from the websocket stream, kept by our own DepthBook (the default for
Binance) and by ccxt.pro: liquidity, quotes, resync after faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web
from cex_helpers import venue_config, wait_for

from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.model import Side, VenueRejected
from oms_chain.venues import LiquidityLevel
from oms_chain.venues.cex import CcxtVenue, levels_from_ccxt

SYMBOL = "ETH/USDC"


@pytest.fixture(params=["auto", "ccxt"])
async def venue(sim: ExchangeSimulator, request: pytest.FixtureRequest) -> AsyncIterator[CcxtVenue]:
    """The still market's venue, with our book (``auto`` = native for Binance) or ccxt.pro's."""
    v = CcxtVenue(venue_config(sim, book_source=request.param))
    await v.start()
    yield v
    await v.close()


@pytest.fixture(params=["auto", "ccxt"])
async def live_venue(
    live_sim: ExchangeSimulator, request: pytest.FixtureRequest
) -> AsyncIterator[CcxtVenue]:
    """The moving market's venue (no user stream), with our book or ccxt.pro's."""
    v = CcxtVenue(venue_config(live_sim, book_source=request.param))
    await v.start(user_stream=False)
    yield v
    await v.close()


@pytest.fixture
async def native_venue(live_sim: ExchangeSimulator) -> AsyncIterator[CcxtVenue]:
    v = CcxtVenue(venue_config(live_sim))
    await v.start(user_stream=False)
    yield v
    await v.close()


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
    deadline = loop.time() + 30  # bounds a failure only
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
    instrument = live_venue.market(SYMBOL).instrument
    await live_venue.watch_book(instrument)
    first = live_venue.book(instrument)[0]
    assert first is not None
    # the agents move the market on their own schedule: wait for a newer book, not a guessed 0.5 s
    await wait_for(lambda: (live_venue.book(instrument)[0] or 0) > first, "the market to move")
    last = await assert_book_equals_exchange(live_venue, live_sim)
    assert last > first


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


async def test_binance_books_are_ours_fed_by_the_raw_diff_stream(
    native_venue: CcxtVenue, live_sim: ExchangeSimulator
) -> None:
    instrument = native_venue.market(SYMBOL).instrument
    await native_venue.watch_book(instrument)
    assert native_venue.stats["book_snapshots"] >= 1
    assert native_venue.exchange.orderbooks == {}  # ccxt.pro keeps no book of its own
    assert len(live_sim.hub.conns) == 1
    (conn,) = live_sim.hub.conns
    assert conn.streams == {"ethusdc@depth@100ms"} and not conn.combined
    await assert_book_equals_exchange(native_venue, live_sim)


async def test_a_reconnect_while_the_snapshot_is_in_flight_discards_that_snapshot(
    native_venue: CcxtVenue, live_sim: ExchangeSimulator
) -> None:
    instrument = native_venue.market(SYMBOL).instrument
    # the exchange takes the snapshot now but answers 0.6 s later, after the stream is gone
    live_sim.inject_rest_fault("timeout", method="GET", path="/api/v3/depth", delay_s=0.6)
    watching = asyncio.ensure_future(native_venue.watch_book(instrument))
    await wait_for(lambda: native_venue.stats["book_snapshots"] == 1, "the first snapshot")
    await asyncio.sleep(0.1)
    assert not native_venue.book_synced(instrument)
    assert await live_sim.drop_websockets() == 1
    await watching
    assert native_venue.stats["book_resyncs"] >= 1
    assert native_venue.stats["book_snapshots"] >= 2
    await asyncio.sleep(0.7)  # the held answer would have arrived by now
    await assert_book_equals_exchange(native_venue, live_sim)


async def test_a_gap_while_the_snapshot_is_in_flight_takes_a_newer_snapshot(
    native_venue: CcxtVenue, live_sim: ExchangeSimulator
) -> None:
    instrument = native_venue.market(SYMBOL).instrument
    # held 2 s: long enough that the gap below lands while it is in flight on a loaded machine
    live_sim.inject_rest_fault("timeout", method="GET", path="/api/v3/depth", delay_s=2.0)
    watching = asyncio.ensure_future(native_venue.watch_book(instrument))
    await wait_for(lambda: native_venue.stats["book_snapshots"] == 1, "the first snapshot")
    await asyncio.sleep(0.15)  # events after the snapshot's id are buffered ...
    live_sim.skip_depth_updates("ETHUSDC")  # ... and one of them is lost
    await wait_for(lambda: live_sim.faults.fired.get("skip_depth") == 1, "the skipped update")
    assert not watching.done(), "the snapshot came back before the gap: the case was not set up"
    await watching
    assert native_venue.stats["book_snapshots"] >= 2
    await assert_book_equals_exchange(native_venue, live_sim)


async def test_failed_snapshots_are_retried_until_the_book_is_in_sync(
    native_venue: CcxtVenue, live_sim: ExchangeSimulator
) -> None:
    live_sim.inject_rest_fault("fail", method="GET", path="/api/v3/depth", count=2, status=503)
    await native_venue.watch_book(native_venue.market(SYMBOL).instrument)
    assert native_venue.stats["book_snapshots"] >= 3
    await assert_book_equals_exchange(native_venue, live_sim)


async def test_the_native_book_is_trimmed_to_book_depth(live_sim: ExchangeSimulator) -> None:
    venue = CcxtVenue(venue_config(live_sim, book_depth=3))
    await venue.start(user_stream=False)
    try:
        instrument = venue.market(SYMBOL).instrument
        await venue.watch_book(instrument)
        _, bids, asks = venue.book(instrument)
        assert len(bids) == 3 and len(asks) == 3
        assert bids[0].price < asks[0].price
    finally:
        await venue.close()


async def test_a_malformed_frame_forces_a_resync(live_sim: ExchangeSimulator) -> None:
    """A relay between the simulator's stream and the venue slips one broken event in."""

    upstreams: list[aiohttp.ClientWebSocketResponse] = []

    async def relay(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        upstream = f"{live_sim.ws_url}/ws/{request.match_info['name']}"
        async with aiohttp.ClientSession() as session, session.ws_connect(upstream) as up:
            upstreams.append(up)
            sent = 0
            async for msg in up:
                if ws.closed:
                    break
                sent += 1
                if sent == 3:
                    await ws.send_str('{"e":"depthUpdate","s":"ETHUSDC","U":1}')  # no "u"
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws/{name}", relay)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    urls = dict(venue_config(live_sim).urls or {})
    urls["ws"] = {**urls["ws"], "spot": f"ws://127.0.0.1:{port}/ws"}
    venue = CcxtVenue(venue_config(live_sim, urls=urls))
    await venue.start(user_stream=False)
    try:
        instrument = venue.market(SYMBOL).instrument
        await venue.watch_book(instrument)
        await wait_for(lambda: venue.stats["book_bad_frames"] == 1, "the broken event")
        assert venue.stats["book_resyncs"] >= 1
        await venue.watch_book(instrument)
        assert venue.stats["book_snapshots"] >= 2
        await assert_book_equals_exchange(venue, live_sim)
    finally:
        await venue.close()
        for up in upstreams:
            await up.close()
        await runner.cleanup()


async def test_ticker_mids_are_pushed_from_the_ticker_websocket(
    live_sim: ExchangeSimulator,
) -> None:
    v = CcxtVenue(venue_config(live_sim))
    await v.start(user_stream=False)
    try:
        mids = v.ticker_mids(v.market(SYMBOL).instrument)
        seen = [await asyncio.wait_for(anext(mids), 30) for _ in range(2)]
        _, bids, asks = live_sim.engine.depth("ETHUSDC", 1)
        now = (Decimal(str(bids[0][0])) + Decimal(str(asks[0][0]))) / 2
        # each pushed mid lies inside the book of its moment; the latest is near today's
        assert all(isinstance(m, Decimal) and m > 0 for m in seen)
        assert abs(seen[-1] - now) / now < Decimal("0.05")
        await mids.aclose()
    finally:
        await v.close()
