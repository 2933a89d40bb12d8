"""Scheduler constructors refuse NaN, infinities, wrong types and out-of-range params with an
``InvalidIntent`` naming the param; nothing else ever comes out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from algo_fakes import make_intent
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.algos import scheduler_for
from oms_chain.algos.iceberg import IcebergScheduler
from oms_chain.algos.sniper import SniperScheduler
from oms_chain.algos.twap import TwapScheduler
from oms_chain.algos.vwap import VwapScheduler
from oms_chain.model import InvalidInput, InvalidIntent, OmsError

NAMES = [
    "poll_interval",
    "child_ttl",
    "interval",
    "slices",
    "min_slice",
    "catch_up",
    "duration",
    "display_quantity",
    "profile",
    "randomize",
    "venue",
    "max_participation",
    "max_failed_children",
]
values = st.one_of(
    st.sampled_from(
        [
            Decimal("NaN"),
            Decimal("Infinity"),
            Decimal("-Infinity"),
            Decimal("1E+999999"),
            "1e999s",
            "99999999999999999999d",
            "0s",
            "1ns",
        ]
    ),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(max_size=12),
    st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["twap", "vwap", "iceberg", "sniper"]),
    st.dictionaries(st.sampled_from(NAMES), values, min_size=1, max_size=4),
)
def test_any_params_give_a_scheduler_or_an_invalid_intent(algo: str, params: dict[str, Any]):
    try:
        intent = make_intent(algo, params, limit_price="2000")
    except InvalidInput:
        return  # the intent itself refused them
    try:
        scheduler_for(intent)
    except OmsError as exc:
        assert isinstance(exc, InvalidIntent), repr(exc)


@pytest.mark.parametrize("cls", [TwapScheduler, VwapScheduler, IcebergScheduler, SniperScheduler])
@pytest.mark.parametrize("junk", [None, "twap", 3, {"duration": "1h"}])
def test_scheduler_constructors_refuse_what_is_not_an_intent(cls: Any, junk: Any) -> None:
    with pytest.raises(InvalidIntent, match="takes an Intent"):
        cls(junk)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"duration": "1h", "slices": 10**6}, "at most 10000"),
        ({"duration": "1h", "interval": "1ns"}, "at most 10000"),
        ({"duration": "99999999999999999999d"}, "'twap duration'"),
        ({"duration": "1h", "min_slice": Decimal("1E+30")}, "'min_slice'"),
        ({"duration": "1h", "randomize": Decimal("NaN")}, "'randomize'"),
        ({"duration": "1h", "max_failed_children": 10**12}, "'max_failed_children'"),
    ],
)
def test_out_of_range_params_are_refused_naming_the_param(
    params: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidIntent, match=named):
        scheduler_for(make_intent("twap", params))
