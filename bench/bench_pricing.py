"""Option pricing: Greeks per second, implied vols per second, SVI fit time.

Each measurement has its baseline in the same run:

* Greeks at 10k and 1M contracts (``bsm(..., higher=False)``: price, delta, gamma, vega, theta,
  rho; a contract's full set counted once) against a straightforward numpy version (the
  textbook formulas, one temporary per operation, scipy's compiled ``ndtr`` for the normal CDF)
  computing the same six, the two interleaved run by run. Target >= 20M contracts/s on one
  core. Also, for information, the full set with vanna, volga and charm (``greeks_all9``) and
  the first-order set with ``out=`` (the previous result's arrays reused, as a risk loop does).
* Implied vols per second (``implied_vol`` over 200k mixed quotes) against scalar ``vollib``
  (Jäckel's Let's Be Rational, one call per quote) on the first 2,000 of the same inputs.
  Target >= 2M/s.
* SVI fit of one 50-strike expiry (``fit_svi``) against scipy's ``least_squares`` on the same
  data from the same start. Target < 20 ms.

Throughputs are given at the p50 / p90 / p99 of the per-run times (p99 is the slow end), in CPU
seconds of this process (``process_time``) so a loaded machine's waiting is not counted; wall
p50 is reported beside.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from oms_chain.risk.pricing import SVIParams, bsm, bsm_price, fit_svi, implied_vol

GREEKS_TARGET = 20e6
IV_TARGET = 2e6
SVI_TARGET_MS = 20.0


def _book(n: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    is_call = rng.random(n) < 0.5
    spot = np.full(n, 2000.0)
    strike = 2000.0 * np.exp(rng.uniform(-0.6, 0.6, n))
    t = np.exp(rng.uniform(math.log(1 / 365), math.log(2.0), n))
    vol = rng.uniform(0.3, 1.2, n)
    return is_call, spot, strike, t, vol


def _times(fn: Callable[[], object], reps: int) -> tuple[list[float], list[float]]:
    fn()  # warm
    cpu: list[float] = []
    wall: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    finally:
        gc.enable()
    return sorted(cpu), sorted(wall)


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def _rates(prefix: str, n: int, cpu: list[float], wall: list[float]) -> dict[str, Any]:
    # the q-th percentile of time is the (1-q)-th of throughput: p99 is the slow end
    return {
        f"{prefix}_per_s_p50": round(n / max(_pct(cpu, 0.50), 1e-9)),
        f"{prefix}_per_s_p90": round(n / max(_pct(cpu, 0.90), 1e-9)),
        f"{prefix}_per_s_p99": round(n / max(_pct(cpu, 0.99), 1e-9)),
        f"{prefix}_per_s_wall_p50": round(n / max(_pct(wall, 0.50), 1e-9)),
    }


def _baseline_greeks(is_call, s, k, t, r, q, v):  # type: ignore[no-untyped-def]
    from scipy.special import ndtr

    sq = np.sqrt(t)
    st = v * sq
    d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * t) / st
    d2 = d1 - st
    sign = np.where(is_call, 1.0, -1.0)
    n1 = ndtr(sign * d1)
    n2 = ndtr(sign * d2)
    pdf = np.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    dq = np.exp(-q * t)
    dr = np.exp(-r * t)
    price = sign * (s * dq * n1 - k * dr * n2)
    delta = sign * dq * n1
    gamma = dq * pdf / (s * st)
    vega = s * dq * pdf * sq
    theta = -s * dq * pdf * v / (2 * sq) - sign * r * k * dr * n2 + sign * q * s * dq * n1
    rho = sign * k * t * dr * n2
    return price, delta, gamma, vega, theta, rho


def _greeks(metrics: dict[str, Any]) -> None:
    # the target's measure is ``bsm(..., higher=False)``: price, the first-order Greeks and
    # gamma, what the baseline computes; ``all9`` adds vanna, volga and charm (information)
    for n, reps, label in ((10_000, 400, "10k"), (1_000_000, 25, "1M")):
        c, s, k, t, v = _book(n)
        runs = _interleaved(
            {
                "ours": lambda: bsm(c, s, k, t, 0.03, 0.0, v, higher=False),  # noqa: B023
                "base": lambda: _baseline_greeks(c, s, k, t, 0.03, 0.0, v),  # noqa: B023
                "all9": lambda: bsm(c, s, k, t, 0.03, 0.0, v),  # noqa: B023
            },
            reps,
        )
        ours = _rates(f"greeks_{label}", n, *runs["ours"])
        base = _rates(f"baseline_greeks_{label}", n, *runs["base"])
        metrics.update(ours)
        metrics.update(base)
        metrics.update(_rates(f"greeks_all9_{label}", n, *runs["all9"]))
        into = bsm(c, s, k, t, 0.03, 0.0, v)
        rcpu, rwall = _times(
            lambda: bsm(c, s, k, t, 0.03, 0.0, v, out=into, higher=False),  # noqa: B023
            reps,
        )
        metrics.update(_rates(f"greeks_{label}_reusing_out", n, rcpu, rwall))
        metrics[f"greeks_{label}_over_baseline_p50"] = round(
            ours[f"greeks_{label}_per_s_p50"] / base[f"baseline_greeks_{label}_per_s_p50"], 2
        )
    metrics["greeks_target_per_s"] = int(GREEKS_TARGET)
    metrics["greeks_1M_meets_target"] = metrics["greeks_1M_per_s_p50"] >= GREEKS_TARGET


def _interleaved(
    fns: dict[str, Callable[[], object]], reps: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Like :func:`_times` for several callables, one run of each in turn, so a change of the
    machine's load during the measurement hits all of them alike."""
    for fn in fns.values():
        fn()  # warm
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in fns}
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            for name, fn in fns.items():
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                out[name][0].append(time.process_time() - c0)
                out[name][1].append(time.perf_counter() - w0)
    finally:
        gc.enable()
    return {name: (sorted(cpu), sorted(wall)) for name, (cpu, wall) in out.items()}


