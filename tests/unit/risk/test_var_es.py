"""VaR / ES: exact values where the truth is known, and a Kupiec back-test on a GBM path."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from _riskbook_fixtures import DAY_NS, ETH, NOW, USDC, option
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import InvalidInput
from oms_chain.risk import (
    Holding,
    MarketSnapshot,
    historical_var,
    kupiec_pof,
    monte_carlo_var,
    parametric_var,
    var_backtest,
    var_es,
)

D = Decimal
Z99 = -2.3263478740408408  # standard normal quantile at 1 %
PHI_Z99 = math.exp(-Z99 * Z99 / 2) / math.sqrt(2 * math.pi)


def _eth(qty: str = "1", spot: int = 2000) -> tuple[list[Holding], MarketSnapshot]:
    m = MarketSnapshot(now_ns=NOW, spots={"ETH": D(spot)})
    return [Holding(instrument=ETH, quantity=D(qty)), Holding(instrument=USDC, quantity=D(5))], m


def test_empirical_var_is_the_kth_worst_and_es_the_mean_of_the_k_worst():
    pnl = np.arange(-50.0, 50.0)  # 100 scenarios
    assert var_es(pnl, 0.95) == (46.0, 48.0)
    assert var_es(pnl, 0.99) == (50.0, 50.0)
    assert var_es(np.array([3.0]), 0.99) == (-3.0, -3.0)


def test_historical_var_applies_each_past_return_to_todays_spot():
    holdings, market = _eth("2")
    prices = [100.0, 110.0, 99.0, 99.0, 108.9]  # returns +10 %, -10 %, 0, +10 %
    res = historical_var(holdings, market, {"ETH": prices}, confidence=0.75)
    # 4 scenarios, k = 1: the worst is 2 ETH x 2000 x (99/110 - 1) = -400
    assert float(res.var) == pytest.approx(400.0, rel=1e-12)
    assert res.scenarios == 4 and res.horizon_days == 1
    two_day = historical_var(holdings, market, {"ETH": prices}, confidence=0.6, horizon_days=2)
    # 2-day returns: -1 %, -10 %, +10 %: k = ceil(3 x 0.4) = 2, VaR = the 2nd worst = -1 %
    assert float(two_day.var) == pytest.approx(40.0, rel=1e-9)
    assert float(two_day.es) == pytest.approx((400.0 + 40.0) / 2, rel=1e-9)


def test_parametric_var_of_a_linear_book_is_the_normal_quantile():
    holdings, market = _eth("1")
    sigma = 0.05
    res = parametric_var(holdings, market, [[sigma**2]], ["ETH"], confidence=0.99)
    assert float(res.var) == pytest.approx(-2000 * sigma * Z99, rel=1e-12)
    assert float(res.es) == pytest.approx(2000 * sigma * PHI_Z99 / 0.01, rel=1e-12)
    ten = parametric_var(holdings, market, [[sigma**2]], ["ETH"], horizon_days=10)
    assert float(ten.var) == pytest.approx(float(res.var) * math.sqrt(10), rel=1e-12)


def test_parametric_delta_gamma_tracks_monte_carlo_for_a_short_straddle():
    call, put = option("C", 2000, 30), option("P", 2000, 30)
    market = MarketSnapshot(
        now_ns=NOW, spots={"ETH": D(2000)}, vols={call.id: D("0.6"), put.id: D("0.6")}
    )
    holdings = [Holding(instrument=call, quantity=D(-1)), Holding(instrument=put, quantity=D(-1))]
    cov = [[0.03**2]]
    dg = parametric_var(holdings, market, cov, ["ETH"], confidence=0.99)
    mc = monte_carlo_var(
        holdings,
        market,
        cov,
        ["ETH"],
        rng=np.random.default_rng(7),
        paths=40_000,
        confidence=0.99,
        age_options=False,
    )
    # a short straddle has a fat left tail: Cornish-Fisher moves VaR towards full revaluation
    assert float(dg.var) == pytest.approx(float(mc.var), rel=0.1)
    assert float(dg.es) > float(dg.var) > 0


def test_monte_carlo_is_seeded_and_matches_the_lognormal_quantile():
    holdings, market = _eth("1")
    sigma = 0.04
    args = (holdings, market, [[sigma**2]], ["ETH"])
    a = monte_carlo_var(*args, rng=np.random.default_rng(11), paths=50_000)
    b = monte_carlo_var(*args, rng=np.random.default_rng(11), paths=50_000)
    assert a == b
    exact = -2000 * (math.exp(-(sigma**2) / 2 + sigma * Z99) - 1)
    assert float(a.var) == pytest.approx(exact, rel=0.03)


def test_kupiec_statistic_and_p_value_are_exact():
    # no exception in 250 days at 99 %: LR = -2 x 250 x ln(0.99)
    res = kupiec_pof(0, 250, 0.99)
    assert res.lr == pytest.approx(-500 * math.log(0.99), rel=1e-14)
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(res.lr / 2)), rel=1e-14)
    # the chi-square(1) 95 % critical value gives a p-value of exactly 5 %
    from oms_chain.risk.var import _chi2_1_sf

    assert _chi2_1_sf(3.841458820694124) == pytest.approx(0.05, rel=1e-12)
    hit = kupiec_pof(10, 1000, 0.99)
    assert hit.lr == pytest.approx(0.0, abs=1e-12) and hit.p_value == pytest.approx(1.0)
    assert not kupiec_pof(12, 250, 0.99).passes(0.05)
    assert kupiec_pof(5, 250, 0.99).passes(0.05)


def _gbm(days: int, sigma: float, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal(days)
    return 2000.0 * np.exp(np.concatenate([[0.0], np.cumsum(sigma * z - sigma**2 / 2)]))


def test_var_forecasts_on_a_gbm_path_with_known_vol_pass_kupiec_at_95():
    sigma, days = 0.03, 1000
    path = _gbm(days, sigma, seed=2024)
    forecasts, realized = [], []
    for t in range(days):
        holdings, market = _eth("1", spot=1)  # spot replaced below
        market = MarketSnapshot(now_ns=NOW + t * DAY_NS, spots={"ETH": D(repr(float(path[t])))})
        res = parametric_var(holdings, market, [[sigma**2]], ["ETH"], confidence=0.99)
        forecasts.append(float(res.var))
        realized.append(path[t + 1] - path[t])
    test = var_backtest(realized, forecasts, 0.99)
    assert test.observations == 1000
    assert test.passes(0.05), test
    # the same path with half the vol under-forecasts risk and is rejected
    half = var_backtest(realized, [f / 2 for f in forecasts], 0.99)
    assert not half.passes(0.05), half


def test_rolling_historical_var_on_the_gbm_path_passes_kupiec_at_95():
    path = _gbm(1250, 0.03, seed=99)
    holdings, _ = _eth("1")
    forecasts, realized = [], []
    for t in range(250, 1250):
        market = MarketSnapshot(now_ns=NOW, spots={"ETH": D(repr(float(path[t])))})
        res = historical_var(holdings, market, {"ETH": path[t - 250 : t + 1]}, confidence=0.99)
        forecasts.append(float(res.var))
        realized.append(path[t + 1] - path[t])
    assert var_backtest(realized, forecasts, 0.99).passes(0.05)


@given(c=st.one_of(st.floats(max_value=0.4999), st.floats(min_value=1.0), st.booleans(), st.text()))
def test_confidence_outside_half_to_one_is_refused(c: object):
    with pytest.raises(InvalidInput, match="confidence"):
        var_es([1.0, 2.0], c)  # type: ignore[arg-type]


@given(x=st.integers(), t=st.integers(max_value=10**6))
def test_kupiec_refuses_impossible_counts(x: int, t: int):
    if t >= 1 and 0 <= x <= t:
        assert 0.0 <= kupiec_pof(x, t, 0.99).p_value <= 1.0
    else:
        with pytest.raises(InvalidInput):
            kupiec_pof(x, t, 0.99)


def test_bad_covariances_and_histories_are_refused_before_any_work():
    holdings, market = _eth()
    with pytest.raises(InvalidInput, match="no row for 'ETH'"):
        parametric_var(holdings, market, [[0.01]], ["BTC"])
    with pytest.raises(InvalidInput, match="positive semi-definite"):
        parametric_var(holdings, market, [[-0.01]], ["ETH"])
    with pytest.raises(InvalidInput, match="symmetric"):
        parametric_var(holdings, market, [[0.01, 0.0], [0.002, 0.01]], ["ETH", "BTC"])
    with pytest.raises(InvalidInput, match=r"rng must be a numpy\.random\.Generator"):
        monte_carlo_var(holdings, market, [[0.01]], ["ETH"], rng=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="needs at least 3"):
        historical_var(holdings, market, {"ETH": [1.0, 2.0]}, horizon_days=2)
    with pytest.raises(InvalidInput, match="no prices for 'ETH'"):
        historical_var(holdings, market, {"BTC": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="positive prices"):
        historical_var(holdings, market, {"ETH": [1.0, -2.0]})


def test_grid_revaluation_equals_full_revaluation_of_every_path():
    contracts = [
        option(k, strike, days)
        for k, strike, days in [("C", 2000, 30), ("P", 1800, 3), ("C", 2600, 200), ("P", 2000, 0.5)]
    ]
    vols = {c.id: D("0.75") for c in contracts}
    market = MarketSnapshot(now_ns=NOW, spots={"ETH": D(2000)}, vols=vols)
    holdings = [
        Holding(instrument=c, quantity=D(q)) for c, q in zip(contracts, (-3, 2, 5, -4), strict=True)
    ]
    holdings.append(Holding(instrument=ETH, quantity=D(1)))
    args = (holdings, market, [[0.05**2]], ["ETH"])
    full = monte_carlo_var(*args, rng=np.random.default_rng(3), paths=20_000, horizon_days=1)
    grid = monte_carlo_var(
        *args, rng=np.random.default_rng(3), paths=20_000, horizon_days=1, revaluation="grid"
    )
    assert float(grid.var) == pytest.approx(float(full.var), rel=1e-6)
    assert float(grid.es) == pytest.approx(float(full.es), rel=1e-6)
    with pytest.raises(InvalidInput, match="revaluation must be"):
        monte_carlo_var(*args, rng=np.random.default_rng(3), paths=10, revaluation="fast")


def test_path_revaluation_prices_identical_series_once_and_equals_per_contract_pricing():
    from oms_chain.risk._book import compile_book, price_options

    same = option("C", 2000, 30)
    contracts = [same, same, option("P", 1900, 0.5), option("C", 2100, 30), option("P", 1800, 90)]
    vols = {c.id: D("0.7") for c in contracts}
    market = MarketSnapshot(now_ns=NOW, spots={"ETH": D(2000)}, vols=vols, carry={"ETH": D("0.02")})
    qty = (-3, 5, 2, -1, 4)
    holdings = [Holding(instrument=c, quantity=D(q)) for c, q in zip(contracts, qty, strict=True)]
    book = compile_book(holdings, market)
    spots = 2000.0 * np.exp(np.random.default_rng(4).normal(0.0, 0.05, (5_000, 1)))
    dt = 1.0 / 365  # ages the half-day put past its expiry
    got = book.pnl(spots, dt=dt)
    prices = price_options(
        book.is_call, spots[:, book.opt_u], book.strike, book.t - dt, book.rate, book.q, book.vol
    )
    base = price_options(book.is_call, 2000.0, book.strike, book.t, book.rate, book.q, book.vol)
    want = prices @ book.qty[book.opt] - base @ book.qty[book.opt]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_an_empty_book_has_zero_parametric_var_and_an_empty_cov_is_accepted():
    market = MarketSnapshot(now_ns=NOW, spots={"ETH": D(2000)})
    v = parametric_var([], market, [], [])
    assert v.var == 0 and v.es == 0
    with pytest.raises(InvalidInput):
        parametric_var([], market, [[1.0]], [])  # a row for no underlying
