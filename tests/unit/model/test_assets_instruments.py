from decimal import Decimal

import pytest

from oms_chain.model import (
    Asset,
    InvalidInput,
    OptionContract,
    OptionKind,
    Perpetual,
    Settlement,
    SpotPair,
    instrument_from_payload,
)

WETH = Asset.erc20(42161, "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1", "WETH", 18)
USDC = Asset.erc20(42161, "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USDC", 6)
BTC = Asset.cex("binance", "BTC", 8)
USDT = Asset.cex("binance", "USDT", 6)


def test_on_chain_asset_address_is_normalized_and_id_is_chain_scoped():
    assert WETH.address == WETH.address.lower()
    assert WETH.id == "42161:0x82af49447d8a07e3bd95bd0d56f35241523fbab1"
    assert Asset.native(1).is_native


def test_cex_asset_is_keyed_by_venue_code():
    assert BTC.id == "binance:BTC"
    assert BTC.chain_id is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"symbol": "X", "decimals": 18, "chain_id": 1, "address": "0x12"}, "40 hex"),
        ({"symbol": "X", "decimals": 99, "venue": "binance"}, "decimals"),
        ({"symbol": "X", "decimals": 6}, "either chain_id"),
        (
            {"symbol": "X", "decimals": 6, "venue": "b", "chain_id": 1, "address": "0x" + "1" * 40},
            "either chain_id",
        ),
        ({"symbol": "bad symbol", "decimals": 6, "venue": "b"}, "symbol"),
    ],
)
def test_bad_assets_are_refused_with_the_reason(kwargs, match):
    with pytest.raises(InvalidInput, match=match):
        Asset(**kwargs)


def test_instruments_round_trip_through_payload():
    spot = SpotPair(base=WETH, quote=USDC)
    option = OptionContract(
        underlying=WETH,
        quote=USDC,
        strike=Decimal("3500"),
        expiry_ns=1_767_225_600 * 10**9,
        option_kind=OptionKind.CALL,
        settlement=Settlement.CASH,
    )
    perp = Perpetual(base=BTC, quote=USDT, settle=USDT)
    for inst in (spot, option, perp):
        again = instrument_from_payload(inst.to_payload())
        assert again == inst
        assert again.id == inst.id
    assert spot.chain_ids == {42161}
    assert perp.chain_ids == frozenset()
    assert option.symbol == "WETH-01JAN26-3500-C"


def test_option_rejects_non_positive_strike():
    with pytest.raises(InvalidInput, match="strike"):
        OptionContract(
            underlying=WETH, quote=USDC, strike=Decimal(0), expiry_ns=1, option_kind=OptionKind.PUT
        )


def test_unknown_instrument_kind_is_named():
    with pytest.raises(InvalidInput, match="unknown instrument kind 'future'"):
        instrument_from_payload({"kind": "future"})
