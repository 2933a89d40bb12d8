"""Generated routing scenarios and an independent optimum, shared by the routing tests and
``bench/bench_routing.py``.

The reference optimum does not use the optimizer's ideas (no water-filling, no marginal prices,
no local search): it is a dynamic program over a uniform grid of the input, exact on that grid
for any output functions (fixed costs and minimum sizes included), refined once by a second,
finer dynamic program around its answer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from oms_chain.model.intent import Side
from oms_chain.routing import LiquiditySource
from oms_chain.routing._problem import Exact, Problem, conflicts_of
from oms_chain.routing.optimizer import _Model
from oms_chain.venues.amm import V3PoolState
from oms_chain.venues.amm.v3_math import get_sqrt_ratio_at_tick
from oms_chain.venues.base import LiquidityLevel

USDC = 10**6  # input: USDC base units
WETH = 10**18  # output: WETH base units
GWEI = 10**9


@dataclass(frozen=True)
class Scenario:
    sources: tuple[LiquiditySource, ...]
    amount_in: int
    seed: int


def _gas(rng: random.Random, units: int) -> int:
    """Gas cost in WETH wei (the output asset) for ``units`` gas at a random gas price."""
    return int(units * rng.uniform(0.02, 40) * GWEI)


def v2_source(rng: random.Random, name: str, price: float, **kw: int | None) -> LiquiditySource:
    depth_usd = 10 ** rng.uniform(6, 8.3)
    reserve_in = int(depth_usd * USDC)
    reserve_out = int(depth_usd / (price * (1 + rng.uniform(-0.004, 0.004))) * WETH)
    return LiquiditySource.from_v2_reserves(
        name,
        reserve_in,
        reserve_out,
        fee_bps=rng.choice([5, 25, 30, 100]),
        fixed_cost=_gas(rng, rng.randint(100_000, 150_000)),
        **kw,  # type: ignore[arg-type]
    )


def v3_pool(rng: random.Random, price: float) -> V3PoolState:
    """A USDC ('0xa', token0) / WETH ('0xb', token1) pool with 1-3 positions around the price,
    built with the real pool math (``apply_mint``)."""
    fee, spacing = rng.choice([(500, 10), (3000, 60), (100, 1)])
    raw = WETH / (price * (1 + rng.uniform(-0.004, 0.004)) * USDC)  # token1 per token0, raw
    tick = math.floor(math.log(raw) / math.log(1.0001))
    pool = V3PoolState(
        address="0xpool",
        token0="0xa",
        token1="0xb",
        fee=fee,
        tick_spacing=spacing,
        sqrt_price_x96=get_sqrt_ratio_at_tick(tick),
        tick=tick,
        liquidity=0,
        tick_bitmap={},
        liquidity_net={},
        liquidity_gross={},
    )
    base = tick // spacing * spacing
    for _ in range(rng.randint(1, 3)):
        below = rng.randint(1, 300) * spacing
        above = rng.randint(1, 300) * spacing
        usd = 10 ** rng.uniform(6, 8.3)
        liquidity = int(usd * USDC * math.sqrt(raw))
        pool = pool.apply_mint(base - below, base + above, liquidity)
    return pool


def v3_source(rng: random.Random, name: str, price: float, **kw: int | None) -> LiquiditySource:
    return LiquiditySource.from_v3_pool(
        name,
        v3_pool(rng, price),
        "0xa",
        fixed_cost=_gas(rng, rng.randint(120_000, 200_000)),
        **kw,  # type: ignore[arg-type]
    )


def book_levels(rng: random.Random, price: float, count: int = 25) -> list[LiquidityLevel]:
    levels = []
    p = price * (1 + rng.uniform(-0.002, 0.003))
    for _ in range(count):
        levels.append(
            LiquidityLevel(
                price=Decimal(f"{p:.2f}"), quantity=Decimal(f"{rng.uniform(0.2, 40):.4f}")
            )
        )
        p *= 1 + rng.uniform(0.00002, 0.0008)
    return levels


def book_source(rng: random.Random, name: str, price: float, **kw: int | None) -> LiquiditySource:
    return LiquiditySource.from_book(
        name,
        book_levels(rng, price),
        side=Side.BUY,
        taker_fee_bps=Decimal(rng.choice(["2", "5", "7.5", "10"])),
        base_decimals=18,
        quote_decimals=6,
        **kw,  # type: ignore[arg-type]
    )


def path_source(rng: random.Random, name: str, price: float, **kw: int | None) -> LiquiditySource:
    """USDC -> DAI -> WETH through two V2 pairs."""
    depth = 10 ** rng.uniform(6, 8)
    first = LiquiditySource.from_v2_reserves(
        name + "-1", int(depth * USDC), int(depth * 10**18), fee_bps=5
    )
    depth2 = 10 ** rng.uniform(6, 8)
    second = LiquiditySource.from_v2_reserves(
        name + "-2",
        int(depth2 * 10**18),
        int(depth2 / (price * (1 + rng.uniform(-0.006, 0.002))) * WETH),
        fee_bps=30,
    )
    return LiquiditySource.from_path(
        name,
        [first, second],
        fixed_cost=_gas(rng, rng.randint(180_000, 260_000)),
        **kw,  # type: ignore[arg-type]
    )


_MAKERS = (v2_source, v3_source, book_source, path_source)


def scenario(seed: int, n_sources: int, *, v3: bool = True) -> Scenario:
    """Fragmented liquidity for buying WETH with USDC: ``n_sources`` random venues (at least one
    without inventory limit), random depth, fees, gas prices, minimum sizes and inventories."""
    rng = random.Random(seed)
    price = rng.uniform(1500, 4000)
    amount_usd = 10 ** rng.uniform(3.5, 6.3)
    amount_in = int(amount_usd * USDC)
    makers = [m for m in _MAKERS if v3 or m is not v3_source]
    sources = []
    for i in range(n_sources):
        maker = rng.choice(makers)
        kw: dict[str, int | None] = {}
        if i > 0 and rng.random() < 0.35:
            kw["inventory"] = int(amount_in * rng.uniform(0.05, 1.2))
        if rng.random() < 0.3:
            kw["min_size"] = int(amount_in * rng.uniform(0.001, 0.3))
        if i == 0:
            kw["min_size"] = 0
            maker = v2_source
        sources.append(maker(rng, f"{maker.__name__.split('_')[0]}-{i}", price, **kw))
    rng.shuffle(sources)
    return Scenario(tuple(sources), amount_in, seed)


def model_of(sources: Sequence[LiquiditySource], amount: int) -> _Model:
    """The optimizer's grid model of an exact-input problem (no inventory groups) over the
    sources whose minimum size fits the amount, capped by the amount and their inventory."""
    usable = [s for s in sources if s.min_size <= amount]
    return _Model(
        Problem(
            sources=usable,
            amount=amount,
            values=[Exact(s.output) for s in usable],
            lo=[s.min_size for s in usable],
            cap=[min(amount, amount if s.max_input is None else s.max_input) for s in usable],
            fixed=[s.fixed_cost for s in usable],
            group=[-1] * len(usable),
            group_cap=[],
            conflicts=conflicts_of(usable),
        )
    )


# ---------------------------------------------------------------------------------------------
# Independent reference optimum


def net_output(sources: Sequence[LiquiditySource], x: Sequence[int]) -> int:
    return sum(s.quote(xi) - s.fixed_cost for s, xi in zip(sources, x, strict=True) if xi)


def feasible(sources: Sequence[LiquiditySource], x: Sequence[int], amount_in: int) -> bool:
    if sum(x) != amount_in:
        return False
    for s, xi in zip(sources, x, strict=True):
        limit = s.max_input
        if xi < 0 or (xi and (xi < s.min_size or (limit is not None and xi > limit))):
            return False
    return True


def _dp(values: list[np.ndarray], budget: int) -> list[int]:
    """Choose one index k_i per row (value ``values[i][k]``, -inf = not allowed) with
    Σ k_i = budget, maximizing Σ value; returns the k_i."""
    best = np.full(budget + 1, -np.inf)
    best[0] = 0.0
    b = np.arange(budget + 1)[:, None]
    k = np.arange(budget + 1)[None, :]
    prev = b - k
    valid = prev >= 0
    choices = []
    for g in values:
        gk = np.full(budget + 1, -np.inf)
        gk[: len(g)] = g[: budget + 1]
        table = np.where(valid, best[np.clip(prev, 0, None)] + gk[None, :], -np.inf)
        choice = np.argmax(table, axis=1)
        best = table[np.arange(budget + 1), choice]
        choices.append(choice)
    out = []
    rest = budget
    for choice in reversed(choices):
        kk = int(choice[rest])
        out.append(kk)
        rest -= kk
    out.reverse()
    return out


def _fix_sum(sources: Sequence[LiquiditySource], x: list[int], amount_in: int) -> list[int]:
    """Give the rounding rest to a used source with room (or any source with room)."""
    rest = amount_in - sum(x)
    order = sorted(range(len(x)), key=lambda i: not x[i])
    for i in order:
        if rest <= 0:
            break
        limit = sources[i].max_input
        room = (amount_in if limit is None else limit) - x[i]
        if x[i] + min(room, rest) < sources[i].min_size:
            continue
        step = min(room, rest)
        x[i] += step
        rest -= step
    return x


def reference_optimum(
    sources: Sequence[LiquiditySource], amount_in: int, grid: int = 600, fine: int = 400
) -> tuple[int, list[int]]:
    """Net output and split of the best allocation found by the two-level grid DP."""

    def row(s: LiquiditySource, xs: list[int], allow_zero: bool) -> np.ndarray:
        limit = s.max_input
        vals = np.empty(len(xs))
        for k, x in enumerate(xs):
            if x == 0:
                vals[k] = 0.0 if allow_zero else -np.inf
            elif x < s.min_size or (limit is not None and x > limit) or x < 0:
                vals[k] = -np.inf
            else:
                vals[k] = float(s.quote(x) - s.fixed_cost)
        return vals

    coarse = [[k * amount_in // grid for k in range(grid + 1)] for _ in sources]
    ks = _dp([row(s, xs, True) for s, xs in zip(sources, coarse, strict=True)], grid)
    x = _fix_sum(sources, [coarse[i][k] for i, k in enumerate(ks)], amount_in)
    best_x = list(x)
    # second level: each used source moves within ±2 coarse steps on a grid `fine` times finer
    step = max(1, 4 * amount_in // grid // fine)
    width = fine
    lows = [max(0, xi - 2 * amount_in // grid) if xi else 0 for xi in x]
    budget = (amount_in - sum(lows)) // step
    if 0 <= budget <= len(sources) * width:
        rows = []
        for s, xi, lo in zip(sources, x, lows, strict=True):
            if xi:
                xs = [lo + j * step for j in range(min(width, budget) + 1)]
                rows.append(row(s, xs, lo == 0))
            else:
                rows.append(np.array([0.0]))
        ks = _dp(rows, budget)
        refined = _fix_sum(
            sources,
            [lo + k * step if xi else 0 for xi, lo, k in zip(x, lows, ks, strict=True)],
            amount_in,
        )
        if feasible(sources, refined, amount_in) and net_output(sources, refined) > net_output(
            sources, best_x
        ):
            best_x = refined
    return net_output(sources, best_x), best_x


def gap_bps(value: int, reference: int) -> float:
    return (value - reference) / reference * 1e4


# ---------------------------------------------------------------------------------------------
# Exact output and shared inventories: the same independent grid search, generalized
#
# Every source is an "item" of the dynamic program, except that the sources of a capped inventory
# group are first merged into one item: for each total of the group, the best combination of its
# members (max-plus convolution) whose inputs together stay within the group's balance.


def item_value(
    source: LiquiditySource, x: int, exact_output: bool, limit: int | None
) -> tuple[float, int]:
    """(net value, input spent) of putting ``x`` on ``source``; value -inf if not allowed.

    Exact input: ``x`` is input, value = output - fixed cost. Exact output: ``x`` is output,
    value = -(input + fixed cost in input units)."""
    if x == 0:
        return 0.0, 0
    if x < 0:
        return -np.inf, 0
    if exact_output:
        try:
            spent = source.cost(x)
        except ValueError:
            return -np.inf, 0
        value = -float(spent + source.fixed_cost_in_input())
    else:
        spent = x
        if not _within(source, spent, limit):
            return -np.inf, 0
        value = float(source.quote(x) - source.fixed_cost)
    if not _within(source, spent, limit):
        return -np.inf, 0
    return value, spent


def _within(source: LiquiditySource, spent: int, limit: int | None) -> bool:
    if spent < source.min_size:
        return False
    caps = [v for v in (source.max_input, limit) if v is not None]
    return not caps or spent <= min(caps)


def _merge(rows: list[tuple[np.ndarray, np.ndarray]], cap: int) -> tuple[np.ndarray, list]:
    """Best value per total index of a group's rows with Σ spend <= cap, and member indices."""
    values, spends = rows[0]
    choices: list[tuple[int, ...]] = [(k,) for k in range(len(values))]
    for v2, s2 in rows[1:]:
        size = len(values)
        total_v = values[:, None] + v2[None, :]
        total_s = spends[:, None] + s2[None, :]
        total_v = np.where(total_s <= cap, total_v, -np.inf)
        new_v = np.full(size, -np.inf)
        new_s = np.zeros(size)
        new_c: list[tuple[int, ...]] = [()] * size
        for k in range(size):
            k1 = np.arange(k + 1)
            cand = total_v[k1, k - k1]
            best = int(np.argmax(cand))
            if np.isfinite(cand[best]):
                new_v[k] = cand[best]
                new_s[k] = total_s[best, k - best]
                new_c[k] = (*choices[best], k - best)
        values, spends, choices = new_v, new_s, new_c
    return values, choices


