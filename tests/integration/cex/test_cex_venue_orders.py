"""CcxtVenue against the simulator over loopback: the Venue contract, rejections, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from cex_helpers import API_KEY, venue_config, wait_for

from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.model import Side, VenueRejected, VenueTimeout, client_order_id
from oms_chain.model.ids import ClientOrderId
from oms_chain.venues import (
    AmendOrder,
    FillReport,
    OrderStatusReport,
    PlaceOrder,
    Venue,
    VenueOrderStatus,
)
from oms_chain.venues.cex import CcxtVenue

ACCOUNT = f"acct-{API_KEY}"


def order(
    venue: CcxtVenue,
    n: int | str,
    *,
    qty: str = "0.1",
    limit: str | None = None,
    side: Side = Side.BUY,
    slippage_bps: str | None = None,
) -> PlaceOrder:
    return PlaceOrder(
        client_order_id=client_order_id(f"cex-{n}", 0),
        instrument=venue.market("ETH/USDC").instrument,
        side=side,
        quantity=Decimal(qty),
        limit_price=None if limit is None else Decimal(limit),
        max_slippage_bps=None if slippage_bps is None else Decimal(slippage_bps),
    )


def orders_with_client_id(sim: ExchangeSimulator, coid: str) -> list[object]:
    return [o for o in sim.engine.all_orders(ACCOUNT, "ETHUSDC") if o.client_order_id == coid]


async def next_event(events, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(events.__anext__(), timeout)


# --- the Venue contract (as in tests/unit/engine/test_paper_venue.py, with real prices) ---------


async def test_ccxt_venue_is_a_venue_and_normalizes_markets(venue: CcxtVenue) -> None:
    assert isinstance(venue, Venue)
    market = venue.market("ETH/USDC")
    assert market.instrument.symbol == "ETH/USDC"
    assert (market.amount_step, market.price_step) == (Decimal("0.0001"), Decimal("0.01"))
    assert market.taker_fee_bps == Decimal(10)
    assert market.instrument.base.decimals == 4 and market.instrument.quote.decimals == 2


async def test_market_order_fills_and_reports_every_fill_exactly(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    r = await venue.place(order(venue, 1, qty="0.5"))
    assert r.status is VenueOrderStatus.FILLED
    assert sum(f.quantity for f in r.fills) == r.filled_quantity == Decimal("0.5")
    [engine_order] = orders_with_client_id(sim, r.client_order_id)
    truth = {str(t.trade_id): t for t in sim.engine.trades["ETHUSDC"]}
    for fill in r.fills:
        assert fill.price == truth[fill.trade_id].price  # exact decimals, no float residue
        assert fill.quantity == truth[fill.trade_id].qty
        assert fill.fee_currency == "ETH" and fill.fee == fill.quantity * Decimal("0.001")
    assert r.venue_order_id == str(engine_order.order_id)  # type: ignore[attr-defined]


async def test_resting_order_can_be_cancelled_once(venue: CcxtVenue) -> None:
    r = await venue.place(order(venue, 2, limit="2000"))
    assert r.status is VenueOrderStatus.OPEN and r.limit_price == Decimal("2000.00")
    r = await venue.cancel(r.client_order_id)
    assert r.status is VenueOrderStatus.CANCELLED
    again = await venue.cancel(r.client_order_id)
    assert again.status is VenueOrderStatus.CANCELLED


async def test_a_client_order_id_is_never_executed_twice(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    first = await venue.place(order(venue, 3))
    with pytest.raises(VenueRejected, match="duplicate client order id"):
        await venue.place(order(venue, 3))
    status = await venue.status(first.client_order_id)
    assert status is not None and len(status.fills) == len(first.fills)
    assert len(orders_with_client_id(sim, first.client_order_id)) == 1


async def test_a_second_process_is_refused_by_the_exchange_for_an_open_duplicate(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    await venue.place(order(venue, 4, limit="2000"))
    other = CcxtVenue(venue_config(sim))
    await other.start(user_stream=False)
    try:
        with pytest.raises(VenueRejected, match="duplicate client order id"):
            await other.place(order(venue, 4, limit="2000"))
    finally:
        await other.close()
    assert len(orders_with_client_id(sim, order(venue, 4).client_order_id)) == 1


async def test_reconcile_reports_asked_ids_open_orders_balances_and_unknown_ids(
    venue: CcxtVenue,
) -> None:
    resting = await venue.place(order(venue, 5, limit="2000"))
    filled = await venue.place(order(venue, 6))
    ghost = client_order_id("never-sent", 0)
    rep = await venue.reconcile([ghost, resting.client_order_id, filled.client_order_id])
    assert rep.unknown == (ghost,)
    by_id = {o.client_order_id: o for o in rep.orders}
    assert set(by_id) == {resting.client_order_id, filled.client_order_id}
    assert by_id[resting.client_order_id].status is VenueOrderStatus.OPEN
    assert by_id[filled.client_order_id].status is VenueOrderStatus.FILLED
    assert rep.balances["ETH"] == Decimal("10") + filled.filled_quantity - sum(
        f.fee for f in filled.fills
    )
    assert await venue.status(ghost) is None


async def test_a_fresh_venue_finds_orders_placed_by_an_earlier_process(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    resting = await venue.place(order(venue, 7, limit="2000"))
    misconfigured = CcxtVenue(venue_config(sim, symbols=("DOGE/USDC",)))
    with pytest.raises(VenueRejected, match="not spot markets"):
        await misconfigured.start(user_stream=False)
    await misconfigured.close()
    fresh = CcxtVenue(venue_config(sim, symbols=("ETH/USDC",)))
    await fresh.start(user_stream=False)
    try:
        rep = await fresh.reconcile([resting.client_order_id, ClientOrderId("nobody-1")])
        assert [o.client_order_id for o in rep.orders] == [resting.client_order_id]
        assert rep.unknown == (ClientOrderId("nobody-1"),)
        assert (await fresh.cancel(resting.client_order_id)).status is VenueOrderStatus.CANCELLED
    finally:
        await fresh.close()


async def test_amend_is_refused_with_advice(venue: CcxtVenue) -> None:
    r = await venue.place(order(venue, 8, limit="2000"))
    with pytest.raises(VenueRejected, match="cancel it and place a new order"):
        await venue.amend(
            AmendOrder(client_order_id=r.client_order_id, quantity=Decimal(1), limit_price=None)
        )


# --- rejections ------------------------------------------------------------------------------


async def test_insufficient_balance_is_rejected_with_the_exchange_message(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    with pytest.raises(VenueRejected, match="insufficient balance"):
        await venue.place(order(venue, 9, qty="100", limit="2000"))
    assert orders_with_client_id(sim, order(venue, 9).client_order_id) == []


async def test_filter_violations_are_rejected(venue: CcxtVenue) -> None:
    with pytest.raises(VenueRejected, match=r"(?i)notional"):
        await venue.place(order(venue, 10, qty="0.001", limit="2000"))
    with pytest.raises(VenueRejected, match="price tick"):
        await venue.place(order(venue, 11, limit="2000.001"))
    with pytest.raises(VenueRejected, match="quantity step"):
        await venue.place(order(venue, 12, qty="0.00001", limit="2000"))
    with pytest.raises(VenueRejected, match="no spot market"):
        venue.market("DOGE/USDC")


async def test_slippage_bounded_market_order_is_an_ioc_limit_at_most_that_far(
    venue: CcxtVenue,
) -> None:
    curve = await venue.liquidity(venue.market("ETH/USDC").instrument, Side.BUY)
    r = await venue.place(order(venue, 13, qty="0.2", slippage_bps="50"))
    assert r.status is VenueOrderStatus.FILLED
    bound = curve.levels[0].price * Decimal("1.005")
    assert r.limit_price is not None and r.limit_price <= bound
    assert all(f.price <= bound for f in r.fills)


# --- ambiguous outcomes: look up by client order id, never place twice -------------------------


@pytest.mark.parametrize("fault", ["drop", "timeout"])
async def test_accepted_order_with_lost_answer_is_found_by_client_id_and_exists_once(
    sim: ExchangeSimulator, fault: str
) -> None:
    venue = CcxtVenue(venue_config(sim, timeout_s=0.3))
    await venue.start(user_stream=False)
    try:
        sim.inject_rest_fault(fault, method="POST", path="/api/v3/order", delay_s=0.6)  # type: ignore[arg-type]
        req = order(venue, f"amb-{fault}", limit="2000")
        try:
            report: OrderStatusReport | None = await venue.place(req)
        except VenueTimeout:
            report = None
        if report is not None:
            assert report.client_order_id == req.client_order_id
            assert report.status is VenueOrderStatus.OPEN
        rep = await venue.reconcile([req.client_order_id])
        assert [o.client_order_id for o in rep.orders] == [req.client_order_id]
        assert rep.unknown == ()
        assert len(orders_with_client_id(sim, req.client_order_id)) == 1
        with pytest.raises(VenueRejected, match="duplicate"):
            await venue.place(req)  # the engine's blind retry is refused, not executed
        assert len(orders_with_client_id(sim, req.client_order_id)) == 1
        await asyncio.sleep(0.4)  # let a held answer finish before shutdown
    finally:
        await venue.close()


async def test_5xx_before_processing_is_a_timeout_and_reconcile_reports_unknown(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    sim.inject_rest_fault("fail", method="POST", path="/api/v3/order", status=503)
    req = order(venue, "fail", limit="2000")
    with pytest.raises(VenueTimeout, match="reconcile"):
        await venue.place(req)
    rep = await venue.reconcile([req.client_order_id])
    assert rep.unknown == (req.client_order_id,)
    assert orders_with_client_id(sim, req.client_order_id) == []


async def test_429_is_waited_out_and_the_order_placed_once(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    sim.throttle(0)  # every request answered 429
    asyncio.get_running_loop().call_later(0.15, sim.throttle, None)
    r = await venue.place(order(venue, "429", limit="2000"))
    assert r.status is VenueOrderStatus.OPEN
    assert venue.stats["rate_limited"] >= 1
    assert len(orders_with_client_id(sim, r.client_order_id)) == 1


# --- the user stream -------------------------------------------------------------------------


async def _fill_by_agents(
    venue: CcxtVenue, sim: ExchangeSimulator, req: PlaceOrder
) -> list[FillReport]:
    """Rest ``req`` at the touch, step the simulator's agents until it fills; the fills seen
    on :meth:`events`."""
    events = venue.events()
    placed = await venue.place(req)
    assert placed.status is VenueOrderStatus.OPEN
    fills: list[FillReport] = []
    for _ in range(400):
        sim.step_agents(1)
        await asyncio.sleep(0.01)
        engine_order = orders_with_client_id(sim, req.client_order_id)[0]
        if engine_order.status == "FILLED":  # type: ignore[attr-defined]
            break
    assert engine_order.status == "FILLED"  # type: ignore[attr-defined]
    final: OrderStatusReport | None = None
    while final is None or final.status is not VenueOrderStatus.FILLED:
        event = await next_event(events)
        if isinstance(event, FillReport):
            fills.append(event)
        elif event.client_order_id == req.client_order_id:
            final = event
    assert sum(f.quantity for f in fills) == req.quantity
    assert {f.trade_id for f in fills} == {f.trade_id for f in final.fills}
    return fills


async def test_limit_order_filled_by_the_taker_agent_arrives_as_fill_reports(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    (bid, _), _ = sim.engine.best_bid_ask("ETHUSDC")  # type: ignore[misc]
    req = order(venue, "maker", qty="0.05", limit=str(bid + Decimal("0.01")))
    await wait_for(lambda: venue.stream_up, "the user stream to be subscribed")
    fills = await _fill_by_agents(venue, sim, req)
    assert all(f.client_order_id == req.client_order_id and f.side is Side.BUY for f in fills)
    assert venue.stream_up and venue.stats["stream_errors"] == 0


@pytest.fixture
async def slow_reconnect_venue(sim: ExchangeSimulator) -> AsyncIterator[CcxtVenue]:
    """Reconnects only after 1-2 s, so fills in between must come from REST polling."""
    v = CcxtVenue(venue_config(sim, backoff_initial_s=1.5, backoff_max_s=1.5))
    await v.start()
    yield v
    await v.close()


async def test_fills_while_the_user_stream_is_down_are_polled_then_the_stream_returns(
    slow_reconnect_venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    venue = slow_reconnect_venue
    (bid, _), _ = sim.engine.best_bid_ask("ETHUSDC")  # type: ignore[misc]
    req = order(venue, "down", qty="0.05", limit=str(bid + Decimal("0.01")))
    await wait_for(lambda: venue.stream_up, "the user stream to be subscribed")
    await sim.drop_websockets()
    # it reconnects only 1.5 s after it saw the drop, so "down" is observable in between
    await wait_for(lambda: not venue.stream_up, "the venue to see its stream drop")
    polled_before = venue.stats["polled_reports"]
    fills = await _fill_by_agents(venue, sim, req)
    assert len({f.trade_id for f in fills}) == len(fills)  # each fill exactly once
    assert venue.stats["stream_errors"] == 1
    assert venue.stats["polled_reports"] > polled_before  # they came from REST polling
    # the stream comes back: the next order is seen through it
    for n in range(100):
        if venue.stream_up:
            break
        r = await venue.place(order(venue, f"wake-{n}", qty="0.01", limit="2000"))
        await venue.cancel(r.client_order_id)
        await asyncio.sleep(0.1)
    assert venue.stream_up and venue.stats["stream_reconnects"] >= 1


async def test_partial_fill_rests_then_cancel_keeps_the_filled_part(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    _, (ask, ask_qty) = sim.engine.best_bid_ask("ETHUSDC")  # type: ignore[misc]
    qty = ask_qty + Decimal("0.5")
    r = await venue.place(order(venue, "partial", qty=str(qty), limit=str(ask)))
    assert r.status is VenueOrderStatus.PARTIALLY_FILLED
    assert r.filled_quantity == ask_qty == sum(f.quantity for f in r.fills)
    assert all(f.price == ask for f in r.fills)
    done = await venue.cancel(r.client_order_id)
    assert done.status is VenueOrderStatus.CANCELLED
    assert (done.filled_quantity, done.fills) == (r.filled_quantity, r.fills)


async def test_reads_wait_out_429_and_lose_nothing(
    venue: CcxtVenue, sim: ExchangeSimulator
) -> None:
    sim.throttle(0)
    asyncio.get_running_loop().call_later(0.15, sim.throttle, None)
    balances = await venue.balances()
    assert balances["USDC"] == Decimal(100_000)
    assert venue.stats["rate_limited"] >= 1


async def test_a_self_trade_is_two_fills_one_per_order(venue: CcxtVenue) -> None:
    instrument = venue.market("ETH/USDC").instrument
    asks = await venue.liquidity(instrument, Side.BUY)
    bids = await venue.liquidity(instrument, Side.SELL)
    price = bids.levels[0].price + Decimal("0.01")
    assert price < asks.levels[0].price, "needs a spread of at least two ticks"
    sell = order(venue, "self-sell", side=Side.SELL, limit=str(price))
    buy = order(venue, "self-buy", side=Side.BUY, limit=str(price))
    await venue.place(sell)
    await venue.place(buy)
    report = await venue.reconcile([sell.client_order_id, buy.client_order_id])
    by_id = {r.client_order_id: r for r in report.orders}
    for coid in (sell.client_order_id, buy.client_order_id):
        r = by_id[coid]
        assert r.status is VenueOrderStatus.FILLED and r.filled_quantity == Decimal("0.1")
        assert [f.client_order_id for f in r.fills] == [coid]
    (sell_fill,) = by_id[sell.client_order_id].fills
    (buy_fill,) = by_id[buy.client_order_id].fills
    assert sell_fill.trade_id == buy_fill.trade_id  # one trade, two fills of ours
