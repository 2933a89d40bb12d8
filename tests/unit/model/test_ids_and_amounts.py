from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import (
    CLIENT_ORDER_ID_PATTERN,
    AmountPrecisionError,
    Asset,
    InvalidInput,
    client_order_id,
    from_base_units,
    to_base_units,
    to_decimal,
)

intent_ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-",
    min_size=1,
    max_size=128,
)


@given(intent_ids, st.integers(min_value=0, max_value=10_000))
def test_client_order_id_fits_binance_charset_and_is_deterministic(intent_id, seq):
    coid = client_order_id(intent_id, seq)
    assert CLIENT_ORDER_ID_PATTERN.match(coid)
    assert len(coid) <= 36
    assert coid == client_order_id(intent_id, seq)


@given(intent_ids, intent_ids)
def test_client_order_ids_of_different_intents_differ(a, b):
    if a != b:
        assert client_order_id(a, 0) != client_order_id(b, 0)
    assert client_order_id(a, 0) != client_order_id(a, 1)


def test_client_order_id_rejects_bad_intent_id_and_prefix():
    with pytest.raises(InvalidInput, match="intent id"):
        client_order_id("has space", 0)
    with pytest.raises(InvalidInput, match="prefix"):
        client_order_id("ok", 0, prefix="too-long-prefix")


@given(st.integers(min_value=0, max_value=2**256 - 1), st.integers(min_value=0, max_value=36))
def test_base_units_round_trip_exactly_for_any_uint256(units, decimals):
    assert to_base_units(from_base_units(units, decimals), decimals) == units


def test_precision_loss_is_refused_not_rounded():
    usdc = Asset.erc20(1, "0x" + "a" * 40, "USDC", 6)
    assert usdc.to_base_units(Decimal("1.000001")) == 1_000_001
    with pytest.raises(AmountPrecisionError, match="more than 6 decimal places"):
        usdc.to_base_units(Decimal("1.0000001"))
    assert usdc.to_base_units(Decimal("1.0000000")) == 1_000_000  # trailing zeros are exact


def test_floats_are_refused_as_money():
    with pytest.raises(InvalidInput, match=r"not 0\.1"):
        to_decimal(0.1)
    with pytest.raises(InvalidInput, match="finite"):
        to_decimal("NaN")
    assert to_decimal("1_000.5") == Decimal("1000.5")


def test_huge_wei_amounts_convert_without_context_rounding():
    units = 123456789012345678901234567890123456789
    assert from_base_units(units, 18) == Decimal("123456789012345678901.234567890123456789")


def test_fill_keys_tell_apart_the_two_sides_of_a_self_trade() -> None:
    from oms_chain.model.fills import Fill

    assert Fill.key_for("binance", "77", "oms-a") != Fill.key_for("binance", "77", "oms-b")
