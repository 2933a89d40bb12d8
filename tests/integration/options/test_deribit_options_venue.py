"""The ccxt options venue against the local Deribit-protocol exchange through unmodified ccxt:
chain, Greeks, orders by label, the re-sent GET, positions, settlement at expiry."""

from __future__ import annotations

from decimal import Decimal

import pytest
from options_venue_config import API_KEY, SECRET, venue_config

from oms_chain.devnet.deribit import DeribitSimulator
from oms_chain.model.assets import Asset
from oms_chain.model.clock import ManualClock
from oms_chain.model.errors import InvalidInput, VenueRejected, VenueTimeout
from oms_chain.model.ids import ClientOrderId
from oms_chain.model.instruments import OptionContract, OptionKind, SpotPair
from oms_chain.model.intent import Side
from oms_chain.testing.venue import VenueConformance
from oms_chain.venues.base import PlaceOrder, VenueOrderStatus
from oms_chain.venues.cex import CcxtVenueConfig
from oms_chain.venues.options import (
    DeribitOptionsConfig,
    DeribitOptionsVenue,
    premium_in_quote,
)

D = Decimal
PUT = "ETH-11DEC26-3000-P"
SHORT_PUT = "ETH-4DEC26-3000-P"  # expires Friday 4 Dec 2026 08:00 UTC


def _buy(coid: str, contract: OptionContract, qty: int = 1, limit: str | None = None) -> PlaceOrder:
    return PlaceOrder(
        client_order_id=ClientOrderId(coid),
        instrument=contract,
        side=Side.BUY,
        quantity=D(qty),
        limit_price=None if limit is None else D(limit),
    )


class TestDeribitOptionsConformance(VenueConformance):
    @pytest.fixture
    async def venue(self, deribit_venue: DeribitOptionsVenue) -> DeribitOptionsVenue:
        return deribit_venue

    @pytest.fixture
    def instrument(self, deribit_venue: DeribitOptionsVenue) -> OptionContract:
        return deribit_venue.contract(PUT)

    @pytest.fixture
    def resting_buy_price(self) -> Decimal:
        return D("0.0001")  # premium in ETH, far below the 0.0365 bid


async def test_options_map_to_contracts_with_deribits_names_at_the_edge(
    deribit_venue: DeribitOptionsVenue,
) -> None:
    contracts = deribit_venue.instruments()
    assert len(contracts) == 56 and all(isinstance(c, OptionContract) for c in contracts)
    put = deribit_venue.contract(PUT)
    same = OptionContract(
        underlying=put.underlying,
        quote=put.quote,
        strike=D("3000.00"),
        expiry_ns=put.expiry_ns,
        option_kind=OptionKind.PUT,
    )  # another quantity precision: still the listed option
    assert deribit_venue.venue_name(same) == PUT
    assert (put.strike, put.option_kind, put.expiry_ns, put.size_decimals) == (
        D(3000),
        OptionKind.PUT,
        1_796_976_000 * 1_000_000_000,  # 11 Dec 2026 08:00 UTC
        0,
    )
    assert put.symbol == "ETH-11DEC26-3000-P" and deribit_venue.venue_name(put) == PUT
    assert deribit_venue.premium_currency(put) == "ETH"
    assert deribit_venue.market(put).price_step == D("0.0001")


async def test_greeks_and_chain_come_from_the_venue(deribit_venue: DeribitOptionsVenue) -> None:
    put = deribit_venue.contract(PUT)
    t = await deribit_venue.greeks(put)
    assert (t.name, t.premium_currency, t.bid, t.ask, t.mark_iv) == (
        PUT,
        "ETH",
        D("0.0365"),
        D("0.0400"),
        D("0.65"),
    )
    assert t.delta is not None and D(-1) < t.delta < 0 and t.gamma is not None and t.gamma > 0
    chain = await deribit_venue.option_chain("ETH", expiry_ns=put.expiry_ns, with_greeks=False)
    assert len(chain) == 14  # 7 strikes, call and put
    assert [r.contract.strike for r in chain[::2]] == sorted(r.contract.strike for r in chain[::2])
    row = next(r for r in chain if r.name == PUT)
    assert (row.bid, row.ask, row.mark_iv) == (t.bid, t.ask, D("0.65"))
    with pytest.raises(InvalidInput, match="not configured"):
        await deribit_venue.option_chain("SOL")