def _solve_items(
    sources: Sequence[LiquiditySource],
    xs: list[list[int]],
    budget: int,
    exact_output: bool,
    inventories: dict[str, int],
) -> list[int] | None:
    """Indices per source on the grids ``xs`` (one per source, same length) summing to
    ``budget`` with the best total value, group caps respected."""
    rows = []
    for s, points in zip(sources, xs, strict=True):
        vs = [
            item_value(s, x, exact_output, inventories.get(s.inventory_group or "")) for x in points
        ]
        rows.append((np.array([v for v, _ in vs]), np.array([float(p) for _, p in vs])))
    items: list[tuple[np.ndarray, list[int], list | None]] = []
    grouped: dict[str, list[int]] = {}
    for i, s in enumerate(sources):
        if s.inventory_group in inventories:
            grouped.setdefault(s.inventory_group, []).append(i)  # type: ignore[arg-type]
        else:
            items.append((rows[i][0], [i], None))
    for name, members in grouped.items():
        values, choices = _merge([rows[i] for i in members], inventories[name])
        items.append((values, members, choices))
    ks = _dp([v for v, _, _ in items], budget)
    if not np.isfinite(sum(float(v[k]) for (v, _, _), k in zip(items, ks, strict=True))):
        return None
    out = [0] * len(sources)
    for (_, members, choices), k in zip(items, ks, strict=True):
        if choices is None:
            out[members[0]] = k
        else:
            for i, ki in zip(members, choices[k], strict=True):
                out[i] = ki
    return out


