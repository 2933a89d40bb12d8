"""The optimizer's upper bounds hold: the concave envelope of a subset (``_Model.upper``) and the
bound a polish gives up with are never below the subset's exact best split, found here by brute
force over every integer split of a small amount."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import model_of

from oms_chain.model.intent import Side
from oms_chain.routing import LiquiditySource
from oms_chain.routing._subsets import upper_table
from oms_chain.routing.optimizer import _Model
from oms_chain.venues.base import LiquidityLevel

AMOUNT = 1_500


def brute_force(model: _Model, pair: tuple[int, int]) -> int | None:
    """The best exact net value of the two sources, both used within their minimum sizes and
    capacities, over every integer split (``None``: no such split)."""
    i, j = pair
    f, lo, cap, amount = model.exact, model.lo_int, model.cap_int, model.amount
    best = None
    for xi in range(max(lo[i], 1), min(cap[i], amount) + 1):
        xj = amount - xi
        if not max(lo[j], 1) <= xj <= cap[j]:
            continue
        net = f[i](xi) + f[j](xj) - model.p.fixed[i] - model.p.fixed[j]
        best = net if best is None else max(best, net)
    return best


sources_st = st.lists(
    st.one_of(
        st.builds(
            lambda r_in, price, fee, fixed, name: LiquiditySource.from_v2_reserves(
                name, r_in, r_in * price, fee_bps=fee, fixed_cost=fixed
            ),
            st.integers(500, 200_000),
            st.integers(1, 1_000),
            st.sampled_from([5, 30, 100]),
            st.integers(0, 50_000),
            st.uuids().map(str),
        ),
        st.builds(
            lambda prices, name: LiquiditySource.from_book(
                name,
                [LiquidityLevel(price=Decimal(p), quantity=Decimal(q)) for p, q in sorted(prices)],
                side=Side.BUY,
                taker_fee_bps=Decimal(5),
                base_decimals=3,
                quote_decimals=0,
            ),
            st.lists(
                st.tuples(st.integers(1, 50), st.integers(1, 2_000).map(lambda q: q / 1_000)),
                min_size=1,
                max_size=6,
                unique_by=lambda t: t[0],
            ),
            st.uuids().map(str),
        ),
    ),
    min_size=2,
    max_size=4,
    unique_by=lambda s: s.venue,
)


@settings(max_examples=25, deadline=None)
@given(sources=sources_st)
def test_the_envelope_and_the_polish_bound_hold_against_brute_force(
    sources: list[LiquiditySource],
) -> None:
    model = model_of(sources, AMOUNT)
    for pair in combinations(range(len(sources)), 2):
        exact_best = brute_force(model, pair)
        if exact_best is None:  # (a book too thin for one unit of input has no capacity)
            continue
        mask = np.zeros(len(sources), dtype=bool)
        mask[list(pair)] = True
        assert model.upper(mask[None, :])[0] >= exact_best - 1e-6 * abs(exact_best) - 10
        start = model.split(list(pair))
        if start is None or not all(start[k] for k in pair):
            continue
        # a target no split reaches: the polish gives up at its first step with a bound
        x, bound = model.polish(start, list(pair), 1_000, target=float("inf"))
        assert sum(x) == AMOUNT
        if bound is not None:
            assert bound >= exact_best - 2
        # no target: it polishes to the end and says so
        x, bound = model.polish(start, list(pair), 10**6)
        assert bound is None
        assert model.net(x) <= exact_best


def test_a_single_segment_has_no_upper_bound_in_exact_output_mode() -> None:
    source = LiquiditySource.from_v2_reserves("v2", 10**6, 10**6, fee_bps=30)
    model = model_of([source], 1)  # one unit: the curve is one segment
    assert len(model._segments[0]) == 1
    assert np.isfinite(model.upper(np.array([[True]]))[0])  # exact input: bounded by its last value
    mirrored = _Model(replace(model.p, exact_output=True))
    assert (
        model.upper(np.array([[True]]))[0] <= mirrored.upper(np.array([[True]]))[0] == float("inf")
    )


def envelope_reference(model: _Model, i: int, lam: np.ndarray) -> np.ndarray:
    """``upper_table``'s row ``i`` the long way: the envelope ``u`` (the lower of the
    neighbouring chords' lines on each segment) evaluated at every sample point and every
    crossing, the most ``u(x) − λ·x`` over them, plus the source's base."""
    segments = model._segments[i]
    xs, ys = [0.0], [0.0]
    for length, gain in segments:
        xs.append(xs[-1] + length)
        ys.append(ys[-1] + gain)
    m = len(segments)
    slope = [g / n for n, g in segments]

    def line(k: int, x: float) -> float:  # chord k's line (segment k joins points k, k+1)
        return ys[k] + slope[k] * (x - xs[k])

    points: list[tuple[float, float]] = []
    if m == 0:
        points = [(0.0, 0.0)]
    elif m == 1:
        points = [(0.0, ys[1]), (xs[1], ys[1])]
    else:
        for k in range(m):
            lines = [j for j in (k - 1, k + 1) if 0 <= j < m]
            candidates = [xs[k], xs[k + 1]]
            if len(lines) == 2:
                a, b = lines
                candidates.append(
                    (ys[b] - ys[a] + slope[a] * xs[a] - slope[b] * xs[b]) / (slope[a] - slope[b])
                )
            for x in candidates:
                points.append((x, min(line(j, x) for j in lines)))
    best = np.max([y - x * lam for x, y in points], axis=0)
    return best + model.base[i] - model.lo[i] * lam


def test_the_envelope_table_matches_its_definition_source_by_source() -> None:
    sources = [
        LiquiditySource.from_v2_reserves("deep", 10**8, 10**8, fee_bps=30, fixed_cost=7),
        LiquiditySource.from_v2_reserves("tiny", 10**12, 10**12, fee_bps=30, inventory=1),
        LiquiditySource.from_v2_reserves("pinned", 10**12, 10**12, min_size=3, inventory=3),
        LiquiditySource.from_v2_reserves("shallow", 10**7, 10**7, fee_bps=5),
    ]
    model = model_of(sources, 10**6)
    assert [len(s) for s in model._segments][1:3] == [1, 0]
    assert len(model._segments[0]) > 2 and len(model._segments[3]) > 2
    lam, _ = model.dual()
    table = upper_table(model, lam, monotone=True)
    for i in range(len(sources)):
        want = envelope_reference(model, i, lam)
        assert np.allclose(table[i], want, rtol=1e-9, atol=1e-3), sources[i].venue
