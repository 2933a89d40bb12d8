"""Leg order by liquidity risk and the exposure meter of a partial structure."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model.errors import InvalidInput
from oms_chain.strategies.legrisk import ExposureMeter, order_by_liquidity_risk

D = Decimal
S = 10**9


def test_the_riskiest_leg_goes_first_and_ties_keep_their_order() -> None:
    assert order_by_liquidity_risk([D(0), D(3), D(1), D(3)]) == (1, 3, 2, 0)
    with pytest.raises(InvalidInput, match="risks"):
        order_by_liquidity_risk([])
    with pytest.raises(InvalidInput, match=r"risks\[1\]"):
        order_by_liquidity_risk([D(1), D(-1)])


def test_exposure_counts_only_the_partial_time() -> None:
    m = ExposureMeter()
    m.observe(0, D(0), partial=False)
    m.observe(10 * S, D(1500), partial=True)  # leg 0 filled
    m.observe(13 * S, D(-200), partial=True)  # leg 1 half filled
    m.observe(14 * S, D(40), partial=False)  # complete: its delta is intended
    m.observe(100 * S, D(40), partial=False)
    assert m.exposure_usd_s == D(1500) * 3 + D(200) * 1
    assert m.max_delta_usd == D(1500) and m.legged_ns == 4 * S
    with pytest.raises(InvalidInput, match="before the last"):
        m.observe(50 * S, D(0), partial=False)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(-(10**6), 10**6)), max_size=20))
def test_exposure_is_the_sum_of_abs_delta_times_duration(steps: list[tuple[int, int]]) -> None:
    m = ExposureMeter()
    t, expect = 0, D(0)
    prev: int | None = None
    for dt, delta in steps:
        t += dt
        if prev is not None:
            expect += abs(D(prev)) * D(dt) / D(S)
        m.observe(t, D(delta), partial=True)
        prev = delta
    assert m.exposure_usd_s == expect
