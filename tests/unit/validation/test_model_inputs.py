"""Every public constructor and function of ``oms_chain.model`` (orders and events aside) refuses
NaN, infinities, wrong types, huge and out-of-range values with ``InvalidInput`` (or its
documented subclass) naming the argument; valid arguments still build; and no value at all
makes a builtin exception escape."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from validation_support import (
    Case,
    bad_decimal,
    bad_int,
    bad_name,
    bad_text,
    case_tests,
    cases,
    given_,
    not_a,
)

from oms_chain.model import (
    AmountPrecisionError,
    Asset,
    Fill,
    Intent,
    InvalidInput,
    InvalidIntent,
    ManualClock,
    OptionContract,
    OptionKind,
    Perpetual,
    Portfolio,
    Position,
    PositionKey,
    Side,
    SpotPair,
    child_order_id,
    client_order_id,
    from_base_units,
    instrument_from_payload,
    parent_order_id,
    to_base_units,
    to_decimal,
)
from oms_chain.model.checks import MAX_NS, MAX_UINT256

WETH = Asset.erc20(31337, "0x" + "11" * 20, "WETH", 18)
USDC = Asset.erc20(31337, "0x" + "22" * 20, "USDC", 6)
PAIR = SpotPair(base=WETH, quote=USDC)
NOW = 1_700_000_000_000_000_000
EXPIRY = NOW + 30 * 86_400 * 10**9

BAD_ADDRESSES = st.sampled_from(
    [
        None,
        1,
        "",
        "0x",
        "0x123",
        "0x" + "g" * 40,
        "11" * 21,
        "0x" + "1" * 40 + "\n",
        "0x" + "1" * 41,
    ]
)
BAD_VENUE_CODES = st.sampled_from([None, 1, "", "Binance", "a b", "bin\n", "x" * 40, "\u00e9"])
BAD_PREFIXES = st.sampled_from([None, 1, "", "toolong", "a-b", "\u00e9", "ab\n"])
BAD_SIDES = st.sampled_from([None, 1, "", "long", "BUY!", "buy\n", True, Decimal(1), [], "\u0628"])
BAD_VENUE_LISTS = st.sampled_from(
    [None, 5, "paper", [], (), ["a", "a"], [1], ["a b"], ["\u00e9"], [""], [None], b"paper"]
)
BAD_ALGOS = st.sampled_from([None, 1, "", "fast", "TWAP ", ["twap"]])
BAD_ALGO_PARAMS = st.sampled_from(
    [
        "x",
        [1],
        5,
        {"Bad": 1},
        {"": 1},
        {1: 2},
        {"k": 1.5},
        {"k": float("nan")},
        {"k": Decimal("NaN")},
        {"k": Decimal("Infinity")},
        {"k": None},
        {"k": [1]},
        {"k": 2**300},
        {"k": "x" * 300},
        {"k\n": 1},
    ]
)
BAD_FLAGS = st.sampled_from([None, 0, 1, "yes", "true", Decimal(1), 1.0])

INTENT: dict[str, Any] = {
    "intent_id": "i-1",
    "account": "acct",
    "instrument": PAIR,
    "side": "buy",
    "venues": ["uniswap-v3", "binance"],
    "now_ns": NOW,
    "quantity": "1.5",
    "limit_price": "2500",
    "max_slippage_bps": 30,
    "deadline_ns": NOW + 10**9,
    "algo": "twap",
    "algo_params": {"slices": 4, "aggressive": False, "participation": Decimal("0.1")},
}
GOOD_INTENT = Intent.create(**INTENT)
FIELDS = {
    "intent_id": GOOD_INTENT.intent_id,
    "account": GOOD_INTENT.account,
    "instrument": PAIR,
    "side": Side.BUY,
    "quantity": Decimal("1.5"),
    "notional": None,
    "limit_price": Decimal(2500),
    "max_slippage_bps": Decimal(30),
    "deadline_ns": NOW + 10**9,
    "algo": "direct",
    "algo_params": (),
    "venues": ("binance",),
    "reduce_only": False,
    "ts_init": NOW,
}
FILL: dict[str, Any] = {
    "trade_id": "t-1",
    "order_id": "o-i-1/0",
    "client_order_id": "oms-abc-0",
    "venue": "binance",
    "account": "acct",
    "instrument_id": PAIR.id,
    "side": Side.BUY,
    "quantity": Decimal("0.5"),
    "price": Decimal(2500),
    "fee": Decimal("0.25"),
    "fee_currency": "USDC",
    "ts_event": NOW,
}
GOOD_FILL = Fill(**FILL)
KEY = PositionKey("acct", "binance", PAIR.id)
OPTION: dict[str, Any] = {
    "underlying": WETH,
    "quote": USDC,
    "strike": Decimal(3000),
    "expiry_ns": EXPIRY,
    "option_kind": OptionKind.CALL,
}
PERP: dict[str, Any] = {"base": WETH, "quote": USDC, "settle": USDC}
BAD_PAYLOADS = st.sampled_from(
    [None, 1, "spot", [], {}, {"kind": "future"}, {"kind": "spot"}, {"kind": "spot", "base": 1}]
)


def _portfolio_mark(marks: object) -> object:
    book = Portfolio()
    book.apply(GOOD_FILL)
    return book.unrealized_pnl(marks)  # type: ignore[arg-type]


def _intent_payload(**changes: object) -> dict[str, Any]:
    return {**GOOD_INTENT.to_payload(), **changes}


CASES: list[Case] = [
    *cases(
        "to_decimal",
        to_decimal,
        {"what": "price"},
        {"value": bad_decimal(strings=True)},
        names={"value": "price"},
    ),
    *cases(
        "to_base_units",
        to_base_units,
        {"quantity": Decimal("1.5"), "decimals": 18},
        {"quantity": bad_decimal(strings=True), "decimals": bad_int(0, 36)},
    ),
    Case(
        "to_base_units",
        to_base_units,
        {"decimals": 6},
        "quantity",
        st.sampled_from([Decimal("1.0000001"), "0.1234567", Decimal("1e-7")]),
        AmountPrecisionError,
        "decimal places",
    ),
    *cases(
        "from_base_units",
        from_base_units,
        {"units": 10**18, "decimals": 18},
        {"units": bad_int(-MAX_UINT256, MAX_UINT256), "decimals": bad_int(0, 36)},
        names={"units": "base units"},
    ),
    *cases(
        "Asset.erc20",
        Asset.erc20,
        {"chain_id": 1, "address": "0x" + "33" * 20, "symbol": "DAI", "decimals": 18},
        {
            "chain_id": bad_int(1, 2**63 - 1),
            "address": BAD_ADDRESSES,
            "symbol": bad_name(),
            "decimals": bad_int(0, 36),
        },
    ),
    *cases(
        "Asset.native",
        Asset.native,
        {"chain_id": 10},
        {"chain_id": bad_int(1, 2**63 - 1), "symbol": bad_name(), "decimals": bad_int(0, 36)},
    ),
    *cases(
        "Asset.cex",
        Asset.cex,
        {"venue": "binance", "code": "BTC"},
        {"venue": BAD_VENUE_CODES, "code": bad_name(), "decimals": bad_int(0, 36)},
        names={"code": "symbol"},
    ),
    *cases("Asset.from_payload", Asset.from_payload, {}, {"payload": BAD_PAYLOADS}),
    *cases(
        "Asset.to_base_units",
        lambda quantity: USDC.to_base_units(quantity),
        {},
        {"quantity": bad_decimal(strings=True)},
    ),
    *cases(
        "Asset.from_base_units",
        lambda units: USDC.from_base_units(units),
        {},
        {"units": bad_int(-MAX_UINT256, MAX_UINT256)},
        names={"units": "base units"},
    ),
    *cases(
        "parent_order_id",
        parent_order_id,
        {},
        {"intent_id": bad_name()},
        names={"intent_id": "intent id"},
    ),
    *cases(
        "child_order_id",
        child_order_id,
        {"parent": "o-i-1", "seq": 0},
        {"parent": bad_name(), "seq": bad_int(0, 10**9 - 1)},
        names={"parent": "parent order id"},
    ),
    *cases(
        "client_order_id",
        client_order_id,
        {"intent_id": "i-1", "seq": 3},
        {"intent_id": bad_name(), "seq": bad_int(0, 10**9 - 1), "prefix": BAD_PREFIXES},
        names={"intent_id": "intent id"},
    ),
    *cases("ManualClock", ManualClock, {}, {"start_ns": bad_int(0, MAX_NS)}),
    *cases(
        "ManualClock.advance",
        lambda ns: ManualClock(NOW).advance(ns),
        {},
        {"ns": bad_int(0, MAX_NS - NOW)},
    ),
    *cases(
        "ManualClock.set",
        lambda now_ns: ManualClock(NOW).set(now_ns),
        {},
        {"now_ns": bad_int(NOW, MAX_NS)},
    ),
    *cases(
        "SpotPair",
        SpotPair,
        {"base": WETH, "quote": USDC},
        {"base": not_a(USDC.symbol), "quote": not_a(WETH.id)},
    ),
    *cases(
        "OptionContract",
        OptionContract,
        OPTION,
        {
            "underlying": not_a(),
            "quote": not_a(),
            "strike": bad_decimal(gt=0, strings=True),
            "expiry_ns": bad_int(1, MAX_NS),
            "option_kind": not_a("call", "CALL"),
            "settlement": not_a("cash"),
            "style": not_a("european"),
            "size_decimals": bad_int(0, 18),
        },
    ),
    *cases(
        "Perpetual",
        Perpetual,
        PERP,
        {"base": not_a(), "quote": not_a(), "settle": not_a(), "size_decimals": bad_int(0, 18)},
    ),
    *cases(
        "instrument_from_payload",
        instrument_from_payload,
        {},
        {"payload": BAD_PAYLOADS},
        names={"payload": "instrument"},
    ),
    *cases(
        "Intent.create",
        Intent.create,
        INTENT,
        {
            "intent_id": bad_name(),
            "account": bad_name(),
            "instrument": not_a(WETH),
            "side": BAD_SIDES,
            "venues": BAD_VENUE_LISTS,
            "now_ns": bad_int(0, MAX_NS),
            "quantity": bad_decimal(gt=0, strings=True),
            "limit_price": given_(bad_decimal(gt=0, strings=True)),
            "max_slippage_bps": given_(bad_decimal(ge=0, le=10_000, strings=True)),
            "deadline_ns": given_(bad_int(NOW + 1, MAX_NS)),
            "algo": BAD_ALGOS,
            "algo_params": BAD_ALGO_PARAMS,
            "reduce_only": BAD_FLAGS,
        },
        error=InvalidIntent,
    ),
    *cases(
        "Intent.create",
        Intent.create,
        {**INTENT, "quantity": None, "notional": "2500"},
        {"notional": bad_decimal(gt=0, strings=True)},
        error=InvalidIntent,
    ),
    *cases(
        "Intent",
        Intent,
        FIELDS,
        {
            "intent_id": bad_name(),
            "side": not_a("buy"),
            "quantity": bad_decimal(gt=0),
            "limit_price": given_(bad_decimal(gt=0)),
            "max_slippage_bps": given_(bad_decimal(ge=0, le=10_000)),
            "deadline_ns": given_(bad_int(0, MAX_NS)),
            "venues": BAD_VENUE_LISTS,
            "reduce_only": BAD_FLAGS,
            "ts_init": bad_int(0, MAX_NS),
            "instrument": not_a(),
        },
        error=InvalidIntent,
    ),
    *cases(
        "Intent.from_payload",
        Intent.from_payload,
        {},
        {
            "payload": st.one_of(
                BAD_PAYLOADS,
                st.sampled_from(
                    [
                        _intent_payload(quantity="nan"),
                        _intent_payload(side="long"),
                        _intent_payload(venues=5),
                        _intent_payload(instrument={"kind": "x"}),
                        _intent_payload(deadline_ns=1.5),
                        _intent_payload(algo_params=[]),
                    ]
                ),
                st.sampled_from(sorted(GOOD_INTENT.to_payload())).map(
                    lambda k: {f: v for f, v in GOOD_INTENT.to_payload().items() if f != k}
                ),
            )
        },
        error=InvalidIntent,
        names={"payload": "intent"},
    ),
    *cases(
        "Fill",
        Fill,
        FILL,
        {
            "trade_id": bad_text(),
            "order_id": bad_text(),
            "venue": bad_text(),
            "side": not_a("buy"),
            "quantity": bad_decimal(gt=0),
            "price": bad_decimal(gt=0),
            "fee": bad_decimal(ge=0),
            "fee_currency": st.sampled_from([None, 1, b"x", ["x"]]),
            "ts_event": bad_int(0, MAX_NS),
        },
    ),
    *cases(
        "Fill.from_payload",
        Fill.from_payload,
        {},
        {
            "p": st.one_of(
                BAD_PAYLOADS,
                st.sampled_from(
                    [
                        {**GOOD_FILL.to_payload(), "price": "NaN"},
                        {**GOOD_FILL.to_payload(), "side": 1},
                        {**GOOD_FILL.to_payload(), "quantity": 0.5},
                    ]
                ),
            )
        },
        names={"p": "fill"},
    ),
    *cases(
        "PositionKey",
        PositionKey,
        {"account": "a", "venue": "v", "instrument_id": "i"},
        {"account": bad_text(), "venue": bad_text(), "instrument_id": bad_text()},
    ),
    *cases(
        "Position",
        Position,
        {"key": KEY},
        {
            "key": not_a(),
            "quantity": bad_decimal(),
            "avg_price": bad_decimal(ge=0),
            "realized_pnl": bad_decimal(),
            "fees": bad_decimal(),
            "fill_count": bad_int(0),
        },
    ),
    *cases("Position.apply", lambda fill: Position(key=KEY).apply(fill), {}, {"fill": not_a(FILL)}),
    *cases(
        "Position.unrealized_pnl",
        lambda mark: Position(key=KEY).unrealized_pnl(mark),
        {},
        {"mark": bad_decimal(ge=0)},
    ),
    *cases(
        "Portfolio",
        Portfolio,
        {},
        {
            "positions": st.sampled_from(
                ["x", [1], 5, {1: 2}, {KEY: 1}, {PositionKey("b", "v", "i"): Position(key=KEY)}]
            )
        },
    ),
    *cases("Portfolio.apply", lambda fill: Portfolio().apply(fill), {}, {"fill": not_a()}),
    *cases(
        "Portfolio.net_quantity",
        lambda instrument_id: Portfolio().net_quantity(instrument_id),
        {},
        {"instrument_id": bad_text()},
    ),
    *cases(
        "Portfolio.unrealized_pnl",
        _portfolio_mark,
        {},
        {
            "marks": st.one_of(
                st.sampled_from(["x", 5, [1]]), bad_decimal(ge=0).map(lambda m: {PAIR.id: m})
            )
        },
        names={"marks": "mark"},
    ),
]


(
    test_a_bad_argument_is_refused_with_the_exact_error_naming_it,
    test_any_value_gives_a_result_or_an_oms_error_never_a_builtin_one,
) = case_tests(CASES)


def test_valid_arguments_still_build_every_value() -> None:
    assert to_decimal(" 1_000.50 ") == Decimal("1000.50")
    assert to_base_units("1.5", 6) == 1_500_000
    assert to_base_units(Decimal(MAX_UINT256), 0) == MAX_UINT256
    assert from_base_units(-5, 2) == Decimal("-0.05")
    assert Asset.cex("binance", "BTC").id == "binance:BTC"
    assert child_order_id(parent_order_id("i-1"), 7) == "o-i-1/7"
    assert len(client_order_id("i-1", 10**6)) <= 36
    assert ManualClock(0).advance(MAX_NS) == MAX_NS
    assert OptionContract(**OPTION).strike == 3000
    assert Perpetual(**PERP).size_decimals == 8
    assert Intent.from_payload(GOOD_INTENT.to_payload()) == GOOD_INTENT
    assert Intent(**FIELDS).quantity == Decimal("1.5")
    assert Fill.from_payload(GOOD_FILL.to_payload()) == GOOD_FILL
    assert Fill(**{**FILL, "fee": 0, "fee_currency": ""}).fee == Decimal(0)
    assert Position(key=KEY).apply(GOOD_FILL).quantity == Decimal("0.5")
    assert _portfolio_mark({PAIR.id: Decimal(2600)}) == Decimal(50)


@given(
    quantity=st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**12), places=8),
    slippage=st.decimals(min_value=0, max_value=10_000, places=2),
    as_text=st.booleans(),
)
def test_intents_with_any_valid_quantity_and_slippage_build(
    quantity: Decimal, slippage: Decimal, as_text: bool
) -> None:
    args = {**INTENT, "instrument": SpotPair(base=Asset.cex("x", "BTC"), quote=USDC)}
    it = Intent.create(
        **{
            **args,
            "quantity": str(quantity) if as_text else quantity,
            "max_slippage_bps": slippage,
        }
    )
    assert it.quantity == quantity and it.max_slippage_bps == slippage


def test_unicode_digits_are_refused_where_decimal_would_take_them() -> None:
    assert Decimal("\u0661\u0662\u0663") == 123  # what the standard library does
    with pytest.raises(InvalidInput, match="ASCII digits") as info:
        to_decimal("\u0661\u0662\u0663", what="quantity")
    assert type(info.value) is InvalidInput and "quantity" in str(info.value)
