"""The fused Black kernel behind :func:`bsm`, :func:`black76` and the price-only paths.

Written for throughput in plain numpy: the batch is walked in cache-sized chunks, every
operation writes into preallocated buffers (``out`` given positionally: a keyword ``out=`` or an
in-place operator costs more per call than the arithmetic of a short chunk), scalars are numpy
float64 (a Python float is converted on every call), and the exponentials are shared:

* ``N(-|d|) = exp(-d**2 / 2) * erfcx(|d| / sqrt 2) / 2`` with Cody's rational ``erfcx`` (see
  :mod:`._erf`), so the normal density ``exp(-d1**2 / 2)`` that the Greeks need anyway also
  serves both tails, and ``exp(-d2**2 / 2) = exp(-d1**2 / 2) * F / K`` costs one multiply;
* sharing that factor is also what keeps deep out-of-the-money prices accurate: the two tails
  ``F N(-|d1|)`` and ``K N(-|d2|)`` carry the same rounding, so their difference does not
  amplify it (the price is ``F exp(-d1**2/2) (erfcx(y1) - erfcx(y2)) / 2`` in effect).

Cody's first and third intervals (near the money, and ``|d| > 4 sqrt 2``) are patched by index
on the elements that need them, found with one ``flatnonzero`` for both.

Elements with ``vol * sqrt(t) == 0`` are left to the caller (``black._limits``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from oms_chain.risk.pricing._erf import _A, _B, _C, _D, _INV_SQRT_PI, _P, _Q

Array = npt.NDArray[np.float64]
CHUNK = 32_768
_F = np.float64
_C64 = tuple(_F(x) for x in _C)
_D64 = tuple(_F(x) for x in _D)
_A64 = tuple(_F(x) for x in _A)
_B64 = tuple(_F(x) for x in _B)
_P64 = tuple(_F(x) for x in _P)
_Q64 = tuple(_F(x) for x in _Q)
_ONE_F = _F(1.0)
_INV_SQRT_PI_F = _F(_INV_SQRT_PI)
_INV_SQRT_2 = _F(0.70710678118654752440)
_INV_SQRT_2PI = _F(0.39894228040143267794)
_SMALL = _F(0.46875)
_MID = _F(4.0)
_HALF = _F(0.5)
_NEG_HALF = _F(-0.5)
_TINY = _F(1e-300)  # |d| + _TINY == |d| for |d| > 1e-283: d / (|d| + _TINY) is sign(d) there
_ONE = np.float64(1.0).reshape(())
#: fraction of a chunk outside Cody's second interval above which that interval's rational
#: is evaluated on the gathered elements that need it rather than on the whole chunk
_GATHER = 0.3

_mul, _add, _sub, _div = np.multiply, np.add, np.subtract, np.divide


class _Work:
    """Scratch buffers for one chunk, allocated once per call.

    The two-row buffers (one row for d1, one for d2) are flat and viewed as ``(2, m)``, so a
    partial last chunk is contiguous too and both rows are patched with one index.
    """

    def __init__(self, n: int) -> None:
        names = ("sqt", "st", "df", "cq", "fk", "e1", "a", "b", "tmp", "zero")
        self.buf = {name: np.empty(n) for name in names}
        self.buf["zero"].fill(0.0)
        pairs = ("d", "y", "num", "den", "tails", "sign", "half", "scr")
        self.pair = {name: np.empty(2 * n) for name in pairs}
        self.hp = np.empty(n)
        self.mask = np.empty(2 * n, dtype=np.bool_)
        self.mask2 = np.empty(2 * n, dtype=np.bool_)

    def rows(self, name: str, m: int) -> Array:
        return self.pair[name][: 2 * m].reshape(2, m)


class _Local(threading.local):
    work: _Work | None = None
    size = 0


_LOCAL = _Local()


def _work(n: int) -> _Work:
    """This thread's scratch buffers for chunks of up to ``n``, kept between calls (about
    7 MB at most per pricing thread). Fresh buffers of this size come from ``mmap`` and fault
    their pages in on every call: that cost 20 ns a price in Monte Carlo revaluation, where
    the kernel is called once per 128k (path, contract) pairs."""
    if _LOCAL.work is None or _LOCAL.size < n:
        _LOCAL.work = _Work(n)
        _LOCAL.size = n
    return _LOCAL.work


def _erfcx_mid_into(y: Array, num: Array, den: Array) -> None:
    """erfcx(y) into ``num`` by Cody's second-interval rational (``den`` is scratch)."""
    c, dd = _C64, _D64
    _mul(y, c[8], num)
    _add(y, dd[0], den)
    _mul(den, y, den)
    for i in range(7):
        _add(num, c[i], num)
        _mul(num, y, num)
        if i:
            _add(den, dd[i], den)
            _mul(den, y, den)
    _add(num, c[7], num)
    _add(den, dd[7], den)
    _div(num, den, num)