def _iv(metrics: dict[str, Any]) -> None:
    n = 200_000
    c, s, k, t, v = _book(n, seed=2)
    price = bsm_price(c, s, k, t, 0.03, 0.0, v)
    cpu, wall = _times(lambda: implied_vol(price, c, s, k, t, 0.03, 0.0), 5)
    metrics.update(_rates("iv_200k", n, cpu, wall))
    res = implied_vol(price, c, s, k, t, 0.03, 0.0)
    metrics["iv_200k_solved"] = int(res.ok.sum())
    from vollib.black_scholes_merton.implied_volatility import implied_volatility

    m = 2_000
    flags = ["c" if x else "p" for x in c[:m]]
    args = [
        (float(price[i]), float(s[i]), float(k[i]), float(t[i]), 0.03, 0.0, flags[i])
        for i in range(m)
    ]

    def scalar() -> None:
        for a in args:
            with contextlib.suppress(Exception):  # vollib raises below intrinsic; still counted
                implied_volatility(*a)

    bcpu, bwall = _times(scalar, 3)
    metrics.update(_rates("baseline_vollib_iv", m, bcpu, bwall))
    metrics["iv_over_vollib_p50"] = round(
        metrics["iv_200k_per_s_p50"] / metrics["baseline_vollib_iv_per_s_p50"], 1
    )
    metrics["iv_target_per_s"] = int(IV_TARGET)
    metrics["iv_meets_target"] = metrics["iv_200k_per_s_p50"] >= IV_TARGET


def _svi(metrics: dict[str, Any]) -> None:
    true = SVIParams(a=0.04, b=0.4, rho=-0.4, m=0.1, sigma=0.3)
    k = np.linspace(-1.2, 1.0, 50)
    rng = np.random.default_rng(3)
    w = true.total_variance(k) * (1.0 + 0.002 * rng.standard_normal(50))  # a noisy market
    cpu, wall = _times(lambda: fit_svi(k, w), 200)
    for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
        metrics[f"svi_fit_50_ms_{name}"] = round(1e3 * _pct(cpu, q), 3)
    metrics["svi_fit_50_ms_wall_p50"] = round(1e3 * _pct(wall, 0.5), 3)
    from scipy.optimize import least_squares

    def resid(p: np.ndarray) -> np.ndarray:
        km = k - p[3]
        return p[0] + p[1] * (p[2] * km + np.sqrt(km * km + p[4] * p[4])) - w

    start = np.array([0.05, 0.3, 0.0, 0.0, 0.2])
    lo = [-1.0, 0.0, -0.999, -2.0, 1e-4]
    hi = [1.0, 5.0, 0.999, 2.0, 5.0]
    bcpu, _ = _times(lambda: least_squares(resid, start, bounds=(lo, hi), xtol=1e-14), 50)
    metrics["baseline_scipy_least_squares_ms_p50"] = round(1e3 * _pct(bcpu, 0.5), 3)
    metrics["svi_target_ms"] = SVI_TARGET_MS
    metrics["svi_meets_target"] = metrics["svi_fit_50_ms_p99"] < SVI_TARGET_MS


def run() -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    _greeks(metrics)
    _iv(metrics)
    _svi(metrics)
    return metrics


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:45s} {value}")
