"""Net premium, Greeks, margin, the calendar valuation and the PNG chart."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest
from _strategies_fixtures import DAY_NS, EXPIRY, NOW, SERIES

from oms_chain.model.errors import InvalidInput
from oms_chain.risk import Holding, MarketSnapshot, portfolio_margin
from oms_chain.risk.pricing import bsm
from oms_chain.strategies import (
    ExpiryValuation,
    InvalidStructure,
    LegQuote,
    calendar_spread,
    diagonal_spread,
    iron_condor,
    net_premium,
    payoff_chart_png,
    payoff_summary,
    payoff_table,
    price_grid,
    straddle,
    structure_greeks,
    structure_margin,
)

E = EXPIRY
IC = iron_condor(SERIES, E, (1800, 1900, 2100, 2200), 2)
QUOTES = {
    IC.legs[0].contract.id: LegQuote(bid=D("9.5"), ask=D(10)),  # buy 1800 P at the ask
    IC.legs[1].contract.id: LegQuote(bid=D(25), ask=D("25.5")),  # sell 1900 P at the bid
    IC.legs[2].contract.id: LegQuote(bid=D(30), ask=D("31")),  # sell 2100 C at the bid
    IC.legs[3].contract.id: LegQuote(bid=D(12), ask=D("12.5")),  # buy 2200 C at the ask
}


def test_net_premium_crosses_the_spread_side_by_side() -> None:
    p = net_premium(IC, QUOTES)
    assert [x.price for x in p.legs] == [D(10), D(25), D(30), D("12.5")]
    assert [x.amount for x in p.legs] == [D(20), D(-50), D(-60), D(25)]
    assert p.net == D(-65) and not p.is_debit
    s = payoff_summary(IC, net_premium=p.net)
    assert (s.max_profit, s.max_loss) == (D(65), D(135))
    assert s.breakevens == (D("1867.5"), D("2132.5"))


def test_net_premium_names_the_leg_without_a_quote_or_side() -> None:
    missing = dict(QUOTES)
    del missing[IC.legs[2].contract.id]
    with pytest.raises(InvalidStructure, match=r"leg 2 \(sell 2 ETH-15JAN27-2100-C\): no quote"):
        net_premium(IC, missing)
    no_ask = {**QUOTES, IC.legs[3].contract.id: LegQuote(bid=D(12))}
    with pytest.raises(InvalidStructure, match=r"leg 3 .*no ask to buy from") as info:
        net_premium(IC, no_ask)
    assert info.value.leg == 3
    with pytest.raises(InvalidInput, match="crossed"):
        LegQuote(bid=D(2), ask=D(1))


def test_greeks_per_leg_and_total_equal_risk_pricing_directly() -> None:
    g = structure_greeks(IC, spot=2000, now_ns=NOW, vol=D("0.6"), rate=D("0.03"))
    t = 30 / 365
    for leg, lg in zip(IC.legs, g.legs, strict=True):
        ref = bsm(
            leg.contract.option_kind.value == "call",
            2000.0,
            float(leg.contract.strike),
            t,
            0.03,
            0.0,
            0.6,
        )
        q = float(leg.signed_quantity)
        assert float(lg.value) == pytest.approx(float(ref.price) * q, abs=1e-9)
        assert float(lg.delta) == pytest.approx(float(ref.delta) * q, abs=1e-9)
        assert float(lg.vega_1pt) == pytest.approx(float(ref.vega) * q / 100, abs=1e-9)
        assert float(lg.theta_day) == pytest.approx(float(ref.theta) * q / 365, abs=1e-9)
        assert lg.vol == D("0.6")
    assert g.total.delta == pytest.approx(sum(x.delta for x in g.legs), abs=D("1e-9"))
    assert g.total.vol is None


def test_a_long_straddle_has_the_call_plus_put_delta_and_positive_gamma() -> None:
    g = structure_greeks(straddle(SERIES, E, 2000, 1), spot=2000, now_ns=NOW, vol=D("0.6"))
    # r = q = 0: call delta N(d1), put delta N(d1) - 1, d1 = vol sqrt(t) / 2
    d1 = 0.6 * math.sqrt(30 / 365) / 2
    nd1 = 0.5 * math.erfc(-d1 / math.sqrt(2))
    assert float(g.total.delta) == pytest.approx(2 * nd1 - 1, abs=1e-9)
    assert g.total.gamma > 0 and g.total.vega_1pt > 0 and g.total.theta_day < 0


def test_greeks_refuse_an_expired_leg_and_a_missing_vol() -> None:
    with pytest.raises(InvalidStructure, match=r"leg 0 .*expired"):
        structure_greeks(IC, spot=2000, now_ns=E, vol=D("0.6"))
    with pytest.raises(InvalidStructure, match=r"leg 0 .*no vol"):
        structure_greeks(IC, spot=2000, now_ns=NOW, vol={})
    with pytest.raises(InvalidInput, match="spot"):
        structure_greeks(IC, spot=0, now_ns=NOW, vol=D("0.6"))


def test_margin_is_the_portfolio_margin_of_the_legs() -> None:
    vols = {leg.contract.id: D("0.6") for leg in IC.legs}
    market = MarketSnapshot(now_ns=NOW, spots={"ETH": D(2000)}, vols=vols)
    m = structure_margin(IC, market)
    ref = portfolio_margin(
        [Holding(instrument=leg.contract, quantity=leg.signed_quantity) for leg in IC.legs],
        market,
    )
    assert (m.initial, m.maintenance) == (ref.initial, ref.maintenance)
    # a defined-risk structure never needs more maintenance than its max loss plus contingencies
    assert D(0) < m.maintenance <= D(2) * 100 + D("0.01") * 2000 * 4


def _bsm_call_atm(s: float, vol: float, t: float) -> float:
    return s * math.erf(vol * math.sqrt(t) / 2 / math.sqrt(2))  # r = q = 0: S (2 N(d1) - 1)


def test_calendar_is_valued_at_the_first_expiry_with_the_far_leg_by_bsm() -> None:
    cal = calendar_spread(SERIES, E, E + 30 * DAY_NS, 2000, 1)
    with pytest.raises(InvalidStructure, match="ExpiryValuation"):
        payoff_summary(cal, net_premium=60)
    val = ExpiryValuation(vol=D("0.6"))
    s = payoff_summary(cal, net_premium=60, valuation=val)
    peak = _bsm_call_atm(2000.0, 0.6, 30 / 365)
    assert not s.exact
    assert float(s.max_profit or 0) == pytest.approx(peak - 60, abs=1e-6)
    assert s.max_loss == D(60)  # at S = 0 (both calls worthless)
    (row,) = payoff_table(cal, [2000], net_premium=60, valuation=val)
    assert float(row.payoff) == pytest.approx(peak, abs=1e-6)
    for b in s.breakevens:
        (r,) = payoff_table(cal, [b], net_premium=60, valuation=val)
        assert abs(r.pnl) < D("1e-6")
    assert len(s.breakevens) == 2 and s.breakevens[0] < 2000 < s.breakevens[1]


def test_diagonal_with_a_per_leg_vol_and_an_unbounded_short_far_put() -> None:
    diag = diagonal_spread(SERIES, E, E + 60 * DAY_NS, 2100, 2000, 1)
    far = diag.legs[1].contract.id
    with pytest.raises(InvalidStructure, match=r"leg 1 .*no vol"):
        payoff_summary(diag, valuation=ExpiryValuation(vol={}))
    s = payoff_summary(diag, net_premium=50, valuation=ExpiryValuation(vol={far: D("0.7")}))
    assert s.max_profit is not None and s.max_loss is not None
    # the sold near call is covered by the bought far call: bounded both ways
    assert s.max_loss > 0 and s.max_profit > 0


def test_payoff_chart_is_a_png() -> None:
    pytest.importorskip("matplotlib")
    rows = payoff_table(IC, price_grid(IC, 41), net_premium=-65)
    png = payoff_chart_png(
        rows, payoff_summary(IC, net_premium=-65).breakevens, title="iron condor"
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    with pytest.raises(InvalidInput, match="two"):
        payoff_chart_png(rows[:1])
