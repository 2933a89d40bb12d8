"""Malformed structures are refused with the leg at fault named (index and description)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from _strategies_fixtures import BTC, DAY_NS, ETH, EXPIRY, SERIES, USDC, contract
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidIntent
from oms_chain.model.instruments import OptionContract, OptionKind, Settlement
from oms_chain.strategies import (
    InvalidStructure,
    Leg,
    OptionSeries,
    Side,
    Structure,
    bear_put_spread,
    bull_call_spread,
    butterfly,
    calendar_spread,
    condor,
    custom,
    diagonal_spread,
    iron_butterfly,
    iron_condor,
    ratio_spread,
    strangle,
)

E = EXPIRY


def _raises_for_leg(fn: Callable[[], object], leg: int | None) -> InvalidStructure:
    with pytest.raises(InvalidStructure) as info:
        fn()
    assert info.value.leg == leg
    if leg is not None:
        assert f"leg {leg} (" in str(info.value)
    assert isinstance(info.value, InvalidIntent) and isinstance(info.value, ValueError)
    return info.value


ordered = st.lists(
    st.integers(min_value=1, max_value=200).map(lambda n: n * 50),
    min_size=4,
    max_size=4,
    unique=True,
).map(sorted)


@settings(max_examples=100, deadline=None)
@given(ordered, st.integers(min_value=1, max_value=3), st.data())
def test_strikes_out_of_order_name_the_first_leg_out_of_order(
    ks: list[int], j: int, data: st.DataObject
) -> None:
    bad = list(ks)
    bad[j] = bad[j - 1] - data.draw(st.integers(min_value=0, max_value=bad[j - 1] - 1))
    _raises_for_leg(lambda: condor(SERIES, E, tuple(bad), 1), j)  # type: ignore[arg-type]
    _raises_for_leg(lambda: iron_condor(SERIES, E, tuple(bad), 1), j)  # type: ignore[arg-type]
    if j < 3:
        three = bad[:3]
        leg = {1: 1, 2: 2}[j]
        _raises_for_leg(lambda: butterfly(SERIES, E, tuple(three), 1), leg)  # type: ignore[arg-type]
        # an iron butterfly's third strike is its leg 3 (legs 1 and 2 share the body)
        _raises_for_leg(
            lambda: iron_butterfly(SERIES, E, tuple(three), 1),  # type: ignore[arg-type]
            {1: 1, 2: 3}[j],
        )


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=100, max_value=5000), st.integers(min_value=0, max_value=5000))
def test_two_leg_builders_name_the_second_leg(low: int, drop: int) -> None:
    high = max(low - drop, 1)
    _raises_for_leg(lambda: bull_call_spread(SERIES, E, low, high, 1), 1)
    _raises_for_leg(lambda: bear_put_spread(SERIES, E, low, high, 1), 1)
    _raises_for_leg(lambda: strangle(SERIES, E, low, high, 1), 1)
    # a put ratio spread sells the lower strike: its leg 0 (the long) is the one too low
    _raises_for_leg(lambda: ratio_spread(SERIES, E, high, low, 1, option_kind=OptionKind.PUT), 0)


bad_sizes = st.one_of(
    st.just(0),
    st.integers(max_value=-1),
    st.sampled_from(["NaN", "Infinity", "-1", "0.00001", "abc", "1e400"]),
    st.floats(allow_nan=True),
    st.none(),
)


@settings(max_examples=100, deadline=None)
@given(bad_sizes)
def test_bad_sizes_are_refused_before_any_leg_is_built(size: object) -> None:
    with pytest.raises(InvalidStructure) as info:
        iron_condor(SERIES, E, (1800, 1900, 2100, 2200), size)  # type: ignore[arg-type]
    assert "iron_condor" in str(info.value)


def test_a_size_with_more_decimals_than_the_contract_names_leg_0() -> None:
    err = _raises_for_leg(lambda: butterfly(SERIES, E, (1900, 2000, 2100), "0.00001"), 0)
    assert "more than 4 decimals" in str(err)


def test_a_ratio_times_size_beyond_precision_names_the_short_leg() -> None:
    coarse = OptionSeries(underlying=ETH, quote=USDC, size_decimals=0)
    _raises_for_leg(lambda: ratio_spread(coarse, E, 2000, 2100, "0.5", ratio=(2, 3)), 1)


@pytest.mark.parametrize("strike", [0, -5, "x", "NaN"])
def test_a_bad_strike_names_its_leg(strike: object) -> None:
    _raises_for_leg(
        lambda: condor(SERIES, E, (1800, strike, 2100, 2200), 1),  # type: ignore[arg-type]
        1,
    )


def test_calendar_far_expiry_must_be_after_near() -> None:
    err = _raises_for_leg(lambda: calendar_spread(SERIES, E, E, 2000, 1), 1)
    assert "must be after the near expiry" in str(err)
    _raises_for_leg(lambda: calendar_spread(SERIES, E, E - DAY_NS, 2000, 1), 1)
    _raises_for_leg(lambda: calendar_spread(SERIES, -1, E, 2000, 1), 0)


def test_diagonal_needs_two_strikes() -> None:
    err = _raises_for_leg(lambda: diagonal_spread(SERIES, E, E + DAY_NS, 2000, 2000, 1), 1)
    assert "calendar_spread" in str(err)


def test_ratio_must_be_two_different_positive_ints() -> None:
    for ratio in [(1, 1), (0, 2), (1, True), (1,), (1, 2.0), (1, 101)]:
        with pytest.raises(InvalidStructure, match="ratio"):
            ratio_spread(SERIES, E, 2000, 2100, 1, ratio=ratio)  # type: ignore[arg-type]


def _legs(n: int) -> list[Leg]:
    return [
        Leg(contract=contract(OptionKind.CALL, 1000 + 100 * i), side=Side.BUY, quantity=Decimal(1))
        for i in range(n)
    ]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=6), st.data())
def test_custom_structures_name_the_leg_that_breaks_them(n: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=1, max_value=n - 1))
    legs = _legs(n)
    fault = data.draw(st.sampled_from(["underlying", "quote", "settlement", "repeat", "type"]))
    c = legs[i].contract
    if fault == "underlying":
        other = OptionSeries(underlying=BTC, quote=USDC).call(c.strike, c.expiry_ns)
        legs[i] = Leg(contract=other, side=Side.SELL, quantity=Decimal(1))
    elif fault == "quote":
        other = OptionSeries(underlying=ETH, quote=BTC).call(c.strike, c.expiry_ns)
        legs[i] = Leg(contract=other, side=Side.SELL, quantity=Decimal(1))
    elif fault == "settlement":
        phys = OptionSeries(underlying=ETH, quote=USDC, settlement=Settlement.PHYSICAL)
        legs[i] = Leg(contract=phys.call(c.strike, c.expiry_ns), side=Side.BUY, quantity=Decimal(1))
    elif fault == "repeat":
        j = data.draw(st.integers(min_value=0, max_value=i - 1))
        legs[i] = Leg(contract=legs[j].contract, side=Side.SELL, quantity=Decimal(2))
    else:
        legs[i] = legs[i].contract  # type: ignore[call-overload]
    err = _raises_for_leg(lambda: custom(legs), i)
    assert fault.replace("repeat", "repeats").replace("type", "not a Leg") in str(err)


def test_empty_and_non_sequence_structures() -> None:
    _raises_for_leg(lambda: custom([]), None)
    _raises_for_leg(lambda: Structure(kind="custom", legs="abc"), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("qty", [0, -1, "1e16", Decimal("NaN"), 1.5, True, None])
def test_leg_quantity_must_be_a_positive_finite_decimal(qty: object) -> None:
    with pytest.raises(ValueError):
        Leg(contract=contract(OptionKind.PUT, 2000), side=Side.BUY, quantity=qty)  # type: ignore[arg-type]


def test_listed_check_names_the_missing_series() -> None:
    ic = iron_condor(SERIES, E, (1800, 1900, 2100, 2200), 1)
    listed: list[OptionContract | str] = [leg.contract for leg in ic.legs]
    ic.check_listed(listed)
    iron_condor(SERIES, E, (1800, 1900, 2100, 2200), 1, listed=listed)
    missing = [listed[0], listed[1], str(ic.legs[3].contract.id)]
    err = _raises_for_leg(
        lambda: iron_condor(SERIES, E, (1800, 1900, 2100, 2200), 1, listed=missing), 2
    )
    assert "does not list this series" in str(err)
    assert "ETH-15JAN27-2100-C" in str(err)
