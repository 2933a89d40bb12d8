"""Black-Scholes-Merton (spot, continuous carry) and Black-76 (forward) prices and Greeks.

Everything is vectorized: every argument is a float64 array or scalar, broadcast together, and
``is_call`` is a boolean array (or a bool). Units: ``t`` in years, rates and vols per year as
fractions (0.05, 0.6). Vega, vanna and volga are per 1.0 of vol (divide by 100 for a vol point),
rho per 1.0 of rate, theta per year of calendar time with time to expiry decreasing (``-dV/dt``:
negative for a long option, usually), charm likewise ``-d(delta)/dt``.

``t == 0`` or ``vol == 0`` give the deterministic limit: the discounted intrinsic value of the
forward, delta a step (0, or the carry discount factor in the money), gamma, vega, vanna and
volga 0, theta, rho and charm those of the discounted payoff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from oms_chain.model.errors import InvalidInput
from oms_chain.risk.pricing import _kernel
from oms_chain.risk.pricing._erf import erfcx_nonneg, norm_cdf

__all__ = ["Greeks", "black76", "black76_price", "bsm", "bsm_price"]

Array = npt.NDArray[np.float64]
_INV_SQRT_2PI = 0.39894228040143267794
_INV_SQRT_2 = 0.70710678118654752440
_NAN = np.float64(np.nan)
_TAIL = -1.0  # both sign*d1 and sign*d2 below this: use the cancellation-free tail form


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and Greeks of a batch of options, one float64 array each, all the same shape.

    ``delta`` is dV/dS for :func:`bsm` and dV/dF (forward delta) for :func:`black76`; ``gamma``
    the matching second derivative. ``vega``, ``vanna`` (d delta / d vol) and ``volga``
    (d vega / d vol) are per 1.0 of vol; ``theta`` and ``charm`` per year, time to expiry
    decreasing; ``rho`` per 1.0 of the rate (``-t * price`` for Black-76).
    """

    price: Array
    delta: Array
    gamma: Array
    vega: Array
    theta: Array
    rho: Array
    vanna: Array
    volga: Array
    charm: Array


def _arrays(names: tuple[str, ...], values: tuple[npt.ArrayLike, ...]) -> tuple[Array, list[Array]]:
    """Broadcast the arguments; the first is ``is_call`` (bool), the rest float64."""
    is_call = np.asarray(values[0])
    if is_call.dtype != np.bool_:
        raise InvalidInput(
            f"is_call must be a bool or a boolean array, got dtype {is_call.dtype}; "
            "pass e.g. numpy.array([True, False])"
        )
    floats = []
    for name, value in zip(names[1:], values[1:], strict=True):
        arr = np.asarray(value, dtype=np.float64) if not isinstance(value, np.ndarray) else value
        if arr.dtype != np.float64:
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"{name} must be numeric, got dtype {arr.dtype}") from exc
        floats.append(arr)
    try:
        np.broadcast_shapes(is_call.shape, *(a.shape for a in floats))
    except ValueError as exc:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in zip(names, (is_call, *floats), strict=True))
        raise InvalidInput(f"arguments do not broadcast together: {shapes}") from exc
    return is_call, floats


def _check(
    name: str, arr: Array, *, positive: bool, nonnegative: bool = False, bound: float
) -> None:
    """Raise InvalidInput naming the first bad element (NaN, inf, or out of range).

    ``bound`` caps the magnitude (a domain where float64 neither overflows nor underflows in
    the formulas); for positive quantities it is also the reciprocal of the smallest accepted.
    """
    if arr.size == 0:
        return
    lo = arr.min()
    hi = arr.max()
    if positive:
        ok = bool(lo >= 1.0 / bound and hi <= bound)
    elif nonnegative:
        ok = bool(lo >= 0.0 and hi <= bound)
    else:
        ok = bool(lo >= -bound and hi <= bound)
    if ok:
        return
    flat = arr.ravel()
    if positive:
        bad = ~((flat >= 1.0 / bound) & (flat <= bound))
        need = f"finite and > 0 (between {1.0 / bound:g} and {bound:g})"
    elif nonnegative:
        bad = ~((flat >= 0.0) & (flat <= bound))
        need = f"finite and >= 0 (at most {bound:g})"
    else:
        bad = ~((flat >= -bound) & (flat <= bound))
        need = f"finite (between {-bound:g} and {bound:g})"
    i = int(np.flatnonzero(bad)[0])
    index = tuple(int(j) for j in np.unravel_index(i, arr.shape))
    where = f" at index {index}" if arr.ndim else ""
    raise InvalidInput(f"{name} must be {need}, got {float(flat[i])!r}{where}")


