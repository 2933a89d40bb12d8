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

from oms_chain.risk.pricing._erf import _C, _D, _erf_small, _erfcx_large

Array = npt.NDArray[np.float64]
CHUNK = 16_384
_INV_SQRT_2 = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794
_SMALL = 0.46875
_ONE = np.float64(1.0).reshape(())
_MID = 4.0


class _Work:
    """Scratch buffers for one chunk, allocated once per call.

    The two-row buffers (one row for d1, one for d2) are flat and viewed as ``(2, m)``, so a
    partial last chunk is contiguous too and both rows are patched with one index.
    """

    def __init__(self, n: int) -> None:
        names = ("sqt", "st", "df", "cq", "fk", "e1", "a", "b", "tmp")
        self.buf = {name: np.empty(n) for name in names}
        pairs = ("d", "y", "num", "den", "tails", "sign", "half")
        self.pair = {name: np.empty(2 * n) for name in pairs}
        self.hp = np.empty(n)

    def rows(self, name: str, m: int) -> Array:
        return self.pair[name][: 2 * m].reshape(2, m)


def _tails(w: _Work, m: int) -> tuple[Array, Array]:
    """Lower tails N(-|d1|), N(-|d2|) of the chunk, the two rows of one (2, m) buffer."""
    b = w.buf
    e1, fk = b["e1"][:m], b["fk"][:m]
    y, num, den = w.rows("y", m), w.rows("num", m), w.rows("den", m)
    np.abs(w.rows("d", m), out=y)
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
    # ... then the third interval by index (a minority of a book: y > 4 is |d| > 5.7)
    flat_y = y.reshape(-1)
    flat_num = num.reshape(-1)
    big = np.flatnonzero(flat_y > _MID)
    if big.size:
        flat_num[big] = _erfcx_large(flat_y[big])
    tails = w.rows("tails", m)
    n1, n2 = tails[0], tails[1]
    np.multiply(e1, num[0], out=n1)
    n1 *= 0.5
    np.multiply(e1, fk, out=n2)
    n2 *= num[1]
    n2 *= 0.5
    # ... and the first (|d| / sqrt 2 <= 0.46875, near the money: about a quarter of a book)
    # by index too: N(-|d|) = (1 - erf(y)) / 2 there, evaluated on the few that need it.
    small = np.flatnonzero(flat_y <= _SMALL)
    if small.size:
        near = _erf_small(flat_y[small])
        near *= -0.5
        near += 0.5
        tails.reshape(-1)[small] = near
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

    Returns theta N(theta d1), theta N(theta d2) (theta = +1 for a call, -1 for a put: the signed
    factors of delta and of the price) and e^{-qt} (an array, or a 0-d one when there is no carry).
    """
    b = w.buf
    cq: Any
    sqt, st, df, cq, fk, e1 = (b[n][:m] for n in ("sqt", "st", "df", "cq", "fk", "e1"))
    d = w.rows("d", m)
    d1, d2 = d[0], d[1]
    tmp = b["tmp"][:m]
    np.sqrt(t, out=sqt)
    np.multiply(v, sqt, out=st)
    np.multiply(t, np.negative(r), out=df)
    np.exp(df, out=df)
    if q is None:  # Black-76: under is the forward, discounted like the premium
        cq = df
        np.divide(s, k, out=fk)
    elif q.ndim == 0 and q == 0.0:  # no carry: skip an exponential
        cq = _ONE
        np.divide(s, df, out=fk)
        fk /= k
    else:
        np.multiply(t, np.negative(q), out=cq)
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
    n1, n2 = _signed_tails(c, w, m)
    return n1, n2, cq


def _signed_tails(c: npt.NDArray[np.bool_], w: _Work, m: int) -> tuple[Array, Array]:
    """theta N(theta d1), theta N(theta d2) of the chunk whose d1, d2, e1 and F/K are in ``w``.

    With T = N(-|d|) and c = sign(d) (+1 at d >= 0): N(d) = (1 + c) / 2 - c T, and
    theta N(theta d) = N(d) - [put] = (c / 2 + ([call] - 1 / 2)) - c T. Each result is one
    rounding of its exact value (T, -T, 1 - T or T - 1): an arithmetic select, as numpy's
    masked copy is several times slower on a mixed book. Both rows at once.
    """
    n1, n2 = _tails(w, m)
    d = w.rows("d", m)
    tails, sign, half = w.rows("tails", m), w.rows("sign", m), w.rows("half", m)
    hp = w.hp[:m]
    np.subtract(c, 0.5, out=hp)
    np.copysign(1.0, d, out=sign)
    np.multiply(sign, 0.5, out=half)
    half += hp
    tails *= sign
    np.subtract(half, tails, out=tails)
    return n1, n2


def price_paths_into(
    out: Array,
    c: npt.NDArray[np.bool_],
    s: Array,
    log_s: Array,
    inv_st: Array,
    a: Array,
    st: Array,
    g: Array,
    cq: Array | None,
    kdf: Array,
) -> None:
    """Discounted prices of contracts whose own terms are computed once (Monte Carlo: the
    same contracts on many spots), all flat arrays of ``out``'s length: ``d1 = log_s * inv_st
    + a`` (``inv_st = 1 / (vol sqrt t)``, ``a = log(g) inv_st + vol sqrt t / 2``), ``F / K =
    s g`` (``g = e^{(r-q)t} / K``), price ``= theta (s cq N(theta d1) - kdf N(theta d2))`` with
    ``cq = e^{-qt}`` (``None``: no carry) and ``kdf = K e^{-rt}``. Saves the square root, the
    discount exponentials, the division and the logarithm of every (path, contract) pair."""
    n = out.size
    w = _Work(min(n, CHUNK))
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        m = hi - lo
        b = w.buf
        d = w.rows("d", m)
        d1, d2 = d[0], d[1]
        ss = s[lo:hi]
        np.multiply(log_s[lo:hi], inv_st[lo:hi], out=d1)
        d1 += a[lo:hi]
        np.subtract(d1, st[lo:hi], out=d2)
        e1 = b["e1"][:m]
        np.multiply(d1, d1, out=e1)
        e1 *= -0.5
        np.exp(e1, out=e1)
        np.multiply(ss, g[lo:hi], out=b["fk"][:m])
        n1, n2 = _signed_tails(c[lo:hi], w, m)
        o = out[lo:hi]
        np.multiply(ss, n1, out=o)
        if cq is not None:
            o *= cq[lo:hi]
        tmp = b["tmp"][:m]
        np.multiply(kdf[lo:hi], n2, out=tmp)
        o -= tmp
        np.maximum(o, 0.0, out=o)  # rounding below the smallest normal can leave -1e-322


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
        o = out[lo:hi]
        np.multiply(ss, n1, out=o)
        if cq is not _ONE:
            o *= cq
        tmp = b["tmp"][:m]
        np.multiply(kk, b["df"][:m], out=tmp)
        tmp *= n2
        o -= tmp
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
        sqt, st, df, e1 = (b[x][:m] for x in ("sqt", "st", "df", "e1"))
        d1, d2 = w.rows("d", m)
        big_a, big_b, tmp = b["a"][:m], b["b"][:m], b["tmp"][:m]
        p, de, ga, ve, th, rh, va, vo, ch = (
            x[lo:hi] for x in (price, delta, gamma, vega, theta, rho, vanna, volga, charm)
        )
        carry = cq is not _ONE
        # e1 -> pdf(d1)
        e1 *= _INV_SQRT_2PI
        # delta = theta e^{-qt} N(theta d1); A = S delta, B = theta K e^{-rt} N(theta d2)
        if carry:
            np.multiply(cq, n1, out=de)
        else:
            np.copyto(de, n1)
        np.multiply(ss, de, out=big_a)
        np.multiply(kk, df, out=big_b)
        big_b *= n2
        np.subtract(big_a, big_b, out=p)
        np.maximum(p, 0.0, out=p)  # rounding below the smallest normal can leave -1e-322
        # vega = S e^{-qt} pdf sqrt t, gamma = e^{-qt} pdf / (S vol sqrt t)
        np.multiply(ss, e1, out=ve)
        ve *= sqt
        np.multiply(ss, st, out=tmp)
        np.divide(e1, tmp, out=ga)
        if carry:
            ve *= cq
            ga *= cq
        # -decay = -S e^{-qt} pdf vol / (2 sqrt t) = -vega vol / (2 t)
        np.multiply(ve, vv, out=tmp)
        tmp /= tt
        tmp *= -0.5
        if fwd_model:
            np.multiply(rr, p, out=th)
            th += tmp
            np.multiply(tt, p, out=rh)
            np.negative(rh, out=rh)
        else:
            np.multiply(rr, big_b, out=th)
            np.subtract(tmp, th, out=th)
            if carry:
                np.multiply(qq, big_a, out=tmp)
                th += tmp
            np.multiply(big_b, tt, out=rh)
        # vanna = -e^{-qt} pdf d2 / vol ; volga = vega d1 d2 / vol
        np.multiply(e1, d2, out=va)
        va /= vv
        if carry:
            va *= cq
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
            # q delta + e^{-qt} pdf (d2 / (2 t) - (r - q) / (vol sqrt t))
            np.divide(d2, tt, out=ch)
            ch *= 0.5
            np.divide(rr if qq is None or not carry else rr - qq, st, out=tmp)
            ch -= tmp
            ch *= e1
            if carry:
                ch *= cq
                np.multiply(qq, de, out=tmp)
                ch += tmp


def _slice(a: Any, lo: int, hi: int) -> Any:
    return a if a.ndim == 0 else a[lo:hi]