def _tails(w: _Work, m: int) -> tuple[Array, Array]:
    """Lower tails N(-|d1|), N(-|d2|) of the chunk, the two rows of one (2, m) buffer.

    Also leaves sign(d) (exactly +-1 but for |d| < 1e-283, where it only needs to be in
    [-1, 1]: the tail is 1/2 to within 1e-283 there) in ``w``'s ``sign`` rows.
    """
    b = w.buf
    e1, fk = b["e1"][:m], b["fk"][:m]
    d, y, num, den = w.rows("d", m), w.rows("y", m), w.rows("num", m), w.rows("den", m)
    sign = w.rows("sign", m)
    np.abs(d, y)
    _add(y, _TINY, sign)
    _div(d, sign, sign)
    _mul(y, _INV_SQRT_2, y)
    # Cody's three intervals: y <= 0.46875 (near the money), y in (0.46875, 4] (most of a
    # book), y > 4 (|d| > 5.7, deep in or out of the money); the first and last by index
    flat_y = y.reshape(-1)
    flat_num = num.reshape(-1)
    lo, hi = w.mask[: 2 * m], w.mask2[: 2 * m]
    np.less_equal(flat_y, _SMALL, lo)
    np.greater(flat_y, _MID, hi)
    others = np.count_nonzero(lo) + np.count_nonzero(hi)
    if others > _GATHER * 2 * m:
        # Monte Carlo paths near the money: most elements are not in the second interval, so
        # its rational runs on those that are only, in the spare rows of other buffers
        np.logical_or(lo, hi, hi)
        np.logical_not(hi, hi)
        mid = np.flatnonzero(hi)
        k = mid.size
        yc = np.take(flat_y, mid, out=w.pair["tails"][:k])
        _erfcx_mid_into(yc, w.pair["den"][:k], w.pair["half"][:k])
        flat_num[mid] = w.pair["den"][:k]
        np.greater(flat_y, _MID, hi)
    else:
        _erfcx_mid_into(y, num, den)
    big = np.flatnonzero(hi)
    k = big.size
    if k:
        yb = np.take(flat_y, big, out=w.pair["tails"][:k])
        far = w.pair["den"][:k]
        _erfcx_large_into(yb, far, w.pair["half"][:k], w.pair["scr"][:k])
        flat_num[big] = far
    small = np.flatnonzero(lo)
    tails = w.rows("tails", m)
    n1, n2 = tails[0], tails[1]
    _mul(e1, num[0], n1)
    _mul(n1, _HALF, n1)
    _mul(e1, fk, n2)
    _mul(n2, num[1], n2)
    _mul(n2, _HALF, n2)
    # N(-|d|) = (1 - erf(y)) / 2 on the first interval, evaluated on those that need it in
    # the spare rows of buffers done with (no temporaries: fresh ones fault their pages in)
    k = small.size
    if k:
        ys = np.take(flat_y, small, out=w.pair["den"][:k])
        near = w.pair["num"][:k]
        _near_tail_into(ys, near, w.pair["half"][:k], w.pair["y"][:k])
        tails.reshape(-1)[small] = near
    return n1, n2


def _erfcx_large_into(y: Array, out: Array, z: Array, den: Array) -> None:
    """erfcx(y) into ``out`` for y > 4: :func:`._erf._erfcx_large` (Cody's third interval)
    step for step, into buffers (``z``, ``den`` scratch)."""
    p, qq = _P64, _Q64
    _mul(y, y, z)
    _div(_ONE_F, z, z)
    _mul(z, p[5], out)
    _add(z, qq[0], den)
    _mul(den, z, den)
    for i in range(4):
        _add(out, p[i], out)
        _mul(out, z, out)
        if i:
            _add(den, qq[i], den)
            _mul(den, z, den)
    _add(out, p[4], out)
    _add(den, qq[4], den)
    _mul(out, z, out)
    _div(out, den, out)
    _sub(_INV_SQRT_PI_F, out, out)
    _div(out, y, out)