def _prepare(
    is_call: npt.ArrayLike,
    under: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    r: npt.ArrayLike,
    q: npt.ArrayLike,
    vol: npt.ArrayLike,
    under_name: str,
) -> tuple[Array, Array, Array, Array, Array, Array, Array]:
    names = ("is_call", under_name, "strike", "t", "r", "q", "vol")
    ic, (s, k, tt, rr, qq, v) = _arrays(names, (is_call, under, strike, t, r, q, vol))
    _check(under_name, s, positive=True, bound=1e100)
    _check("strike", k, positive=True, bound=1e100)
    _check("t", tt, positive=False, nonnegative=True, bound=1e3)
    _check("r", rr, positive=False, bound=10.0)
    _check("q", qq, positive=False, bound=10.0)
    _check("vol", v, positive=False, nonnegative=True, bound=1e3)
    return ic, s, k, tt, rr, qq, v


def _greeks_reference(
    is_call: Array,
    under: Array,
    strike: Array,
    t: Array,
    r: Array,
    q: Array,
    vol: Array,
    *,
    forward: bool,
) -> Greeks:
    """Straightforward formulas; the fused kernel's reference and its zero-vol / zero-time path.

    For Black-76 ``under`` is the forward and ``q`` is ignored (= r).
    """
    sign = np.where(is_call, 1.0, -1.0)
    sqrt_t = np.sqrt(t)
    sig_t = vol * sqrt_t
    df = np.exp(-r * t)
    if forward:
        carry_df = df  # the forward is discounted like the premium
        fwd = under
    else:
        carry_df = np.exp(-q * t)
        fwd = under * carry_df / df
    degenerate = sig_t <= 0.0
    any_degenerate = bool(degenerate.any())
    safe_sig = np.where(degenerate, 1.0, sig_t) if any_degenerate else sig_t
    d1 = (np.log(fwd / strike) + 0.5 * sig_t * sig_t) / safe_sig
    d2 = d1 - sig_t
    nd1 = norm_cdf(sign * d1)
    nd2 = norm_cdf(sign * d2)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    under_df = under * carry_df  # S e^{-qt}, or F e^{-rt}
    k_df = strike * df
    price = _tail_fix(sign * (under_df * nd1 - k_df * nd2), sign, fwd, strike, df, d1, d2, safe_sig)
    delta = sign * carry_df * nd1
    gamma = carry_df * pdf / (under * safe_sig)
    vega = under_df * pdf * sqrt_t
    safe_vol = np.where(degenerate, 1.0, vol) if any_degenerate else vol
    safe_t = np.where(t > 0.0, t, 1.0) if any_degenerate else t
    vanna = -carry_df * pdf * d2 / safe_vol
    volga = vega * d1 * d2 / safe_vol
    decay = under_df * pdf * vol / (2.0 * np.where(t > 0.0, sqrt_t, 1.0))
    if forward:
        theta = r * price - decay
        rho = -t * price
        charm = sign * r * df * nd1 + df * pdf * d2 / (2.0 * safe_t)
    else:
        theta = -decay - sign * r * k_df * nd2 + sign * q * under_df * nd1
        rho = sign * k_df * t * nd2
        charm = sign * q * carry_df * nd1 - carry_df * pdf * (2.0 * (r - q) * t - d2 * sig_t) / (
            2.0 * safe_t * safe_sig
        )
    if any_degenerate:
        intrinsic = np.maximum(sign * (fwd - strike), 0.0)
        step = np.where(sign * (fwd - strike) > 0.0, sign, 0.0)
        lim_price = df * intrinsic
        price = np.where(degenerate, lim_price, price)
        delta = np.where(degenerate, step * carry_df, delta)
        # At t = 0 or vol = 0 the option is a discounted forward payoff: theta and rho follow
        # from d/dt and d/dr of df * max(F - K, 0) at fixed vol = 0.
        if forward:
            lim_theta = r * lim_price
            lim_rho = -t * lim_price
        else:
            lim_theta = np.where(step != 0.0, sign * (q * under_df - r * k_df), 0.0)
            lim_rho = np.where(step != 0.0, sign * k_df * t, 0.0)
        theta = np.where(degenerate, lim_theta, theta)
        rho = np.where(degenerate, lim_rho, rho)
        lim_charm = r * step * df if forward else q * step * carry_df
        charm = np.where(degenerate, lim_charm, charm)
        zero = np.zeros_like(price)
        gamma = np.where(degenerate, zero, gamma)
        vega = np.where(degenerate, zero, vega)
        vanna = np.where(degenerate, zero, vanna)
        volga = np.where(degenerate, zero, volga)
    shape = price.shape
    return Greeks(
        price=price,
        delta=np.broadcast_to(delta, shape),
        gamma=np.broadcast_to(gamma, shape),
        vega=np.broadcast_to(vega, shape),
        theta=np.broadcast_to(theta, shape),
        rho=np.broadcast_to(rho, shape),
        vanna=np.broadcast_to(vanna, shape),
        volga=np.broadcast_to(volga, shape),
        charm=np.broadcast_to(charm, shape),
    )


