"""Volatility surfaces: per-expiry raw SVI smiles, arbitrage checks, total-variance interpolation.

Raw SVI (Gatheral 2004) gives the total implied variance ``w = vol**2 * t`` of one expiry as a
function of log-moneyness ``k = ln(K / F)``::

    w(k) = a + b * (rho * (k - m) + sqrt((k - m)**2 + sigma**2))

A slice is fitted to quotes by weighted least squares in total variance (weights from the
bid/ask spread): a vectorized search over ``(m, sigma)`` in which ``(a, b rho, b)`` follow by
linear least squares (the quasi-explicit reduction of Zeliade's note), then Levenberg-Marquardt
on all five parameters. Written here because scipy is not a run-time dependency.

Checks: butterfly (Gatheral's density factor ``g(k) >= 0``) per slice, calendar (total variance
non-decreasing in expiry at every k) between consecutive slices; each failure names the expiry
and the strike. Between expiries the surface interpolates total variance linearly in time at
fixed k; before the first and after the last expiry the implied vol of the nearest slice is kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from oms_chain.model.errors import InvalidInput
from oms_chain.risk.pricing.black import black76_price
from oms_chain.risk.pricing.iv import implied_vol

__all__ = [
    "ArbitrageReport",
    "ButterflyViolation",
    "CalendarViolation",
    "OptionQuote",
    "SVIFit",
    "SVIParams",
    "VolSurface",
    "fit_svi",
]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SVIParams:
    """Raw SVI parameters of one expiry (total variance, so ``a`` and ``b`` scale with t)."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "rho", "m", "sigma"):
            if not math.isfinite(getattr(self, name)):
                raise InvalidInput(
                    f"SVI parameter {name} must be finite, got {getattr(self, name)}"
                )
        if self.b < 0:
            raise InvalidInput(f"SVI b must be >= 0, got {self.b}")
        if not -1.0 < self.rho < 1.0:
            raise InvalidInput(f"SVI rho must be in (-1, 1), got {self.rho}")
        if self.sigma <= 0:
            raise InvalidInput(f"SVI sigma must be > 0, got {self.sigma}")
        if self.a + self.b * self.sigma * math.sqrt(1 - self.rho * self.rho) < -1e-14:
            raise InvalidInput(
                "SVI minimum total variance a + b*sigma*sqrt(1-rho^2) is negative "
                f"({self.a + self.b * self.sigma * math.sqrt(1 - self.rho**2):.3g}); raise a"
            )

    def as_array(self) -> Array:
        return np.array([self.a, self.b, self.rho, self.m, self.sigma])

    def total_variance(self, k: npt.ArrayLike) -> Array:
        """w(k) at log-moneyness ``k = ln(K / F)``."""
        km = np.asarray(k, dtype=np.float64) - self.m
        return self.a + self.b * (self.rho * km + np.sqrt(km * km + self.sigma * self.sigma))

    def derivatives(self, k: npt.ArrayLike) -> tuple[Array, Array, Array]:
        """(w, dw/dk, d2w/dk2) at ``k``."""
        km = np.asarray(k, dtype=np.float64) - self.m
        root = np.sqrt(km * km + self.sigma * self.sigma)
        w = self.a + self.b * (self.rho * km + root)
        w1 = self.b * (self.rho + km / root)
        w2 = self.b * self.sigma * self.sigma / (root * root * root)
        return w, w1, w2

    def g(self, k: npt.ArrayLike) -> Array:
        """Gatheral's butterfly factor; the risk-neutral density is >= 0 where ``g >= 0``."""
        w, w1, w2 = self.derivatives(k)
        kk = np.asarray(k, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (1.0 - kk * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2


@dataclass(frozen=True, slots=True)
class SVIFit:
    """A fitted slice: parameters, weighted RMS error in total variance, iterations used."""

    params: SVIParams
    rmse: float
    iterations: int
    used: int  # quotes that entered the fit (quotes without an implied vol are left out)


def _model(p: Array, k: Array) -> Array:
    a, b, rho, m, sigma = p
    km = k - m
    return np.asarray(a + b * (rho * km + np.sqrt(km * km + sigma * sigma)), dtype=np.float64)


def _jacobian(p: Array, k: Array) -> Array:
    _, b, rho, m, sigma = p
    km = k - m
    root = np.sqrt(km * km + sigma * sigma)
    return np.stack(
        [np.ones_like(k), rho * km + root, b * km, -b * (rho + km / root), b * sigma / root],
        axis=1,
    )


def _valid(p: Array) -> bool:
    a, b, rho, _, sigma = p
    return bool(
        b >= 0 and -1 < rho < 1 and sigma > 0 and a + b * sigma * math.sqrt(1 - rho * rho) >= 0
    )


def _grid_start(k: Array, w: Array, wt: Array) -> Array:
    """Best (a, b, rho, m, sigma) over a grid of (m, sigma), the rest by linear least squares."""
    span = max(float(k.max() - k.min()), 0.1)
    ms = np.linspace(float(k.min()) - 0.25 * span, float(k.max()) + 0.25 * span, 21)
    ss = np.geomspace(0.005 * span, 2.0 * span, 21)
    mm, sg = (a.ravel() for a in np.meshgrid(ms, ss, indexing="ij"))
    y = (k[None, :] - mm[:, None]) / sg[:, None]
    basis = np.stack([np.ones_like(y), y, np.sqrt(y * y + 1.0)], axis=2)  # (C, n, 3)
    bw = basis * wt[None, :, None]
    normal = np.einsum("cni,cnj->cij", bw, basis) + 1e-14 * np.eye(3)
    rhs = np.einsum("cni,n->ci", bw, w)
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    a, d, c = coef[:, 0], coef[:, 1], coef[:, 2]
    b = np.maximum(c / sg, 0.0)
    rho = np.clip(np.where(c > 0, d / np.where(c > 0, c, 1.0), 0.0), -0.999, 0.999)
    km = k[None, :] - mm[:, None]
    shape = b[:, None] * (rho[:, None] * km + np.sqrt(km * km + sg[:, None] ** 2))
    a = np.einsum("cn,n->c", w[None, :] - shape, wt) / wt.sum()
    a = np.maximum(a, -b * sg * np.sqrt(1 - rho * rho))
    resid = a[:, None] + shape - w[None, :]
    sse = np.einsum("cn,n->c", resid * resid, wt)
    i = int(np.argmin(sse))
    return np.array([a[i], b[i], rho[i], mm[i], sg[i]])


def fit_svi(
    k: npt.ArrayLike,
    total_variance: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    max_iter: int = 200,
) -> SVIFit:
    """Fit raw SVI to total variances ``w`` at log-moneyness ``k`` (weighted least squares).

    ``weights`` default to 1; pass ``1 / spread**2`` for bid/ask weighting (what
    :meth:`VolSurface.from_quotes` does). Needs at least 5 finite points with ``w > 0``; raises
    :class:`InvalidInput` otherwise.
    """
    kk = np.asarray(k, dtype=np.float64).ravel()
    ww = np.asarray(total_variance, dtype=np.float64).ravel()
    wt = np.ones_like(kk) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not kk.shape == ww.shape == wt.shape:
        raise InvalidInput(
            f"k, total_variance and weights must have one length, got {kk.size}, {ww.size}, "
            f"{wt.size}"
        )
    keep = np.isfinite(kk) & np.isfinite(ww) & np.isfinite(wt) & (ww > 0) & (wt > 0)
    if keep.sum() < 5:
        raise InvalidInput(
            f"an SVI fit needs at least 5 finite quotes with positive total variance, got "
            f"{int(keep.sum())}; quote more strikes for this expiry"
        )
    kk, ww, wt = kk[keep], ww[keep], wt[keep] / wt[keep].max()
    p = _grid_start(kk, ww, wt)
    sqw = np.sqrt(wt)
    r = (_model(p, kk) - ww) * sqw
    sse = float(r @ r)
    lam = 1e-3
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        jac = _jacobian(p, kk) * sqw[:, None]
        jtj = jac.T @ jac
        grad = jac.T @ r
        diag = np.diag(jtj).copy()
        diag[diag <= 0] = 1e-12
        improved = False
        for _ in range(30):
            try:
                step = np.linalg.solve(jtj + lam * np.diag(diag), -grad)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            trial = p + step
            if _valid(trial):
                rt = (_model(trial, kk) - ww) * sqw
                st = float(rt @ rt)
                if st <= sse:
                    improved = True
                    break
            lam *= 10.0
        if not improved:
            break
        small = np.all(np.abs(step) <= 1e-13 * (np.abs(p) + 1e-8))
        flat = sse - st <= 1e-16 * sse
        p, r, sse = trial, rt, st
        lam = max(lam / 10.0, 1e-15)
        if small or flat or sse < 1e-32:
            break
    a, b, rho, m, sigma = (float(v) for v in p)
    params = SVIParams(a=a, b=b, rho=rho, m=m, sigma=sigma)
    return SVIFit(
        params=params,
        rmse=math.sqrt(sse / wt.sum()),
        iterations=it,
        used=int(kk.size),
    )


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """One quote of an option chain, in floats (see :mod:`oms_chain.risk.pricing.convert`).

    ``t`` is the time to expiry in years; ``bid`` / ``ask`` are implied vols (``kind="iv"``)
    or discounted premiums in the quote currency (``kind="price"``); either may be None, not
    both.
    """

    strike: float
    t: float
    is_call: bool
    bid: float | None
    ask: float | None
    kind: Literal["iv", "price"] = "iv"

    def __post_init__(self) -> None:
        if self.bid is None and self.ask is None:
            raise InvalidInput(f"quote at strike {self.strike}, t {self.t} has neither bid nor ask")
        if self.kind not in ("iv", "price"):
            raise InvalidInput(f"quote kind must be 'iv' or 'price', got {self.kind!r}")
        if not (math.isfinite(self.strike) and self.strike > 0):
            raise InvalidInput(f"quote strike must be finite and > 0, got {self.strike}")
        if not (math.isfinite(self.t) and self.t > 0):
            raise InvalidInput(f"quote t must be finite and > 0 (years), got {self.t}")
        if self.bid is not None and self.ask is not None and self.bid > self.ask:
            raise InvalidInput(
                f"quote at strike {self.strike}, t {self.t}: bid {self.bid} above ask {self.ask}"
            )


@dataclass(frozen=True, slots=True)
class ButterflyViolation:
    """g(k) < 0 on a slice: the strike where it is most negative and the k range it spans."""

    t: float
    strike: float
    k: float
    g: float
    k_from: float
    k_to: float


@dataclass(frozen=True, slots=True)
class CalendarViolation:
    """Total variance decreases from expiry ``t1`` to ``t2`` around ``strike`` (at ``t2``)."""

    t1: float
    t2: float
    strike: float
    k: float
    w1: float
    w2: float


@dataclass(frozen=True, slots=True)
class ArbitrageReport:
    """What :meth:`VolSurface.check` found; ``ok`` when both lists are empty."""

    butterfly: tuple[ButterflyViolation, ...]
    calendar: tuple[CalendarViolation, ...]

    @property
    def ok(self) -> bool:
        return not self.butterfly and not self.calendar


def _forward_at(forwards: Array, expiries: Array, t: Array) -> Array:
    """Forward at ``t`` by linear interpolation of ln F in t (flat outside)."""
    return np.exp(np.interp(t, expiries, np.log(forwards)))


@dataclass(frozen=True)
class VolSurface:
    """SVI slices at increasing expiries (years) with the forward of each expiry."""

    expiries: Array
    forwards: Array
    slices: tuple[SVIParams, ...]
    fits: tuple[SVIFit, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        exp = np.asarray(self.expiries, dtype=np.float64).ravel()
        fwd = np.asarray(self.forwards, dtype=np.float64).ravel()
        if not (exp.size == fwd.size == len(self.slices)) or exp.size == 0:
            raise InvalidInput(
                f"a surface needs one expiry, forward and SVI slice each, got {exp.size}, "
                f"{fwd.size}, {len(self.slices)}"
            )
        if not (np.isfinite(exp).all() and (exp > 0).all() and (np.diff(exp) > 0).all()):
            raise InvalidInput(f"expiries must be positive and strictly increasing, got {exp}")
        if not (np.isfinite(fwd).all() and (fwd > 0).all()):
            raise InvalidInput(f"forwards must be finite and > 0, got {fwd}")
        exp.setflags(write=False)
        fwd.setflags(write=False)
        object.__setattr__(self, "expiries", exp)
        object.__setattr__(self, "forwards", fwd)

    @classmethod
    def from_params(
        cls,
        expiries: Sequence[float],
        forwards: Sequence[float] | float,
        params: Sequence[SVIParams],
    ) -> VolSurface:
        """A synthetic surface (for the devnet and tests) from known slices."""
        exp = np.asarray(expiries, dtype=np.float64)
        fwd = np.broadcast_to(np.asarray(forwards, dtype=np.float64), exp.shape).copy()
        return cls(expiries=exp, forwards=fwd, slices=tuple(params))

    @classmethod
    def from_quotes(
        cls,
        quotes: Iterable[OptionQuote],
        forward: float | dict[float, float],
        r: float = 0.0,
    ) -> VolSurface:
        """Fit one SVI slice per expiry of an option chain.

        ``forward`` is one forward for all expiries or a mapping expiry -> forward (the
        venue's futures / index forward per expiry). Price quotes are turned into Black-76
        implied vols at ``r``; quotes without an implied vol are left out of the fit. Each
        quote's weight is ``1 / spread**2`` of its total-variance bid/ask spread (the median
        spread where a side is missing). Raises :class:`InvalidInput` for an expiry with
        fewer than 5 usable quotes.
        """
        by_t: dict[float, list[OptionQuote]] = {}
        for q in quotes:
            if not isinstance(q, OptionQuote):
                raise InvalidInput(f"from_quotes takes OptionQuote values, got {type(q).__name__}")
            by_t.setdefault(q.t, []).append(q)
        if not by_t:
            raise InvalidInput("from_quotes needs at least one quote")
        exps = sorted(by_t)
        fwds = []
        fits = []
        for t in exps:
            f = forward[t] if isinstance(forward, dict) else forward
            if not (math.isfinite(f) and f > 0):
                raise InvalidInput(f"forward for expiry {t} must be finite and > 0, got {f}")
            fits.append(_fit_expiry(by_t[t], t, float(f), r))
            fwds.append(float(f))
        return cls(
            expiries=np.array(exps),
            forwards=np.array(fwds),
            slices=tuple(fit.params for fit in fits),
            fits=tuple(fits),
        )

    def forward(self, t: npt.ArrayLike) -> Array:
        return _forward_at(self.forwards, self.expiries, np.asarray(t, dtype=np.float64))

    def total_variance(self, strike: npt.ArrayLike, t: npt.ArrayLike) -> Array:
        """Total implied variance at ``strike`` and ``t`` (years), linear in t at fixed k."""
        kk, tt = np.broadcast_arrays(
            np.asarray(strike, dtype=np.float64), np.asarray(t, dtype=np.float64)
        )
        if not (np.isfinite(tt).all() and (tt > 0).all()):
            raise InvalidInput("t must be finite and > 0 (years)")
        if not (np.isfinite(kk).all() and (kk > 0).all()):
            raise InvalidInput("strike must be finite and > 0")
        logm = np.log(kk / self.forward(tt))
        exp = self.expiries
        out = np.empty(np.shape(tt))
        i = np.searchsorted(exp, tt, side="right")  # exp[i-1] <= t < exp[i]
        first = i == 0
        last = i >= exp.size
        mid = ~(first | last)
        if first.any():
            out[first] = self.slices[0].total_variance(logm[first]) * tt[first] / exp[0]
        if last.any():
            out[last] = self.slices[-1].total_variance(logm[last]) * tt[last] / exp[-1]
        if mid.any():
            for j in np.unique(i[mid]):
                sel = mid & (i == j)
                t0, t1 = exp[j - 1], exp[j]
                w0 = self.slices[j - 1].total_variance(logm[sel])
                w1 = self.slices[j].total_variance(logm[sel])
                out[sel] = w0 + (w1 - w0) * (tt[sel] - t0) / (t1 - t0)
        return out

    def implied_vol(self, strike: npt.ArrayLike, t: npt.ArrayLike) -> Array:
        """Implied vol (per year) at ``strike`` and ``t``."""
        tt = np.asarray(t, dtype=np.float64)
        return np.sqrt(np.maximum(self.total_variance(strike, tt), 0.0) / tt)

    def price(
        self, is_call: npt.ArrayLike, strike: npt.ArrayLike, t: npt.ArrayLike, r: npt.ArrayLike
    ) -> Array:
        """Black-76 premium off the surface's forward and implied vol, discounted at ``r``."""
        tt = np.asarray(t, dtype=np.float64)
        vol = self.implied_vol(strike, tt)
        return black76_price(is_call, self.forward(tt), strike, tt, r, vol)

    def check(self, k_grid: npt.ArrayLike | None = None, tol: float = 1e-10) -> ArbitrageReport:
        """Butterfly (g(k) >= 0) and calendar checks on a log-moneyness grid.

        The default grid is ``k`` in [-1.5, 1.5] (strikes 0.22 to 4.5 times the forward) in
        steps of 0.001. A violation is reported once per contiguous region, at its worst point.
        """
        kg = np.linspace(-1.5, 1.5, 3001) if k_grid is None else np.asarray(k_grid, float)
        fly: list[ButterflyViolation] = []
        for t, f, sl in zip(self.expiries, self.forwards, self.slices, strict=True):
            g = sl.g(kg)
            bad = g < -tol
            for lo, hi in _runs(bad):
                j = lo + int(np.argmin(g[lo:hi]))
                fly.append(
                    ButterflyViolation(
                        t=float(t),
                        strike=float(f * math.exp(kg[j])),
                        k=float(kg[j]),
                        g=float(g[j]),
                        k_from=float(kg[lo]),
                        k_to=float(kg[hi - 1]),
                    )
                )
        cal: list[CalendarViolation] = []
        for j in range(1, len(self.slices)):
            w0 = self.slices[j - 1].total_variance(kg)
            w1 = self.slices[j].total_variance(kg)
            bad = w1 < w0 - tol
            for lo, hi in _runs(bad):
                i = lo + int(np.argmin((w1 - w0)[lo:hi]))
                cal.append(
                    CalendarViolation(
                        t1=float(self.expiries[j - 1]),
                        t2=float(self.expiries[j]),
                        strike=float(self.forwards[j] * math.exp(kg[i])),
                        k=float(kg[i]),
                        w1=float(w0[i]),
                        w2=float(w1[i]),
                    )
                )
        return ArbitrageReport(butterfly=tuple(fly), calendar=tuple(cal))


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def _fit_expiry(quotes: list[OptionQuote], t: float, fwd: float, r: float) -> SVIFit:
    n = len(quotes)
    strike = np.array([q.strike for q in quotes])
    is_call = np.array([q.is_call for q in quotes])
    side = np.full((2, n), np.nan)
    for i, q in enumerate(quotes):
        side[0, i] = np.nan if q.bid is None else q.bid
        side[1, i] = np.nan if q.ask is None else q.ask
    kinds = {q.kind for q in quotes}
    if len(kinds) > 1:
        raise InvalidInput(f"expiry {t}: mix of iv and price quotes; quote one kind per expiry")
    both = np.isfinite(side[0]) & np.isfinite(side[1])
    mid_quote = np.where(
        both, 0.5 * (side[0] + side[1]), np.where(np.isfinite(side[0]), side[0], side[1])
    )
    rows = np.vstack([side, mid_quote[None, :]])  # bid, ask, mid in quote units
    if kinds == {"price"}:
        iv = np.full(rows.shape, np.nan)
        for s in range(3):
            have = np.isfinite(rows[s])
            if have.any():
                res = implied_vol(
                    rows[s][have], is_call[have], fwd, strike[have], t, r, model="black76"
                )
                iv[s][have] = np.where(res.reason == 0, res.vol, np.nan)
        rows = iv
    w = rows * rows * t  # total variance of bid, ask and mid
    mid = w[2]
    spread = w[1] - w[0]
    have_spread = np.isfinite(spread) & (spread > 0)
    median = float(np.median(spread[have_spread])) if have_spread.any() else 1.0
    floor = max(1e-3 * median, 1e-16)
    spread = np.where(have_spread, np.maximum(spread, floor), median)
    k = np.log(strike / fwd)
    return fit_svi(k, mid, 1.0 / (spread * spread))
