"""The fused Black kernel behind :func:`bsm`, :func:`black76` and the price-only paths.

Written for throughput in plain numpy: the batch is walked in cache-sized chunks, every
operation writes into preallocated buffers (``out=``), and the exponentials are shared:

* ``N(-|d|) = exp(-d**2 / 2) * erfcx(|d| / sqrt 2) / 2`` with Cody's rational ``erfcx`` (see
  :mod:`._erf`), so the normal density ``exp(-d1**2 / 2)`` that the Greeks need anyway also
  serves both tails, and ``exp(-d2**2 / 2) = exp(-d1**2 / 2) * F / K`` costs one multiply;
* sharing that factor is also what keeps deep out-of-the-money prices accurate: the two tails
  ``F N(-|d1|)`` and ``K N(-|d2|)`` carry the same rounding, so their difference does not
  amplify it (the price is ``F exp(-d1**2/2) (erfcx(y1) - erfcx(y2)) / 2`` in effect).

Elements with ``vol * sqrt(t) == 0`` are left to the caller (``black._limits``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from oms_chain.risk.pricing._erf import _A, _B, _C, _D, _erfcx_large

Array = npt.NDArray[np.float64]
CHUNK = 16_384
_INV_SQRT_2 = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794
_SMALL = 0.46875
_ONE = np.float64(1.0).reshape(())
_MID = 4.0


class _Work:
    """Scratch buffers for one chunk, allocated once per call."""

    def __init__(self, n: int) -> None:
        names = ("sqt", "st", "df", "cq", "fk", "d1", "d2", "e1", "n1", "n2", "a", "b", "tmp")
        self.buf = {name: np.empty(n) for name in names}
        self.y = np.empty((2, n))
        self.num = np.empty((2, n))
        self.den = np.empty((2, n))
        self.sg = np.empty(n)
        self.tails = np.empty((2, n))
        self.z = np.empty((2, n))
        self.sm = np.empty((2, n))
        self.tail = np.empty(n)
        self.comp = np.empty(n)


def _tails(w: _Work, m: int) -> tuple[Array, Array]:
    """Lower tails N(-|d1|), N(-|d2|) of the chunk into w.n1, w.n2."""
    b = w.buf
    d1, d2, e1, fk = b["d1"][:m], b["d2"][:m], b["e1"][:m], b["fk"][:m]
    y, num, den = w.y[:, :m], w.num[:, :m], w.den[:, :m]
    np.abs(d1, out=y[0])
    np.abs(d2, out=y[1])
    y *= _INV_SQRT_2
    # Cody's second interval on everything (most |d| / sqrt 2 fall in (0.47, 4]) ...
    np.multiply(y, _C[8], out=num)
    np.copyto(den, y)
    for i in range(7):
        num += _C[i]
        num *= y
        den += _D[i]
        den *= y
    num += _C[7]
    den += _D[7]
    num /= den  # erfcx(y)
    # ... then the few outside it, by index.
    for row in range(2):  # rows of a partial chunk are views: patch them one by one
        big = np.flatnonzero(y[row] > _MID)
        if big.size:
            num[row][big] = _erfcx_large(y[row][big])
    tails = w.tails[:, :m]
    n1, n2 = tails[0], tails[1]
    np.multiply(e1, num[0], out=n1)
    n1 *= 0.5
    np.multiply(e1, fk, out=n2)
    n2 *= num[1]
    n2 *= 0.5
    # Cody's first interval (|d| / sqrt 2 <= 0.46875, near the money: often half the book),
    # evaluated everywhere and blended in arithmetically; masked copies cost more than this.
    z, sm = w.z[:, :m], w.sm[:, :m]
    np.multiply(y, y, out=z)
    np.multiply(z, _A[4], out=num)
    np.copyto(den, z)
    for i in range(3):
        num += _A[i]
        num *= z
        den += _B[i]
        den *= z
    num += _A[3]
    den += _B[3]
    num *= y
    num /= den  # erf(y) on the first interval
    num *= -0.5
    num += 0.5  # N(-|d|) there
    num -= tails
    np.less_equal(y, _SMALL, out=sm)
    num *= sm
    tails += num
    return n1, n2


def _prologue(
    c: npt.NDArray[np.bool_],
    s: Array,
    k: Array,
    t: Array,
    r: Array,
    q: Array | None,
    v: Array,
    w: _Work,
    m: int,
) -> tuple[Array, Array, Any]:
    """sqrt(t), vol sqrt(t), discount factors, F/K, d1, d2, e1 into ``w``.

    Returns N(theta d1), N(theta d2) and e^{-qt} (an array, or a 0-d one when there is no carry).
    """
    b = w.buf
    cq: Any
    sqt, st, df, cq, fk, d1, d2, e1 = (
        b[n][:m] for n in ("sqt", "st", "df", "cq", "fk", "d1", "d2", "e1")
    )
    tmp = b["tmp"][:m]
    np.sqrt(t, out=sqt)
    np.multiply(v, sqt, out=st)
    np.multiply(r, t, out=df)
    np.negative(df, out=df)
    np.exp(df, out=df)
    if q is None:  # Black-76: under is the forward, discounted like the premium
        cq = df
        np.divide(s, k, out=fk)
    elif q.ndim == 0 and q == 0.0:  # no carry: skip an exponential
        cq = _ONE
        np.divide(s, df, out=fk)
        fk /= k
    else:
        np.multiply(q, t, out=cq)
        np.negative(cq, out=cq)
        np.exp(cq, out=cq)
        np.divide(cq, df, out=fk)
        fk *= s
        fk /= k
    np.log(fk, out=d1)
    d1 /= st
    np.multiply(st, 0.5, out=tmp)
    d1 += tmp
    np.subtract(d1, st, out=d2)
    np.multiply(d1, d1, out=e1)
    e1 *= -0.5
    np.exp(e1, out=e1)
    n1, n2 = _tails(w, m)
    # N(theta d) is the lower tail where theta d < 0, its complement elsewhere.
    sg = w.sg[:m]
    np.multiply(c, 2.0, out=sg)
    sg -= 1.0
    tail = w.tail[:m]
    comp = w.comp[:m]
    for d, n in ((d1, n1), (d2, n2)):
        # tail = 1.0 where theta d < 0 else 0.0; N = tail T + (1 - tail)(1 - T), exact either way
        # (an arithmetic select: numpy's masked copy is several times slower here)
        np.multiply(d, sg, out=tmp)
        np.less(tmp, 0.0, out=tail)
        np.subtract(1.0, n, out=comp)
        n *= tail
        np.subtract(1.0, tail, out=tmp)
        comp *= tmp
        n += comp
    return n1, n2, cq


def price_into(
    out: Array,
    c: npt.NDArray[np.bool_],
    s: Array,
    k: Array,
    t: Array,
    r: Array,
    q: Array | None,
    v: Array,
) -> None:
    """Discounted prices into ``out`` (all inputs flat or 0-d, same length as ``out``)."""
    n = out.size
    w = _Work(min(n, CHUNK))
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        m = hi - lo
        args = [_slice(a, lo, hi) for a in (c, s, k, t, r, v)]
        cc, ss, kk, tt, rr, vv = args
        qq = None if q is None else _slice(q, lo, hi)
        n1, n2, cq = _prologue(cc, ss, kk, tt, rr, qq, vv, w, m)
        b = w.buf
        under_df = b["a"][:m]
        np.multiply(ss, cq, out=under_df)
        o = out[lo:hi]
        np.multiply(under_df, n1, out=o)
        tmp = b["tmp"][:m]
        np.multiply(kk, b["df"][:m], out=tmp)
        tmp *= n2
        o -= tmp
        o *= w.sg[:m]
        np.maximum(o, 0.0, out=o)  # rounding below the smallest normal can leave -1e-322


def greeks_into(
    out: tuple[Array, ...],
    c: npt.NDArray[np.bool_],
    s: Array,
    k: Array,
    t: Array,
    r: Array,
    q: Array | None,
    v: Array,
) -> None:
    """Price and the eight Greeks into the nine arrays of ``out`` (see :class:`Greeks`)."""
    price, delta, gamma, vega, theta, rho, vanna, volga, charm = out
    n = price.size
    w = _Work(min(n, CHUNK))
    fwd_model = q is None
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        m = hi - lo
        cc, ss, kk, tt, rr, vv = (_slice(a, lo, hi) for a in (c, s, k, t, r, v))
        qq: Any = None if q is None else _slice(q, lo, hi)
        n1, n2, cq = _prologue(cc, ss, kk, tt, rr, qq, vv, w, m)
        b = w.buf
        sqt, st, df, d1, d2, e1 = (b[x][:m] for x in ("sqt", "st", "df", "d1", "d2", "e1"))
        big_a, big_b, tmp = b["a"][:m], b["b"][:m], b["tmp"][:m]
        sg = w.sg[:m]
        p, de, ga, ve, th, rh, va, vo, ch = (
            x[lo:hi] for x in (price, delta, gamma, vega, theta, rho, vanna, volga, charm)
        )
        # A = theta * S e^{-qt} N(theta d1), B = theta * K e^{-rt} N(theta d2); price = A - B
        np.multiply(ss, cq, out=big_a)
        np.multiply(big_a, e1, out=ve)  # vega, before the factors below
        big_a *= n1
        big_a *= sg
        np.multiply(kk, df, out=big_b)
        big_b *= n2
        big_b *= sg
        np.subtract(big_a, big_b, out=p)
        np.maximum(p, 0.0, out=p)  # rounding below the smallest normal can leave -1e-322
        np.multiply(cq, n1, out=de)
        de *= sg
        # e1 -> pdf(d1)
        e1 *= _INV_SQRT_2PI
        ve *= _INV_SQRT_2PI
        ve *= sqt
        np.multiply(ss, st, out=tmp)
        np.divide(e1, tmp, out=ga)
        ga *= cq
        # decay = S e^{-qt} pdf vol / (2 sqrt t) = vega * vol / (2 t)
        np.multiply(ve, vv, out=tmp)
        tmp /= tt
        tmp *= 0.5
        if fwd_model:
            np.multiply(rr, p, out=th)
            th -= tmp
            np.multiply(tt, p, out=rh)
            np.negative(rh, out=rh)
        else:
            np.multiply(qq, big_a, out=th)
            th -= tmp
            np.multiply(rr, big_b, out=tmp)
            th -= tmp
            np.multiply(big_b, tt, out=rh)
        # vanna = -e^{-qt} pdf d2 / vol ; volga = vega d1 d2 / vol
        np.multiply(cq, e1, out=va)
        va *= d2
        va /= vv
        np.negative(va, out=va)
        np.multiply(ve, d1, out=vo)
        vo *= d2
        vo /= vv
        # charm (time to expiry decreasing)
        if fwd_model:
            np.multiply(rr, de, out=ch)
            np.multiply(df, e1, out=tmp)
            tmp *= d2
            tmp /= tt
            tmp *= 0.5
            ch += tmp
        else:
            # q delta - e^{-qt} pdf (2 (r - q) t - d2 vol sqrt t) / (2 t vol sqrt t)
            np.subtract(rr, qq, out=big_b)
            big_b *= tt
            big_b *= 2.0
            np.multiply(d2, st, out=tmp)
            big_b -= tmp
            big_b *= cq
            big_b *= e1
            np.multiply(tt, st, out=tmp)
            tmp *= 2.0
            big_b /= tmp
            np.multiply(qq, de, out=ch)
            ch -= big_b


def _slice(a: Any, lo: int, hi: int) -> Any:
    return a if a.ndim == 0 else a[lo:hi]