def _flat(args: tuple[npt.NDArray[np.generic], ...]) -> tuple[tuple[int, ...], list[Any]]:
    """Broadcast shape, and each argument as a 0-d array (a scalar) or a flat array of it."""
    shape = np.broadcast_shapes(*(a.shape for a in args))
    flat: list[Any] = []
    for a in args:
        if a.size == 1:
            flat.append(a.reshape(()))
        elif a.shape == shape:
            flat.append(np.ravel(a))
        else:
            flat.append(np.ascontiguousarray(np.broadcast_to(a, shape)).ravel())
    return shape, flat


def _degenerate(vol: Array, t: Array, shape: tuple[int, ...]) -> npt.NDArray[np.intp]:
    """Flat indices where vol * sqrt(t) == 0 (validated inputs: both are >= 0)."""
    if vol.size == 0 or t.size == 0 or (vol.min() > 0.0 and t.min() > 0.0):
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(np.ravel(np.broadcast_to((vol == 0.0) | (t == 0.0), shape)))


def _fast_greeks(
    is_call: Array,
    under: Array,
    strike: Array,
    t: Array,
    r: Array,
    q: Array,
    vol: Array,
    *,
    forward: bool,
    out: Greeks | None = None,
    higher: bool = True,
) -> Greeks:
    shape, (c, s, k, tt, rr, qq, v) = _flat((is_call, under, strike, t, r, q, vol))
    n = math.prod(shape)
    names = Greeks.__slots__ if higher else Greeks.__slots__[:6]
    outs: tuple[Array, ...]
    if out is None:
        # one block: a single large allocation faults its pages in far faster than nine
        outs = tuple(np.empty((len(names), n)))
    else:
        outs = tuple(_out_view(getattr(out, name), shape, f"out.{name}") for name in names)
    _kernel.greeks_into(outs, c, s, k, tt, rr, None if forward else qq, v)
    degenerate = _degenerate(vol, t, shape)
    if degenerate.size:
        sub = [np.broadcast_to(a, (n,))[degenerate] for a in (c, s, k, tt, rr, qq, v)]
        ref = _greeks_reference(*sub, forward=forward)
        for o, name in zip(outs, names, strict=True):
            o[degenerate] = getattr(ref, name)
    if out is not None:
        return out
    arrays = [o.reshape(shape) for o in outs]
    if not higher:
        arrays += [np.broadcast_to(_NAN, shape)] * 3
    return Greeks(*arrays)


