"""The settling round search over a fake Chainlink round table (phase << 64 | n ids)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.venues.options.feed_rounds import first_round_at_or_after

P = 1 << 64


class _Table:
    """Rounds of one proxy: {round id: updatedAt}; round 0 of a phase reverts like a proxy."""

    def __init__(self, rows: dict[int, int]) -> None:
        self.rows = rows
        self.asked: list[int] = []

    async def updated_at(self, round_id: int) -> int:
        self.asked.append(round_id)
        if round_id not in self.rows:
            raise AssertionError(f"round {round_id} does not exist: the proxy reverts")
        return self.rows[round_id]


def _run(latest: int, expiry: int, table: _Table) -> int:
    return asyncio.run(first_round_at_or_after(latest, expiry, table.updated_at))


def test_stops_at_the_first_round_of_the_phase_instead_of_querying_round_zero() -> None:
    # phase 3 starts after expiry: every round of it is after expiry; its round 1 settles
    table = _Table({3 * P + n: 1_000 + n for n in range(1, 6)})
    assert _run(3 * P + 5, 900, table) == 3 * P + 1
    assert all(r & (P - 1) >= 1 and r >> 64 == 3 for r in table.asked)


def test_finds_the_first_round_at_or_after_expiry_inside_a_phase() -> None:
    table = _Table({2 * P + n: 100 * n for n in range(1, 1001)})  # round n updated at 100 n
    assert _run(2 * P + 1000, 45_000, table) == 2 * P + 450  # exactly at expiry counts
    assert _run(2 * P + 1000, 45_001, table) == 2 * P + 451
    assert len(table.asked) <= 2 * 10  # bisection: about log2(1000) reads per search, not 550


def test_the_latest_round_alone() -> None:
    table = _Table({P + 1: 50})
    assert _run(P + 1, 50, table) == P + 1
    assert table.asked == []


@pytest.mark.parametrize("bad", [0, -1, 1 << 80, 5 * P])
def test_refuses_what_is_not_a_round_id(bad: int) -> None:
    with pytest.raises(ValueError, match="not a feed round id"):
        _run(bad, 0, _Table({}))


@given(
    phase=st.integers(1, 2**16 - 1),
    gaps=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    cut=st.integers(0, 400),
)
def test_matches_a_linear_walk(phase: int, gaps: list[int], cut: int) -> None:
    times, t = [], 0
    for g in gaps:
        t += g
        times.append(t)
    if times[-1] < cut:
        cut = times[-1]
    rows = {phase * P + i + 1: u for i, u in enumerate(times)}
    want = min(r for r, u in rows.items() if u >= cut)
    assert _run(phase * P + len(times), cut, _Table(rows)) == want