def _near_tail_into(x: Array, out: Array, z: Array, den: Array) -> None:
    """(1 - erf(x)) / 2 into ``out`` for |x| <= 0.46875: :func:`._erf._erf_small` (Cody's
    first interval) step for step, into buffers (``z``, ``den`` scratch)."""
    a, bb = _A64, _B64
    _mul(x, x, z)
    _mul(z, a[4], out)
    _add(z, bb[0], den)
    _mul(den, z, den)
    for i in range(3):
        _add(out, a[i], out)
        _mul(out, z, out)
        if i:
            _add(den, bb[i], den)
            _mul(den, z, den)
    _add(out, a[3], out)
    _add(den, bb[3], den)
    _mul(out, x, out)
    _div(out, den, out)
    _mul(out, _NEG_HALF, out)
    _add(out, _HALF, out)


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
    np.sqrt(t, sqt)
    _mul(v, sqt, st)
    _mul(t, np.negative(r), df)
    np.exp(df, df)
    if q is None:  # Black-76: under is the forward, discounted like the premium
        cq = df
        _div(s, k, fk)
    elif q.ndim == 0 and q == 0.0:  # no carry: skip an exponential
        cq = _ONE
        _div(s, df, fk)
        _div(fk, k, fk)
    else:
        _mul(t, np.negative(q), cq)
        np.exp(cq, cq)
        _div(cq, df, fk)
        _mul(fk, s, fk)
        _div(fk, k, fk)
    np.log(fk, d1)
    _div(d1, st, d1)
    _mul(st, _HALF, tmp)
    _add(d1, tmp, d1)
    _sub(d1, st, d2)
    _mul(d1, d1, e1)
    _mul(e1, _NEG_HALF, e1)
    np.exp(e1, e1)
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
    tails, sign, half = w.rows("tails", m), w.rows("sign", m), w.rows("half", m)
    hp = w.hp[:m]
    _sub(c, _HALF, hp)
    _mul(sign, _HALF, half)
    _add(half, hp, half)
    _mul(tails, sign, tails)
    _sub(half, tails, tails)
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
    w = _work(min(n, CHUNK))
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        m = hi - lo
        b = w.buf
        d = w.rows("d", m)
        d1, d2 = d[0], d[1]
        ss = s[lo:hi]
        _mul(log_s[lo:hi], inv_st[lo:hi], d1)
        _add(d1, a[lo:hi], d1)
        _sub(d1, st[lo:hi], d2)
        e1 = b["e1"][:m]
        _mul(d1, d1, e1)
        _mul(e1, _NEG_HALF, e1)
        np.exp(e1, e1)
        _mul(ss, g[lo:hi], b["fk"][:m])
        n1, n2 = _signed_tails(c[lo:hi], w, m)
        o = out[lo:hi]
        _mul(ss, n1, o)
        if cq is not None:
            _mul(o, cq[lo:hi], o)
        tmp = b["tmp"][:m]
        _mul(kdf[lo:hi], n2, tmp)
        _sub(o, tmp, o)
        np.maximum(o, b["zero"][:m], out=o)  # rounding below the smallest normal can leave -1e-322


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
    w = _work(min(n, CHUNK))
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        m = hi - lo
        args = [_slice(a, lo, hi) for a in (c, s, k, t, r, v)]
        cc, ss, kk, tt, rr, vv = args
        qq = None if q is None else _slice(q, lo, hi)
        n1, n2, cq = _prologue(cc, ss, kk, tt, rr, qq, vv, w, m)
        b = w.buf
        o = out[lo:hi]
        _mul(ss, n1, o)
        if cq is not _ONE:
            _mul(o, cq, o)
        tmp = b["tmp"][:m]
        _mul(kk, b["df"][:m], tmp)
        _mul(tmp, n2, tmp)
        _sub(o, tmp, o)
        np.maximum(o, b["zero"][:m], out=o)  # rounding below the smallest normal can leave -1e-322


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
    """Price and the Greeks into the arrays of ``out`` (see :class:`Greeks`): nine (price, the
    first-order Greeks, gamma, vanna, volga, charm) or the first six (no second-order cross
    Greeks: they are not computed)."""
    price, delta, gamma, vega, theta, rho = out[:6]
    higher = len(out) == 9
    n = price.size
    w = _work(min(n, CHUNK))
    fwd_model = q is None
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        m = hi - lo
        cc, ss, kk, tt, rr, vv = (_slice(a, lo, hi) for a in (c, s, k, t, r, v))
        qq: Any = None if q is None else _slice(q, lo, hi)
        n1, n2, cq = _prologue(cc, ss, kk, tt, rr, qq, vv, w, m)
        b = w.buf
        sqt, st, df, e1 = (b[x][:m] for x in ("sqt", "st", "df", "e1"))
        big_a, big_b, tmp = b["a"][:m], b["b"][:m], b["tmp"][:m]
        p, de, ga, ve, th, rh = (x[lo:hi] for x in (price, delta, gamma, vega, theta, rho))
        carry = cq is not _ONE
        # e1 -> pdf(d1)
        _mul(e1, _INV_SQRT_2PI, e1)
        # delta = theta e^{-qt} N(theta d1); A = S delta, B = theta K e^{-rt} N(theta d2)
        if carry:
            _mul(cq, n1, de)
        else:
            np.copyto(de, n1)
        _mul(ss, de, big_a)
        _mul(kk, df, big_b)
        _mul(big_b, n2, big_b)
        _sub(big_a, big_b, p)
        np.maximum(p, b["zero"][:m], out=p)  # rounding below the smallest normal can leave -1e-322
        # vega = S e^{-qt} pdf sqrt t, gamma = e^{-qt} pdf / (S vol sqrt t)
        _mul(ss, e1, ve)
        _mul(ve, sqt, ve)
        _mul(ss, st, tmp)
        _div(e1, tmp, ga)
        if carry:
            _mul(ve, cq, ve)
            _mul(ga, cq, ga)
        # -decay = -S e^{-qt} pdf vol / (2 sqrt t) = -vega vol / (2 t)
        _mul(ve, vv, tmp)
        _div(tmp, tt, tmp)
        _mul(tmp, _NEG_HALF, tmp)
        if fwd_model:
            _mul(rr, p, th)
            _add(th, tmp, th)
            _mul(tt, p, rh)
            np.negative(rh, rh)
        else:
            _mul(rr, big_b, th)
            _sub(tmp, th, th)
            if carry:
                _mul(qq, big_a, tmp)
                _add(th, tmp, th)
            _mul(big_b, tt, rh)
        if higher:
            _cross_greeks(tuple(x[lo:hi] for x in out[6:]), ve, w, m, cq, de, rr, qq, tt, vv)


