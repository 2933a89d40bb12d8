"""Smart order routing: CPU time for 2, 4, 8, 12 and 16 sources against the previous
optimizer, and quality against an independent optimum.

Scenarios are generated with fixed seeds (buying WETH with USDC across Uniswap V2 pools, V3
pools built with the real pool math, CEX books with taker fees and two-hop paths; random depth,
fees, gas prices, inventories and minimum sizes), by the same generator as the routing tests
(``tests/unit/routing/routing_support.py``). Each source set is fresh, so V3 quotes start with
cold swap-walk caches as after a new block.

Measured in the same run, per size: ``route()`` CPU time (``time.process_time``, the least of
:data:`ROUNDS` runs on fresh sources, so that other processes on the machine count as little as
possible) at p50 / p90 / p99 over :data:`SCENARIOS` scenarios, of the default call (which also
computes the 5 % greedy split for the plan's comparison); the same for the baseline, the
optimizer and its subset search as they were before this round of speed work
(``oms_chain/routing/optimizer.py`` and ``_subsets.py`` at commit :data:`BASELINE_COMMIT`,
read from git: branch and bound over the subsets, every candidate polished to the end); the
number of exact quotes a call makes (independent of load); the plan's net output against an
independent, exhaustive reference optimum (a dynamic program over every allocation of a grid
of the input to every subset, refined once on a finer grid; gap in bps, negative = plan below
it), for the plan and for the baseline; and the improvement in bps over the best single source
and over the 5 %-step greedy split of Uniswap's router. Targets from issue 12 (printed beside
the p99): 8 sources p99 under 5 ms, 16 sources p99 under 20 ms.

Exact output (``route_exact_output``, buying what the exact-input plan of the same scenario
yields): CPU time (median and p90 ms, fresh sources), the plan's net input against the independent
grid search (gap in bps, negative = plan spends more) and the saving in bps against the best
single source and the 5 % greedy split of the output. Shared inventory: CPU time and gap for
8 sources of which 2-3 share one capped wallet balance.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from oms_chain.routing import route, route_exact_output

SIZES = (2, 4, 8, 12, 16)
SCENARIOS = 40
EXACT_OUTPUT_SCENARIOS = 15
ROUNDS = 3  # each time is the least of this many runs (least disturbed by other load)
TARGET_P99_MS = {8: 5.0, 16: 20.0}
#: The optimizer before this round of speed work (session 5: free sources, concave upper bounds
#: of candidates, polishes that give up): its optimizer and subset search are the baseline.
BASELINE_COMMIT = "69fe253"
_ROOT = Path(__file__).resolve().parents[1]
_SUPPORT = _ROOT / "tests" / "unit" / "routing" / "routing_support.py"


def _support() -> Any:
    spec = importlib.util.spec_from_file_location("routing_support", _SUPPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("routing_support", module)
    spec.loader.exec_module(module)
    return module


def _git_show(path: str) -> str | None:
    try:
        return subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:{path}"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def _baseline_route() -> Callable[..., Any] | None:
    """``route`` of the optimizer at :data:`BASELINE_COMMIT`, with its subset search module of
    that commit (``None`` outside a git clone); the rest of the package is today's."""
    source = _git_show("oms_chain/routing/optimizer.py")
    if source is None:
        return None
    subsets = _git_show("oms_chain/routing/_subsets.py")
    if subsets is not None:
        name = "routing_subsets_baseline"
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec(compile(subsets, f"_subsets.py@{BASELINE_COMMIT}", "exec"), module.__dict__)
        source = source.replace("from oms_chain.routing._subsets import", f"from {name} import")
    optimizer = types.ModuleType("routing_optimizer_baseline")
    exec(compile(source, f"optimizer.py@{BASELINE_COMMIT}", "exec"), optimizer.__dict__)
    baseline: Callable[..., Any] = optimizer.route
    return baseline


def _count_quotes(sc: Any) -> int:
    """Exact output evaluations one ``route()`` call makes (a load-independent cost measure)."""
    calls = [0]

    def counted(fn: Callable[[int], int]) -> Callable[[int], int]:
        def output(amount_in: int) -> int:
            calls[0] += 1
            return fn(amount_in)

        return output

    route([replace(s, output=counted(s.output)) for s in sc.sources], sc.amount_in)
    return calls[0]


def _cpu_ms(support: Any, seed: int, n: int, fn: Callable[..., Any]) -> tuple[float, Any]:
    """The least CPU time of :data:`ROUNDS` calls on fresh sources, and the last plan."""
    best, plan = float("inf"), None
    for _ in range(ROUNDS):
        sc = support.scenario(seed, n)  # fresh: cold caches
        started = time.process_time()
        plan = fn(sc.sources, sc.amount_in)
        best = min(best, time.process_time() - started)
    return best * 1e3, plan


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[89], cuts[98]


