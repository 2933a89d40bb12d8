"""Black-Scholes-Merton and Black-76: textbook values, parity, Greeks against finite differences."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.risk.pricing import Greeks, black76, black76_price, bsm, bsm_price
from oms_chain.risk.pricing._erf import erfc, erfcx_nonneg, norm_cdf

GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm")


def test_erfc_matches_math_erfc_to_a_few_ulps_on_a_dense_grid():
    x = np.linspace(-27.0, 27.0, 400_001)
    ref = np.array([math.erfc(v) for v in x])
    got = erfc(x)
    normal = ref > 2.3e-308  # below this math.erfc is subnormal and only absolute error counts
    rel = np.abs(got[normal] - ref[normal]) / ref[normal]
    assert rel.max() < 8 * np.finfo(float).eps
    assert np.abs(got[~normal] - ref[~normal]).max() < 1e-320
    assert erfc(np.array([np.inf, -np.inf])).tolist() == [0.0, 2.0]
    assert np.isnan(erfc(np.nan))


def test_erfcx_matches_its_definition_where_the_definition_is_exact_enough():
    y = np.linspace(0.0, 5.0, 50_001)
    ref = np.array([math.exp(v * v) * math.erfc(v) for v in y])
    assert (np.abs(erfcx_nonneg(y) - ref) / ref).max() < 1e-14
    # beyond, the asymptotic series 1/(y sqrt(pi)) * (1 - 1/(2y^2) + 3/(4y^4)) is exact enough
    big = np.array([1e3, 1e6, 1e9])
    series = 1 / (big * math.sqrt(math.pi)) * (1 - 1 / (2 * big**2) + 3 / (4 * big**4))
    assert np.allclose(erfcx_nonneg(big), series, rtol=1e-15, atol=0)


def test_norm_cdf_keeps_relative_precision_in_the_lower_tail():
    assert norm_cdf(-30.0) == pytest.approx(4.906713927148187e-198, rel=1e-14)
    assert norm_cdf(0.0) == 0.5
    assert norm_cdf(8.0) == pytest.approx(1 - 6.22096057427178e-16, abs=1e-16)


# Hull, "Options, Futures, and Other Derivatives": the stock option example (S=42, K=40, r=10 %,
# sigma=20 %, six months) and the Greek-letter examples (S=49, K=50, r=5 %, sigma=20 %, 20 weeks;
# the index put S=305, K=300, q=3 %, r=8 %, sigma=25 %, four months), and Black's model for a
# futures option (F=K=20, r=9 %, sigma=25 %, four months).
def test_hull_stock_option_prices_to_the_cent():
    g = bsm(np.array([True, False]), 42.0, 40.0, 0.5, 0.1, 0.0, 0.2)
    assert np.round(g.price, 2).tolist() == [4.76, 0.81]


def test_hull_greek_letter_examples_for_the_20_week_call():
    g = bsm(True, 49.0, 50.0, 20 / 52, 0.05, 0.0, 0.2)
    assert round(float(g.price), 2) == 2.40
    assert round(float(g.delta), 3) == 0.522
    assert round(float(g.gamma), 3) == 0.066
    assert round(float(g.vega), 1) == 12.1
    assert round(float(g.theta), 2) == -4.31
    assert round(float(g.theta) / 365, 4) == -0.0118
    assert round(float(g.rho), 2) == 8.91


def test_hull_index_put_greeks():
    g = bsm(False, 305.0, 300.0, 4 / 12, 0.08, 0.03, 0.25)
    assert round(float(g.theta), 2) == -18.15
    assert round(float(g.gamma), 5) == 0.00857
    assert round(float(g.vega), 2) == 66.45  # Hull prints 66.44 from a rounded N'(d1)
    assert float(g.rho) == pytest.approx(-42.57, abs=0.01)


def test_hull_black_futures_option_call_and_put_equal_at_the_money():
    price = black76_price(np.array([True, False]), 20.0, 20.0, 4 / 12, 0.09, 0.25)
    assert np.round(price, 2).tolist() == [1.12, 1.12]


def test_greeks_is_frozen_and_every_field_has_the_broadcast_shape():
    g = bsm(
        np.array([True, False, True]), 100.0, np.array([90.0, 100.0, 110.0]), 0.5, 0.0, 0.0, 0.5
    )
    assert isinstance(g, Greeks)
    for name in GREEK_NAMES:
        assert getattr(g, name).shape == (3,), name
    with pytest.raises(FrozenInstanceError):
        g.price = g.delta  # type: ignore[misc]


def test_price_only_fast_paths_equal_the_full_kernels():
    rng = np.random.default_rng(3)
    n = 2000
    is_call = rng.random(n) < 0.5
    s = rng.uniform(50, 150, n)
    k = rng.uniform(50, 150, n)
    t = rng.uniform(0.01, 3, n)
    r = rng.uniform(-0.01, 0.1, n)
    q = rng.uniform(-0.02, 0.1, n)
    v = rng.uniform(0.05, 1.5, n)
    np.testing.assert_allclose(
        bsm_price(is_call, s, k, t, r, q, v),
        bsm(is_call, s, k, t, r, q, v).price,
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        black76_price(is_call, s, k, t, r, v),
        black76(is_call, s, k, t, r, v).price,
        rtol=1e-12,
        atol=1e-12,
    )


def test_bsm_with_carry_equals_black76_on_the_forward():
    s, k, t, r, q, v = 2000.0, np.array([1500.0, 2000.0, 2600.0]), 0.25, 0.04, 0.01, 0.7
    fwd = s * math.exp((r - q) * t)
    for is_call in (True, False):
        a = bsm(is_call, s, k, t, r, q, v)
        b = black76(is_call, fwd, k, t, r, v)
        np.testing.assert_allclose(a.price, b.price, rtol=1e-13)
        np.testing.assert_allclose(a.vega, b.vega, rtol=1e-13)
        np.testing.assert_allclose(a.delta, b.delta * fwd / s, rtol=1e-13)


spot_st = st.floats(20.0, 500.0)
moneyness_st = st.floats(0.5, 2.0)
t_st = st.floats(0.02, 4.0)
r_st = st.floats(-0.02, 0.15)
q_st = st.floats(-0.05, 0.15)
vol_st = st.floats(0.05, 1.5)


@settings(max_examples=200, deadline=None)
@given(spot_st, moneyness_st, t_st, r_st, q_st, vol_st)
def test_put_call_parity(s, m, t, r, q, v):
    k = s * m
    g = bsm(np.array([True, False]), s, k, t, r, q, v)
    call, put = g.price
    scale = max(s, k)
    assert call - put == pytest.approx(
        s * math.exp(-q * t) - k * math.exp(-r * t), abs=1e-12 * scale
    )
    assert g.delta[0] - g.delta[1] == pytest.approx(math.exp(-q * t), abs=1e-14)
    assert g.gamma[0] == pytest.approx(g.gamma[1], rel=1e-12)
    assert g.vega[0] == pytest.approx(g.vega[1], rel=1e-12)
    f = black76(np.array([True, False]), s, k, t, r, v)
    assert f.price[0] - f.price[1] == pytest.approx(math.exp(-r * t) * (s - k), abs=1e-12 * scale)


def _d(fn, x, h):
    """Five-point central first derivative."""
    return (-fn(x + 2 * h) + 8 * fn(x + h) - 8 * fn(x - h) + fn(x - 2 * h)) / (12 * h)


def _d2(fn, x, h):
    """Five-point central second derivative."""
    return (-fn(x + 2 * h) + 16 * fn(x + h) - 30 * fn(x) + 16 * fn(x - h) - fn(x - 2 * h)) / (
        12 * h * h
    )


def _check_greeks_against_price_differences(model, is_call, s, k, t, r, q, v):
    def price(s=s, t=t, r=r, v=v):
        if model == "bsm":
            return float(bsm_price(is_call, s, k, t, r, q, v))
        return float(black76_price(is_call, s, k, t, r, v))

    g = bsm(is_call, s, k, t, r, q, v) if model == "bsm" else black76(is_call, s, k, t, r, v)
    # steps on the scale each input moves the price: s * vol * sqrt(t) for the spot
    hs, hv, ht, hr = 1e-2 * s * min(1.0, v * math.sqrt(t)), 1e-3 * v, 1e-4 * t, 1e-4
    fd = {
        "delta": _d(lambda x: price(s=x), s, hs),
        "gamma": _d2(lambda x: price(s=x), s, hs),
        "vega": _d(lambda x: price(v=x), v, hv),
        "theta": -_d(lambda x: price(t=x), t, ht),
        "rho": _d(lambda x: price(r=x), r, hr),
        "volga": _d2(lambda x: price(v=x), v, hv),
        "vanna": _d(lambda y: _d(lambda x: price(s=x, v=y), s, hs), v, hv),
        "charm": -_d(lambda y: _d(lambda x: price(s=x, t=y), s, hs), t, ht),
    }
    # Natural scales: price ~ s, per unit of s ~ 1, per unit of s^2 ~ 1/s.
    scale = {
        "delta": 1,
        "gamma": 1 / s,
        "vega": s,
        "theta": s,
        "rho": s * t,
        "volga": s,
        "vanna": 1,
        "charm": 1,
    }
    tol = {
        "delta": 1e-8,
        "gamma": 1e-5,
        "vega": 1e-8,
        "theta": 1e-6,
        "rho": 1e-8,
        "volga": 1e-5,
        "vanna": 1e-5,
        "charm": 1e-4,
    }
    for name, expected in fd.items():
        got = float(getattr(g, name))
        assert abs(got - expected) <= tol[name] * scale[name] * max(1.0, 1 / (v * math.sqrt(t))), (
            name,
            got,
            expected,
        )


@settings(max_examples=100, deadline=None)
@given(st.booleans(), spot_st, moneyness_st, t_st, r_st, q_st, vol_st)
def test_every_bsm_greek_matches_finite_differences_of_the_price(c, s, m, t, r, q, v):
    _check_greeks_against_price_differences("bsm", c, s, s * m, t, r, q, v)


@settings(max_examples=100, deadline=None)
@given(st.booleans(), spot_st, moneyness_st, t_st, r_st, vol_st)
def test_every_black76_greek_matches_finite_differences_of_the_price(c, f, m, t, r, v):
    _check_greeks_against_price_differences("black76", c, f, f * m, t, r, 0.0, v)


def test_zero_time_or_zero_vol_gives_the_discounted_intrinsic_limit():
    is_call = np.array([True, False, True, False])
    g = bsm(is_call, 100.0, np.array([90.0, 90.0, 110.0, 110.0]), 0.0, 0.05, 0.0, 0.5)
    assert g.price.tolist() == [10.0, 0.0, 0.0, 10.0]
    assert g.delta.tolist() == [1.0, 0.0, 0.0, -1.0]
    assert g.gamma.tolist() == [0.0] * 4
    z = black76(True, 100.0, 90.0, 1.0, 0.05, 0.0)
    assert float(z.price) == pytest.approx(10 * math.exp(-0.05))
    assert float(z.delta) == pytest.approx(math.exp(-0.05))
    assert float(z.rho) == pytest.approx(-10 * math.exp(-0.05))
    assert all(np.isfinite(getattr(g, n)).all() for n in GREEK_NAMES)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"spot": -1.0}, "spot must be finite and > 0 (between 1e-100 and 1e+100), got -1.0"),
        (
            {"strike": np.array([1.0, 0.0])},
            "strike must be finite and > 0 (between 1e-100 and 1e+100), got 0.0 at index (1,)",
        ),
        ({"t": -0.1}, "t must be finite and >= 0"),
        ({"vol": np.nan}, "vol must be finite and >= 0 (at most 1000), got nan"),
        ({"r": np.inf}, "r must be finite"),
        ({"spot": 1e200}, "spot must be finite and > 0 (between 1e-100 and 1e+100), got 1e+200"),
        ({"t": 1e4}, "t must be finite and >= 0 (at most 1000)"),
        ({"strike": np.ones(3), "vol": np.ones(2)}, "do not broadcast"),
        ({"is_call": 1}, "is_call must be a bool"),
    ],
)
def test_bad_input_is_rejected_with_a_message_naming_the_argument(kwargs, needle):
    args = {
        "is_call": True,
        "spot": 100.0,
        "strike": 100.0,
        "t": 1.0,
        "r": 0.0,
        "q": 0.0,
        "vol": 0.5,
    } | kwargs
    with pytest.raises(InvalidInput, match=None) as info:
        bsm(**args)
    assert needle in str(info.value)
    assert isinstance(info.value, OmsError) and isinstance(info.value, ValueError)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5))
def test_any_float_input_either_prices_or_raises_invalid_input(values):
    arr = np.array(values)
    try:
        g = bsm(True, arr, 100.0, 1.0, 0.01, 0.0, 0.5)
    except InvalidInput:
        assert not ((arr >= 1e-100) & (arr <= 1e100)).all()
    else:
        assert np.isfinite(g.price).all()


def test_fused_kernel_equals_the_reference_formulas_across_chunks_and_regions():
    from oms_chain.risk.pricing import black as impl
    from oms_chain.risk.pricing._kernel import CHUNK

    rng = np.random.default_rng(5)
    n = 2 * CHUNK + 123  # several chunks and a ragged tail
    c = rng.random(n) < 0.5
    s = rng.uniform(50, 150, n)
    k = s * np.exp(rng.uniform(-1.5, 1.5, n))  # |d| from 0 to beyond 4 sqrt(2)
    t = np.exp(rng.uniform(math.log(1 / 8760), math.log(3.0), n))
    r = rng.uniform(-0.01, 0.1, n)
    q = rng.uniform(-0.02, 0.1, n)
    v = rng.uniform(0.05, 2.0, n)
    v[::97] = 0.0
    k[-50:] = s[-50:] * np.exp(np.linspace(-0.3, 0.3, 50))  # |d| up to ~30 in the ragged tail
    t[-50:] = 1 / 365
    v[-50:] = 0.2
    for forward in (False, True):
        fast = (black76 if forward else bsm)(c, s, k, t, r, *(() if forward else (q,)), v)
        ref = impl._greeks_reference(c, s, k, t, r, r if forward else q, v, forward=forward)
        for name in GREEK_NAMES:
            a, b = getattr(fast, name), getattr(ref, name)
            scale = np.maximum(np.abs(b), {"price": 1e-300}.get(name, 1e-12))
            rel = np.abs(a - b) / scale
            assert np.nanmax(rel) < 1e-9, (forward, name, np.nanmax(rel))
        assert np.isfinite(fast.price).all()


def test_out_reuses_the_arrays_of_an_earlier_result():
    k = np.array([[90.0, 100.0], [110.0, 120.0]])
    first = bsm(True, 100.0, k, 0.5, 0.01, 0.0, 0.4)
    ids = [id(getattr(first, n)) for n in GREEK_NAMES]
    again = bsm(False, 100.0, k, 0.0, 0.01, 0.0, 0.4, out=first)  # t = 0: the limit path too
    assert again is first and [id(getattr(again, n)) for n in GREEK_NAMES] == ids
    fresh = bsm(False, 100.0, k, 0.0, 0.01, 0.0, 0.4)
    for name in GREEK_NAMES:
        np.testing.assert_array_equal(getattr(again, name), getattr(fresh, name))
    buf = np.empty(2)
    assert black76_price(True, 100.0, np.array([90.0, 110.0]), 1.0, 0.0, 0.5, out=buf) is buf
    np.testing.assert_array_equal(
        buf, black76_price(True, 100.0, np.array([90.0, 110.0]), 1.0, 0.0, 0.5)
    )


def test_first_order_only_equals_the_full_set_bit_for_bit_and_leaves_the_cross_greeks_nan():
    rng = np.random.default_rng(11)
    n = 70_000  # more than two kernel chunks, with a partial last one
    c = rng.random(n) < 0.5
    s = 100.0 * np.exp(rng.uniform(-1.0, 1.0, n))
    k = 100.0 * np.exp(rng.uniform(-0.8, 0.8, n))
    t = np.exp(rng.uniform(math.log(1 / 365 / 24), math.log(3.0), n))
    t[::997] = 0.0  # the limit path too
    v = rng.uniform(0.05, 1.5, n)
    for forward in (False, True):
        args = (c, s, k, t, 0.03, *(() if forward else (0.01,)), v)
        fn = black76 if forward else bsm
        full, first = fn(*args), fn(*args, higher=False)
        for name in GREEK_NAMES[:6]:
            np.testing.assert_array_equal(getattr(first, name), getattr(full, name))
        for name in GREEK_NAMES[6:]:
            arr = getattr(first, name)
            assert arr.shape == (n,) and np.isnan(arr).all() and not arr.flags.writeable
        into = fn(*args)
        for name in GREEK_NAMES:
            getattr(into, name).fill(-7.0)
        assert fn(*args, out=into, higher=False) is into
        for name in GREEK_NAMES[:6]:
            np.testing.assert_array_equal(getattr(into, name), getattr(full, name))
        assert all((getattr(into, name) == -7.0).all() for name in GREEK_NAMES[6:])


def test_out_of_the_wrong_shape_or_dtype_is_rejected_before_any_work():
    g = bsm(True, 100.0, np.ones(3) * 100, 0.5, 0.0, 0.0, 0.4)
    with pytest.raises(InvalidInput, match=r"out.price must be a writeable C-contiguous float64"):
        bsm(True, 100.0, np.ones(4) * 100, 0.5, 0.0, 0.0, 0.4, out=g)
    with pytest.raises(InvalidInput, match="float64 array of shape"):
        bsm_price(True, 100.0, 100.0, 0.5, 0.0, 0.0, 0.4, out=np.empty(1, dtype=np.float32))
