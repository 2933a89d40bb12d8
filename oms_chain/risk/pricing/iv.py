"""Vectorized implied volatility for Black-Scholes-Merton and Black-76 prices.

The solver is ours (the scalar ``vollib`` / ``py_vollib`` and QuantLib are only test oracles;
``py_vollib_vectorized`` does not work with today's dependencies). Peter Jäckel's "Let's Be
Rational" (2015) is the anchor for the shape of it, not the code:

* every quote is reduced to a normalized out-of-the-money Black call ``b(x, s)`` with
  ``x = -|ln(F/K)| <= 0`` and ``s = vol * sqrt(t)``, using put-call parity for the in-the-money
  side; the distance to the upper bound ``u = e^{x/2} - b`` is taken from the quote directly
  (``F - price`` or ``K - price``), so neither side loses digits to a subtraction of the other;
* below the inflection point ``s_c = sqrt(2|x|)`` the objective is ``ln b(s) - ln b*``, above it
  ``ln u(s) - ln u*``; both are evaluated through the scaled complementary error function
  ``erfcx`` (``b = e^h (erfcx(-d1/sqrt 2) - erfcx(-d2/sqrt 2)) / 2`` with
  ``h = -(x^2/s^2 + s^2/4)/2``), which neither underflows nor overflows, and their derivatives
  need no further exponential;
* Halley steps (third order) from an asymptotic initial guess, kept inside a bracket that every
  evaluation tightens, falling back to bisection when a step leaves it.

Outside the no-arbitrage bounds a contract gets NaN and a reason; nothing raises for one bad
element of an array.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from oms_chain.model.errors import InvalidInput
from oms_chain.risk.pricing._erf import erfcx

__all__ = ["IVReason", "IVResult", "implied_vol"]

Array = npt.NDArray[np.float64]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_EPS = float(np.finfo(np.float64).eps)
_MAX_ITER = 60
_CHUNK = 8_192
_TINY_S = 1e-7  # below this vol * sqrt(t) the lower objective takes its small-s form
_TINY_LB = math.log(1e-9)
_STEP_TOL = 1e-8  # relative Halley step accepted as the last (cubic: next error ~1e-24)


class IVReason(IntEnum):
    """Why an implied vol is what it is; ``OK`` and ``AT_INTRINSIC`` carry a number."""

    OK = 0
    AT_INTRINSIC = 1  # price equals the discounted intrinsic value: vol 0
    BELOW_INTRINSIC = 2
    ABOVE_UPPER_BOUND = 3  # price >= discounted forward (call) or strike (put)
    NONPOSITIVE_TIME = 4
    NONPOSITIVE_INPUT = 5  # spot / forward or strike <= 0, or a negative price
    NONFINITE_INPUT = 6
    NOT_CONVERGED = 7


@dataclass(frozen=True, slots=True)
class IVResult:
    """Implied vols (per year, NaN where there is none) and one :class:`IVReason` code each."""

    vol: Array
    reason: npt.NDArray[np.int8]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Where a vol was found (``OK`` or ``AT_INTRINSIC``)."""
        return (self.reason == IVReason.OK) | (self.reason == IVReason.AT_INTRINSIC)


