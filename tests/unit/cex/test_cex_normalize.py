"""ccxt shapes to our types: exact decimals, status mapping, markets, balances, levels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import InvalidInput, Side
from oms_chain.model.ids import ClientOrderId, VenueId
from oms_chain.venues import LiquidityLevel, VenueOrderStatus
from oms_chain.venues.cex import (
    CcxtMarket,
    balances_from_ccxt,
    exact_decimal,
    fill_report_from_ccxt,
    levels_from_ccxt,
    order_report_from_ccxt,
)
from oms_chain.venues.cex.normalize import to_ccxt_number

VENUE = VenueId("binance")
MARKET: dict[str, Any] = {
    "symbol": "ETH/USDC",
    "base": "ETH",
    "quote": "USDC",
    "spot": True,
    "active": True,
    "taker": 0.001,
    "maker": 0.0009,
    "precision": {"amount": 0.0001, "price": 0.01},
}
ETH_USDC = CcxtMarket.from_ccxt(MARKET, VENUE, tick_size_mode=True)


def ccxt_order(**overrides: Any) -> dict[str, Any]:
    order = {
        "id": "42",
        "clientOrderId": "oms-abc-0",
        "symbol": "ETH/USDC",
        "type": "limit",
        "side": "buy",
        "price": 3001.1,
        "amount": 0.3,
        "filled": 0.1,
        "status": "open",
        "timestamp": 1_700_000_000_123,
        "lastUpdateTimestamp": 1_700_000_000_456,
    }
    order.update(overrides)
    return order


def test_market_steps_fees_and_instrument_come_from_the_ccxt_market() -> None:
    assert ETH_USDC.amount_step == Decimal("0.0001") and ETH_USDC.price_step == Decimal("0.01")
    assert ETH_USDC.taker_fee_bps == Decimal(10) and ETH_USDC.maker_fee_bps == Decimal(9)
    assert ETH_USDC.instrument.base.symbol == "ETH" and ETH_USDC.instrument.base.venue == "binance"
    assert (ETH_USDC.instrument.base.decimals, ETH_USDC.instrument.quote.decimals) == (4, 2)


def test_digit_count_precision_mode_gives_the_same_steps() -> None:
    market = dict(MARKET, precision={"amount": 4, "price": 2})
    m = CcxtMarket.from_ccxt(market, VENUE, tick_size_mode=False)
    assert (m.amount_step, m.price_step) == (Decimal("0.0001"), Decimal("0.01"))


def test_non_spot_markets_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not spot"):
        CcxtMarket.from_ccxt(dict(MARKET, spot=False), VENUE, tick_size_mode=True)


def test_float_noise_is_snapped_to_the_market_grid() -> None:
    assert ETH_USDC.amount(0.1 + 0.2) == Decimal("0.3000")
    assert ETH_USDC.price("3000.5") == Decimal("3000.50")


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**7), places=8))
def test_a_float_parsed_from_a_15_digit_decimal_string_comes_back_exactly(value: Decimal) -> None:
    assert exact_decimal(float(str(value))) == value
    assert to_ccxt_number(value.normalize(), what="x") == float(value)


def test_bad_numbers_are_refused() -> None:
    for bad in (None, True, "abc", float("nan"), [1]):
        with pytest.raises(InvalidInput):
            exact_decimal(bad)
    with pytest.raises(InvalidInput, match="without rounding"):
        to_ccxt_number(Decimal("0.12345678901234567891"), what="quantity")


@pytest.mark.parametrize(
    ("raw", "filled", "expected"),
    [
        ("open", 0, VenueOrderStatus.OPEN),
        ("open", 0.1, VenueOrderStatus.PARTIALLY_FILLED),
        ("closed", 0.3, VenueOrderStatus.FILLED),
        ("canceled", 0.1, VenueOrderStatus.CANCELLED),
        ("expired", 0, VenueOrderStatus.EXPIRED),
        ("rejected", 0, VenueOrderStatus.REJECTED),
    ],
)
def test_order_status_mapping(raw: str, filled: float, expected: VenueOrderStatus) -> None:
    report = order_report_from_ccxt(
        ccxt_order(status=raw, filled=filled), ETH_USDC, venue=VENUE, ts_default=1
    )
    assert report.status is expected
    assert report.filled_quantity == ETH_USDC.amount(filled)


def test_order_report_fields_are_exact_and_in_nanoseconds() -> None:
    report = order_report_from_ccxt(ccxt_order(), ETH_USDC, venue=VENUE, ts_default=1)
    assert report.client_order_id == "oms-abc-0" and report.venue_order_id == "42"
    assert (report.quantity, report.filled_quantity) == (Decimal("0.3000"), Decimal("0.1000"))
    assert report.limit_price == Decimal("3001.10")
    assert report.ts_event == 1_700_000_000_456_000_000
    market = order_report_from_ccxt(
        ccxt_order(type="market", price=3000.0), ETH_USDC, venue=VENUE, ts_default=1
    )
    assert market.limit_price is None


def test_unknown_status_and_missing_ids_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown status"):
        order_report_from_ccxt(ccxt_order(status="weird"), ETH_USDC, venue=VENUE, ts_default=1)
    with pytest.raises(InvalidInput, match="without id"):
        order_report_from_ccxt(ccxt_order(clientOrderId=None), ETH_USDC, venue=VENUE, ts_default=1)


def test_fill_report_from_a_ccxt_trade() -> None:
    trade = {
        "id": "777",
        "order": "42",
        "side": "sell",
        "amount": 0.1,
        "price": 3000.07,
        "fee": {"cost": 0.300007, "currency": "USDC"},
        "timestamp": 1_700_000_000_001,
    }
    fill = fill_report_from_ccxt(
        trade, ETH_USDC, venue=VENUE, client_order_id=ClientOrderId("c-1"), ts_default=1
    )
    assert (fill.trade_id, fill.venue_order_id, fill.side) == ("777", "42", Side.SELL)
    assert (fill.quantity, fill.price) == (Decimal("0.1000"), Decimal("3000.07"))
    assert (fill.fee, fill.fee_currency) == (Decimal("0.300007"), "USDC")
    assert fill.ts_event == 1_700_000_000_001_000_000
    no_fee = fill_report_from_ccxt(
        dict(trade, fee=None),
        ETH_USDC,
        venue=VENUE,
        client_order_id=ClientOrderId("c"),
        ts_default=5,
    )
    assert (no_fee.fee, no_fee.fee_currency) == (Decimal(0), "USDC")


def test_balances_keep_free_non_zero_amounts_exactly() -> None:
    raw = {"free": {"ETH": 1.2345, "USDC": 0.0, "BTC": None}, "used": {"ETH": 1.0}}
    assert balances_from_ccxt(raw) == {"ETH": Decimal("1.2345")}


def test_levels_drop_empty_rows_and_keep_order() -> None:
    rows = [[3000.01, 0.5], [3000.02, 0.0], [3000.03, 1.25]]
    assert levels_from_ccxt(rows, ETH_USDC) == (
        LiquidityLevel(Decimal("3000.01"), Decimal("0.5000")),
        LiquidityLevel(Decimal("3000.03"), Decimal("1.2500")),
    )
