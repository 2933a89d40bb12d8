"""Every public constructor and function of ``oms_chain.routing`` (the live source builders
aside) refuses NaN, infinities, wrong types, fractional amounts and fees, huge and out-of-range
values with ``InvalidInput`` naming the argument, at construction (never per quote); valid
arguments still route."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import strategies as st
from validation_support import (
    NAN_INF,
    Case,
    bad_decimal,
    bad_int,
    bad_text,
    case_tests,
    cases,
    given_,
    not_a,
)

from oms_chain.model import InvalidInput, Side, VenueId
from oms_chain.model.checks import MAX_UINT256
from oms_chain.routing import (
    Baseline,
    LiquiditySource,
    RouteLeg,
    RoutePlan,
    best_single,
    greedy_split,
    route,
    route_exact_output,
)
from oms_chain.venues.amm import V3PoolState
from oms_chain.venues.amm.v3_math import get_sqrt_ratio_at_tick
from oms_chain.venues.base import LiquidityCurve, LiquidityLevel

MAX_UINT112 = (1 << 112) - 1
USDC, WETH = 10**6, 10**18
POOL_A = LiquiditySource.from_v2_reserves("v2-a", 10**7 * USDC, 4_000 * WETH, fixed_cost=10**14)
POOL_B = LiquiditySource.from_v2_reserves("v2-b", 5 * 10**6 * USDC, 2_000 * WETH, fee_bps=5)
SOURCES = [POOL_A, POOL_B]
LEVELS = (LiquidityLevel(Decimal(2500), Decimal(10)), LiquidityLevel(Decimal(2501), Decimal(20)))
CURVE = LiquidityCurve(
    venue=VenueId("binance"),
    instrument_id="spot:binance:ETH/binance:USDC",  # type: ignore[arg-type]
    side=Side.BUY,
    levels=LEVELS,
    taker_fee_bps=Decimal(10),
    fixed_cost=Decimal(0),
    ts_event=0,
)
V3 = V3PoolState(
    address="0xpool",
    token0="0xa",
    token1="0xb",
    fee=3000,
    tick_spacing=60,
    sqrt_price_x96=get_sqrt_ratio_at_tick(0),
    tick=0,
    liquidity=10**20,
    tick_bitmap={},
    liquidity_net={},
    liquidity_gross={},
)
LEG: dict[str, Any] = {
    "venue": VenueId("v2-a"),
    "kind": "uniswap-v2",
    "amount_in": 1000,
    "amount_out": 400,
    "fixed_cost": 0,
    "fee": 1,
    "price": Decimal("0.4"),
    "price_impact_bps": Decimal(0),
}
PLAN: dict[str, Any] = {
    "amount_in": 1000,
    "legs": (RouteLeg(**LEG),),
    "expected_output": 400,
    "net_output": 400,
    "fees": 1,
    "gas_cost": 0,
    "best_marginal_price": Decimal("0.4"),
    "price_impact_bps": Decimal(0),
    "best_single": None,
    "greedy": None,
}
BAD_LEVELS = st.sampled_from(
    [
        (),
        [],
        "2500",
        5,
        None,
        [(2500, 10)],
        [{"price": 2500, "quantity": 10}],
        *[[LiquidityLevel(v, Decimal(1))] for v in NAN_INF],  # type: ignore[arg-type]
        *[[LiquidityLevel(Decimal(1), v)] for v in NAN_INF],  # type: ignore[arg-type]
        [LiquidityLevel(2500.5, Decimal(1))],  # type: ignore[arg-type]
        [LiquidityLevel("2500", Decimal(1))],  # type: ignore[arg-type]
        [LiquidityLevel(Decimal(0), Decimal(1))],
        [LiquidityLevel(Decimal(-1), Decimal(1))],
        [LiquidityLevel(Decimal(1), Decimal(0))],
        [LiquidityLevel(Decimal("1e90"), Decimal(1))],
        [LEVELS[1], LEVELS[0]],
        [LEVELS[0], None],
    ]
)
BAD_SOURCE_LISTS = st.sampled_from(
    [[], (), None, "v2-a", POOL_A, [1], [POOL_A, None], [POOL_A, POOL_A], {POOL_A: 1}]
)
BAD_INVENTORIES = st.sampled_from(
    ["w", 5, [("w", 1)], {"w": -1}, {"w": 1.5}, {"w": float("nan")}, {"w": Decimal(5)},
     {"w": True}, {"w": "5"}, {1: 5}, {"w": MAX_UINT256 + 1}]
)  # fmt: skip
BAD_FLAGS = st.sampled_from([None, 0, 1, "yes", 1.0])
BAD_OUTPUTS = st.sampled_from(
    [
        lambda x: x * 0.5,
        lambda x: float("nan"),
        lambda x: Decimal(x),
        lambda x: None,
        lambda x: str(x),
        lambda x: Decimal("NaN"),
    ]
)


def _with_output(output: object) -> object:
    return route([LiquiditySource(venue=VenueId("f"), output=output)], 10_000)  # type: ignore[arg-type]


def _exact_output_with(input_for: object) -> object:
    source = LiquiditySource(venue=VenueId("f"), output=lambda x: x, input_for=input_for)  # type: ignore[arg-type]
    return route_exact_output([source], 10_000)


def _from_curve_with(**changes: object) -> object:
    fields = {
        "venue": CURVE.venue,
        "instrument_id": CURVE.instrument_id,
        "side": CURVE.side,
        "levels": CURVE.levels,
        "taker_fee_bps": CURVE.taker_fee_bps,
        "fixed_cost": CURVE.fixed_cost,
        "ts_event": 0,
        **changes,
    }
    return LiquiditySource.from_curve(
        LiquidityCurve(**fields),  # type: ignore[arg-type]
        base_decimals=18,
        quote_decimals=6,
    )


AMOUNT = bad_int(1, MAX_UINT256)
CASES: list[Case] = [
    *cases(
        "LiquiditySource",
        LiquiditySource,
        {"venue": VenueId("x"), "output": lambda x: x},
        {
            "venue": bad_text(),
            "output": not_a(),
            "fixed_cost": bad_int(0, MAX_UINT256),
            "min_size": bad_int(0, MAX_UINT256),
            "inventory": given_(bad_int(0, MAX_UINT256)),
            "depth": given_(bad_int(0, MAX_UINT256)),
            "input_fixed_cost": given_(bad_int(0, MAX_UINT256)),
            "fee_bps": bad_decimal(ge=0, lt=10_000),
            "kind": bad_text(),
            "input_for": given_(not_a()),
            "inventory_group": given_(bad_text()),
            "pools": st.sampled_from(["v2-a", None, 5, ["v2-a"], {1}, frozenset({""})]),
        },
    ),
    *cases(
        "LiquiditySource.from_v2_reserves",
        LiquiditySource.from_v2_reserves,
        {"venue": "v2", "reserve_in": 10**12, "reserve_out": 4 * 10**20},
        {
            "venue": bad_text(),
            "reserve_in": bad_int(1, MAX_UINT112),
            "reserve_out": bad_int(1, MAX_UINT112),
            "fee_bps": st.one_of(
                bad_int(0, 9_999), st.sampled_from([30.5, Decimal("30.5"), Decimal(30)])
            ),
            "fixed_cost": bad_int(0, MAX_UINT256),
            "min_size": bad_int(0, MAX_UINT256),
            "inventory": given_(bad_int(0, MAX_UINT256)),
            "input_fixed_cost": given_(bad_int(0, MAX_UINT256)),
            "inventory_group": given_(bad_text()),
        },
    ),
    *cases(
        "LiquiditySource.from_v3_pool",
        LiquiditySource.from_v3_pool,
        {"venue": "v3", "pool": V3, "token_in": "0xa"},
        {
            "pool": not_a({"fee": 3000}),
            "token_in": st.sampled_from([None, 1, "", "0xc", b"0xa"]),
            "max_price_move_bps": bad_int(1, 9_999),
            "fixed_cost": bad_int(0, MAX_UINT256),
        },
    ),
    *cases(
        "LiquiditySource.from_book",
        LiquiditySource.from_book,
        {
            "venue": "binance",
            "levels": LEVELS,
            "side": Side.BUY,
            "taker_fee_bps": 10,
            "base_decimals": 18,
            "quote_decimals": 6,
        },
        {
            "venue": bad_text(),
            "levels": BAD_LEVELS,
            "side": not_a("buy", "BUY"),
            "taker_fee_bps": bad_decimal(ge=0, lt=10_000),
            "base_decimals": bad_int(0, 36),
            "quote_decimals": bad_int(0, 36),
            "fixed_cost": bad_int(0, MAX_UINT256),
        },
        names={"levels": "levels", "venue": "venue"},
    ),
    *cases(
        "LiquiditySource.from_curve",
        LiquiditySource.from_curve,
        {"curve": CURVE, "base_decimals": 18, "quote_decimals": 6},
        {
            "curve": not_a(LEVELS),
            "base_decimals": bad_int(0, 36),
            "quote_decimals": bad_int(0, 36),
            "fixed_cost": given_(bad_int(0, MAX_UINT256)),
        },
    ),
    *cases(
        "LiquidityCurve fields",
        _from_curve_with,
        {},
        {
            "fixed_cost": bad_decimal(ge=0),
            "levels": BAD_LEVELS,
            "taker_fee_bps": bad_decimal(ge=0, lt=10_000),
        },
    ),
    *cases(
        "LiquiditySource.from_path",
        LiquiditySource.from_path,
        {"venue": "a>b", "hops": SOURCES, "fixed_cost": 0},
        {
            "hops": st.sampled_from([[], (), None, "ab", POOL_A, [1], [POOL_A, None]]),
            "fixed_cost": bad_int(0, MAX_UINT256),
            "min_size": bad_int(0, MAX_UINT256),
        },
    ),
    *cases("LiquiditySource.quote", POOL_A.quote, {}, {"amount_in": bad_int(0, MAX_UINT256)}),
    *cases("LiquiditySource.cost", POOL_A.cost, {}, {"amount_out": bad_int(0, MAX_UINT256)}),
    *cases(
        "route",
        route,
        {"sources": SOURCES, "amount_in": 10_000 * USDC},
        {
            "sources": BAD_SOURCE_LISTS,
            "amount_in": AMOUNT,
            "inventories": given_(BAD_INVENTORIES),
            "compare_greedy": BAD_FLAGS,
            "max_price_impact_bps": given_(bad_decimal(ge=0)),
        },
        names={"inventories": "inventor"},
    ),
    *cases("route output", _with_output, {}, {"output": BAD_OUTPUTS}),
    *cases("route_exact_output input_for", _exact_output_with, {}, {"input_for": BAD_OUTPUTS}),
    *cases(
        "route_exact_output",
        route_exact_output,
        {"sources": SOURCES, "amount_out": WETH},
        {
            "sources": BAD_SOURCE_LISTS,
            "amount_out": AMOUNT,
            "inventories": given_(BAD_INVENTORIES),
            "compare_greedy": BAD_FLAGS,
            "max_price_impact_bps": given_(bad_decimal(ge=0)),
        },
        names={"inventories": "inventor"},
    ),
    *cases(
        "best_single",
        best_single,
        {"sources": SOURCES, "amount_in": 10_000 * USDC},
        {
            "sources": BAD_SOURCE_LISTS,
            "amount_in": AMOUNT,
            "quotes": st.sampled_from(["q", 5, [POOL_A.quote], [1, 2], [None, POOL_B.quote]]),
            "inventories": given_(BAD_INVENTORIES),
        },
        names={"inventories": "inventor"},
    ),
    *cases(
        "greedy_split",
        greedy_split,
        {"sources": SOURCES, "amount_in": 10_000 * USDC},
        {"steps": bad_int(1, 10_000), "amount_in": AMOUNT, "sources": BAD_SOURCE_LISTS},
    ),
    *cases(
        "RouteLeg",
        RouteLeg,
        LEG,
        {
            "venue": bad_text(),
            "amount_in": bad_int(0),
            "amount_out": bad_int(0),
            "fee": bad_int(0),
            "price": bad_decimal(ge=0),
            "price_impact_bps": bad_decimal(),
        },
    ),
    *cases(
        "Baseline",
        Baseline,
        {"name": "greedy-20", "net_output": 5, "allocation": ((VenueId("a"), 5),)},
        {
            "name": bad_text(),
            "net_output": bad_int(),
            "net_input": given_(bad_int()),
            "allocation": st.sampled_from([None, [("a", 5)], "a", ((1, 5),), (("a", -5),)]),
        },
    ),
    *cases(
        "RoutePlan",
        RoutePlan,
        PLAN,
        {
            "amount_in": bad_int(0),
            "net_output": bad_int(),
            "legs": st.sampled_from([None, [RouteLeg(**LEG)], (1,), "legs"]),
            "price_impact_bps": bad_decimal(),
            "mode": st.sampled_from([None, "", "exact", 1]),
            "warnings": st.sampled_from([None, ["x"], ("price-impact",), "w"]),
            "best_single": given_(not_a()),
        },
    ),
    *cases(
        "RoutePlan.refuse_warnings",
        RoutePlan(**PLAN).refuse_warnings,
        {},
        {"allow": st.sampled_from(["price-impact", 5, None, ["nope"], {"negative"}, [1]])},
    ),
]


(
    test_a_bad_argument_is_refused_with_the_exact_error_naming_it,
    test_any_value_gives_a_result_or_an_oms_error_never_a_builtin_one,
) = case_tests(CASES)


def test_nan_fixed_cost_is_refused_instead_of_winning_the_whole_order() -> None:
    for nan in (float("nan"), Decimal("NaN")):
        with pytest.raises(InvalidInput, match="fixed_cost must be an int") as info:
            LiquiditySource.from_v2_reserves("v2", 10**12, 4 * 10**20, fixed_cost=nan)  # type: ignore[arg-type]
        assert type(info.value) is InvalidInput and "source v2" in str(info.value)


def test_fractional_v2_fee_is_refused_as_v2_math_is_integral() -> None:
    for fee in (30.5, Decimal("30.5"), Decimal(30)):
        with pytest.raises(InvalidInput, match=r"fee_bps \(integer basis points\)"):
            LiquiditySource.from_v2_reserves("v2", 10**12, 4 * 10**20, fee_bps=fee)  # type: ignore[arg-type]


def test_nan_book_price_is_refused_naming_the_level() -> None:
    levels = [LEVELS[0], LiquidityLevel(Decimal("NaN"), Decimal(1))]
    with pytest.raises(InvalidInput, match=r"book of binance: levels\[1\]\.price must be a finite"):
        LiquiditySource.from_book(
            "binance", levels, side=Side.BUY, taker_fee_bps=10, base_decimals=18, quote_decimals=6
        )


def test_a_book_fee_given_as_an_int_or_decimal_still_builds_the_same_source() -> None:
    kw: dict[str, Any] = {"side": Side.BUY, "base_decimals": 18, "quote_decimals": 6}
    by_int = LiquiditySource.from_book("binance", LEVELS, taker_fee_bps=10, **kw)
    by_dec = LiquiditySource.from_book("binance", LEVELS, taker_fee_bps=Decimal(10), **kw)
    assert by_int.fee_bps == by_dec.fee_bps == Decimal(10)
    assert by_int.quote(10**10) == by_dec.quote(10**10) > 0


def test_valid_sources_still_route_to_the_same_plan_as_before_validation() -> None:
    plan = route(SOURCES, 10_000 * USDC)
    assert sum(leg.amount_in for leg in plan.legs) == 10_000 * USDC
    assert plan.net_output == plan.expected_output - plan.gas_cost > 0
    assert plan.warnings == ()
    bought = route_exact_output(SOURCES, WETH)
    assert sum(leg.amount_out for leg in bought.legs) == WETH
    assert best_single(SOURCES, 10_000 * USDC) is not None
    assert greedy_split(SOURCES, 10_000 * USDC, steps=7) is not None
