"""SVI slices and surfaces: parameter recovery, arbitrage flags, interpolation, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidInput
from oms_chain.risk.pricing import (
    OptionQuote,
    SVIParams,
    VolSurface,
    black76_price,
    fit_svi,
)

TRUE = SVIParams(a=0.04, b=0.4, rho=-0.4, m=0.1, sigma=0.3)
# Axel Vogt's slice (Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces"): fits a
# smile well but has a negative density, g(k) < 0, for k roughly in (0.64, 1.26).
VOGT = SVIParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
K50 = np.linspace(-1.2, 1.0, 50)


def _quotes(params, t, fwd, r, kind, half_spread=0.0, k=K50):
    strike = fwd * np.exp(k)
    iv = np.sqrt(params.total_variance(k) / t)
    is_call = strike >= fwd
    if kind == "iv":
        bid, ask = iv - half_spread, iv + half_spread
    else:
        bid = black76_price(is_call, fwd, strike, t, r, iv)
        ask = bid
    return [
        OptionQuote(
            strike=float(strike[i]),
            t=t,
            is_call=bool(is_call[i]),
            bid=float(bid[i]),
            ask=float(ask[i]),
            kind=kind,
        )
        for i in range(k.size)
    ]


def test_fit_to_exact_total_variances_recovers_the_parameters():
    fit = fit_svi(K50, TRUE.total_variance(K50))
    np.testing.assert_allclose(fit.params.as_array(), TRUE.as_array(), atol=1e-9)
    assert fit.used == 50
    assert fit.rmse < 1e-12


def test_surface_fitted_to_prices_from_known_parameters_recovers_them():
    second = SVIParams(a=0.09, b=0.5, rho=-0.3, m=0.05, sigma=0.35)
    quotes = _quotes(TRUE, 0.25, 2000.0, 0.03, "price") + _quotes(
        second, 1.0, 2050.0, 0.03, "price"
    )
    surf = VolSurface.from_quotes(quotes, forward={0.25: 2000.0, 1.0: 2050.0}, r=0.03)
    assert surf.expiries.tolist() == [0.25, 1.0]
    np.testing.assert_allclose(surf.slices[0].as_array(), TRUE.as_array(), atol=1e-8)
    np.testing.assert_allclose(surf.slices[1].as_array(), second.as_array(), atol=1e-8)
    assert surf.check().ok


def test_bid_ask_quotes_in_iv_fit_the_mid_and_weight_by_spread():
    quotes = _quotes(TRUE, 0.5, 100.0, 0.0, "iv", half_spread=0.01)
    surf = VolSurface.from_quotes(quotes, forward=100.0)
    np.testing.assert_allclose(surf.slices[0].as_array(), TRUE.as_array(), atol=1e-8)
    # one wide, wrong quote barely moves a fit weighted by spread
    bad = quotes[:]
    q = bad[25]
    bad[25] = OptionQuote(q.strike, q.t, q.is_call, q.bid + 0.2, q.ask + 0.6, "iv")
    moved = VolSurface.from_quotes(bad, forward=100.0)
    k = np.log(q.strike / 100.0)
    iv_true = math.sqrt(TRUE.total_variance(k) / 0.5)
    assert abs(float(moved.implied_vol(q.strike, 0.5)) - iv_true) < 0.01


def test_vogt_quotes_are_flagged_for_butterfly_arbitrage_at_the_failing_strike():
    fwd = 100.0
    surf = VolSurface.from_quotes(
        _quotes(VOGT, 1.0, fwd, 0.0, "iv", k=np.linspace(-1.5, 1.5, 50)), forward=fwd
    )
    report = surf.check()
    assert not report.ok
    assert report.calendar == ()
    (fly,) = report.butterfly
    assert fly.t == 1.0
    assert 0.6 < fly.k_from < fly.k < fly.k_to < 1.3
    assert fly.strike == pytest.approx(fwd * math.exp(fly.k))
    assert fly.g < 0
    # and the exact slice agrees with the fitted one
    exact = VolSurface.from_params([1.0], fwd, [VOGT]).check().butterfly[0]
    assert exact.k == pytest.approx(fly.k, abs=0.01)


def test_total_variance_falling_with_expiry_is_flagged_with_both_expiries_and_the_strike():
    near = SVIParams(a=0.02, b=0.3, rho=0.5, m=0.0, sigma=0.2)  # steep right wing
    far = SVIParams(a=0.03, b=0.2, rho=-0.6, m=0.0, sigma=0.2)  # steep left wing
    surf = VolSurface.from_params([0.1, 0.2], 100.0, [near, far])
    report = surf.check()
    assert report.butterfly == ()
    (cal,) = report.calendar
    assert (cal.t1, cal.t2) == (0.1, 0.2)
    assert cal.k > 0 and cal.w2 < cal.w1
    assert cal.strike == pytest.approx(100.0 * math.exp(cal.k))


def test_interpolation_is_linear_in_total_variance_and_flat_in_vol_outside():
    a = SVIParams(a=0.01, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    b = SVIParams(a=0.05, b=0.2, rho=-0.3, m=0.0, sigma=0.2)
    surf = VolSurface.from_params([0.5, 1.5], 100.0, [a, b])
    k = np.array([80.0, 100.0, 125.0])
    np.testing.assert_allclose(surf.total_variance(k, 0.5), a.total_variance(np.log(k / 100)))
    mid = surf.total_variance(k, 1.0)
    np.testing.assert_allclose(
        mid, 0.5 * (a.total_variance(np.log(k / 100)) + b.total_variance(np.log(k / 100)))
    )
    np.testing.assert_allclose(surf.implied_vol(k, 0.1), surf.implied_vol(k, 0.5))
    np.testing.assert_allclose(surf.implied_vol(k, 3.0), surf.implied_vol(k, 1.5))
    p = surf.price(True, 100.0, 1.0, 0.0)
    assert float(p) == pytest.approx(
        float(black76_price(True, 100.0, 100.0, 1.0, 0.0, surf.implied_vol(100.0, 1.0)))
    )


def test_bad_slices_and_quotes_are_rejected():
    with pytest.raises(InvalidInput, match="rho must be in"):
        SVIParams(a=0.1, b=0.1, rho=1.0, m=0.0, sigma=0.1)
    with pytest.raises(InvalidInput, match="minimum total variance"):
        SVIParams(a=-1.0, b=0.1, rho=0.0, m=0.0, sigma=0.1)
    with pytest.raises(InvalidInput, match=r"bid 0\.6 above ask 0\.5"):
        OptionQuote(100.0, 0.5, True, 0.6, 0.5)
    with pytest.raises(InvalidInput, match="neither bid nor ask"):
        OptionQuote(100.0, 0.5, True, None, None)
    with pytest.raises(InvalidInput, match="at least 5"):
        fit_svi([0.0, 0.1, 0.2], [0.1, 0.1, 0.1])
    with pytest.raises(InvalidInput, match="strictly increasing"):
        VolSurface.from_params([1.0, 0.5], 100.0, [TRUE, TRUE])


@settings(max_examples=25, deadline=None)
@given(
    st.floats(0.005, 0.1),
    st.floats(0.05, 0.6),
    st.floats(-0.8, 0.8),
    st.floats(-0.3, 0.3),
    st.floats(0.05, 0.6),
)
def test_recovery_property(a, b, rho, m, sigma):
    p = SVIParams(a=a, b=b, rho=rho, m=m, sigma=sigma)
    fit = fit_svi(K50, p.total_variance(K50))
    model = fit.params.total_variance(K50)
    np.testing.assert_allclose(model, p.total_variance(K50), rtol=1e-7)
