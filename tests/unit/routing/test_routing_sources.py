"""Liquidity sources quote exactly what their venue would give."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import v3_pool

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import InstrumentId, VenueId
from oms_chain.model.intent import Side
from oms_chain.routing import LiquiditySource
from oms_chain.venues.amm import get_amount_out
from oms_chain.venues.base import LiquidityCurve, LiquidityLevel

ASKS = (
    LiquidityLevel(price=Decimal("2000"), quantity=Decimal("1")),
    LiquidityLevel(price=Decimal("2001.5"), quantity=Decimal("2")),
)
BIDS = (
    LiquidityLevel(price=Decimal("2000"), quantity=Decimal("1")),
    LiquidityLevel(price=Decimal("1999"), quantity=Decimal("2")),
)


@given(
    amount=st.integers(1, 10**24),
    reserve_in=st.integers(10**6, 10**30),
    reserve_out=st.integers(10**6, 10**30),
    fee=st.sampled_from([0, 5, 30, 100]),
)
def test_v2_source_quotes_exactly_get_amount_out(
    amount: int, reserve_in: int, reserve_out: int, fee: int
) -> None:
    source = LiquiditySource.from_v2_reserves("v2", reserve_in, reserve_out, fee_bps=fee)
    assert source.quote(amount) == get_amount_out(amount, reserve_in, reserve_out, fee)
    assert source.quote(0) == 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), amount=st.integers(1, 10**14))
def test_v3_source_quotes_exactly_the_pool_state(seed: int, amount: int) -> None:
    pool = v3_pool(random.Random(seed), 2500.0)
    source = LiquiditySource.from_v3_pool("v3", pool, "0xa")
    assert source.quote(amount) == pool.quote_exact_input("0xa", amount).amount_out
    assert source.fee_bps == Decimal(pool.fee) / 100


def test_book_buy_walks_the_asks_and_takes_the_fee_from_what_is_received() -> None:
    source = LiquiditySource.from_book(
        "cex", ASKS, side=Side.BUY, taker_fee_bps=10, base_decimals=18, quote_decimals=6
    )
    keep = Fraction(9990, 10_000)
    # 1,000 USDC inside the first level: 0.5 ETH before fee
    assert source.quote(1_000 * 10**6) == int(Fraction(10**18, 2) * keep)
    # 3,000 USDC: the whole first level, then 1,000 USDC at 2001.5
    second = Fraction(1_000) / Fraction("2001.5") * 10**18
    assert source.quote(3_000 * 10**6) == int((10**18 + second) * keep)
    # the book holds 2,000 + 4,003 USDC worth; more than that buys nothing more
    assert source.depth == 6_003 * 10**6
    assert source.max_input == source.depth
    assert source.quote(10**12) == int(3 * 10**18 * keep)
    assert source.quote(1) == int(Fraction(10**18, 2_000 * 10**6) * keep)


def test_book_sell_walks_the_bids() -> None:
    source = LiquiditySource.from_book(
        "cex", BIDS, side=Side.SELL, taker_fee_bps=0, base_decimals=18, quote_decimals=6
    )
    assert source.quote(10**18 + 10**18 // 2) == 2_999_500_000
    assert source.quote(3 * 10**18) == 5_998 * 10**6
    assert source.depth == 3 * 10**18


def test_book_levels_out_of_order_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="best price first"):
        LiquiditySource.from_book(
            "cex", ASKS[::-1], side=Side.BUY, taker_fee_bps=0, base_decimals=18, quote_decimals=6
        )
    with pytest.raises(InvalidInput, match="no levels"):
        LiquiditySource.from_book(
            "cex", (), side=Side.BUY, taker_fee_bps=0, base_decimals=18, quote_decimals=6
        )


def test_curve_fixed_cost_is_converted_into_output_units() -> None:
    curve = LiquidityCurve(
        venue=VenueId("cex"),
        instrument_id=InstrumentId("ETH-USDC"),
        side=Side.BUY,
        levels=ASKS,
        taker_fee_bps=Decimal("7.5"),
        fixed_cost=Decimal("3"),
        ts_event=0,
    )
    source = LiquiditySource.from_curve(curve, base_decimals=18, quote_decimals=6, inventory=10**9)
    assert source.fixed_cost == 15 * 10**14  # 3 USDC at 2,000 = 0.0015 ETH
    assert source.fee_bps == Decimal("7.5")
    assert source.max_input == 10**9
    assert source.kind == "cex-book"


def test_path_chains_exact_outputs() -> None:
    first = LiquiditySource.from_v2_reserves("a", 10**12, 10**24, fee_bps=5)
    second = LiquiditySource.from_v2_reserves("b", 10**24, 4 * 10**20, fee_bps=30)
    path = LiquiditySource.from_path("a>b", [first, second], fixed_cost=7, inventory=10**11)
    amount = 12_345 * 10**6
    assert path.quote(amount) == second.quote(first.quote(amount))
    assert path.fixed_cost == 7
    assert path.max_input == 10**11
    assert path.kind == "path:uniswap-v2>uniswap-v2"
    assert path.fee_bps == pytest.approx(Decimal("34.985"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fixed_cost", -1, "fixed_cost"),
        ("min_size", -1, "min_size"),
        ("inventory", -1, "inventory"),
        ("fee_bps", Decimal(10_000), "fee_bps"),
    ],
)
def test_bad_source_fields_are_rejected(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        LiquiditySource(venue=VenueId("x"), output=lambda x: x, **{field: value})  # type: ignore[arg-type]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), move=st.sampled_from([100, 1_000, 5_000]))
def test_v3_depth_is_the_input_that_moves_the_rate_by_the_allowed_amount(
    seed: int, move: int
) -> None:
    pool = v3_pool(random.Random(seed), 2500.0)
    source = LiquiditySource.from_v3_pool("v3", pool, "0xa", max_price_move_bps=move)
    depth = source.depth
    assert depth is not None and depth > 0
    start = Fraction(pool.sqrt_price_x96**2, 2**192)
    after = pool.quote_exact_input("0xa", depth)
    end = Fraction(after.sqrt_price_x96**2, 2**192)
    assert end >= start * (10_000 - move) / 10_000 * Fraction(9_999, 10_000)
    assert end <= start * (10_000 - move) / 10_000 * Fraction(10_001, 10_000) or (
        after.liquidity == 0
    )


def test_v3_price_move_bound_is_checked() -> None:
    with pytest.raises(InvalidInput, match="max_price_move_bps"):
        LiquiditySource.from_v3_pool(
            "v3", v3_pool(random.Random(1), 2500.0), "0xa", max_price_move_bps=10_000
        )


def test_fixed_cost_in_input_units_is_given_or_bought_on_the_source() -> None:
    pool = LiquiditySource.from_v2_reserves("v2", 10**12, 4 * 10**20, fixed_cost=10**15)
    assert pool.fixed_cost_in_input() == pool.cost(10**15)  # ~2.5 USDC buys 0.001 WETH
    given_ = LiquiditySource.from_v2_reserves("v2", 10**12, 4 * 10**20, input_fixed_cost=7)
    assert given_.fixed_cost_in_input() == 7
    free = LiquiditySource.from_v2_reserves("v2", 10**12, 4 * 10**20)
    assert free.fixed_cost_in_input() == 0
    with pytest.raises(InvalidInput, match="input_fixed_cost"):
        LiquiditySource(venue=VenueId("x"), output=lambda x: x, input_fixed_cost=-1)


def test_sources_name_the_pools_they_trade_through() -> None:
    first = LiquiditySource.from_v2_reserves("a", 10**12, 10**24, fee_bps=5)
    second = LiquiditySource.from_v2_reserves("b", 10**24, 4 * 10**20, inventory_group="w")
    assert first.pools == {"a"}
    path = LiquiditySource.from_path("a>b", [first, second], fixed_cost=0, inventory_group="w")
    assert path.pools == {"a", "b"} and path.inventory_group == "w"
    assert path.cost(10**18) == first.cost(second.cost(10**18))
    assert LiquiditySource(venue=VenueId("x"), output=lambda x: x).pools == frozenset()