async def test_place_reconcile_cancel_and_positions_by_label(
    sim: DeribitSimulator, deribit_venue: DeribitOptionsVenue
) -> None:
    put = deribit_venue.contract(PUT)
    filled = await deribit_venue.place(_buy("opt-1", put, 2))
    assert (filled.status, filled.filled_quantity) == (VenueOrderStatus.FILLED, D(2))
    assert [(f.price, f.fee, f.fee_currency) for f in filled.fills] == [
        (D("0.0400"), D("0.0006"), "ETH")
    ]
    resting = await deribit_venue.place(_buy("opt-2", put, 1, "0.0100"))
    assert resting.status is VenueOrderStatus.OPEN
    labels = [r.label for r in sim.exchange.open_orders(deribit_venue.exchange.apiKey)]
    assert labels == ["opt-2"]

    # a fresh venue (a restart) knows nothing and finds both by label
    async with DeribitOptionsVenue(venue_config(sim)) as again:
        rep = await again.reconcile([ClientOrderId("opt-1"), ClientOrderId("ghost")])
        by_id = {o.client_order_id: o for o in rep.orders}
        assert by_id["opt-1"].status is VenueOrderStatus.FILLED
        assert by_id["opt-2"].status is VenueOrderStatus.OPEN
        assert rep.unknown == ("ghost",)
        # free = Deribit's available funds; the cash paid is exactly 2 x 0.04 + fees 0.0006
        raw = await again.exchange.fetch_balance({"code": "ETH"})
        assert rep.balances == {"ETH": D(repr(raw["free"]["ETH"]))}
        assert sim.exchange.account(API_KEY).balance["ETH"] == D("99.9194")
        cancelled = await again.cancel(ClientOrderId("opt-2"))
        assert cancelled.status is VenueOrderStatus.CANCELLED
        (pos,) = await again.positions()
        assert (pos.name, pos.quantity, pos.average_price, pos.premium_currency) == (
            PUT,
            D(2),
            D("0.04"),
            "ETH",
        )
    assert premium_in_quote(D("0.0400"), D(3000)) == D("120.0000")


async def test_a_dropped_answer_is_not_resent_and_the_order_is_found_by_label(
    sim: DeribitSimulator, deribit_venue: DeribitOptionsVenue
) -> None:
    put = deribit_venue.contract(PUT)
    await deribit_venue.balances()  # a keep-alive connection aiohttp would reuse
    sim.inject_fault("drop", "private/buy", count=1)
    report = await deribit_venue.place(_buy("opt-drop", put, 1))
    assert sim.faults.fired == {"drop": 1}
    assert (report.status, report.filled_quantity) == (VenueOrderStatus.FILLED, D(1))
    mine = [t for t in sim.exchange.account(deribit_venue.exchange.apiKey).trades]
    assert len(mine) == 1  # executed once: the GET was not re-sent
    assert deribit_venue.stats["duplicates_by_label"] == 0
    with pytest.raises(VenueRejected, match="duplicate client order id"):
        await deribit_venue.place(_buy("opt-drop", put, 1))


async def test_a_dropped_answer_to_an_order_never_received_is_a_timeout(
    sim: DeribitSimulator, deribit_venue: DeribitOptionsVenue
) -> None:
    put = deribit_venue.contract(PUT)
    await deribit_venue.balances()
    sim.inject_fault("fail", "private/buy", count=1, status=502, code=10040)
    with pytest.raises((VenueTimeout, VenueRejected)):
        await deribit_venue.place(_buy("opt-lost", put, 1))
    assert sim.exchange.account(deribit_venue.exchange.apiKey).trades == []


async def test_settlement_at_expiry_pays_the_exact_payoff_in_the_underlying(
    sim: DeribitSimulator, sim_clock: ManualClock, deribit_venue: DeribitOptionsVenue
) -> None:
    put = deribit_venue.contract(SHORT_PUT)
    bought = await deribit_venue.place(_buy("opt-exp", put, 3))
    (fill,) = bought.fills
    cash_before = sim.exchange.account(API_KEY).balance["ETH"]
    assert cash_before == D(100) - 3 * fill.price - fill.fee
    sim_clock.set(put.expiry_ns + 1_000_000_000)
    assert sim.settle_expired({"ETH": D(2500)}) != []
    (s,) = await deribit_venue.settlements()
    # a 3000 put delivered at 2500 pays (3000 - 2500) / 2500 = 0.2 ETH per contract
    assert (s.name, s.quantity, s.settlement_price, s.payoff, s.payoff_currency) == (
        SHORT_PUT,
        D(3),
        D(2500),
        D("0.6"),
        "ETH",
    )
    assert sim.exchange.account(API_KEY).balance["ETH"] == cash_before + D("0.6")
    # no position left: the free balance is the cash, to the satoshi of ETH
    assert (await deribit_venue.balances())["ETH"] == cash_before + D("0.6")
    assert await deribit_venue.positions() == []


