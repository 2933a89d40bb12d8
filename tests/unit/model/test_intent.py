import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import (
    AmountPrecisionError,
    Asset,
    Intent,
    InvalidInput,
    InvalidIntent,
    Side,
    SpotPair,
)

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
NOW = 1_700_000_000_000_000_000

GOOD = dict(
    intent_id="i-1",
    account="acct",
    instrument=PAIR,
    side="buy",
    quantity="1.5",
    venues=["paper"],
    now_ns=NOW,
    limit_price="2000",
    max_slippage_bps=30,
    deadline_ns=NOW + 10**9,
    algo="twap",
    algo_params={"slices": 4, "aggressive": False, "max_participation": Decimal("0.1")},
)


def test_valid_intent_is_built_and_round_trips_through_json():
    it = Intent.create(**GOOD)
    assert it.side is Side.BUY
    assert it.quantity == Decimal("1.5")
    assert it.params["slices"] == 4
    payload = json.loads(json.dumps(it.to_payload()))
    assert Intent.from_payload(payload) == it


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quantity": None}, "exactly one of quantity"),
        ({"notional": "100"}, "exactly one of quantity"),
        ({"quantity": "-1"}, "quantity must be positive"),
        ({"quantity": 1.5}, "not 1.5"),
        ({"quantity": "lots"}, "not a decimal number"),
        ({"side": "long"}, "side 'long'"),
        ({"venues": []}, "at least one"),
        ({"venues": "paper"}, "not one string"),
        ({"venues": ["a", "a"]}, "duplicates"),
        ({"max_slippage_bps": 20_000}, "0..10000"),
        ({"deadline_ns": NOW}, "not in the future"),
        ({"algo": "yolo"}, "algo 'yolo' is unknown"),
        ({"algo_params": {"x": 0.5}}, "algo_params"),
        ({"algo_params": {"Bad Key": 1}}, "snake_case"),
        ({"intent_id": ""}, "intent_id"),
        ({"account": "a b"}, "account"),
        ({"limit_price": "0"}, "limit_price must be positive"),
        ({"instrument": "ETH/USDC"}, "instrument must be"),
    ],
)
def test_bad_intents_are_refused_with_a_message_naming_the_field(change, message):
    with pytest.raises(InvalidIntent, match=message) as info:
        Intent.create(**{**GOOD, **change})
    assert isinstance(info.value, ValueError)


def test_quantity_finer_than_the_instrument_is_refused():
    with pytest.raises(AmountPrecisionError, match="more than 8 decimal places"):
        Intent.create(**{**GOOD, "quantity": "0.000000001"})


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
    st.decimals(allow_nan=True, allow_infinity=True),
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "intent_id",
                "account",
                "side",
                "quantity",
                "notional",
                "limit_price",
                "max_slippage_bps",
                "deadline_ns",
                "algo",
                "venues",
                "reduce_only",
                "now_ns",
            ]
        ),
        junk,
        min_size=1,
    )
)
def test_fuzzed_intents_either_build_or_raise_invalid_input(changes):
    try:
        it = Intent.create(**{**GOOD, **changes})
    except InvalidInput as exc:
        assert str(exc)
    else:
        assert (it.quantity is None) != (it.notional is None)
        assert it.venues