def general_net(
    sources: Sequence[LiquiditySource],
    x: Sequence[int],
    exact_output: bool,
    inventories: dict[str, int],
) -> float:
    """Net value of a split (exact output: minus the net input); -inf when not allowed."""
    total = 0.0
    used: dict[str, int] = {}
    for s, xi in zip(sources, x, strict=True):
        value, spent = item_value(s, xi, exact_output, None)
        total += value
        if s.inventory_group in inventories and xi:
            used[s.inventory_group] = used.get(s.inventory_group, 0) + spent  # type: ignore[index]
    if any(used[g] > inventories[g] for g in used):
        return -np.inf
    return total


def reference_general(
    sources: Sequence[LiquiditySource],
    amount: int,
    *,
    exact_output: bool = False,
    inventories: dict[str, int] | None = None,
    grid: int = 240,
    fine: int = 160,
) -> tuple[float, list[int]]:
    """Best net value (exact output: minus the least net input) and split of ``amount`` found by
    a coarse grid search and a finer one around it; inputs and outputs exact at every point."""
    inv = dict(inventories or {})
    coarse_step = amount // grid
    coarse = [[k * amount // grid for k in range(grid + 1)] for _ in sources]
    ks = _solve_items(sources, coarse, grid, exact_output, inv)
    if ks is None:
        return -np.inf, []
    x = [coarse[i][k] for i, k in enumerate(ks)]
    x[max(range(len(x)), key=lambda i: x[i])] += amount - sum(x)
    best_x, best = list(x), general_net(sources, x, exact_output, inv)
    step = max(1, 4 * coarse_step // fine)
    lows = [max(0, xi - 2 * coarse_step) if xi else 0 for xi in x]
    budget = (amount - sum(lows)) // step
    if 0 <= budget <= len(sources) * fine:
        fine_xs = [
            [lo + j * step for j in range(min(fine, budget) + 1)]
            if xi
            else [0] * (min(fine, budget) + 1)
            for xi, lo in zip(x, lows, strict=True)
        ]
        # an unused source stays at 0: only its index 0 is allowed
        for i, xi in enumerate(x):
            if not xi:
                fine_xs[i] = [0] + [-1] * min(fine, budget)
        ks = _solve_items(sources, fine_xs, budget, exact_output, inv)
        if ks is not None:
            refined = [fine_xs[i][k] for i, k in enumerate(ks)]
            rest = amount - sum(refined)
            for i in sorted(range(len(refined)), key=lambda i: -refined[i]):
                trial = list(refined)
                trial[i] += rest
                value = general_net(sources, trial, exact_output, inv)
                if value > best:
                    best, best_x = value, trial
                    break
    return best, best_x


def grouped_scenario(seed: int, n_sources: int) -> tuple[Scenario, dict[str, int]]:
    """:func:`scenario` where 2-3 sources (never the unlimited first one) spend one shared
    wallet balance, capped at 10-70 % of the order."""
    from dataclasses import replace

    sc = scenario(seed, n_sources)
    rng = random.Random(seed + 1)
    unlimited = [s for s in sc.sources if s.venue.startswith("v2-0")]
    others = [s for s in sc.sources if not s.venue.startswith("v2-0")]
    members = set(rng.sample(range(len(others)), min(len(others), rng.randint(2, 3))))
    grouped = [
        replace(s, inventory_group="wallet") if k in members else s for k, s in enumerate(others)
    ]
    sources = [*unlimited, *grouped]
    rng.shuffle(sources)
    cap = int(sc.amount_in * rng.uniform(0.1, 0.7))
    return Scenario(tuple(sources), sc.amount_in, seed), {"wallet": cap}