def _out_view(arr: object, shape: tuple[int, ...], name: str) -> Array:
    """The flat view of a caller's output array, which must match exactly (no copies)."""
    if not (
        isinstance(arr, np.ndarray)
        and arr.dtype == np.float64
        and arr.shape == shape
        and arr.flags.c_contiguous
        and arr.flags.writeable
    ):
        got = f"{arr.dtype}{arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise InvalidInput(
            f"{name} must be a writeable C-contiguous float64 array of shape {shape}, got {got}; "
            "pass the result of an earlier call with the same shapes"
        )
    return arr.reshape(-1)


def _fast_price(
    is_call: Array,
    under: Array,
    strike: Array,
    t: Array,
    r: Array,
    q: Array,
    vol: Array,
    *,
    forward: bool,
    into: Array | None = None,
) -> Array:
    shape, (c, s, k, tt, rr, qq, v) = _flat((is_call, under, strike, t, r, q, vol))
    n = math.prod(shape)
    out = np.empty(n) if into is None else _out_view(into, shape, "out")
    _kernel.price_into(out, c, s, k, tt, rr, None if forward else qq, v)
    degenerate = _degenerate(vol, t, shape)
    if degenerate.size:
        sub = [np.broadcast_to(a, (n,))[degenerate] for a in (c, s, k, tt, rr, qq, v)]
        ref = _greeks_reference(*sub, forward=forward)
        out[degenerate] = ref.price
    return out.reshape(shape) if into is None else into


def bsm(
    is_call: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    r: npt.ArrayLike,
    q: npt.ArrayLike,
    vol: npt.ArrayLike,
    *,
    out: Greeks | None = None,
    higher: bool = True,
) -> Greeks:
    """Black-Scholes-Merton price and Greeks of spot-settled European options.

    ``q`` is the continuous carry (dividend yield, or the foreign / staking rate); delta and
    gamma are with respect to ``spot``. Raises :class:`InvalidInput` if an argument is NaN or
    infinite, ``spot`` or ``strike`` is not positive, or ``t`` or ``vol`` is negative, or any
    is outside the domain where float64 holds: spot and strike within 1e-100..1e100, t up to
    1000 years, vol up to 1000 (100,000 %), rates within +-10 (+-1000 %) per year.

    ``out``: a :class:`Greeks` from an earlier call with the same shapes, overwritten in place
    and returned (a risk loop that reprices every tick saves the allocation: about 20 % at
    1M contracts).

    ``higher=False``: only the price, the first-order Greeks and gamma are computed (about a
    third less work); ``vanna``, ``volga`` and ``charm`` are then read-only NaN arrays (and
    left untouched in ``out``).
    """
    ic, s, k, tt, rr, qq, v = _prepare(is_call, spot, strike, t, r, q, vol, "spot")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _fast_greeks(ic, s, k, tt, rr, qq, v, forward=False, out=out, higher=higher)


def black76(
    is_call: npt.ArrayLike,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    r: npt.ArrayLike,
    vol: npt.ArrayLike,
    *,
    out: Greeks | None = None,
    higher: bool = True,
) -> Greeks:
    """Black-76 price and Greeks of European options on a forward or futures price.

    Premium discounted at ``r`` over ``t``; ``delta`` is dV/dF, ``rho`` is ``-t * price`` (the
    forward held fixed), ``theta`` likewise at a fixed forward. Raises :class:`InvalidInput` on
    the same bad inputs as :func:`bsm`; ``out`` and ``higher`` as for :func:`bsm`.
    """
    ic, f, k, tt, rr, _, v = _prepare(is_call, forward, strike, t, r, 0.0, vol, "forward")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _fast_greeks(ic, f, k, tt, rr, rr, v, forward=True, out=out, higher=higher)