def _objective(
    s: Array, x: Array, lower: npt.NDArray[np.bool_], target: Array
) -> tuple[Array, Array, Array]:
    """Objective, first and second derivative in s (see the module docstring)."""
    inv_s = 1.0 / s
    xs = x * inv_s
    d1 = xs + 0.5 * s
    d2 = xs - 0.5 * s
    h = -0.5 * (xs * xs + 0.25 * s * s)
    sgn = np.where(lower, -1.0, 1.0)
    args = np.empty((2, s.size))
    np.multiply(sgn * _INV_SQRT_2, d1, out=args[0])
    np.multiply(d2, -_INV_SQRT_2, out=args[1])
    e1, e2 = erfcx(args)
    # lower: erfcx(-d1/√2) - erfcx(-d2/√2) > 0; upper: erfcx(d1/√2) + erfcx(-d2/√2) > 0
    comb = e1 + sgn * e2
    tiny = np.flatnonzero(lower & (s < _TINY_S))
    if tiny.size:
        # e1 - e2 cancels completely for s -> 0; there it is s / sqrt 2 times -erfcx' at the
        # midpoint xi = -x / (s sqrt 2) (relative error ~ s^2),
        # with erfcx'(z) = 2 z erfcx(z) - 2 / sqrt(pi)
        xi = -x[tiny] * inv_s[tiny] * _INV_SQRT_2
        comb[tiny] = s[tiny] * _INV_SQRT_2 * (2.0 / math.sqrt(math.pi) - 2.0 * xi * erfcx(xi))
    f = h + np.log(0.5 * comb) - target
    f1 = _SQRT_2_OVER_PI / comb
    f1 = np.where(lower, f1, -f1)
    f2 = f1 * (x * x * inv_s * inv_s * inv_s - 0.25 * s) - f1 * f1
    return f, f1, f2


# Acklam's rational approximation of the inverse normal CDF (relative error ~1.2e-9), used only
# for initial guesses; the coefficients are his.
_ACK_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_ACK_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_ACK_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_ACK_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_ACK_LOW = math.log(0.02425)


def _inv_norm_cdf_log(lp: Array) -> Array:
    """N^{-1}(exp(lp)) for lp <= ln(1/2), without forming exp(lp) in the tail."""
    q = np.sqrt(-2.0 * lp)
    num = _ACK_C[0] * q
    for coef in _ACK_C[1:5]:
        num = (num + coef) * q
    num = num + _ACK_C[5]
    den = _ACK_D[0] * q
    for coef in _ACK_D[1:]:
        den = (den + coef) * q
    tail = num / (den + 1.0)
    qc = np.exp(lp) - 0.5
    rr = qc * qc
    num = _ACK_A[0] * rr
    for coef in _ACK_A[1:5]:
        num = (num + coef) * rr
    num = (num + _ACK_A[5]) * qc
    den = _ACK_B[0] * rr
    for coef in _ACK_B[1:]:
        den = (den + coef) * rr
    central = num / (den + 1.0)
    return np.where(lp < _ACK_LOW, tail, central)


def _log_b_c(x: Array, s_c: Array) -> Array:
    """ln b at the inflection point s_c: ln(e^{x/2} (1 - erfcx(s_c / sqrt 2)) / 2)."""
    return 0.5 * x + np.log(0.5 * (1.0 - erfcx(s_c * _INV_SQRT_2)))


_TAB_LX = np.linspace(math.log(1e-4), math.log(16.0), 64)  # ln |x|
_TAB_U = np.linspace(0.0, 1.0, 65)  # u = sqrt(ln b_c / ln b), 0 at s = 0, 1 at s_c


@functools.cache
def _lower_table() -> Array:
    """G(ln|x|, u) = (s / s_c) / u below the inflection point, for bilinear initial guesses.

    Built once from forward evaluations of the objective; as s -> 0, ln b ~ -x^2 / (2 s^2) makes
    (s / s_c)^2 nearly proportional to u^2, so G is smooth and bounded.
    """
    sh = np.geomspace(1e-3, 1.0, 800)
    xs = -np.exp(_TAB_LX)
    xx, ss = np.meshgrid(xs, sh, indexing="ij")
    s_c = np.sqrt(-2.0 * xx)
    lb, _, _ = _objective(
        (ss * s_c).ravel(), xx.ravel(), np.ones(xx.size, dtype=bool), np.zeros(xx.size)
    )
    lb = lb.reshape(xx.shape)
    lb_c = _log_b_c(xs, np.sqrt(-2.0 * xs))
    table = np.empty((xs.size, _TAB_U.size))
    for i in range(xs.size):
        u = np.sqrt(np.clip(lb_c[i] / lb[i], 0.0, 1.0))
        g = sh / np.maximum(u, 1e-300)
        order = np.argsort(u)
        table[i] = np.interp(_TAB_U, u[order], g[order])
    return table