async def test_bad_input_is_refused_before_anything_is_sent(
    sim: DeribitSimulator, deribit_venue: DeribitOptionsVenue
) -> None:
    put = deribit_venue.contract(PUT)
    unlisted = OptionContract(
        underlying=put.underlying,
        quote=put.quote,
        strike=D(3333),
        expiry_ns=put.expiry_ns,
        option_kind=OptionKind.PUT,
    )
    spot = SpotPair(base=Asset.cex("deribit", "ETH"), quote=Asset.cex("deribit", "USD"))
    with pytest.raises(VenueRejected, match="no listed option"):
        await deribit_venue.place(_buy("bad-1", unlisted))
    with pytest.raises(VenueRejected, match="only options"):
        await deribit_venue.place(_buy("bad-2", spot))  # type: ignore[arg-type]
    with pytest.raises(VenueRejected, match="64-character label"):
        await deribit_venue.place(_buy("x" * 65, put))
    with pytest.raises(VenueRejected, match="price tick"):
        await deribit_venue.place(_buy("bad-3", put, 1, "0.00005"))
    with pytest.raises(VenueRejected, match=r"price tick 0\.0005 at that price"):
        await deribit_venue.place(_buy("bad-4", put, 1, "0.0412"))  # Deribit's upper tier
    assert deribit_venue.price_tick(put, D("0.0049")) == D("0.0001")
    with pytest.raises(VenueRejected, match="no listed option named"):
        deribit_venue.contract("ETH-11DEC26-3333-P")
    assert sim.exchange.open_orders(deribit_venue.exchange.apiKey) == []
    assert sim.exchange.account(deribit_venue.exchange.apiKey).trades == []
    from oms_chain.model.errors import ConfigError

    with pytest.raises(ConfigError, match="Deribit's protocol"):
        DeribitOptionsConfig(ccxt=CcxtVenueConfig(exchange="binance"))


async def test_the_session_hook_builds_the_same_venue_from_a_rest_url(
    sim: DeribitSimulator,
) -> None:
    from oms_chain.venues.options import deribit_options_venue

    async with deribit_options_venue(
        name="deribit-dev", rest_url=sim.url, api_key=API_KEY, secret=SECRET
    ) as venue:
        assert venue.venue_id == "deribit-dev"
        assert venue.exchange.urls["api"] == sim.deribit_urls()
        assert len(venue.instruments()) == 56
    with pytest.raises(InvalidInput, match="http"):
        deribit_options_venue(rest_url="ftp://x")


async def test_a_fill_of_a_resting_order_arrives_on_the_stream_under_our_label(
    sim: DeribitSimulator, deribit_venue: DeribitOptionsVenue
) -> None:
    import asyncio

    import ccxt.pro as ccxtpro

    from oms_chain.venues.base import FillReport

    put = deribit_venue.contract(PUT)
    resting = await deribit_venue.place(_buy("opt-stream", put, 2, "0.0380"))  # inside the spread
    assert resting.status is VenueOrderStatus.OPEN
    sim.create_account("other", "other-secret", {"ETH": D(100)})
    other = ccxtpro.deribit({"apiKey": "other", "secret": "other-secret"})
    other.urls["api"] = sim.deribit_urls()
    events = deribit_venue.events()
    try:
        await other.load_markets()
        symbol = deribit_venue.market(put).symbol
        await other.create_order(symbol, "limit", "sell", 2, 0.0380)  # hits our bid
        seen: list[object] = []
        while not any(isinstance(e, FillReport) for e in seen):
            seen.append(await asyncio.wait_for(anext(events), timeout=15))
    finally:
        await other.close()
    fill = next(e for e in seen if isinstance(e, FillReport))
    assert (fill.client_order_id, fill.quantity, fill.price) == ("opt-stream", D(2), D("0.0380"))
    final = await deribit_venue.status(ClientOrderId("opt-stream"))
    assert final is not None and final.status is VenueOrderStatus.FILLED


async def test_a_market_order_bounded_by_slippage_is_an_ioc_limit_at_the_touch(
    sim: DeribitSimulator, deribit_venue: DeribitOptionsVenue
) -> None:
    put = deribit_venue.contract(PUT)
    order = PlaceOrder(
        client_order_id=ClientOrderId("opt-slip"),
        instrument=put,
        side=Side.BUY,
        quantity=D(30),  # more than the best ask (25 at 0.0400) holds
        max_slippage_bps=D(300),  # bound 0.0412: the 0.0415 level is out of reach
    )
    r = await deribit_venue.place(order)
    assert r.filled_quantity == D(25) and {f.price for f in r.fills} == {D("0.0400")}
    assert r.status is VenueOrderStatus.CANCELLED  # the rest was not left resting
    assert sim.exchange.open_orders(API_KEY) == []
