"""Payoff tables equal an independent sum of leg payoffs; the summary bounds every table."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

from _strategies_fixtures import DAY_NS, EXPIRY, SERIES, contract, independent_payoff
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.instruments import OptionKind
from oms_chain.strategies import (
    ExpiryValuation,
    Leg,
    Side,
    Structure,
    custom,
    iron_condor,
    payoff_summary,
    payoff_table,
    price_grid,
)

strikes = st.integers(min_value=1, max_value=400).map(lambda n: Decimal(n) * 25)
quantities = st.integers(min_value=1, max_value=50_000).map(lambda n: Decimal(n) / 1000)
prices = st.decimals(min_value=0, max_value=20_000, places=3, allow_nan=False)


@st.composite
def structures(draw: st.DrawFn) -> Structure:
    n = draw(st.integers(min_value=1, max_value=6))
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(list(OptionKind)), strikes),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    legs = [
        Leg(
            contract=contract(kind, k),
            side=draw(st.sampled_from(list(Side))),
            quantity=draw(quantities),
        )
        for kind, k in keys
    ]
    return custom(legs)


premiums = st.decimals(min_value=-5000, max_value=5000, places=2, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(structures(), st.lists(prices, min_size=1, max_size=30), premiums)
def test_payoff_table_equals_independent_sum_of_leg_payoffs(
    s: Structure, ps: list[Decimal], premium: Decimal
) -> None:
    rows = payoff_table(s, ps, net_premium=premium)
    assert [r.price for r in rows] == ps
    for r in rows:
        expected = independent_payoff(s.legs, r.price)
        assert r.payoff == expected
        assert r.pnl == expected - premium


@settings(max_examples=200, deadline=None)
@given(structures(), premiums)
def test_summary_bounds_the_table_and_breakevens_are_zeros(s: Structure, premium: Decimal) -> None:
    summary = payoff_summary(s, net_premium=premium)
    grid = [*price_grid(s, 41), Decimal(0), *s.strikes, s.strikes[-1] * 100]
    pnls = [r.pnl for r in payoff_table(s, grid, net_premium=premium)]
    if summary.max_profit is not None:
        assert max(pnls) <= summary.max_profit
        assert summary.max_profit in pnls  # attained at 0 or at a strike
    else:
        far = payoff_table(s, [s.strikes[-1] * 10**6], net_premium=premium)[0].pnl
        assert far > max(pnls[:-1])
    if summary.max_loss is not None:
        assert min(pnls) >= -summary.max_loss
        assert -summary.max_loss in pnls
    else:
        far = payoff_table(s, [s.strikes[-1] * 10**6], net_premium=premium)[0].pnl
        assert far < min(pnls[:-1])
    scale = sum(leg.quantity for leg in s.legs) * s.strikes[-1]
    for b in summary.breakevens:
        assert b >= 0
        (row,) = payoff_table(s, [b], net_premium=premium)
        assert abs(row.pnl) <= scale * Decimal("1e-20")
    assert list(summary.breakevens) == sorted(set(summary.breakevens))


@settings(max_examples=100, deadline=None)
@given(structures(), premiums, st.lists(prices, min_size=2, max_size=30, unique=True))
def test_pnl_changes_sign_only_across_a_breakeven(
    s: Structure, premium: Decimal, ps: list[Decimal]
) -> None:
    summary = payoff_summary(s, net_premium=premium)
    rows = payoff_table(s, sorted(ps), net_premium=premium)
    for a, b in itertools.pairwise(rows):
        if (a.pnl < 0 < b.pnl) or (b.pnl < 0 < a.pnl):
            assert any(a.price < x < b.price for x in summary.breakevens)


def test_price_grid_is_round_and_holds_the_strikes() -> None:
    ic = iron_condor(SERIES, EXPIRY, (1800, 1900, 2100, 2200), 1)
    grid = price_grid(ic, 21)
    assert grid[0] == Decimal(800) and str(grid[0]) == "800"
    assert set(ic.strikes) <= set(grid)
    assert grid == tuple(sorted(grid))


def _bsm(is_call: bool, s: float, k: float, t: float, r: float, vol: float) -> float:
    """Black-Scholes (no carry) written out with math.erf, independent of risk.pricing."""
    if s <= 0:
        return 0.0 if is_call else k * math.exp(-r * t)
    sd = vol * math.sqrt(t)
    d1 = (math.log(s / k) + (r + vol * vol / 2) * t) / sd
    d2 = d1 - sd

    def n(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    call = s * n(d1) - k * math.exp(-r * t) * n(d2)
    return call if is_call else call - s + k * math.exp(-r * t)


@st.composite
def two_expiry_structures(draw: st.DrawFn) -> Structure:
    near = EXPIRY
    far = EXPIRY + draw(st.integers(min_value=1, max_value=365)) * DAY_NS
    n = draw(st.integers(min_value=2, max_value=5))
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(list(OptionKind)), strikes, st.sampled_from([near, far])),
            min_size=n,
            max_size=n,
            unique=True,
        ).filter(lambda ks: {e for _, _, e in ks} == {near, far})
    )
    legs = [
        Leg(
            contract=contract(kind, k, e),
            side=draw(st.sampled_from(list(Side))),
            quantity=draw(quantities),
        )
        for kind, k, e in keys
    ]
    return custom(legs)


@settings(max_examples=100, deadline=None)
@given(
    two_expiry_structures(),
    st.lists(prices, min_size=1, max_size=20),
    st.decimals(min_value="0.05", max_value="2", places=2),
    st.decimals(min_value="0", max_value="0.1", places=3),
)
def test_multi_expiry_table_equals_intrinsic_plus_independent_bsm(
    s: Structure, ps: list[Decimal], vol: Decimal, rate: Decimal
) -> None:
    val = ExpiryValuation(vol=vol, rate=rate)
    first = s.expiries[0]
    rows = payoff_table(s, ps, valuation=val)
    for row in rows:
        p = float(row.price)
        expected = 0.0
        for leg in s.legs:
            c = leg.contract
            is_call = c.option_kind is OptionKind.CALL
            k = float(c.strike)
            if c.expiry_ns == first:
                v = max(p - k, 0.0) if is_call else max(k - p, 0.0)
            else:
                t = (c.expiry_ns - first) / (365 * DAY_NS)
                v = _bsm(is_call, p, k, t, float(rate), float(vol))
            expected += float(leg.signed_quantity) * v
        scale = sum(float(leg.quantity) for leg in s.legs) * max(p, float(s.strikes[-1]))
        assert abs(float(row.payoff) - expected) <= 1e-9 * scale + 1e-8