def _lower_guess(x: Array, lb: Array, s_c: Array) -> Array:
    u = np.sqrt(np.clip(_log_b_c(x, s_c) / lb, 0.0, 1.0))
    fx = (np.log(-x) - _TAB_LX[0]) / (_TAB_LX[1] - _TAB_LX[0])
    g = _bilinear(_lower_table(), fx, u * (_TAB_U.size - 1))
    return np.asarray(s_c * g * u, dtype=np.float64)


_TAB_RX = np.linspace(0.0, 4.0, 64)  # sqrt |x|
_TAB_A = np.linspace(0.0, 1.5, 65)  # s_c / s_asymptotic


def _asymptotic_upper(lu: Array) -> Array:
    """s with 2 N(-s/2) = u: exact at x = 0 and as s -> infinity for any x."""
    return np.asarray(-2.0 * _inv_norm_cdf_log(np.minimum(lu - math.log(2.0), math.log(0.5))))


@functools.cache
def _upper_table() -> Array:
    """C(sqrt|x|, s_c / s_asym) = s / s_asym above the inflection point (see _upper_guess)."""
    xs = -(_TAB_RX**2)
    s_c = np.sqrt(-2.0 * xs)
    off = np.concatenate([[0.0], np.geomspace(1e-3, 60.0, 799)])
    xx, oo = np.meshgrid(xs, off, indexing="ij")
    ss = np.sqrt(-2.0 * xx) + oo
    ss = np.where(ss > 0, ss, 1e-3)
    lu, _, _ = _objective(ss.ravel(), xx.ravel(), np.zeros(xx.size, dtype=bool), np.zeros(xx.size))
    sa = _asymptotic_upper(lu).reshape(xx.shape)
    table = np.empty((xs.size, _TAB_A.size))
    for i in range(xs.size):
        a = s_c[i] / sa[i]
        ratio = ss[i] / sa[i]
        order = np.argsort(a)
        table[i] = np.interp(_TAB_A, a[order], ratio[order])
    return table


def _upper_guess(x: Array, lu: Array, s_c: Array) -> Array:
    sa = _asymptotic_upper(lu)
    return sa * _bilinear(
        _upper_table(), np.sqrt(-x) / (_TAB_RX[1] - _TAB_RX[0]), s_c / sa / (_TAB_A[1] - _TAB_A[0])
    )


def _bilinear(table: Array, fx: Array, fy: Array) -> Array:
    """Bilinear lookup at fractional indices (clipped to the table)."""
    nx, ny = table.shape
    fx = np.fmin(np.fmax(fx, 0.0), nx - 1.000001)  # fmax: NaN (0 / 0 at the money) -> 0
    fy = np.fmin(np.fmax(fy, 0.0), ny - 1.000001)
    ix = fx.astype(np.intp)
    iy = fy.astype(np.intp)
    wx = fx - ix
    wy = fy - iy
    flat = table.ravel()
    base = ix * ny + iy
    return np.asarray(
        (1.0 - wx) * ((1.0 - wy) * flat[base] + wy * flat[base + 1])
        + wx * ((1.0 - wy) * flat[base + ny] + wy * flat[base + ny + 1]),
        dtype=np.float64,
    )


def _initial_guess(x: Array, lower: npt.NDArray[np.bool_], target: Array, s_c: Array) -> Array:
    s = np.empty_like(x)
    lo = lower
    if lo.any():
        s[lo] = np.minimum(_lower_guess(x[lo], target[lo], s_c[lo]), s_c[lo])
    up = ~lower
    if up.any():
        s[up] = np.maximum(_upper_guess(x[up], target[up], s_c[up]), s_c[up])
    return np.where(s > 0.0, s, np.where(s_c > 0, 0.5 * s_c, 1e-3))


