"""What the leg coordinator reads back from a structure's stream: a leg's fills summed over its
attempts (the same attempt recorded twice counts once), the hedge held, orders started but not
recorded, and the exposure replayed from the recorded times — also across a restart whose
clock is behind."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms_chain.engine import InMemoryEventLog
from oms_chain.engine.eventlog import append_event
from oms_chain.model.events import (
    Event,
    StructureCompleted,
    StructureHedged,
    StructureLegFilled,
    StructureLegMissed,
    StructureLegsReversed,
    StructureSendStarted,
    StructureSubmitted,
)
from oms_chain.model.ids import EventId
from oms_chain.model.intent import Side
from oms_chain.service import _leg_state as st
from oms_chain.service.structures import read_structure, structure_stream

D = Decimal
S = 10**9
SIDES = [Side.BUY, Side.BUY]
DELTAS = [D(1500), D(-100)]
QTY = [D(2), D(30)]


def _env(ts: int) -> dict[str, Any]:
    return {"event_id": EventId(""), "ts_event": ts, "ts_init": ts}


def _record(events: list[Event]) -> Any:
    log = InMemoryEventLog()
    version = 0
    submitted = StructureSubmitted(
        **_env(0), structure_id="x", kind="straddle", account="a", policy="hedge-residual",
        legs=({}, {}), limits={},
    )  # fmt: skip
    for e in [submitted, *events]:
        version = append_event(log, structure_stream("x"), version, e)
    rec = read_structure(log, "x")
    assert rec is not None
    return rec


def _fill(ts: int, leg: int, qty: str, ref: str, price: str = "10") -> StructureLegFilled:
    return StructureLegFilled(
        **_env(ts), structure_id="x", leg=leg, quantity=D(qty), price=D(price), reference=ref
    )


def _hedged(ts: int, side: str, qty: str, ref: str) -> StructureHedged:
    return StructureHedged(
        **_env(ts), structure_id="x", venue="v", instrument_id="h", side=side,
        quantity=D(qty), delta_before_usd=D(0), delta_after_usd=D(0), reference=ref,
    )  # fmt: skip


def _started(ts: int, legs: tuple[int, ...], ref: str, side: str = "buy") -> StructureSendStarted:
    return StructureSendStarted(
        **_env(ts), structure_id="x", legs=legs, venue="v", reference=ref, side=side,
        quantity=D(1),
    )  # fmt: skip


def test_a_leg_holds_the_sum_of_its_attempts_and_one_attempt_recorded_twice_counts_once() -> None:
    rec = _record(
        [
            _fill(1 * S, 1, "25", "p", "10"),
            _fill(2 * S, 1, "5", "p-r2", "16"),
            _fill(3 * S, 1, "5", "p-r2", "16"),  # the same attempt again, after a restart
        ]
    )
    assert st.held(rec, 1) == D(30)
    assert rec.filled[1] == (D(30), D(11))  # (25 x 10 + 5 x 16) / 30
    assert st.held(rec, 0) == D(0)


def test_the_hedge_held_and_hedges_started_but_never_recorded() -> None:
    rec = _record(
        [
            _started(1 * S, (), "h-h1", "sell"),
            _hedged(2 * S, "sell", "3", "h-h1"),
            _started(3 * S, (), "h-h2", "buy"),
            _started(4 * S, (1,), "p-r1"),
        ]
    )
    assert st.hedge_held(rec) == D(-3)
    assert [e.reference for e in st.unrecorded_hedges(rec)] == ["h-h2"]
    assert st.attempts(rec, 1, "p-u") == ["p-r1"]
    assert st.started(rec, "p-r1") is not None and st.started(rec, "p-r9") is None


def test_the_exposure_is_replayed_from_the_recorded_times_hedge_included() -> None:
    rec = _record(
        [
            _fill(10 * S, 0, "2", "c"),  # +3,000 USD alone
            _fill(14 * S, 1, "25", "p"),  # 3,000 - 2,500 = 500
            StructureLegMissed(**_env(14 * S), structure_id="x", leg=1, reference="p", reason="r"),
            _hedged(16 * S, "sell", "2", "h-h1"),  # hedged with 2 x 250: 0
            _fill(20 * S, 1, "5", "p-r1"),  # complete: not partial any more
        ]
    )
    m = st.replayed_exposure(rec, SIDES, DELTAS, QTY, D(250), 21 * S)
    assert m.exposure_usd_s == D(3000) * 4 + D(500) * 2
    assert m.max_delta_usd == D(3000)
    assert m.legged_ns == 10 * S


def test_a_restart_on_a_clock_behind_the_recorded_times_neither_fails_nor_counts_back() -> None:
    rec = _record(
        [
            _fill(10 * S, 0, "2", "c"),
            _fill(8 * S, 1, "30", "p"),  # recorded by a restarted process whose clock is behind
        ]
    )
    m = st.replayed_exposure(rec, SIDES, DELTAS, QTY, D(0), 5 * S)
    assert m.exposure_usd_s == 0 and m.legged_ns == 0 and m.max_delta_usd == D(3000)


def test_an_unwound_leg_holds_nothing_and_ends_the_exposure() -> None:
    rec = _record(
        [
            _fill(10 * S, 0, "2", "c"),
            StructureLegsReversed(**_env(13 * S), structure_id="x", legs=(0,), reason="missed"),
            StructureCompleted(**_env(13 * S), structure_id="x", outcome="unwound"),
        ]
    )
    assert st.held(rec, 0) == D(0) and rec.filled == {}
    m = st.replayed_exposure(rec, SIDES, DELTAS, QTY, D(0), 30 * S)
    assert (m.exposure_usd_s, m.legged_ns) == (D(9000), 3 * S)
