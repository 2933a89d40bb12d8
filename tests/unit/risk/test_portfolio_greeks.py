"""Portfolio Greeks: balances across chains and venues add up; option Greeks match revaluation."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from decimal import Decimal

import numpy as np
import pytest
from _riskbook_fixtures import BTC, DAY_NS, ETH, ETH_ARB, ETH_CEX, NOW, PERP, USDC, option, years
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import InvalidInput
from oms_chain.model.ids import AccountId, InstrumentId, VenueId
from oms_chain.model.instruments import SpotPair
from oms_chain.model.positions import Position, PositionKey
from oms_chain.risk import Holding, MarketSnapshot, portfolio_risk
from oms_chain.risk.pricing import SVIParams, VolSurface

D = Decimal


def _market(**kw: object) -> MarketSnapshot:
    base: dict[str, object] = {"now_ns": NOW, "spots": {"ETH": D(2000), "BTC": D(40000)}}
    base.update(kw)
    return MarketSnapshot(**base)  # type: ignore[arg-type]


def test_balances_on_every_chain_and_venue_add_up_to_one_delta_exactly():
    holdings = [
        Holding(instrument=ETH, quantity=D("1.5"), venue="wallet:1"),
        Holding(instrument=ETH_ARB, quantity=D("2"), venue="wallet:42161"),
        Holding(instrument=ETH_CEX, quantity=D("0.25"), venue="deribit"),
        Holding(instrument=PERP, quantity=D("-3"), venue="deribit", entry_price=D(2100)),
        Holding(instrument=USDC, quantity=D(1000), venue="wallet:1"),
        Holding(instrument=BTC, quantity=D("0.5"), venue="deribit"),
    ]
    risk = portfolio_risk(holdings, _market())
    eth = risk.by_underlying["ETH"]
    assert eth.delta == D("0.75")
    assert eth.delta_usd == D(1500)
    assert eth.gamma_1pct == 0 and eth.vega_1pt == 0 and eth.theta_day == 0
    # 3.75 ETH at 2000 plus the short perpetual's unrealized PnL 3 x (2100 - 2000)
    assert eth.value == D(7800)
    assert risk.by_underlying["BTC"].delta_usd == D(20000)
    assert risk.delta_usd == D(21500)
    assert risk.cash == D(1000)
    assert risk.equity == D(1000) + D(7800) + D(20000)


def test_option_greeks_match_full_revaluation_by_finite_differences():
    call, put = option("C", 2100, 45), option("P", 1800, 10)
    vols = {call.id: D("0.7"), put.id: D("0.9")}
    holdings = [
        Holding(instrument=call, quantity=D(-4), venue="deribit"),
        Holding(instrument=put, quantity=D(3), venue="deribit"),
        Holding(instrument=ETH, quantity=D(2)),
    ]
    m = _market(vols=vols)
    r = portfolio_risk(holdings, m).by_underlying["ETH"]

    def value(market: MarketSnapshot) -> float:
        return float(portfolio_risk(holdings, market).by_underlying["ETH"].value)

    h = 0.01
    up, dn = value(m.with_spots({"ETH": D("2000.01")})), value(m.with_spots({"ETH": D("1999.99")}))
    v0 = value(m)
    assert float(r.delta) == pytest.approx((up - dn) / (2 * h), rel=1e-6)
    gamma = (up - 2 * v0 + dn) / h**2
    assert float(r.gamma_1pct) == pytest.approx(gamma * 2000 / 100, rel=1e-4)
    assert float(r.gamma_1pct_usd) == pytest.approx(gamma * 2000**2 / 100, rel=1e-4)
    bumped = {k: v + D("0.0001") for k, v in vols.items()}
    vega_fd = (value(_market(vols=bumped)) - v0) / 0.0001
    assert float(r.vega_1pt) == pytest.approx(vega_fd / 100, rel=1e-3)
    later = value(_market(vols=vols, now_ns=NOW + DAY_NS // 100)) - v0
    assert float(r.theta_day) == pytest.approx(later * 100, rel=1e-2)


def test_a_vol_surface_prices_options_without_a_quoted_vol():
    call = option("C", 2000, 30)
    seen: list[tuple[str, list[float]]] = []

    def surface(und: str, strikes: np.ndarray, t: np.ndarray) -> np.ndarray:
        seen.append((und, strikes.tolist()))
        return np.full_like(strikes, 0.8)

    h = [Holding(instrument=call, quantity=D(1))]
    by_surface = portfolio_risk(h, _market(surface=surface))
    quoted = portfolio_risk(h, _market(vols={call.id: D("0.8")}))
    assert seen == [("ETH", [2000.0])]
    assert by_surface.value == quoted.value


def test_a_fitted_svi_surface_gives_the_vol_of_an_unquoted_option():
    call = option("C", 2200, 30)
    t = years(30)
    flat = SVIParams(a=0.64 * t, b=0.0, rho=0.0, m=0.0, sigma=0.1)  # 80 % everywhere
    surf = VolSurface.from_params([t], [2000.0], [flat])
    h = [Holding(instrument=call, quantity=D(1))]
    by_svi = portfolio_risk(h, _market(surfaces={"ETH": surf}))
    quoted = portfolio_risk(h, _market(vols={call.id: D("0.8")}))
    assert float(by_svi.value) == pytest.approx(float(quoted.value), rel=1e-12)
    with pytest.raises(InvalidInput, match=r"a pricing\.VolSurface"):
        _market(surfaces={"ETH": object()})


def test_a_position_becomes_a_holding_with_its_entry_price():
    key = PositionKey(AccountId("a"), VenueId("deribit"), InstrumentId(PERP.id))
    pos = Position(key=key, quantity=D(-2), avg_price=D(2100))
    h = Holding.from_position(pos, PERP)
    assert (h.quantity, h.entry_price, h.venue) == (D(-2), D(2100), "deribit")
    with pytest.raises(InvalidInput, match="is not in instrument"):
        Holding.from_position(pos, option("C", 2000, 30))


def test_missing_inputs_are_refused_with_what_to_do():
    call = option("C", 2000, 30)
    with pytest.raises(InvalidInput, match="no vol for 1 option"):
        portfolio_risk([Holding(instrument=call, quantity=D(1))], _market())
    with pytest.raises(InvalidInput, match="no spot price for 'SOL'"):
        sol = ETH_CEX.__class__.cex("deribit", "SOL")
        portfolio_risk([Holding(instrument=sol, quantity=D(1))], _market())
    with pytest.raises(InvalidInput, match="only used for perpetuals"):
        Holding(instrument=ETH, quantity=D(1), entry_price=D(1))
    with pytest.raises(InvalidInput, match="listed both as cash"):
        MarketSnapshot(now_ns=NOW, spots={"USDC": D(1)})
    with pytest.raises(FrozenInstanceError):
        _market().rate = D(1)  # type: ignore[misc]


@given(
    qty=st.one_of(st.floats(), st.text(max_size=5), st.none(), st.just(D("NaN"))),
)
def test_holding_quantity_must_be_a_finite_decimal(qty: object):
    with pytest.raises(InvalidInput):
        Holding(instrument=ETH, quantity=qty)  # type: ignore[arg-type]


@given(
    spot=st.one_of(st.floats(), st.just(D(0)), st.just(D(-1)), st.just(D("Infinity"))),
    vol=st.one_of(st.just(D(0)), st.just(D(21)), st.floats(min_value=0.1, max_value=1)),
)
def test_market_snapshot_refuses_bad_prices_and_vols(spot: object, vol: object):
    with pytest.raises(InvalidInput):
        MarketSnapshot(now_ns=NOW, spots={"ETH": spot})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput):
        MarketSnapshot(now_ns=NOW, spots={"ETH": D(1)}, vols={"x": vol})  # type: ignore[dict-item]


def test_a_spot_pair_position_counts_its_base_and_other_quotes_are_refused():
    pair = SpotPair(base=ETH, quote=USDC)
    risk = portfolio_risk([Holding(instrument=pair, quantity=D("-0.5"))], _market())
    assert risk.by_underlying["ETH"].delta_usd == D(-1000)
    eth_btc = SpotPair(base=ETH, quote=BTC)
    with pytest.raises(InvalidInput, match="BTC is not a cash asset"):
        portfolio_risk([Holding(instrument=eth_btc, quantity=D(1))], _market())
    with pytest.raises(InvalidInput, match="holdings must be a sequence"):
        portfolio_risk("ETH", _market())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"holdings\[0\] must be a Holding"):
        portfolio_risk([ETH], _market())  # type: ignore[list-item]