def run() -> dict[str, float | bool]:
    support = _support()
    baseline = _baseline_route()
    metrics: dict[str, float | bool] = {}
    for n in SIZES:
        times, old_times, gaps, old_gaps, vs_single, vs_greedy = [], [], [], [], [], []
        quotes: list[int] = []
        for k in range(SCENARIOS):
            seed = 500_000 + 1_000 * n + k
            ms, plan = _cpu_ms(support, seed, n, route)
            times.append(ms)
            sc = support.scenario(seed, n)
            reference, _ = support.reference_optimum(sc.sources, sc.amount_in)
            gaps.append(support.gap_bps(plan.net_output, reference))
            if baseline is not None:
                ms, old_plan = _cpu_ms(support, seed, n, baseline)
                old_times.append(ms)
                old_gaps.append(support.gap_bps(old_plan.net_output, reference))
            quotes.append(_count_quotes(support.scenario(seed, n)))
            if plan.vs_best_single_bps is not None:
                vs_single.append(float(plan.vs_best_single_bps))
            if plan.vs_greedy_bps is not None:
                vs_greedy.append(float(plan.vs_greedy_bps))
        p50, p90, p99 = _quantiles(times)
        metrics[f"route_cpu_ms_{n}_sources_p50"] = p50
        metrics[f"route_cpu_ms_{n}_sources_p90"] = p90
        metrics[f"route_cpu_ms_{n}_sources_p99"] = p99
        if n in TARGET_P99_MS:
            metrics[f"route_cpu_ms_{n}_sources_p99_target"] = TARGET_P99_MS[n]
            metrics[f"route_{n}_sources_p99_under_{TARGET_P99_MS[n]:g}_ms"] = p99 < TARGET_P99_MS[n]
        if old_times:
            b50, b90, b99 = _quantiles(old_times)
            metrics[f"baseline_cpu_ms_{n}_sources_p50"] = b50
            metrics[f"baseline_cpu_ms_{n}_sources_p90"] = b90
            metrics[f"baseline_cpu_ms_{n}_sources_p99"] = b99
            metrics[f"speedup_vs_baseline_{n}_sources_p99"] = b99 / p99
            metrics[f"baseline_gap_vs_optimum_bps_{n}_worst"] = min(old_gaps)
        metrics[f"exact_quotes_per_route_{n}_sources"] = statistics.median(quotes)
        metrics[f"gap_vs_optimum_bps_{n}_worst"] = min(gaps)
        metrics[f"gap_vs_optimum_bps_{n}_median"] = statistics.median(gaps)
        metrics[f"vs_best_single_bps_{n}_median"] = statistics.median(vs_single or [0.0])
        metrics[f"vs_greedy_5pct_bps_{n}_median"] = statistics.median(vs_greedy or [0.0])
        metrics[f"vs_greedy_5pct_bps_{n}_mean"] = statistics.fmean(vs_greedy or [0.0])
    metrics["scenarios_per_size"] = float(SCENARIOS)
    metrics["baseline_measured"] = baseline is not None
    metrics.update(_exact_output(support))
    metrics.update(_shared_inventory(support))
    return metrics


def _exact_output(support: Any) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for n in (2, 4, 8):
        times, gaps, vs_single, vs_greedy = [], [], [], []
        for seed in range(EXACT_OUTPUT_SCENARIOS):
            seed_n = 600_000 + 1_000 * n + seed
            sc = support.scenario(seed_n, n)
            target = route(sc.sources, sc.amount_in, compare_greedy=False).expected_output
            best = float("inf")
            for _ in range(ROUNDS):
                fresh = support.scenario(seed_n, n)  # cold caches
                started = time.process_time()
                plan = route_exact_output(fresh.sources, target)
                best = min(best, time.process_time() - started)
            times.append(best * 1e3)
            reference, _ = support.reference_general(fresh.sources, target, exact_output=True)
            gaps.append((-reference - plan.net_input) / -reference * 1e4)
            if plan.vs_best_single_bps is not None:
                vs_single.append(float(plan.vs_best_single_bps))
            if plan.vs_greedy_bps is not None:
                vs_greedy.append(float(plan.vs_greedy_bps))
        metrics[f"exact_output_ms_{n}_sources"] = statistics.median(times)
        metrics[f"exact_output_ms_{n}_sources_p90"] = statistics.quantiles(times, n=10)[-1]
        metrics[f"exact_output_gap_bps_{n}_worst"] = min(gaps)
        metrics[f"exact_output_vs_best_single_bps_{n}_median"] = statistics.median(
            vs_single or [0.0]
        )
        metrics[f"exact_output_vs_greedy_5pct_bps_{n}_median"] = statistics.median(
            vs_greedy or [0.0]
        )
        metrics[f"exact_output_vs_greedy_5pct_bps_{n}_mean"] = statistics.fmean(vs_greedy or [0.0])
    return metrics


def _shared_inventory(support: Any) -> dict[str, float]:
    times, gaps = [], []
    for seed in range(EXACT_OUTPUT_SCENARIOS):
        sc, caps = support.grouped_scenario(700_000 + seed, 8)
        best = float("inf")
        for _ in range(ROUNDS):
            fresh, _ = support.grouped_scenario(700_000 + seed, 8)
            started = time.process_time()
            plan = route(fresh.sources, fresh.amount_in, inventories=caps)
            best = min(best, time.process_time() - started)
        times.append(best * 1e3)
        reference, _ = support.reference_general(sc.sources, sc.amount_in, inventories=caps)
        gaps.append((plan.net_output - reference) / reference * 1e4)
    return {
        "shared_inventory_ms_8_sources": statistics.median(times),
        "shared_inventory_ms_8_sources_p90": statistics.quantiles(times, n=10)[-1],
        "shared_inventory_gap_bps_8_worst": min(gaps),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:48s} {value:12.4f}")
