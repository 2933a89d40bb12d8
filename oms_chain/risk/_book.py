"""A portfolio compiled to flat float arrays: the one place holdings meet the pricer.

Every risk number (Greeks, VaR, margin scenarios, liquidation search) revalues the same
:class:`Book`: linear holdings (balances, spot pairs, perpetuals) change value one for one with
their underlying; options are repriced in full with Black-Scholes-Merton on the underlying's
spot with the snapshot's rate and carry. Expired options are worth their intrinsic value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from oms_chain.model.assets import Asset
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import OptionContract, Perpetual
from oms_chain.risk.holdings import Holding
from oms_chain.risk.market import MarketSnapshot
from oms_chain.risk.pricing import Greeks, _kernel, bsm, bsm_price, contract_arrays

Array = npt.NDArray[np.float64]

SPOT, PERP, OPTION = 0, 1, 2
#: (path, option) pairs revalued at once: ~1 MB per float64 temporary, so the pricer's dozens
#: of passes stay in cache (8192 x 200 pairs at a time was 2x slower in CPU time here).
CHUNK_PAIRS = 1 << 17
_T_EXPIRED = 1e-12


@dataclass(frozen=True, slots=True, eq=False)
class Book:
    """Holdings as arrays (see the module docstring). Build with :func:`compile_book`."""

    underlyings: tuple[str, ...]
    spot0: Array  # (n_u,)
    cash: float
    labels: tuple[str, ...]  # (n,)
    venues: tuple[str, ...]  # (n,)
    u: npt.NDArray[np.intp]  # (n,) underlying index per position
    kind: npt.NDArray[np.int8]  # (n,)
    qty: Array  # (n,)
    entry: Array  # (n,) perpetual entry price (spot0 when not given), else 0
    opt: npt.NDArray[np.intp]  # (m,) position index of each option
    is_call: npt.NDArray[np.bool_]  # (m,)
    strike: Array  # (m,)
    t: Array  # (m,) years to expiry (ACT/365), 0 when expired
    vol: Array  # (m,)
    q: Array  # (m,) carry of the option's underlying
    rate: float

    @property
    def n_underlyings(self) -> int:
        return len(self.underlyings)

    @property
    def opt_u(self) -> npt.NDArray[np.intp]:
        return self.u[self.opt]

    def linear_exposure(self) -> Array:
        """Units of each underlying held linearly (balances, spot pairs, perpetuals)."""
        lin = self.kind != OPTION
        return sum_by(self.u[lin], self.qty[lin], self.n_underlyings)

    def option_prices(self, spot: Array, vol: Array | None = None, dt: float = 0.0) -> Array:
        """Per-contract option prices for ``spot`` of shape (..., m) (each option's own spot)."""
        v = self.vol if vol is None else vol
        return price_options(self.is_call, spot, self.strike, self.t - dt, self.rate, self.q, v)

    def position_values(self, spot_u: Array, vol: Array | None = None) -> Array:
        """Value in USD of each position for underlying spots ``spot_u`` (n_u,): (n,)."""
        s = spot_u[self.u]
        values = self.qty * s
        perp = self.kind == PERP
        values[perp] = self.qty[perp] * (s[perp] - self.entry[perp])
        if len(self.opt):
            values[self.opt] = self.qty[self.opt] * self.option_prices(s[self.opt], vol)
        return values

    def equity(self, spot_u: Array | None = None, vol: Array | None = None) -> float:
        """Cash plus the value of every position (perpetuals count their unrealized PnL)."""
        s = self.spot0 if spot_u is None else spot_u
        return self.cash + float(self.position_values(s, vol).sum())

    def pnl(self, spot_u: Array, vol: Array | None = None, dt: float = 0.0) -> Array:
        """Full-revaluation PnL (USD) of the book for each row of ``spot_u`` (P, n_u): (P,).

        ``vol`` (m,) or (P, m) replaces the option vols; ``dt`` (years) ages the options.
        Rows are revalued in chunks of about :data:`CHUNK_PAIRS` (path, option) pairs, so
        memory stays bounded and the temporaries stay in cache.
        """
        spot_u = np.asarray(spot_u, dtype=np.float64)
        out = (spot_u - self.spot0) @ self.linear_exposure()
        if not len(self.opt):
            return out
        qty = self.qty[self.opt]
        base = float(self.option_prices(self.spot0[self.opt_u]) @ qty)
        if (vol is None or np.ndim(vol) == 1) and _in_domain(spot_u):
            out += _SeriesPricer(self, vol, dt).value(spot_u)
            out -= base
            return out
        ou = self.opt_u
        rows = max(16, CHUNK_PAIRS // len(self.opt))
        for lo in range(0, spot_u.shape[0], rows):
            hi = lo + rows
            v = vol if vol is None or np.ndim(vol) == 1 else vol[lo:hi]
            prices = self.option_prices(spot_u[lo:hi, ou], v, dt)
            out[lo:hi] += prices @ qty - base
        return out

    def pnl_on_grid(self, spot_u: Array, dt: float = 0.0, nodes: int = 4097) -> Array:
        """PnL like :meth:`pnl`, with each underlying's options priced exactly (BSM price and
        delta) on ``nodes`` log-spaced spots spanning every path, and the segment value between
        nodes by cubic Hermite interpolation (error O(h^4) for smooth values; next to a strike
        of an option expiring within ``dt``, O(h) with h the node spacing, a few cents here).
        An option's value depends on its own underlying only, so this is exact at the nodes and
        costs O(paths) instead of O(paths x options)."""
        spot_u = np.asarray(spot_u, dtype=np.float64)
        out = (spot_u - self.spot0) @ self.linear_exposure()
        ou = self.opt_u
        for k in range(self.n_underlyings):
            j = np.flatnonzero(ou == k)
            if not j.size:
                continue
            qty = self.qty[self.opt[j]]
            p0 = price_options(
                self.is_call[j],
                self.spot0[k],
                self.strike[j],
                self.t[j],
                self.rate,
                self.q[j],
                self.vol[j],
            )
            base = float(p0 @ qty)
            s = spot_u[:, k]
            lo, hi = float(s.min()), float(s.max())
            grid = np.geomspace(lo, hi, nodes) if hi > lo else np.array([lo, lo * (1 + 1e-12)])
            g = bsm(
                self.is_call[j],
                grid[:, None],
                self.strike[j],
                np.maximum(self.t[j] - dt, 0.0),
                self.rate,
                self.q[j],
                self.vol[j],
            )
            out += hermite(grid, g.price @ qty, g.delta @ qty, s) - base
        return out

    def greeks(self) -> Greeks:
        """BSM Greeks of every option at the snapshot (per contract, unscaled)."""
        s = self.spot0[self.opt_u]
        t = np.maximum(self.t, 0.0)
        return bsm(self.is_call, s, self.strike, t, self.rate, self.q, self.vol)


def _in_domain(spot_u: Array) -> bool:
    """Spots the pricer accepts without its per-call checks (else the checked path raises)."""
    return bool(spot_u.size) and bool(spot_u.min() >= 1e-100) and bool(spot_u.max() <= 1e100)


class _SeriesPricer:
    """Option value of a book on many rows of spots, for Monte Carlo and historical revaluation.

    Identical series (same underlying, kind, strike, expiry, vol, carry) are priced once with
    their summed quantity. The per-contract arrays are validated once (a checked
    :func:`bsm_price` at the snapshot) and tiled once to a chunk of rows, so each chunk of
    about :data:`CHUNK_PAIRS` (path, series) pairs costs the fused kernel and nothing else;
    contracts at or past expiry after aging, or with zero vol, go through the checked path.
    """

    def __init__(self, book: Book, vol: Array | None, dt: float) -> None:
        v = book.vol if vol is None else np.asarray(vol, dtype=np.float64)
        t = np.maximum(book.t - dt, 0.0)
        key = np.stack(
            [book.opt_u.astype(np.float64), book.is_call, book.strike, t, v, book.q], axis=1
        )
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        self.qty = np.bincount(
            inverse.ravel(), weights=book.qty[book.opt], minlength=uniq.shape[0]
        ).astype(np.float64, copy=False)
        self.u = uniq[:, 0].astype(np.intp)
        self.is_call = uniq[:, 1] != 0.0
        self.strike, self.t, self.vol, self.q = (
            np.ascontiguousarray(uniq[:, i]) for i in (2, 3, 4, 5)
        )
        self.rate = book.rate
        # validates every series (InvalidInput names the bad argument)
        price_options(
            self.is_call, book.spot0[self.u], self.strike, self.t, self.rate, self.q, self.vol
        )
        self.live = np.flatnonzero((self.t > 0.0) & (self.vol > 0.0))
        self.limit = np.flatnonzero(~((self.t > 0.0) & (self.vol > 0.0)))

    def value(self, spot_u: Array) -> Array:
        """Sum over series of quantity x price, for each row of ``spot_u`` (P, n_u): (P,)."""
        n_rows = spot_u.shape[0]
        out = np.zeros(n_rows)
        if self.limit.size:
            j = self.limit
            prices = price_options(
                self.is_call[j],
                spot_u[:, self.u[j]],
                self.strike[j],
                self.t[j],
                self.rate,
                self.q[j],
                self.vol[j],
            )
            out += prices @ self.qty[j]
        j = self.live
        m = j.size
        if not m:
            return out
        rows = min(n_rows, max(16, CHUNK_PAIRS // m))
        # each contract's own terms once (see _kernel.price_paths_into), tiled to a chunk
        t, v, k, q = self.t[j], self.vol[j], self.strike[j], self.q[j]
        st = v * np.sqrt(t)
        inv_st = 1.0 / st
        df = np.exp(-self.rate * t)
        cq = np.exp(-q * t)
        g = cq / (df * k)
        a = np.log(g) * inv_st + 0.5 * st
        terms = [self.is_call[j], inv_st, a, st, g, k * df]
        c_t, inv_t, a_t, st_t, g_t, kdf_t = (np.tile(x, rows) for x in terms)
        cq_t = np.tile(cq, rows) if q.any() else None
        prices = np.empty(rows * m)
        qty, u = self.qty[j], self.u[j]
        log_u = np.log(spot_u)
        for lo in range(0, n_rows, rows):
            hi = min(lo + rows, n_rows)
            size = (hi - lo) * m
            spot = np.ascontiguousarray(spot_u[lo:hi, u]).reshape(-1)
            log_s = np.ascontiguousarray(log_u[lo:hi, u]).reshape(-1)
            p = prices[:size]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                _kernel.price_paths_into(
                    p,
                    c_t[:size],
                    spot,
                    log_s,
                    inv_t[:size],
                    a_t[:size],
                    st_t[:size],
                    g_t[:size],
                    None if cq_t is None else cq_t[:size],
                    kdf_t[:size],
                )
            out[lo:hi] += p.reshape(hi - lo, m) @ qty
        return out


def hermite(x: Array, y: Array, dy: Array, at: Array) -> Array:
    """Cubic Hermite interpolation of values ``y`` with slopes ``dy`` at sorted nodes ``x``."""
    i = np.clip(np.searchsorted(x, at) - 1, 0, x.size - 2)
    h = x[i + 1] - x[i]
    tau = (at - x[i]) / h
    t2, t3 = tau * tau, tau * tau * tau
    return (
        (2 * t3 - 3 * t2 + 1) * y[i]
        + (t3 - 2 * t2 + tau) * h * dy[i]
        + (3 * t2 - 2 * t3) * y[i + 1]
        + (t3 - t2) * h * dy[i + 1]
    )


def sum_by(index: npt.NDArray[np.intp], weights: Array, n: int) -> Array:
    """Sum of ``weights`` per group ``index`` (0 .. n-1), as float64 of length ``n``."""
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64, copy=False)


def price_options(
    is_call: npt.NDArray[np.bool_],
    spot: Array,
    strike: Array,
    t: Array,
    rate: float,
    q: Array,
    vol: Array,
) -> Array:
    """BSM prices with broadcasting; contracts at or past expiry are worth their intrinsic value."""
    return bsm_price(is_call, spot, strike, np.maximum(t, 0.0), rate, q, vol)


def _vols(
    options: list[tuple[int, OptionContract, str]], t: Array, market: MarketSnapshot
) -> Array:
    vols = np.empty(len(options))
    missing: dict[str, list[int]] = {}
    for j, (_, contract, und) in enumerate(options):
        given = market.vols.get(contract.id)
        if given is not None:
            vols[j] = float(given)
        else:
            missing.setdefault(und, []).append(j)
    for und, idx in missing.items():
        ix = np.asarray(idx)
        strikes = np.array([float(options[j][1].strike) for j in idx])
        t_pos = np.maximum(t[ix], _T_EXPIRED)
        fitted = market.surfaces.get(und)
        if fitted is not None:
            vols[ix] = fitted.implied_vol(strikes, t_pos)
            continue
        if market.surface is None:
            names = ", ".join(options[j][1].symbol for j in idx[:5])
            raise InvalidInput(
                f"no vol for {len(idx)} option(s) on {und} ({names}): give MarketSnapshot.vols "
                "per contract id, a VolSurface in MarketSnapshot.surfaces, or a surface function"
            )
        got = np.asarray(market.surface(und, strikes, t_pos), dtype=float)
        if got.shape != strikes.shape or not np.all(np.isfinite(got)) or np.any(got <= 0):
            raise InvalidInput(
                f"vol surface for {und} must return positive finite vols of shape "
                f"{strikes.shape}, got {got!r:.80}"
            )
        vols[ix] = got
    return vols


def compile_book(holdings: Sequence[Holding], market: MarketSnapshot) -> Book:
    """Flatten ``holdings`` against ``market`` into a :class:`Book`.

    Raises:
        InvalidInput: ``holdings`` is not a sequence of Holding, ``market`` is not a
            MarketSnapshot, an underlying has no spot, an option has no vol, or a quote /
            settlement asset is not a cash asset of the snapshot.
    """
    if not isinstance(market, MarketSnapshot):
        raise InvalidInput(f"market must be a MarketSnapshot, got {type(market).__name__}")
    if isinstance(holdings, str | bytes) or not isinstance(holdings, Sequence):
        raise InvalidInput(f"holdings must be a sequence of Holding, got {type(holdings).__name__}")
    cash = 0.0
    underlyings: dict[str, int] = {}
    rows: list[tuple[int, int, float, float, str, str]] = []
    options: list[tuple[int, OptionContract, str]] = []
    for i, h in enumerate(holdings):
        if not isinstance(h, Holding):
            raise InvalidInput(f"holdings[{i}] must be a Holding, got {type(h).__name__}")
        inst = h.instrument
        if not isinstance(inst, Asset):
            for a in (inst.quote, *((inst.settle,) if isinstance(inst, Perpetual) else ())):
                if a.symbol not in market.cash_symbols:
                    raise InvalidInput(
                        f"{h.label}: {a.symbol} is not a cash asset of the snapshot "
                        f"({sorted(market.cash_symbols)}); only USD-quoted instruments are "
                        "supported"
                    )
        und = h.underlying
        if isinstance(inst, Asset) and und in market.cash_symbols:
            cash += float(h.quantity)
            continue
        spot = market.spot_float(und)
        k = underlyings.setdefault(und, len(underlyings))
        qty = float(h.quantity)
        if isinstance(inst, OptionContract):
            options.append((len(rows), inst, und))
            rows.append((k, OPTION, qty, 0.0, h.label, h.venue))
        elif isinstance(inst, Perpetual):
            entry = float(h.entry_price) if h.entry_price is not None else spot
            rows.append((k, PERP, qty, entry, h.label, h.venue))
        else:
            rows.append((k, SPOT, qty, 0.0, h.label, h.venue))
    names = tuple(underlyings)
    arrays = contract_arrays([c for _, c, _ in options], market.now_ns)  # t clipped at 0
    t = arrays.t
    opt_idx = np.array([r for r, _, _ in options], dtype=np.intp)
    return Book(
        underlyings=names,
        spot0=np.array([market.spot_float(n) for n in names], dtype=np.float64),
        cash=cash,
        labels=tuple(r[4] for r in rows),
        venues=tuple(r[5] for r in rows),
        u=np.array([r[0] for r in rows], dtype=np.intp),
        kind=np.array([r[1] for r in rows], dtype=np.int8),
        qty=np.array([r[2] for r in rows], dtype=np.float64),
        entry=np.array([r[3] for r in rows], dtype=np.float64),
        opt=opt_idx,
        is_call=arrays.is_call,
        strike=arrays.strike,
        t=t,
        vol=_vols(options, t, market),
        q=np.array([market.carry_float(u) for _, _, u in options], dtype=np.float64),
        rate=float(market.rate),
    )


def to_float_array(value: Any, name: str, *, ndim: int | tuple[int, ...]) -> Array:
    """``value`` as a finite float64 array of ``ndim`` dimensions, or :class:`InvalidInput`."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{name} must be an array of numbers, got {type(value).__name__}"
        ) from None
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in dims:
        raise InvalidInput(
            f"{name} must have {' or '.join(map(str, dims))} dimension(s), got {arr.ndim}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInput(f"{name} must hold finite numbers only (found NaN or infinity)")
    return arr
