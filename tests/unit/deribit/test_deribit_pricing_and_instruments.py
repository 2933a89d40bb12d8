"""Deribit naming, tick rules and minimum amounts; the devnet's tiny Black-76."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.devnet.deribit import black76
from oms_chain.devnet.deribit.agents import round_to_tick
from oms_chain.devnet.deribit.errors import DeribitApiError
from oms_chain.devnet.deribit.instruments import (
    default_expiries,
    default_instruments,
    option_name,
)


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_option_names_follow_deribit() -> None:
    assert option_name("ETH", _ms(2026, 12, 27, 8), Decimal(3000), True) == "ETH-27DEC26-3000-C"
    assert option_name("BTC", _ms(2027, 1, 5, 8), Decimal(60000), False) == "BTC-5JAN27-60000-P"


def test_default_expiries_are_fridays_at_8_utc_more_than_an_hour_ahead() -> None:
    # Thursday 3 Dec 2026 09:00 UTC -> Fridays 4, 11, 18, 25 Dec
    assert default_expiries(_ms(2026, 12, 3, 9)) == [
        _ms(2026, 12, 4, 8),
        _ms(2026, 12, 11, 8),
        _ms(2026, 12, 18, 8),
        _ms(2026, 12, 25, 8),
    ]
    # Friday 07:30: today's 08:00 is under an hour away and is skipped
    assert default_expiries(_ms(2026, 12, 4, 7, 30), count=1) == [_ms(2026, 12, 11, 8)]


def test_default_listing_has_perpetuals_and_options_with_deribit_contract_specs() -> None:
    now = _ms(2026, 12, 3, 9)
    listing = {
        i.name: i for i in default_instruments(now, {"ETH": Decimal(3000), "BTC": Decimal(60000)})
    }
    eth_perp, btc_perp = listing["ETH-PERPETUAL"], listing["BTC-PERPETUAL"]
    assert (eth_perp.contract_size, eth_perp.min_trade_amount, eth_perp.tick_size) == (
        Decimal(1),
        Decimal(1),
        Decimal("0.05"),
    )
    assert (btc_perp.contract_size, btc_perp.tick_size) == (Decimal(10), Decimal("0.5"))
    call = listing["ETH-4DEC26-3000-C"]
    assert call.min_trade_amount == Decimal(1) and call.contract_size == Decimal(1)
    assert listing["BTC-4DEC26-60000-P"].min_trade_amount == Decimal("0.1")
    # 7 strikes x 2 types x 4 expiries per currency, plus two perpetuals
    assert len(listing) == 2 * (7 * 2 * 4) + 2
    assert call.to_json()["tick_size_steps"] == [{"above_price": 0.005, "tick_size": 0.0005}]


def test_option_tick_is_0_0001_below_0_005_and_0_0005_from_there() -> None:
    now = _ms(2026, 12, 3, 9)
    call = next(i for i in default_instruments(now, {"ETH": Decimal(3000)}) if i.is_option)
    call.check_price(Decimal("0.0049"))
    call.check_price(Decimal("0.0055"))
    for bad in ("0.0051", "0.00015", "0"):
        with pytest.raises(DeribitApiError) as err:
            call.check_price(Decimal(bad))
        assert err.value.code in (10043, -32602)
    with pytest.raises(DeribitApiError) as err:
        call.check_amount(Decimal("0.5"))
    assert err.value.code == 10021
    assert round_to_tick(call, Decimal("0.00512"), up=False) == Decimal("0.0050")
    assert round_to_tick(call, Decimal("0.00499"), up=True) == Decimal("0.0050")
    assert round_to_tick(call, Decimal("0.0123"), up=True) == Decimal("0.0125")


def test_black76_matches_the_textbook_atm_value_and_put_call_parity() -> None:
    # ATM, r = 0: C = F * (2 N(sigma sqrt(T) / 2) - 1)
    expected = 100 * (2 * 0.5 * (1 + math.erf(0.1 / math.sqrt(2))) - 1)
    assert black76.price(100, 100, 1, 0.2, True) == pytest.approx(expected, rel=1e-12)
    assert black76.price(100, 100, 1, 0.2, True) == pytest.approx(7.965567455405804, rel=1e-12)
    call = black76.price(110, 100, 0.5, 0.6, True)
    put = black76.price(110, 100, 0.5, 0.6, False)
    assert call - put == pytest.approx(10, abs=1e-9)


@given(
    strike=st.floats(50, 200),
    years=st.floats(0.01, 2),
    vol=st.floats(0.05, 3),
    is_call=st.booleans(),
)
def test_implied_vol_inverts_the_price(
    strike: float, years: float, vol: float, is_call: bool
) -> None:
    target = black76.price(100, strike, years, vol, is_call)
    intrinsic = max(0.0, 100 - strike) if is_call else max(0.0, strike - 100)
    if target - intrinsic < 1e-6:  # no time value left to invert against
        return
    iv = black76.implied_vol(target, 100, strike, years, is_call)
    assert iv is not None
    assert black76.price(100, strike, years, iv, is_call) == pytest.approx(target, abs=1e-7)
