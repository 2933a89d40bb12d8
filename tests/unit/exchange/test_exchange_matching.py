"""Matching engine: price-time priority, order types, fees, locks, filters, ids."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from oms_chain.devnet.exchange import ExchangeApiError, MatchingEngine, check_invariants
from oms_chain.devnet.exchange.markets import default_markets


class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def now_ns(self) -> int:
        return self.ms * 1_000_000


@pytest.fixture
def engine() -> MatchingEngine:
    eng = MatchingEngine(default_markets(), clock=Clock(), seed=1)
    for name in ("maker", "maker2", "taker"):
        eng.create_account(name, {"USDC": D(1_000_000), "ETH": D(100), "BTC": D(10)})
    return eng


def limit(eng: MatchingEngine, acct: str, side: str, qty: str, price: str, tif: str = "GTC"):
    return eng.place(
        acct, "ETHUSDC", side, "LIMIT", quantity=D(qty), price=D(price), time_in_force=tif
    )


def test_resting_limit_orders_lock_funds_and_show_in_depth(engine: MatchingEngine) -> None:
    limit(engine, "maker", "BUY", "1", "2990")
    limit(engine, "maker", "SELL", "2", "3010")
    update_id, bids, asks = engine.depth("ETHUSDC")
    assert (bids, asks) == ([(D(2990), D(1))], [(D(3010), D(2))])
    assert update_id == 2
    maker = engine.accounts["maker"]
    assert maker.locked["USDC"] == D(2990) and maker.locked["ETH"] == D(2)
    assert check_invariants(engine) == []


def test_taker_fills_best_price_first_then_oldest_first_at_maker_prices(
    engine: MatchingEngine,
) -> None:
    first = limit(engine, "maker", "SELL", "1", "3001").order
    second = limit(engine, "maker2", "SELL", "1", "3001").order
    cheaper = limit(engine, "maker2", "SELL", "1", "3000").order
    result = limit(engine, "taker", "BUY", "2.5", "3005")
    assert [(t.price, t.qty) for t in result.trades] == [
        (D(3000), D(1)),
        (D(3001), D(1)),
        (D(3001), D("0.5")),
    ]
    assert [t.seller_order_id for t in result.trades] == [
        cheaper.order_id,
        first.order_id,
        second.order_id,
    ]
    assert result.order.status == "FILLED"
    assert (first.status, second.status, second.remaining) == (
        "FILLED",
        "PARTIALLY_FILLED",
        D("0.5"),
    )
    # price improvement: the taker locked 2.5 * 3005 and spent only what it paid
    taker = engine.accounts["taker"]
    assert taker.locked["USDC"] == 0
    assert taker.free["USDC"] == D(1_000_000) - D(3000) - D(3001) - D("1500.5")
    assert check_invariants(engine) == []


def test_fees_are_charged_in_the_received_asset(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "1", "3000")
    trade = limit(engine, "taker", "BUY", "1", "3000").trades[0]
    assert trade.buyer_commission == D("0.001")  # ETH, taker 0.1 %
    assert trade.seller_commission == D("3")  # USDC, maker 0.1 %
    assert engine.accounts["taker"].free["ETH"] == D(100) + D("0.999")
    assert engine.accounts["maker"].free["USDC"] == D(1_000_000) + D(2997)
    assert engine.fees_collected == {"ETH": D("0.001"), "USDC": D(3)}


def test_partial_fill_then_rest(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "1", "3000")
    order = limit(engine, "taker", "BUY", "3", "3000").order
    assert order.status == "PARTIALLY_FILLED" and order.remaining == D(2)
    assert engine.depth("ETHUSDC")[1] == [(D(3000), D(2))]
    assert engine.accounts["taker"].locked["USDC"] == D(6000)


def test_ioc_fills_what_it_can_and_expires_the_rest(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "1", "3000")
    order = limit(engine, "taker", "BUY", "3", "3000", tif="IOC").order
    assert (order.status, order.executed_qty) == ("EXPIRED", D(1))
    assert engine.depth("ETHUSDC")[1:] == ([], [])
    assert engine.accounts["taker"].locked["USDC"] == 0


def test_fok_fills_completely_or_not_at_all(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "1", "3000")
    order = limit(engine, "taker", "BUY", "2", "3000", tif="FOK").order
    assert (order.status, order.executed_qty) == ("EXPIRED", 0)
    assert engine.depth("ETHUSDC")[2] == [(D(3000), D(1))]
    order = limit(engine, "taker", "BUY", "1", "3000", tif="FOK").order
    assert order.status == "FILLED"


def test_limit_maker_that_would_take_is_rejected(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "1", "3000")
    with pytest.raises(ExchangeApiError, match="Order would immediately match and take") as info:
        engine.place("taker", "ETHUSDC", "BUY", "LIMIT_MAKER", quantity=D(1), price=D(3000))
    assert info.value.code == -2010
    ok = engine.place("taker", "ETHUSDC", "BUY", "LIMIT_MAKER", quantity=D(1), price=D("2999.99"))
    assert ok.order.status == "NEW"


def test_market_orders_by_quantity_and_by_quote_quantity(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "1", "3000")
    limit(engine, "maker", "SELL", "1", "3010")
    by_qty = engine.place("taker", "ETHUSDC", "BUY", "MARKET", quantity=D("1.5"))
    assert by_qty.order.cum_quote == D(3000) + D(1505)
    by_quote = engine.place("taker", "ETHUSDC", "BUY", "MARKET", quote_quantity=D(1000))
    # 1000 / 3010 = 0.33222..., floored to the 0.0001 step
    assert by_quote.order.executed_qty == D("0.3322")
    assert by_quote.order.status == "FILLED" and by_quote.order.cum_quote <= 1000
    limit(engine, "maker", "BUY", "1", "2990")
    sell_quote = engine.place("taker", "ETHUSDC", "SELL", "MARKET", quote_quantity=D(299))
    assert sell_quote.order.executed_qty == D("0.1") and sell_quote.order.cum_quote == D(299)
    assert check_invariants(engine) == []


def test_market_order_without_enough_liquidity_expires_partially(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "0.5", "3000")
    order = engine.place("taker", "ETHUSDC", "BUY", "MARKET", quantity=D(1)).order
    assert (order.status, order.executed_qty) == ("EXPIRED", D("0.5"))


@pytest.mark.parametrize(
    ("qty", "price", "code", "text"),
    [
        ("0.00001", "3000", -1013, "LOT_SIZE"),
        ("1.00005", "3000", -1013, "LOT_SIZE"),
        ("10000", "3000", -1013, "LOT_SIZE"),
        ("1", "3000.001", -1013, "PRICE_FILTER"),
        ("1", "2000000", -1013, "PRICE_FILTER"),
        ("0.001", "3000", -1013, "NOTIONAL"),
        ("1", "3000.000000001", -1111, "precision"),
        ("1000", "3000", -2010, "insufficient balance"),
    ],
)
def test_bad_orders_are_rejected_without_changing_state(
    engine: MatchingEngine, qty: str, price: str, code: int, text: str
) -> None:
    before = engine.asset_totals(), dict(engine.accounts["taker"].free)
    with pytest.raises(ExchangeApiError, match=text) as info:
        limit(engine, "taker", "BUY", qty, price)
    assert info.value.code == code
    assert (engine.asset_totals(), dict(engine.accounts["taker"].free)) == before
    assert engine.open_orders("taker") == [] and engine.update_id("ETHUSDC") == 0


def test_client_order_ids_are_unique_among_open_orders(engine: MatchingEngine) -> None:
    engine.place(
        "taker",
        "ETHUSDC",
        "BUY",
        "LIMIT",
        quantity=D(1),
        price=D(2000),
        time_in_force="GTC",
        client_order_id="a",
    )
    with pytest.raises(ExchangeApiError, match="Duplicate order sent"):
        engine.place(
            "taker",
            "ETHUSDC",
            "BUY",
            "LIMIT",
            quantity=D(1),
            price=D(2000),
            time_in_force="GTC",
            client_order_id="a",
        )
    engine.cancel("taker", "ETHUSDC", client_order_id="a")
    again = engine.place(
        "taker",
        "ETHUSDC",
        "BUY",
        "LIMIT",
        quantity=D(1),
        price=D(2000),
        time_in_force="GTC",
        client_order_id="a",
    )
    assert engine.get_order("taker", "ETHUSDC", client_order_id="a") is again.order


def test_cancel_releases_locks_and_unknown_orders_raise(engine: MatchingEngine) -> None:
    order = limit(engine, "taker", "BUY", "1", "2000").order
    engine.cancel("taker", "ETHUSDC", order_id=order.order_id)
    assert engine.accounts["taker"].locked["USDC"] == 0 and order.status == "CANCELED"
    with pytest.raises(ExchangeApiError) as info:
        engine.cancel("taker", "ETHUSDC", order_id=order.order_id)
    assert info.value.code == -2011
    with pytest.raises(ExchangeApiError) as info:
        engine.get_order("taker", "ETHUSDC", order_id=999)
    assert info.value.code == -2013
    with pytest.raises(ExchangeApiError) as info:  # other accounts' orders are invisible
        engine.get_order("maker", "ETHUSDC", order_id=order.order_id)
    assert info.value.code == -2013


def test_self_trade_is_allowed_and_conserves_balances(engine: MatchingEngine) -> None:
    limit(engine, "taker", "SELL", "1", "3000")
    result = limit(engine, "taker", "BUY", "1", "3000")
    assert result.trades[0].buyer_account == result.trades[0].seller_account == "taker"
    assert check_invariants(engine) == []


def test_each_operation_bumps_the_update_id_once_and_reports_changed_levels(
    engine: MatchingEngine,
) -> None:
    seen: list[tuple[int, list, list]] = []

    class Listener:
        def on_execution(self, *a: object) -> None: ...
        def on_trade(self, *a: object) -> None: ...
        def on_balances(self, *a: object) -> None: ...
        def on_depth(self, symbol: str, update_id: int, bids: list, asks: list) -> None:
            seen.append((update_id, bids, asks))

    engine.listener = Listener()
    limit(engine, "maker", "SELL", "1", "3000")
    limit(engine, "maker", "SELL", "1", "3001")
    limit(engine, "taker", "BUY", "1.5", "3001")  # eats one level, half of the next
    with pytest.raises(ExchangeApiError):
        limit(engine, "taker", "BUY", "0.00001", "3001")  # rejected: no update
    assert seen == [
        (1, [], [(D(3000), D(1))]),
        (2, [], [(D(3001), D(1))]),
        (3, [], [(D(3000), D(0)), (D(3001), D("0.5"))]),
    ]


def test_quote_market_order_that_runs_out_of_book_expires(engine: MatchingEngine) -> None:
    limit(engine, "maker", "SELL", "0.1", "3000")
    order = engine.place("taker", "ETHUSDC", "BUY", "MARKET", quote_quantity=D(1000)).order
    assert (order.status, order.executed_qty, order.cum_quote) == ("EXPIRED", D("0.1"), D(300))
    assert engine.accounts["taker"].locked["USDC"] == 0
    with pytest.raises(ExchangeApiError, match="liquidity"):
        engine.place("taker", "ETHUSDC", "BUY", "MARKET", quote_quantity=D(1000))
