"""Portfolio risk: Monte Carlo VaR with full revaluation and portfolio margin, p50 / p99.

* Monte Carlo VaR / ES, 100k paths x 200 options on two underlyings (target < 2 s), twice:
  ``revaluation="full"`` (every option repriced on every path: 20M BSM prices) and ``"grid"``
  (every option priced exactly on 4097 spots per underlying, interpolated), with the relative
  difference of their VaRs. Baseline of the full revaluation, interleaved with it run by run:
  the same 20M prices by the textbook formulas (numpy + scipy's ``ndtr``), with the largest
  difference of the two PnL vectors relative to the largest PnL.
* Portfolio margin of a 500-position portfolio (options on three underlyings, perpetuals, wallet
  and exchange balances): 9 moves x 3 vol states plus the extended table (target < 50 ms).
  Baseline: the portfolio's Greeks (``portfolio_risk``) on the same holdings. Also, for
  information: liquidation prices of that portfolio for each of its three underlyings.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from oms_chain.model import Asset
from oms_chain.model.instruments import OptionContract, OptionKind, Perpetual
from oms_chain.risk import (
    Holding,
    MarketSnapshot,
    liquidation_prices,
    monte_carlo_var,
    portfolio_margin,
    portfolio_risk,
)
from oms_chain.risk._book import Book, compile_book

NOW = 1_700_000_000 * 10**9
DAY = 86_400 * 10**9
PATHS = 100_000
USDC = Asset.erc20(1, "0x" + "c" * 40, "USDC", 6)
SPOTS = {"ETH": Decimal(2000), "BTC": Decimal(40000), "SOL": Decimal(100)}
ASSETS = {s: Asset.cex("deribit", s) for s in SPOTS}


def _options(
    n: int, rng: np.random.Generator, names: list[str]
) -> tuple[list[Holding], dict[str, Decimal]]:
    holdings, vols = [], {}
    for i in range(n):
        name = names[i % len(names)]
        spot = float(SPOTS[name])
        strike = Decimal(str(round(spot * float(rng.uniform(0.6, 1.5)), 2)))
        c = OptionContract(
            underlying=ASSETS[name],
            quote=USDC,
            strike=strike,
            expiry_ns=NOW + int(rng.integers(1, 365)) * DAY + i,
            option_kind=OptionKind.CALL if i % 2 else OptionKind.PUT,
        )
        vols[c.id] = Decimal(str(round(float(rng.uniform(0.4, 1.2)), 4)))
        qty = Decimal(int(rng.integers(-20, 21)) or 1)
        holdings.append(Holding(instrument=c, quantity=qty, venue="deribit"))
    return holdings, vols


def _percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return s[len(s) // 2], s[min(len(s) - 1, int(len(s) * 0.99))]


def _time(fn: Callable[[], Any], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of ``runs`` calls (CPU time is what a loaded, shared machine
    does not inflate: the process waiting for a core is not counted)."""
    wall, cpu = [], []
    gc.collect()
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def _interleaved(
    fns: dict[str, Callable[[], Any]], runs: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Like :func:`_time` for several callables, one run of each in turn (a change of the
    machine's load hits all alike)."""
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in fns}
    gc.collect()
    for _ in range(runs):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            out[name][0].append(time.perf_counter() - t0)
            out[name][1].append(time.process_time() - c0)
    return out


def _mc_spots(book: Book, cov: np.ndarray) -> np.ndarray:
    """The spots ``monte_carlo_var`` draws with ``default_rng(1)`` (Cholesky factor)."""
    z = np.random.default_rng(1).standard_normal((PATHS, book.n_underlyings))
    returns = z @ np.linalg.cholesky(cov).T - 0.5 * np.diag(cov)
    return book.spot0 * np.exp(returns)  # type: ignore[no-any-return]


def _textbook_pnl(book: Book, spots: np.ndarray) -> np.ndarray:
    """Baseline full revaluation: the textbook BSM price (scipy's compiled ``ndtr``, one
    temporary per operation) of every option on every path, in chunks of ~128k pairs, aged by
    one day like ``monte_carlo_var``; options only (the book has nothing else)."""
    from scipy.special import ndtr

    m = len(book.opt)
    qty = book.qty[book.opt]
    sign = np.where(book.is_call, 1.0, -1.0)
    k, q, v, r = book.strike, book.q, book.vol, book.rate

    def prices(s: np.ndarray, t: np.ndarray) -> np.ndarray:
        st = v * np.sqrt(t)
        d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * t) / st
        d2 = d1 - st
        return sign * (s * np.exp(-q * t) * ndtr(sign * d1) - k * np.exp(-r * t) * ndtr(sign * d2))

    base = float(prices(book.spot0[book.opt_u], book.t) @ qty)
    t = book.t - 1 / 365
    out = np.empty(spots.shape[0])
    rows = max(16, (1 << 17) // m)
    for lo in range(0, spots.shape[0], rows):
        hi = lo + rows
        out[lo:hi] = prices(spots[lo:hi, book.opt_u], t) @ qty - base
    return out


def run() -> dict[str, Any]:
    rng = np.random.default_rng(5)
    # --- Monte Carlo VaR, 100k paths x 200 options --------------------------------------------
    opts, vols = _options(200, rng, ["ETH", "BTC"])
    market = MarketSnapshot(now_ns=NOW, spots=SPOTS, vols=vols)
    cov = [[0.04**2, 0.7 * 0.04 * 0.035], [0.7 * 0.04 * 0.035, 0.035**2]]

    def mc() -> Any:
        return monte_carlo_var(
            opts, market, cov, ["ETH", "BTC"], rng=np.random.default_rng(1), paths=PATHS
        )

    def mc_grid() -> Any:
        return monte_carlo_var(
            opts,
            market,
            cov,
            ["ETH", "BTC"],
            rng=np.random.default_rng(1),
            paths=PATHS,
            revaluation="grid",
        )

    book = compile_book(opts, market)
    spots = _mc_spots(book, np.asarray(cov))
    runs = _interleaved({"full": mc, "textbook": lambda: _textbook_pnl(book, spots)}, 7)
    full_runs, base_runs = runs["full"], runs["textbook"]
    grid_runs = _time(mc_grid, 7)
    result, grid_result = mc(), mc_grid()
    ours_pnl = book.pnl(spots, dt=1 / 365)
    base_pnl = _textbook_pnl(book, spots)
    pnl_rel = float(np.abs(ours_pnl - base_pnl).max() / np.abs(base_pnl).max())
    # --- portfolio margin, 500 positions ------------------------------------------------------
    names = ["ETH", "BTC", "SOL"]
    pm_opts, pm_vols = _options(440, rng, names)
    linear = []
    for i in range(60):
        name = names[i % 3]
        if i % 2:
            perp = Perpetual(base=ASSETS[name], quote=USDC, settle=USDC)
            linear.append(Holding(instrument=perp, quantity=Decimal(i - 30), venue=f"v{i % 4}"))
        else:
            linear.append(Holding(instrument=ASSETS[name], quantity=Decimal(i + 1), venue="wallet"))
    linear.append(Holding(instrument=USDC, quantity=Decimal(10**6), venue="deribit"))
    holdings = pm_opts + linear[:59] + linear[-1:]
    pm_market = MarketSnapshot(now_ns=NOW, spots=SPOTS, vols=pm_vols)
    pm_runs = _time(lambda: portfolio_margin(holdings, pm_market), 40)
    greeks_runs = _time(lambda: portfolio_risk(holdings, pm_market), 40)
    margin = portfolio_margin(holdings, pm_market)
    liq_runs = _time(lambda: liquidation_prices(holdings, pm_market), 5)

    base50, base99 = _percentiles(base_runs[0])
    base_cpu50, base_cpu99 = _percentiles(base_runs[1])
    full50, full99 = _percentiles(full_runs[0])
    full_cpu50, full_cpu99 = _percentiles(full_runs[1])
    grid50, grid99 = _percentiles(grid_runs[0])
    grid_cpu50, grid_cpu99 = _percentiles(grid_runs[1])
    pm50, pm99 = _percentiles(pm_runs[0])
    pm_cpu50, pm_cpu99 = _percentiles(pm_runs[1])
    g50, _ = _percentiles(greeks_runs[0])
    g_cpu50, _ = _percentiles(greeks_runs[1])
    return {
        "mc_paths": PATHS,
        "mc_options": len(opts),
        "mc_var_99_usd": round(float(result.var), 2),
        "mc_grid_var_rel_diff": f"{float(abs(grid_result.var - result.var) / result.var):.1e}",
        "mc_full_reval_p50_s": round(full50, 3),
        "mc_full_reval_p99_s": round(full99, 3),
        "mc_full_reval_cpu_p50_s": round(full_cpu50, 3),
        "mc_full_reval_cpu_p99_s": round(full_cpu99, 3),
        "mc_baseline_textbook_p50_s": round(base50, 3),
        "mc_baseline_textbook_p99_s": round(base99, 3),
        "mc_baseline_textbook_cpu_p50_s": round(base_cpu50, 3),
        "mc_baseline_textbook_cpu_p99_s": round(base_cpu99, 3),
        "mc_full_over_baseline_cpu_p50": round(full_cpu50 / base_cpu50, 2),
        "mc_full_vs_baseline_pnl_rel_diff": f"{pnl_rel:.1e}",
        "mc_grid_reval_p50_s": round(grid50, 3),
        "mc_grid_reval_p99_s": round(grid99, 3),
        "mc_grid_reval_cpu_p50_s": round(grid_cpu50, 3),
        "mc_grid_reval_cpu_p99_s": round(grid_cpu99, 3),
        "mc_full_over_grid_cpu_p50": round(full_cpu50 / grid_cpu50, 1),
        "mc_target_s": 2.0,
        "mc_full_meets_target_wall_p99": full99 < 2.0,
        "mc_full_meets_target_cpu_p99": full_cpu99 < 2.0,
        "mc_grid_meets_target_wall_p99": grid99 < 2.0,
        "margin_positions": len(holdings),
        "margin_maintenance_usd": round(float(margin.maintenance), 2),
        "margin_p50_ms": round(pm50 * 1e3, 2),
        "margin_p99_ms": round(pm99 * 1e3, 2),
        "margin_cpu_p50_ms": round(pm_cpu50 * 1e3, 2),
        "margin_cpu_p99_ms": round(pm_cpu99 * 1e3, 2),
        "margin_baseline_greeks_p50_ms": round(g50 * 1e3, 2),
        "margin_baseline_greeks_cpu_p50_ms": round(g_cpu50 * 1e3, 2),
        "margin_cpu_p50_over_baseline": round(pm_cpu50 / g_cpu50, 2),
        "margin_target_ms": 50,
        "margin_meets_target_wall_p99": pm99 < 0.050,
        "margin_meets_target_cpu_p99": pm_cpu99 < 0.050,
        "liquidation_3_underlyings_cpu_p50_ms": round(_percentiles(liq_runs[1])[0] * 1e3, 1),
        "liquidation_3_underlyings_p50_ms": round(_percentiles(liq_runs[0])[0] * 1e3, 1),
    }


if __name__ == "__main__":
    print(run())
