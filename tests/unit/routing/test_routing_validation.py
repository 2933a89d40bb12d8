"""Every source parameter is checked once, when the source is built: a value that is not a
finite number of the right kind raises InvalidInput naming the field, before any quote."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.model.intent import Side
from oms_chain.routing import LiquiditySource, route, route_exact_output
from oms_chain.venues.base import LiquidityLevel

INT_FIELDS = ("fixed_cost", "min_size", "inventory", "depth", "input_fixed_cost")

#: Values that are not an exact integer >= 0 of base units.
NOT_BASE_UNITS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.integers(max_value=-1),
    st.integers(min_value=2**256),
    st.text(max_size=3),
)
#: Values that are not a finite Decimal (or int) in [0, 10000) basis points.
NOT_FEE_BPS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]),
    st.decimals(max_value=Decimal("-0.0001"), allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal(10_000), allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=3),
)
#: Values that are not a finite Decimal > 0 (a book level's price or quantity).
NOT_POSITIVE_DECIMAL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal(0)]),
    st.decimals(max_value=Decimal(0), allow_nan=False, allow_infinity=False),
    st.booleans(),
)


class Recorder:
    """An output function that records that it was called (no source may quote while it is
    being checked)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, amount_in: int) -> int:
        self.calls += 1
        return amount_in


@settings(max_examples=120, deadline=None)
@given(field=st.sampled_from(INT_FIELDS), value=NOT_BASE_UNITS)
def test_an_integer_field_that_is_not_base_units_is_refused_by_name(
    field: str, value: object
) -> None:
    output = Recorder()
    with pytest.raises(InvalidInput, match=rf"source x: {field}"):
        LiquiditySource(venue=VenueId("x"), output=output, **{field: value})  # type: ignore[arg-type]
    assert output.calls == 0


@settings(max_examples=80, deadline=None)
@given(value=NOT_FEE_BPS)
def test_a_fee_that_is_not_a_finite_number_of_bps_is_refused_by_name(value: object) -> None:
    with pytest.raises(InvalidInput, match="fee_bps"):
        LiquiditySource(venue=VenueId("x"), output=Recorder(), fee_bps=value)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    fee=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.integers(max_value=-1),
        st.integers(min_value=10_000),
    )
)
def test_a_v2_fee_is_integral_basis_points(fee: object) -> None:
    # V2 math is integral: 2.5 bps (or NaN) has no exact getAmountOut
    with pytest.raises(InvalidInput, match="fee_bps"):
        LiquiditySource.from_v2_reserves("v2", 10**12, 10**12, fee_bps=fee)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(["fixed_cost", "min_size", "inventory"]), value=NOT_BASE_UNITS)
def test_named_constructors_check_their_integer_fields(field: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=field):
        LiquiditySource.from_v2_reserves("v2", 10**12, 10**12, **{field: value})  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(
    which=st.sampled_from(["price", "quantity"]),
    value=NOT_POSITIVE_DECIMAL,
    position=st.integers(0, 2),
)
def test_a_book_level_that_is_not_a_finite_positive_decimal_is_refused_by_name(
    which: str, value: object, position: int
) -> None:
    levels = []
    for k in range(3):
        fields = {"price": Decimal(2000 + k), "quantity": Decimal(1)}
        if k == position:
            fields[which] = value  # type: ignore[assignment]
        levels.append(LiquidityLevel(**fields))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=rf"levels\[{position}\]\.{which}"):
        LiquiditySource.from_book(
            "book",
            levels,
            side=Side.BUY,
            taker_fee_bps=Decimal(5),
            base_decimals=18,
            quote_decimals=6,
        )


@settings(max_examples=40, deadline=None)
@given(value=NOT_FEE_BPS)
def test_a_book_taker_fee_that_is_not_finite_bps_is_refused_by_name(value: object) -> None:
    with pytest.raises(InvalidInput, match="taker_fee_bps"):
        LiquiditySource.from_book(
            "book",
            [LiquidityLevel(price=Decimal(2000), quantity=Decimal(1))],
            side=Side.BUY,
            taker_fee_bps=value,  # type: ignore[arg-type]
            base_decimals=18,
            quote_decimals=6,
        )


@settings(max_examples=40, deadline=None)
@given(
    returned=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.none(),
        st.booleans(),
    )
)
def test_an_output_function_returning_no_int_is_named_not_routed(returned: object) -> None:
    # a NaN output would otherwise compare false everywhere and win or lose at random
    bad = LiquiditySource(venue=VenueId("bad"), output=lambda x: returned)  # type: ignore[arg-type,return-value]
    good = LiquiditySource.from_v2_reserves("good", 10**12, 10**12)
    with pytest.raises(InvalidInput, match="source bad: output must return an int"):
        route([bad, good], 10**6)


@settings(max_examples=40, deadline=None)
@given(
    bound=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")]),
        st.decimals(max_value=Decimal("-0.01"), allow_nan=False, allow_infinity=False),
        st.integers(max_value=-1),
        st.booleans(),
        st.text(max_size=3),
    )
)
def test_a_price_impact_bound_that_is_not_finite_bps_is_refused(bound: object) -> None:
    pool = LiquiditySource.from_v2_reserves("v2", 10**12, 10**12)
    for call in (route, route_exact_output):
        with pytest.raises(InvalidInput, match="max_price_impact_bps"):
            call([pool], 10**6, max_price_impact_bps=bound)  # type: ignore[operator]
