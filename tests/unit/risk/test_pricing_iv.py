"""Implied volatility: round trip on the whole grid, oracles (vollib, QuantLib), reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidInput
from oms_chain.risk.pricing import (
    IVReason,
    IVResult,
    black76,
    black76_price,
    bsm,
    bsm_price,
    implied_vol,
)

HOUR = 1 / (365 * 24)


def _grid(model, s=2000.0):
    """Moneyness K/S 0.2-5, expiries 1 hour - 3 years, vols 1 %-400 %, calls and puts."""
    m = np.geomspace(0.2, 5.0, 41)
    t = np.geomspace(HOUR, 3.0, 30)
    v = np.array([0.01, 0.05, 0.2, 0.5, 1.0, 2.0, 4.0])
    mm, tt, vv, cc = (a.ravel() for a in np.meshgrid(m, t, v, [True, False], indexing="ij"))
    r, q = 0.03, 0.01
    k = s * mm
    p = bsm_price(cc, s, k, tt, r, q, vv) if model == "bsm" else black76_price(cc, s, k, tt, r, vv)
    return cc, s, k, tt, r, q, vv, p


@pytest.mark.parametrize("spot", [100.0, 2000.0])
@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_round_trip_price_iv_price_within_1e_10_on_the_whole_grid(model, spot):
    c, s, k, t, r, q, v, p = _grid(model, spot)
    # Points whose price underflows double precision (deep out of the money at short expiry:
    # the price is 0 or subnormal) carry no information and are dropped; what is left is
    # asserted point by point. At-intrinsic answers (time value below the rounding of the
    # price, deep in the money) reprice to the intrinsic value, which is the price.
    kept = p > np.finfo(float).tiny
    assert kept.sum() > 0.6 * p.size
    res = implied_vol(p[kept], c[kept], s, k[kept], t[kept], r, q, model=model)
    assert res.ok.all(), np.unique(res.reason[~res.ok])
    pricer = (
        (lambda vol: bsm_price(c[kept], s, k[kept], t[kept], r, q, vol))
        if model == "bsm"
        else (lambda vol: black76_price(c[kept], s, k[kept], t[kept], r, vol))
    )
    back = pricer(res.vol)
    rel = np.abs(back - p[kept]) / p[kept]
    assert rel.max() < 1e-10
    # the vol itself comes back, to within what the price's rounding lets vega resolve
    solved = res.reason == IVReason.OK
    ck, kk, tk, vk, pk = (
        c[kept][solved],
        k[kept][solved],
        t[kept][solved],
        v[kept][solved],
        p[kept][solved],
    )
    g = bsm(ck, s, kk, tk, r, q, vk) if model == "bsm" else black76(ck, s, kk, tk, r, vk)
    resolvable = 1e3 * np.finfo(float).eps * pk / np.maximum(g.vega, 1e-300)
    assert (np.abs(res.vol[solved] - vk) <= 1e-8 * vk + resolvable).all()


def test_one_hour_expiry_deep_in_and_out_of_the_money():
    k = np.array([1500.0, 1900.0, 1990.0, 2000.0, 2010.0, 2100.0, 2500.0])
    for is_call in (True, False):
        p = bsm_price(is_call, 2000.0, k, HOUR, 0.05, 0.0, 0.8)
        res = implied_vol(p, is_call, 2000.0, k, HOUR, 0.05, 0.0)
        assert res.ok.all()
        back = bsm_price(is_call, 2000.0, k, HOUR, 0.05, 0.0, res.vol)
        np.testing.assert_allclose(back, p, rtol=1e-10)


def test_against_vollib_lets_be_rational():
    black_iv = pytest.importorskip("vollib.black.implied_volatility").implied_volatility
    bsm_iv = pytest.importorskip(
        "vollib.black_scholes_merton.implied_volatility"
    ).implied_volatility
    rng = np.random.default_rng(11)
    n = 300
    c = rng.random(n) < 0.5
    s = 100.0
    k = s * np.exp(rng.uniform(-1.0, 1.0, n))
    t = np.exp(rng.uniform(math.log(HOUR * 24), math.log(3.0), n))
    v = rng.uniform(0.1, 1.5, n)
    r, q = 0.02, 0.005
    p = bsm_price(c, s, k, t, r, q, v)
    f = black76_price(c, s, k, t, r, v)
    ours = implied_vol(p, c, s, k, t, r, q).vol
    ours76 = implied_vol(f, c, s, k, t, r, model="black76").vol
    # skip where the price does not determine the vol (no time value above rounding, or none)
    determined = bsm(c, s, k, t, r, q, v).vega * v > 1e-6 * p
    checked = 0
    for i in range(n):
        flag = "c" if c[i] else "p"
        if p[i] < 1e-8 * s or not determined[i]:
            continue
        ref = bsm_iv(float(p[i]), s, float(k[i]), float(t[i]), r, q, flag)
        ref76 = black_iv(float(f[i]), s, float(k[i]), r, float(t[i]), flag)
        assert ours[i] == pytest.approx(ref, rel=1e-9), i
        assert ours76[i] == pytest.approx(ref76, rel=1e-9), i
        checked += 1
    assert checked > 200


def test_against_quantlib_black_implied_std_dev():
    import QuantLib as ql

    fwd, df, t = 2000.0, math.exp(-0.03 * 0.5), 0.5
    strikes = np.array([800.0, 1500.0, 2000.0, 2600.0, 5000.0])
    for is_call, kind in ((True, ql.Option.Call), (False, ql.Option.Put)):
        prices = black76_price(is_call, fwd, strikes, t, 0.03, 0.9)
        ours = implied_vol(prices, is_call, fwd, strikes, t, 0.03, model="black76").vol
        for k, p, v in zip(strikes, prices, ours, strict=True):
            std = ql.blackFormulaImpliedStdDev(
                kind, float(k), fwd, float(p), df, 0.0, 0.5, 1e-14, 200
            )
            assert v == pytest.approx(std / math.sqrt(t), rel=1e-9)


def test_outside_the_bounds_each_contract_gets_nan_and_its_reason():
    s, k, t, r = 100.0, 100.0, 1.0, 0.0
    price = np.array([10.0, 0.0, 101.0, 100.0, 5.0, 5.0, 5.0, np.nan, 5.0, -1.0, 20.0, 5.0])
    spot = np.array([s, s, s, s, s, s, -1.0, s, s, s, 130.0, s])
    time = np.array([t, t, t, t, 0.0, -1.0, t, t, t, t, t, t])
    strike = np.array([k, k, k, k, k, k, k, k, np.inf, k, k, k])
    res = implied_vol(price, True, spot, strike, time, r)
    assert isinstance(res, IVResult)
    assert [IVReason(x).name for x in res.reason] == [
        "OK",
        "AT_INTRINSIC",
        "ABOVE_UPPER_BOUND",
        "ABOVE_UPPER_BOUND",
        "NONPOSITIVE_TIME",
        "NONPOSITIVE_TIME",
        "NONPOSITIVE_INPUT",
        "NONFINITE_INPUT",
        "NONFINITE_INPUT",
        "NONPOSITIVE_INPUT",
        "BELOW_INTRINSIC",
        "OK",
    ]
    assert res.vol[1] == 0.0
    assert np.isnan(res.vol[2:11]).all()
    assert float(bsm_price(True, s, k, t, r, 0.0, res.vol[0])) == pytest.approx(10.0, rel=1e-14)


def test_shape_is_kept_and_bad_arguments_raise():
    p = bsm_price(True, 100.0, np.array([[90.0, 100.0], [110.0, 120.0]]), 0.5, 0.0, 0.0, 0.4)
    res = implied_vol(p, True, 100.0, np.array([[90.0, 100.0], [110.0, 120.0]]), 0.5, 0.0)
    assert res.vol.shape == res.reason.shape == (2, 2)
    np.testing.assert_allclose(res.vol, 0.4, rtol=1e-12)
    with pytest.raises(InvalidInput, match="model must be 'bsm' or 'black76'"):
        implied_vol(p, True, 100.0, 100.0, 0.5, 0.0, model="heston")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="is_call must be a bool"):
        implied_vol(p, 1, 100.0, 100.0, 0.5, 0.0)
    with pytest.raises(InvalidInput, match="do not broadcast"):
        implied_vol(np.ones(3), True, 100.0, np.ones(2), 0.5, 0.0)


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.floats(0.2, 5.0),
    st.floats(HOUR, 3.0),
    st.floats(0.01, 3.0),
    st.floats(-0.05, 0.2),
    st.floats(-0.05, 0.2),
)
def test_round_trip_property(is_call, m, t, v, r, q):
    p = bsm_price(is_call, 100.0, 100.0 * m, t, r, q, v)
    if not p > np.finfo(float).tiny:
        return
    res = implied_vol(p, is_call, 100.0, 100.0 * m, t, r, q)
    assert res.ok.all()
    assert float(bsm_price(is_call, 100.0, 100.0 * m, t, r, q, res.vol)) == pytest.approx(
        float(p), rel=1e-10
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=6, max_size=6))
def test_any_input_gives_a_reason_never_an_exception(vals):
    price, s, k, t, r, q = vals
    res = implied_vol(price, False, s, k, t, r, q)
    assert res.reason.shape == ()
    assert IVReason(int(res.reason)) in IVReason
    assert np.isnan(res.vol) != bool(res.ok)


@pytest.mark.parametrize("price", [1e-300, 2.974935772290959e-85, 1e-12])
def test_near_zero_time_value_at_the_money_solves(price):
    res = implied_vol(price, np.array([True, False]), 1.0, 1.0, 1.0, 0.0, 0.0)
    assert res.ok.all()
    np.testing.assert_allclose(res.vol, price * math.sqrt(2 * math.pi), rtol=1e-10)


def test_blocks_of_a_large_batch_join_up():
    from oms_chain.risk.pricing.iv import _CHUNK

    rng = np.random.default_rng(8)
    n = 2 * _CHUNK + 7
    c = rng.random(n) < 0.5
    k = 100.0 * np.exp(rng.uniform(-0.5, 0.5, n))
    t = rng.uniform(0.01, 2.0, n)
    v = rng.uniform(0.1, 1.5, n)
    p = bsm_price(c, 100.0, k, t, 0.02, 0.0, v)
    p[_CHUNK] = -1.0  # one bad quote at a block edge
    res = implied_vol(p, c, 100.0, k, t, 0.02, 0.0)
    assert res.reason[_CHUNK] == IVReason.NONPOSITIVE_INPUT
    good = np.ones(n, dtype=bool)
    good[_CHUNK] = False
    assert res.ok[good].all()
    back = bsm_price(c[good], 100.0, k[good], t[good], 0.02, 0.0, res.vol[good])
    np.testing.assert_allclose(back, p[good], rtol=1e-10)
