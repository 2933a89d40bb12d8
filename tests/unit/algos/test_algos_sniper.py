"""Sniper: fires only at or better than its all-in limit, the moment liquidity is there."""

from __future__ import annotations

from decimal import Decimal

from algo_fakes import START, PureSim, curve, make_intent
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.algos import MarketSnapshot, SniperScheduler
from oms_chain.algos.sniper import takeable
from oms_chain.model import ManualClock
from oms_chain.model.intent import Side

_BPS = Decimal(10_000)


def test_takeable_takes_only_levels_at_or_better_than_the_limit_all_in() -> None:
    c = curve("paper", [("1990", "2"), ("1995", "3"), ("2001", "5")], fee_bps="10")
    # 1990 * 1.001 = 1991.99, 1995 * 1.001 = 1996.995, 2001 * 1.001 > 2000
    t = takeable(c, Side.BUY, Decimal(2000), Decimal(100), 8)
    assert t is not None and t.quantity == 5 and t.price == Decimal(1995)
    assert t.all_in == (Decimal(1990) * 2 + Decimal(1995) * 3) * Decimal("1.001") / 5
    assert takeable(c, Side.BUY, Decimal(1990), Decimal(100), 8) is None


def test_takeable_counts_the_fixed_cost() -> None:
    c = curve("amm", [("1990", "1")], fixed="20")  # 1990 + 20 gas for one unit: 2010 all-in
    assert takeable(c, Side.BUY, Decimal(2000), Decimal(1), 8) is None
    c2 = curve("amm", [("1990", "4")], fixed="20")  # 1990 + 5 per unit
    t = takeable(c2, Side.BUY, Decimal(2000), Decimal(4), 8)
    assert t is not None and t.all_in == Decimal(1995)


def test_sniper_waits_then_fires_across_venues_best_first() -> None:
    clock = ManualClock(START)
    intent = make_intent("sniper", {}, limit_price="2000", quantity="6")
    sim = PureSim(intent, SniperScheduler(intent), clock)
    above = MarketSnapshot(curves=(curve("paper", [("2001", "10")]),))
    d = sim.step(above)
    assert not d.spawn and d.wake_at_ns == START + 10**9
    market = MarketSnapshot(
        curves=(
            curve("paper", [("1999", "4"), ("2003", "9")]),
            curve("other", [("1998", "3")]),
        )
    )
    d = sim.step(market)
    assert [(s.venue, s.quantity, s.limit_price) for s in d.spawn] == [
        ("other", Decimal(3), Decimal(1998)),
        ("paper", Decimal(3), Decimal(1999)),
    ]
    assert [s.seq for s in d.spawn] == [0, 1]
    assert sim.filled == 6


def _path_curves(mid: Decimal, spread: Decimal, side: Side, fee: str, fixed: str) -> tuple:
    sign = 1 if side is Side.BUY else -1
    return (
        curve(
            "paper",
            [(str(mid + sign * spread * k), "1.5") for k in range(1, 4)],
            side=side,
            fee_bps=fee,
        ),
        curve(
            "other",
            [(str(mid + sign * spread * k / 2), "0.7") for k in range(1, 4)],
            side=side,
            fee_bps="0",
            fixed=fixed,
        ),
    )


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from([Side.BUY, Side.SELL]),
    limit=st.decimals("1900", "2100", places=2),
    fee=st.sampled_from(["0", "5", "30"]),
    fixed=st.sampled_from(["0", "3", "50"]),
    path=st.lists(
        st.tuples(st.decimals("1850", "2150", places=2), st.decimals("0.01", "5", places=2)),
        min_size=1,
        max_size=30,
    ),
    fill=st.decimals("0", "1", places=1),
)
def test_sniper_fires_only_at_or_better_than_its_limit(
    side: Side,
    limit: Decimal,
    fee: str,
    fixed: str,
    path: list[tuple[Decimal, Decimal]],
    fill: Decimal,
) -> None:
    clock = ManualClock(START)
    intent = make_intent("sniper", {}, limit_price=str(limit), quantity="5", side=side.value)
    sim = PureSim(intent, SniperScheduler(intent), clock)
    better = (lambda a, b: a <= b) if side is Side.BUY else (lambda a, b: a >= b)
    for mid, spread in path:
        clock.advance(10**9)
        curves = _path_curves(mid, spread, side, fee, fixed)
        market = MarketSnapshot(curves=curves)
        had_open = bool(sim.view().open_children)
        d = sim.step(market, fill=fill)
        by_venue = {c.venue: c for c in curves}
        for s in d.spawn:
            c = by_venue[s.venue]
            f = c.taker_fee_bps / _BPS
            assert s.limit_price is not None
            marginal = s.limit_price * (1 + f) if side is Side.BUY else s.limit_price * (1 - f)
            assert better(marginal, limit)
            # the whole child, fee and fixed cost included, at or better than the limit
            left, cost = s.quantity, Decimal(0)
            for lv in c.levels:
                take = min(lv.quantity, left)
                cost += take * lv.price
                left -= take
            assert left == 0  # no more than the venue showed
            gross = (
                cost * (1 + f) + c.fixed_cost if side is Side.BUY else cost * (1 - f) - c.fixed_cost
            )
            assert better(gross / s.quantity, limit)
        if not had_open and not d.spawn and sim.view().room > 0:
            # nothing fired: no venue had a child's worth at or better than the limit
            for c in curves:
                assert takeable(c, side, limit, sim.view().room, 8) is None
        assert sim.committed <= 5


def test_sniper_does_not_take_again_what_a_stale_book_still_shows_after_its_own_fill() -> None:
    clock = ManualClock(START)
    intent = make_intent("sniper", {}, limit_price="2000", quantity="6")
    sim = PureSim(intent, SniperScheduler(intent), clock)
    book = MarketSnapshot(curves=(curve("paper", [("1999", "2"), ("2003", "9")]),))
    (first,) = sim.step(book).spawn
    assert (first.quantity, first.limit_price) == (Decimal(2), Decimal(1999))
    # one poll later the book has not applied the fill yet: the same 2 at 1999 are ours
    clock.advance(10**9)
    assert sim.step(book).spawn == ()
    clock.advance(10**9)
    assert sim.step(book).spawn == ()
    # the venue updates the level (1 left there after our take and a new maker): trusted
    moved = MarketSnapshot(curves=(curve("paper", [("1999", "1"), ("2003", "9")]),))
    clock.advance(10**9)
    (second,) = sim.step(moved).spawn
    assert (second.quantity, second.limit_price) == (Decimal(1), Decimal(1999))


def test_sniper_trusts_a_level_once_the_venue_moved_it_even_if_it_later_returns() -> None:
    clock = ManualClock(START)
    intent = make_intent("sniper", {}, limit_price="2000", quantity="10")
    sim = PureSim(intent, SniperScheduler(intent), clock)
    book = MarketSnapshot(curves=(curve("paper", [("1998", "1"), ("1999", "2")]),))
    (first,) = sim.step(book).spawn  # took 1 @ 1998 and 2 @ 1999
    assert first.quantity == 3
    clock.advance(10**9)
    gone = MarketSnapshot(curves=(curve("paper", [("1999", "2")]),))  # 1998 applied; 1999 not
    assert sim.step(gone).spawn == ()
    clock.advance(10**9)
    # a maker re-posts exactly 1 at 1998: the level moved before, so this 1 is real
    back = MarketSnapshot(curves=(curve("paper", [("1998", "1"), ("1999", "5")]),))
    (second,) = sim.step(back).spawn
    assert (second.quantity, second.limit_price) == (Decimal(6), Decimal(1999))
