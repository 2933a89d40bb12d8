"""The Deribit-protocol exchange's state machine: exact cash flows, fees, margin, delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from oms_chain.devnet.deribit import (
    DeribitApiError,
    DeribitConfig,
    DeribitExchange,
    default_instruments,
)
from oms_chain.devnet.deribit.agents import QuotingMaker
from oms_chain.devnet.deribit.ledger import q8
from oms_chain.model.clock import ManualClock
from oms_chain.model.errors import InvalidInput

NOW_MS = int(datetime(2026, 12, 3, 9, tzinfo=UTC).timestamp() * 1000)
EXPIRY_MS = int(datetime(2026, 12, 27, 8, tzinfo=UTC).timestamp() * 1000)
CALL, PUT, PERP = "ETH-27DEC26-3000-C", "ETH-27DEC26-3000-P", "ETH-PERPETUAL"
D = Decimal


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW_MS * 1_000_000)


@pytest.fixture
def ex(clock: ManualClock) -> DeribitExchange:
    index = {"ETH": D(3000), "BTC": D(60000)}
    listing = default_instruments(
        NOW_MS, index, expiries_ms=[EXPIRY_MS], strikes={"ETH": [D(3000)], "BTC": [D(60000)]}
    )
    exchange = DeribitExchange(instruments=listing, index_usd=index, clock=clock)
    exchange.create_account("maker", "s", {"ETH": 100})
    exchange.create_account("taker", "s", {"ETH": 10})
    return exchange


def _codes(fn: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(DeribitApiError) as err:
        fn(*args, **kwargs)  # type: ignore[operator]
    return err.value.code


def test_an_option_fill_moves_the_premium_in_the_underlying_and_charges_0_0003_per_contract(
    ex: DeribitExchange,
) -> None:
    resting, fills = ex.place("maker", CALL, "sell", D(2), price=D("0.05"))
    assert resting["order_state"] == "open" and fills == []
    order, fills = ex.place("taker", CALL, "buy", D(2), price=D("0.05"))
    assert order["order_state"] == "filled" and order["average_price"] == 0.05
    assert [(f["liquidity"], f["fee"], f["amount"]) for f in fills] == [("T", 0.0006, 2.0)]
    assert ex.accounts["taker"].balance["ETH"] == D("9.8994")  # 10 - 0.1 - 0.0006
    assert ex.accounts["maker"].balance["ETH"] == D("100.0994")
    assert ex.accounts["taker"].positions[CALL].size == D(2)
    assert ex.accounts["maker"].positions[CALL].size == D(-2)
    assert ex.orders[str(resting["order_id"])].state == "filled"


def test_option_fees_are_capped_at_12_5_percent_of_the_premium(ex: DeribitExchange) -> None:
    ex.place("maker", PUT, "sell", D(1), price=D("0.001"))
    _, fills = ex.place("taker", PUT, "buy", D(1), order_type="market")
    assert fills[0]["fee"] == 0.000125  # min(0.0003, 0.125 * 0.001)


def test_expiry_delivers_cash_at_the_delivery_price_and_closes_the_book(
    ex: DeribitExchange, clock: ManualClock
) -> None:
    ex.place("maker", CALL, "sell", D(2), price=D("0.05"))
    ex.place("taker", CALL, "buy", D(2), price=D("0.05"))
    ex.place("maker", PUT, "sell", D(3), price=D("0.04"))
    ex.place("taker", PUT, "buy", D(1), price=D("0.04"))
    resting = ex.place("maker", PUT, "sell", D(1), price=D("0.06"))[0]
    clock.advance((EXPIRY_MS - NOW_MS) * 1_000_000)
    settled = ex.settle_expired({"ETH": D(3300)})
    assert CALL in settled and PUT in settled
    payoff = q8(D(2) * D(300) / D(3300))  # 0.18181818 ETH for the two calls; the put is OTM
    assert payoff == D("0.18181818")
    taker = ex.accounts["taker"]
    maker = ex.accounts["maker"]
    assert taker.balance["ETH"] == D("9.8994") - D("0.04") - D("0.0003") + payoff
    assert maker.balance["ETH"] == D("100.0994") + D("0.04") - D("0.0003") - payoff
    assert CALL not in taker.positions and PUT not in maker.positions
    assert ex.orders[str(resting["order_id"])].cancel_reason == "settlement"
    assert ex.delivery_prices["ETH"] == [(EXPIRY_MS, D(3300))]
    assert _codes(ex.place, "taker", CALL, "buy", D(1), price=D("0.01")) == 10012
    assert taker.settlements[0]["session_profit_loss"] == float(payoff)


def test_inverse_perpetual_pnl_is_settled_in_the_currency(ex: DeribitExchange) -> None:
    ex.place("maker", PERP, "sell", D(30000), price=D(3000))
    _, fills = ex.place("taker", PERP, "buy", D(30000), order_type="market")
    assert fills[0]["fee"] == 0.005  # taker: 0.05 % of 10 ETH; the maker pays nothing
    ex.place("maker", PERP, "buy", D(30000), price=D(3300))
    _, fills = ex.place("taker", PERP, "sell", D(30000), order_type="market")
    pnl = q8(D(30000) * (1 / D(3000) - 1 / D(3300)))
    assert pnl == D("0.90909091")
    taker = ex.accounts["taker"]
    assert fills[0]["profit_loss"] == float(pnl)
    exit_fee = D("0.00454546")  # 0.05 % of 30000 / 3300 ETH, rounded up to 8 decimals
    assert taker.balance["ETH"] == D(10) - D("0.005") + pnl - exit_fee
    assert PERP not in taker.positions


def test_account_summary_has_standard_margin_for_short_calls_and_perpetuals(
    ex: DeribitExchange,
) -> None:
    ex.place("maker", CALL, "sell", D(2), price=D("0.05"))
    ex.place("taker", CALL, "buy", D(2), price=D("0.05"))
    ex.place("maker", PERP, "sell", D(30000), price=D(3000))
    ex.place("taker", PERP, "buy", D(30000), price=D(3000))
    mark = ex.mark_price(ex.instruments[CALL])
    figures = ex.margin(ex.accounts["maker"], "ETH")
    # ATM short call: max(0.15 - 0, 0.1) + mark per contract; perpetual: 2 % of 10 ETH
    assert figures["initial_margin"] == q8(2 * (D("0.15") + mark) + D("0.2"))
    assert figures["maintenance_margin"] == q8(2 * (D("0.075") + mark) + D("0.1"))
    assert figures["equity"] == figures["balance"] - 2 * mark
    assert figures["available_funds"] == q8(figures["equity"] - figures["initial_margin"])


def test_an_order_beyond_the_available_funds_is_refused_with_not_enough_funds(
    ex: DeribitExchange,
) -> None:
    ex.create_account("poor", "s", {"ETH": D("0.01")})
    ex.place("maker", CALL, "sell", D(1), price=D("0.05"))
    assert _codes(ex.place, "poor", CALL, "buy", D(1), price=D("0.05")) == 10009
    assert _codes(ex.place, "poor", CALL, "sell", D(1), price=D("0.06")) == 10009
    assert ex.open_orders("poor") == []


def test_bad_orders_get_deribit_error_codes_and_change_nothing(ex: DeribitExchange) -> None:
    assert _codes(ex.place, "taker", CALL, "buy", D(1), price=D("0.0052")) == 10043
    assert _codes(ex.place, "taker", CALL, "buy", D("0.5"), price=D("0.005")) == 10021
    assert _codes(ex.place, "taker", "ETH-1JAN27-1-C", "buy", D(1), price=D("0.005")) == 10020
    assert _codes(ex.place, "taker", CALL, "buy", D(1)) == -32602
    assert _codes(ex.place, "taker", CALL, "hold", D(1), price=D("0.005")) == -32602
    assert _codes(ex.place, "taker", CALL, "sell", D(1), price=D("0.1"), reduce_only=True) == (
        11030
    )
    ex.place("maker", CALL, "sell", D(1), price=D("0.05"))
    assert (
        _codes(
            ex.place,
            "taker",
            CALL,
            "buy",
            D(1),
            price=D("0.05"),
            post_only=True,
            reject_post_only=True,
        )
        == 11054
    )
    assert _codes(ex.cancel, "taker", "ETH-999") == 10004
    assert _codes(ex.place, "nobody", CALL, "buy", D(1), price=D("0.05")) == 13004
    assert ex.open_orders("taker") == []


def test_post_only_without_reject_is_repriced_one_tick_inside(ex: DeribitExchange) -> None:
    ex.place("maker", CALL, "sell", D(1), price=D("0.05"))
    order, fills = ex.place("taker", CALL, "buy", D(1), price=D("0.06"), post_only=True)
    assert fills == [] and order["price"] == 0.0495 and order["order_state"] == "open"


def test_cancel_and_edit_keep_the_order_id_and_report_the_state(ex: DeribitExchange) -> None:
    order, _ = ex.place("taker", CALL, "buy", D(2), price=D("0.01"), label="mine")
    oid = str(order["order_id"])
    edited, _ = ex.edit("taker", oid, D(3), D("0.02"))
    assert (edited["order_id"], edited["amount"], edited["price"], edited["replaced"]) == (
        oid,
        3.0,
        0.02,
        True,
    )
    _, bids, _ = ex.engine.depth(CALL)
    assert bids == [(D("0.02"), D(3))]
    cancelled = ex.cancel("taker", oid)
    assert cancelled["order_state"] == "cancelled" and cancelled["cancel_reason"] == "user_request"
    assert _codes(ex.cancel, "taker", oid) == 11044
    assert _codes(ex.cancel, "maker", oid) == 10004


def test_book_changes_carry_new_change_delete_and_consecutive_change_ids(
    ex: DeribitExchange,
) -> None:
    seen: list[dict[str, object]] = []

    def listen(kind: str, key: str, payload: object) -> None:
        if kind == "book":
            assert isinstance(payload, dict)
            seen.append(payload)

    ex.listeners.append(listen)
    ex.place("maker", CALL, "sell", D(2), price=D("0.05"))
    ex.place("maker", CALL, "sell", D(1), price=D("0.05"))
    ex.place("taker", CALL, "buy", D(3), price=D("0.05"))
    assert [c["asks"] for c in seen] == [
        [["new", 0.05, 2.0]],
        [["change", 0.05, 3.0]],
        [["delete", 0.05, 0.0]],
    ]
    ids = [(c["prev_change_id"], c["change_id"]) for c in seen]
    assert ids == [(0, 1), (1, 2), (2, 3)]


def test_order_and_trade_events_reach_the_accounts_listeners(ex: DeribitExchange) -> None:
    events: list[tuple[str, str]] = []
    ex.listeners.append(lambda kind, key, payload: events.append((kind, key)))
    ex.place("maker", CALL, "sell", D(1), price=D("0.05"))
    ex.place("taker", CALL, "buy", D(1), price=D("0.05"))
    assert ("trade", "taker") in events and ("trade", "maker") in events
    assert ("order", "taker") in events


def test_the_maker_quotes_around_the_mark_on_valid_ticks_and_follows_the_index(
    ex: DeribitExchange,
) -> None:
    ex.create_account("mm", "", {"ETH": 1_000_000})
    ex.margin_exempt.add("mm")
    maker = QuotingMaker(ex, "mm")
    assert maker.step() == len(ex.active)
    for name in ex.active:
        instrument = ex.instruments[name]
        (bid, _), (ask, _) = ex.engine.best_bid_ask(name)  # type: ignore[misc]
        mark = ex.mark_price(instrument)
        assert bid < mark < ask
        instrument.check_price(bid)
        instrument.check_price(ask)
    assert maker.step() == 0  # nothing moved
    before = ex.engine.best_bid_ask(CALL)
    ex.set_index("ETH", D(3300))
    assert maker.step() >= 3
    assert ex.engine.best_bid_ask(CALL)[0][0] > before[0][0]  # type: ignore[index]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ex: ex.create_account("maker", "s", {}), "already exists"),
        (lambda ex: ex.create_account("x", "s", {"DOGE": 1}), "unknown currency"),
        (lambda ex: ex.create_account("x", "s", {"ETH": -1}), "must be a number >= 0"),
        (lambda ex: ex.create_account("x", "s", {"ETH": "lots"}), "must be a number >= 0"),
        (lambda ex: ex.create_account("", "s", {}), "client_id"),
        (lambda ex: ex.set_index("SOL", D(1)), "unknown index"),
        (lambda ex: ex.set_index("ETH", D(0)), "positive"),
        (lambda ex: ex.set_index("ETH", "NaN"), "positive"),
        (lambda ex: ex.settle_expired({"ETH": D(-5)}), "delivery price"),
    ],
)
def test_bad_operator_input_is_invalid_input_naming_it(
    ex: DeribitExchange, call: object, match: str
) -> None:
    before = {n: dict(a.balance) for n, a in ex.accounts.items()}
    with pytest.raises(InvalidInput, match=match):
        call(ex)  # type: ignore[operator]
    assert {n: dict(a.balance) for n, a in ex.accounts.items()} == before
    assert ex.index["ETH"] == D(3000)


@pytest.mark.parametrize(
    "kwargs",
    [{"agent_interval_s": 0}, {"anchor_interval_s": -1}, {"index_usd": {"ETH": 0}},
     {"index_usd": {"SOL": 10}}],
)  # fmt: skip
def test_bad_simulator_settings_are_invalid_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        DeribitConfig(**kwargs)  # type: ignore[arg-type]


def test_post_only_repricing_respects_the_finer_tick_below_0_005(ex: DeribitExchange) -> None:
    ex.place("maker", CALL, "sell", D(1), price=D("0.005"))
    order, _ = ex.place("taker", CALL, "buy", D(1), price=D("0.006"), post_only=True)
    assert order["price"] == 0.0049  # one 0.0001 tick under the 0.005 ask
    ex.place("maker", PUT, "buy", D(1), price=D("0.0049"))
    order, _ = ex.place("taker", PUT, "sell", D(1), price=D("0.004"), post_only=True)
    assert order["price"] == 0.005  # one tick over the bid is the 0.0005 grid's 0.005
