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
