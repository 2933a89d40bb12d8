"""The optimizer's upper bounds hold: the concave envelope of a subset (``_Model.upper``) and the
bound a polish gives up with are never below the subset's exact best split, found here by brute
force over every integer split of a small amount."""

from __future__ import annotations

from decimal import Decimal
from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.intent import Side
from oms_chain.routing import LiquiditySource
from oms_chain.routing._problem import Exact, Problem, conflicts_of
from oms_chain.routing.optimizer import _Model
from oms_chain.venues.base import LiquidityLevel

AMOUNT = 1_500


def model_of(sources: list[LiquiditySource], amount: int) -> _Model:
    return _Model(
        Problem(
            sources=sources,
            amount=amount,
            values=[Exact(s.output) for s in sources],
            lo=[s.min_size for s in sources],
            cap=[amount] * len(sources),
            fixed=[s.fixed_cost for s in sources],
            group=[-1] * len(sources),
            group_cap=[],
            conflicts=conflicts_of(sources),
        )
    )


def brute_force(model: _Model, pair: tuple[int, int]) -> int:
    """The best exact net value of the two sources, both used, over every integer split."""
    i, j = pair
    f, lo, amount = model.exact, model.lo_int, model.amount
    best = None
    for xi in range(max(lo[i], 1), amount - max(lo[j], 1) + 1):
        net = f[i](xi) + f[j](amount - xi) - model.p.fixed[i] - model.p.fixed[j]
        best = net if best is None else max(best, net)
    assert best is not None
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
    problem = model.p
    mirrored = _Model(
        Problem(
            sources=problem.sources,
            amount=1,
            values=problem.values,
            lo=problem.lo,
            cap=problem.cap,
            fixed=problem.fixed,
            group=problem.group,
            group_cap=problem.group_cap,
            exact_output=True,
        )
    )
    assert (
        model.upper(np.array([[True]]))[0] <= mirrored.upper(np.array([[True]]))[0] == float("inf")
    )