def _tail_fix(
    price: Array,
    sign: Array,
    fwd: Array,
    strike: Array,
    df: Array,
    d1: Array,
    d2: Array,
    sig_t: Array,
) -> Array:
    """Recompute deep out-of-the-money prices without cancellation.

    ``F N(-|d1|) - K N(-|d2|)`` subtracts two nearly equal tails whose exponentials carry the
    rounding of ``d**2 / 2``; both share the factor ``sqrt(FK) exp(h)`` with
    ``h = -(x**2 / s**2 + s**2 / 4) / 2``, so the price is
    ``sqrt(FK) exp(h) (erfcx(-d1 / sqrt 2) - erfcx(-d2 / sqrt 2)) / 2`` (call side; the put
    mirrors it), which is accurate to a few ulps times ``|x| / s**2``.
    """
    sd1 = sign * d1
    sd2 = sign * d2
    tail = (sd1 < _TAIL) & (sd2 < _TAIL)
    if not tail.any():
        return price
    shape = price.shape
    b = np.broadcast_arrays(price, sign, fwd, strike, df, sd1, sd2, sig_t)
    pr, _, f, k, dd, a1, a2, st = (np.ravel(v) for v in b)
    m = np.ravel(np.broadcast_to(tail, shape))
    pr = pr.copy()
    lf, lk = np.log(f[m]), np.log(k[m])
    x = lf - lk
    s = st[m]
    h = -0.5 * ((x / s) ** 2 + 0.25 * s * s)
    diff = erfcx_nonneg(-a1[m] * _INV_SQRT_2) - erfcx_nonneg(-a2[m] * _INV_SQRT_2)
    pr[m] = dd[m] * 0.5 * np.exp(h + 0.5 * (lf + lk)) * np.abs(diff)
    return pr.reshape(shape)


def _price_reference(
    is_call: Array,
    fwd: Array,
    strike: Array,
    t: Array,
    df: Array,
    vol: Array,
) -> Array:
    """Discounted Black price off a forward; ``vol * sqrt(t) == 0`` gives discounted intrinsic."""
    sign = np.where(is_call, 1.0, -1.0)
    sig_t = vol * np.sqrt(t)
    degenerate = sig_t <= 0.0
    any_degenerate = bool(degenerate.any())
    safe_sig = np.where(degenerate, 1.0, sig_t) if any_degenerate else sig_t
    d1 = np.log(fwd / strike) / safe_sig + 0.5 * safe_sig
    d2 = d1 - safe_sig
    price = sign * df * (fwd * norm_cdf(sign * d1) - strike * norm_cdf(sign * d2))
    price = _tail_fix(price, sign, fwd, strike, df, d1, d2, safe_sig)
    if any_degenerate:
        price = np.where(degenerate, df * np.maximum(sign * (fwd - strike), 0.0), price)
    return price


def bsm_price(
    is_call: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    r: npt.ArrayLike,
    q: npt.ArrayLike,
    vol: npt.ArrayLike,
    *,
    out: Array | None = None,
) -> Array:
    """Black-Scholes-Merton price only (the fast path of :func:`bsm`); same inputs and errors.

    ``out``: a float64 array of the broadcast shape to write into (and return).
    """
    ic, s, k, tt, rr, qq, v = _prepare(is_call, spot, strike, t, r, q, vol, "spot")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _fast_price(ic, s, k, tt, rr, qq, v, forward=False, into=out)


def black76_price(
    is_call: npt.ArrayLike,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    r: npt.ArrayLike,
    vol: npt.ArrayLike,
    *,
    out: Array | None = None,
) -> Array:
    """Black-76 price only (the fast path of :func:`black76`); same inputs and errors."""
    ic, f, k, tt, rr, _, v = _prepare(is_call, forward, strike, t, r, 0.0, vol, "forward")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _fast_price(ic, f, k, tt, rr, rr, v, forward=True, into=out)