def _cross_greeks(
    out3: tuple[Array, ...],
    ve: Array,
    w: _Work,
    m: int,
    cq: Any,
    de: Array,
    rr: Any,
    qq: Any,
    tt: Any,
    vv: Any,
) -> None:
    """Vanna, volga and charm of the chunk whose pdf(d1) (in ``e1``), d1, d2, delta and vega
    are computed; ``qq`` is None for Black-76."""
    va, vo, ch = out3
    b = w.buf
    st, df, e1, tmp = (b[x][:m] for x in ("st", "df", "e1", "tmp"))
    d1, d2 = w.rows("d", m)
    carry = cq is not _ONE
    # vanna = -e^{-qt} pdf d2 / vol ; volga = vega d1 d2 / vol
    _mul(e1, d2, va)
    _div(va, vv, va)
    if carry:
        _mul(va, cq, va)
    np.negative(va, va)
    _mul(ve, d1, vo)
    _mul(vo, d2, vo)
    _div(vo, vv, vo)
    # charm (time to expiry decreasing)
    if qq is None:
        _mul(rr, de, ch)
        _mul(df, e1, tmp)
        _mul(tmp, d2, tmp)
        _div(tmp, tt, tmp)
        _mul(tmp, _HALF, tmp)
        _add(ch, tmp, ch)
    else:
        # q delta + e^{-qt} pdf (d2 / (2 t) - (r - q) / (vol sqrt t))
        _div(d2, tt, ch)
        _mul(ch, _HALF, ch)
        _div(rr if not carry else rr - qq, st, tmp)
        _sub(ch, tmp, ch)
        _mul(ch, e1, ch)
        if carry:
            _mul(ch, cq, ch)
            _mul(qq, de, tmp)
            _add(ch, tmp, ch)


def _slice(a: Any, lo: int, hi: int) -> Any:
    return a if a.ndim == 0 else a[lo:hi]