def _solve(
    x: Array, lower: npt.NDArray[np.bool_], target: Array, wide: npt.NDArray[np.bool_]
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Halley in s with a bracket; returns (s, converged)."""
    n = x.size
    s_c = np.sqrt(-2.0 * x)
    s = _initial_guess(x, lower, target, s_c)
    lo = np.where(lower, 0.0, s_c * 0.5)
    hi = np.where(lower & ~wide, np.maximum(s_c * 1.5, 1e-300), np.inf)
    if wide.any():
        # b ~ s / sqrt(2 pi) when s and |x| are tiny
        s[wide] = math.sqrt(2.0 * math.pi) * np.exp(target[wide])
    out = np.full(n, np.nan)
    done = np.zeros(n, dtype=bool)
    idx = np.arange(n)
    for _ in range(_MAX_ITER):
        if idx.size == 0:
            break
        f, f1, f2 = _objective(s, x, lower, target)
        increasing = lower
        below = np.where(increasing, f < 0.0, f > 0.0)  # root is above s
        lo = np.where(below, s, lo)
        hi = np.where(below, hi, s)
        newton = -f / f1
        denom = 1.0 - 0.5 * newton * f2 / f1
        step = np.where((denom > 0.5) & np.isfinite(denom), newton / denom, newton)
        new = s + step
        outside = ~((new > lo) & (new < hi)) | ~np.isfinite(new)
        if outside.any():
            bis = np.where(
                np.isinf(hi), 2.0 * np.maximum(s, lo), np.where(lo > 0, np.sqrt(lo * hi), 0.5 * hi)
            )
            new = np.where(outside, bis, new)
        finished = (~outside & (np.abs(step) <= _STEP_TOL * s)) | (f == 0.0)
        finished |= np.isfinite(hi) & ((hi - lo) <= 4.0 * _EPS * hi)
        if finished.any():
            out[idx[finished]] = np.where(f[finished] == 0.0, s[finished], new[finished])
            done[idx[finished]] = True
            keep = ~finished
            idx = idx[keep]
            s, x, lower, target = new[keep], x[keep], lower[keep], target[keep]
            lo, hi = lo[keep], hi[keep]
        else:
            s = new
    return out, done


def implied_vol(
    price: npt.ArrayLike,
    is_call: npt.ArrayLike,
    spot_or_forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    r: npt.ArrayLike,
    q: npt.ArrayLike = 0.0,
    *,
    model: Literal["bsm", "black76"] = "bsm",
) -> IVResult:
    """Implied volatility of discounted option prices, elementwise.

    ``model="bsm"``: ``spot_or_forward`` is the spot, ``q`` the continuous carry. ``"black76"``:
    it is the forward / futures price and ``q`` is ignored. Arguments broadcast together; the
    result has their shape. Elements without an implied vol get NaN and a reason
    (:class:`IVReason`); a price at the discounted intrinsic value gets vol 0 (``AT_INTRINSIC``).
    Raises :class:`InvalidInput` only for a bad ``model``, a non-boolean ``is_call`` or shapes
    that do not broadcast.
    """
    if model not in ("bsm", "black76"):
        raise InvalidInput(f"model must be 'bsm' or 'black76', got {model!r}")
    ic = np.asarray(is_call)
    if ic.dtype != np.bool_:
        raise InvalidInput(
            f"is_call must be a bool or a boolean array, got dtype {ic.dtype}; "
            "pass e.g. numpy.array([True, False])"
        )
    try:
        arrays = [
            np.asarray(a, dtype=np.float64) for a in (price, spot_or_forward, strike, t, r, q)
        ]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"implied_vol arguments must be numeric: {exc}") from exc
    try:
        bc = np.broadcast_arrays(ic, *arrays)
    except ValueError as exc:
        shapes = ", ".join(str(np.shape(a)) for a in (ic, *arrays))
        raise InvalidInput(f"implied_vol arguments do not broadcast together: {shapes}") from exc
    shape = bc[0].shape
    c, p, s, k, tt, rr, qq = (np.ravel(a) for a in bc)
    if model == "black76":
        qq = rr
    n = p.size
    vol = np.empty(n)
    reason = np.empty(n, dtype=np.int8)
    # cache-sized blocks: every step of the solver then works in L2 (about 1.7x at 200k quotes)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        v_, r_ = _implied_vol_flat(
            c[lo:hi], p[lo:hi], s[lo:hi], k[lo:hi], tt[lo:hi], rr[lo:hi], qq[lo:hi], model
        )
        vol[lo:hi] = v_
        reason[lo:hi] = r_
    return IVResult(vol=vol.reshape(shape), reason=reason.reshape(shape))


def _implied_vol_flat(
    c: npt.NDArray[np.bool_],
    p: Array,
    s: Array,
    k: Array,
    tt: Array,
    rr: Array,
    qq: Array,
    model: str,
) -> tuple[Array, npt.NDArray[np.int8]]:
    n = p.size
    reason = np.zeros(n, dtype=np.int8)
    finite = np.isfinite(p) & np.isfinite(s) & np.isfinite(k) & np.isfinite(tt)
    finite &= np.isfinite(rr) & np.isfinite(qq)
    reason[~finite] = IVReason.NONFINITE_INPUT
    bad = finite & ~((s > 0) & (k > 0) & (p >= 0))
    reason[bad] = IVReason.NONPOSITIVE_INPUT
    bad_t = finite & ~bad & ~(tt > 0)
    reason[bad_t] = IVReason.NONPOSITIVE_TIME
    vol = np.full(n, np.nan)
    live = np.flatnonzero(reason == 0)
    if live.size:
        everything = live.size == n  # the usual case: skip the gathers
        picked: list[Any] = [(a if everything else a[live]) for a in (c, p, s, k, tt, rr, qq)]
        cl, pl, sl, kl, tl, rl, ql = picked
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            df = np.exp(-rl * tl)
            fwd = sl if model == "black76" else sl * np.exp((rl - ql) * tl)
            beta = pl / df
            intrinsic = np.maximum(np.where(cl, fwd - kl, kl - fwd), 0.0)
            upper = np.where(cl, fwd, kl)
            tv = beta - intrinsic
            room = upper - beta
            # parity and discounting round at the scale of F and K, not of the time value
            tol = np.where(intrinsic > 0.0, 32.0 * _EPS * (fwd + kl), 0.0)
            sub = np.zeros(live.size, dtype=np.int8)
            sub[tv <= tol] = IVReason.AT_INTRINSIC
            sub[tv < -tol] = IVReason.BELOW_INTRINSIC
            sub[room <= 0.0] = IVReason.ABOVE_UPPER_BOUND
            sub[~(np.isfinite(fwd) & np.isfinite(beta) & (fwd > 0))] = IVReason.NONFINITE_INPUT
            volsub = np.full(live.size, np.nan)
            volsub[sub == IVReason.AT_INTRINSIC] = 0.0
            go = np.flatnonzero(sub == 0)
            if go.size:
                lf, lk = np.log(fwd[go]), np.log(kl[go])
                x = -np.abs(lf - lk)
                half_log_fk = 0.5 * (lf + lk)
                lb = np.log(tv[go]) - half_log_fk
                lu = np.log(room[go]) - half_log_fk
                s_c = np.sqrt(-2.0 * x)
                # u at the inflection point: e^{x/2} (1 + erfcx(s_c / sqrt 2)) / 2
                lu_c = 0.5 * x + np.log(0.5 * (1.0 + erfcx(s_c * _INV_SQRT_2)))
                lower = lu > lu_c
                # at (almost) the money with a time value below 1e-9 of the forward, u* = 1 - b*
                # has lost b*: solve ln b there too, on (0, inf)
                wide = ~lower & (lb < _TINY_LB)
                lower |= wide
                target = np.where(lower, lb, lu)
                ssol, conv = _solve(x, lower, target, wide)
                vg = ssol / np.sqrt(tl[go])
                vg[~conv] = np.nan
                sub_go = sub[go]
                sub_go[~conv] = IVReason.NOT_CONVERGED
                sub[go] = sub_go
                volsub[go] = vg
            vol[live] = volsub
            reason[live] = sub
    return vol, reason
