"""DepthBook: Binance's diff-depth synchronization, exact levels, gaps, stale events, bad input."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model import InvalidInput
from oms_chain.venues.cex import DepthBook, DiffResult

D = Decimal
SYMBOL = "ETHUSDC"


def diff(
    first: int, last: int, bids: Sequence[Any] = (), asks: Sequence[Any] = ()
) -> dict[str, Any]:
    return {
        "e": "depthUpdate",
        "E": 1_700_000_000_000,
        "s": SYMBOL,
        "U": first,
        "u": last,
        "b": [list(level) for level in bids],
        "a": [list(level) for level in asks],
    }


def synced_book(last_update_id: int = 100) -> DepthBook:
    book = DepthBook(SYMBOL)
    assert book.apply_snapshot(
        last_update_id,
        [["3000.00000000", "1.00000000"], ["2999.50000000", "2.00000000"]],
        [["3000.50000000", "0.50000000"], ["3001.00000000", "3.00000000"]],
    )
    return book


def test_snapshot_then_diffs_apply_exactly_with_updates_and_deletes() -> None:
    book = synced_book(100)
    assert book.synced and book.last_update_id == 100
    result = book.on_event(
        diff(
            101,
            103,
            bids=[("3000.00000000", "0.00000000"), ("3000.25", "0.1"), ("2999.50000000", "2.5")],
            asks=[("3000.50000000", "0.00000001"), ("3002.00000000", "7")],
        )
    )
    assert result is DiffResult.APPLIED and book.last_update_id == 103
    assert book.bids() == [(D("3000.25"), D("0.1")), (D("2999.5"), D("2.5"))]
    assert book.asks() == [
        (D("3000.5"), D("0.00000001")),
        (D("3001"), D("3")),
        (D("3002"), D("7")),
    ]
    assert book.best_bid() == (D("3000.25"), D("0.1"))
    assert book.best_ask() == (D("3000.5"), D("0.00000001"))
    assert book.bids(1) == [(D("3000.25"), D("0.1"))] and book.asks(0) == []


def test_removing_a_level_the_book_does_not_hold_is_normal() -> None:
    book = synced_book(100)
    assert book.on_event(diff(101, 101, bids=[("1.00000000", "0")])) is DiffResult.APPLIED
    assert len(book.bids()) == 2


def test_the_same_price_written_differently_is_one_level() -> None:
    book = synced_book(100)
    book.on_event(diff(101, 101, bids=[("3000", "4"), ("3000.0000000000", "5")]))
    assert book.bids()[0] == (D("3000"), D("5")) and len(book.bids()) == 2


def test_a_price_finer_than_eight_decimals_rescales_the_book_exactly() -> None:
    book = synced_book(100)
    book.on_event(diff(101, 101, asks=[("3000.4000000001", "1")]))
    assert book.best_ask() == (D("3000.4000000001"), D("1"))
    assert book.asks()[1:] == [(D("3000.5"), D("0.5")), (D("3001"), D("3"))]
    assert book.best_bid() == (D("3000"), D("1"))


def test_buffered_events_before_the_snapshot_are_dropped_or_bridged() -> None:
    book = DepthBook(SYMBOL)
    assert book.on_event(diff(90, 95, bids=[("1", "1")])) is DiffResult.BUFFERED
    assert book.on_event(diff(96, 102, bids=[("2", "1")])) is DiffResult.BUFFERED
    assert book.on_event(diff(103, 104, bids=[("3", "1")])) is DiffResult.BUFFERED
    assert not book.synced and book.last_update_id is None and book.bids() == []
    assert book.apply_snapshot(100, [["1.5", "9"]], [["10", "1"]])
    # 90..95 is in the snapshot (dropped); 96..102 brackets 101; 103..104 continues
    assert book.last_update_id == 104 and book.buffered == 0
    assert [p for p, _ in book.bids()] == [D(3), D(2), D("1.5")]


def test_a_snapshot_older_than_the_buffered_stream_asks_for_another() -> None:
    book = DepthBook(SYMBOL)
    book.on_event(diff(110, 112, bids=[("1", "1")]))
    assert book.apply_snapshot(100, [["1", "2"]], []) is False
    assert not book.synced and book.buffered == 1
    assert book.apply_snapshot(111, [["1", "2"]], [])
    assert book.last_update_id == 112 and book.bids() == [(D(1), D(1))]


def test_after_the_snapshot_the_first_event_must_bracket_the_snapshot_id() -> None:
    book = synced_book(100)
    assert book.on_event(diff(95, 100)) is DiffResult.STALE
    assert book.on_event(diff(98, 105, asks=[("3000.5", "0")])) is DiffResult.APPLIED
    assert book.best_ask() == (D("3001"), D("3"))
    # only the first event may overlap: from now on U == previous u + 1
    assert book.on_event(diff(104, 107)) is DiffResult.GAP


def test_a_gap_desyncs_the_book_and_keeps_the_event_for_the_next_snapshot() -> None:
    book = synced_book(100)
    assert book.on_event(diff(101, 102, bids=[("2999", "1")])) is DiffResult.APPLIED
    assert book.on_event(diff(104, 105, bids=[("2998", "1")])) is DiffResult.GAP
    assert not book.synced and book.last_update_id is None
    assert book.bids() == [] and book.best_bid() is None and book.best_ask() is None
    assert book.buffered == 1
    assert book.on_event(diff(106, 106, bids=[("2997", "1")])) is DiffResult.BUFFERED
    assert book.apply_snapshot(104, [["2996", "1"]], [["3005", "1"]])
    assert book.last_update_id == 106
    assert [p for p, _ in book.bids()] == [D(2998), D(2997), D(2996)]


def test_stale_and_duplicate_events_are_dropped_without_changing_the_book() -> None:
    book = synced_book(100)
    book.on_event(diff(101, 110, bids=[("2999", "1")]))
    before = (book.bids(), book.asks())
    for stale in (diff(101, 110, bids=[("2999", "5")]), diff(105, 108), diff(1, 1)):
        assert book.on_event(stale) is DiffResult.STALE
    assert (book.bids(), book.asks()) == before and book.last_update_id == 110


def test_a_gap_inside_the_buffer_fails_the_snapshot_and_keeps_the_rest() -> None:
    book = DepthBook(SYMBOL)
    for event in (diff(99, 101), diff(103, 104), diff(105, 105)):
        book.on_event(event)
    assert book.apply_snapshot(100, [], []) is False
    assert book.buffered == 2
    assert book.apply_snapshot(103, [], [])
    assert book.last_update_id == 105


def test_reset_forgets_levels_and_buffer() -> None:
    book = synced_book(100)
    book.on_event(diff(200, 201))
    book.reset()
    assert not book.synced and book.buffered == 0 and book.asks() == []


def test_frames_are_decoded_from_text_or_bytes() -> None:
    book = synced_book(100)
    frame = json.dumps(diff(101, 101, bids=[("2999.9", "0.3")]))
    assert book.on_frame(frame) is DiffResult.APPLIED
    assert book.on_frame(json.dumps(diff(102, 102)).encode()) is DiffResult.APPLIED
    assert book.bids()[1] == (D("2999.9"), D("0.3"))


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame", ["", "not json", "{", b"\xff\xfe", "[1, 2", "{'single': 'quotes'}"]
)
def test_a_frame_that_is_not_json_is_refused_clearly(frame: str | bytes) -> None:
    with pytest.raises(InvalidInput, match="not JSON"):
        synced_book().on_frame(frame)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"U": 105, "u": 101}, "U <= u"),
        ({"U": "101"}, "integers"),
        ({"u": 101.0}, "integers"),
        ({"U": True}, "integers"),
        ({"U": None}, "integers"),
        ({"U": -1}, "integers"),
        ({"e": "trade"}, "expected a depthUpdate"),
        ({"s": "BTCUSDC"}, "expected a depthUpdate of ETHUSDC"),
    ],
)
def test_bad_ids_type_or_symbol_are_refused_and_the_book_stays_in_sync(
    change: dict[str, Any], match: str
) -> None:
    book = synced_book(100)
    with pytest.raises(InvalidInput, match=match):
        book.on_event({**diff(101, 101, bids=[("1", "1")]), **change})
    assert book.synced and book.last_update_id == 100 and len(book.bids()) == 2


@pytest.mark.parametrize("missing", ["e", "s", "U", "u"])
def test_an_event_missing_a_key_is_refused(missing: str) -> None:
    event = diff(101, 101)
    del event[missing]
    with pytest.raises(InvalidInput, match="lacks"):
        synced_book().on_event(event)


@pytest.mark.parametrize("message", [None, [], [1, 2], "depthUpdate", 5])
def test_an_event_that_is_not_an_object_is_refused(message: Any) -> None:
    with pytest.raises(InvalidInput):
        synced_book().on_event(message)


BAD_PRICES = ["nan", "-1", "1e5", "", " 1", "1_0", "\u0663", "1.", ".5", "0", "0.000", "1.2.3"]
BAD_PRICES_TYPED: list[Any] = [*BAD_PRICES, 1.5, 15, None, ["1"]]
BAD_QUANTITIES: list[Any] = ["nan", "-1", "1e5", "", " 1", "1_0", "\u0663", "1.2.3", "inf"]
BAD_QUANTITIES += [1.5, 2, None]
BAD_LEVELS: list[Any] = ["12", {"1": "2"}, ["1", "2", "3"], ["1"], [], None, 12]


@pytest.mark.parametrize("price", BAD_PRICES_TYPED)
def test_a_bad_price_is_refused_and_the_book_needs_a_resync(price: Any) -> None:
    book = synced_book(100)
    with pytest.raises(InvalidInput, match=r"price|levels"):
        book.on_event(diff(101, 101, bids=[(price, "1")]))
    assert not book.synced and book.bids() == []


@pytest.mark.parametrize("qty", BAD_QUANTITIES)
def test_a_bad_quantity_is_refused_and_the_book_needs_a_resync(qty: Any) -> None:
    book = synced_book(100)
    with pytest.raises(InvalidInput, match=r"quantity|levels"):
        book.on_event(diff(101, 101, asks=[("3000.5", qty)]))
    assert not book.synced


@pytest.mark.parametrize("level", BAD_LEVELS)
def test_a_level_that_is_not_a_price_quantity_pair_is_refused(level: Any) -> None:
    book = synced_book(100)
    event = diff(101, 101)
    event["a"] = [level]
    with pytest.raises(InvalidInput, match="levels"):
        book.on_event(event)
    assert not book.synced


@pytest.mark.parametrize("side", [None, "b", {"1": "2"}, 5])
def test_a_side_that_is_not_a_list_is_refused(side: Any) -> None:
    event = diff(101, 101)
    event["b"] = side
    with pytest.raises(InvalidInput, match="levels"):
        synced_book(100).on_event(event)


def test_a_bad_snapshot_is_refused() -> None:
    book = DepthBook(SYMBOL)
    with pytest.raises(InvalidInput, match="lastUpdateId"):
        book.apply_snapshot("100", [], [])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="price"):
        book.apply_snapshot(100, [["abc", "1"]], [])
    with pytest.raises(InvalidInput, match="lists of"):
        book.apply_snapshot(100, None, [])  # type: ignore[arg-type]
    assert not book.synced


def test_a_malformed_buffered_event_fails_the_snapshot_it_is_replayed_on() -> None:
    book = DepthBook(SYMBOL)
    book.on_event(diff(101, 101, bids=[("1", "x")]))
    with pytest.raises(InvalidInput, match="quantity"):
        book.apply_snapshot(100, [], [])
    assert not book.synced and book.buffered == 0
    assert book.apply_snapshot(100, [], [])


def test_construction_needs_a_symbol_and_a_buffer() -> None:
    with pytest.raises(InvalidInput):
        DepthBook("")
    with pytest.raises(InvalidInput):
        DepthBook(SYMBOL, max_buffer=0)


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.binary(max_size=4),
    st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=2), st.text(max_size=2), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(["e", "s", "U", "u", "b", "a", "bid", "ask", "bid_price", "ask_qty"]),
    junk=JUNK,
    synced=st.booleans(),
)
def test_any_corruption_of_an_event_is_applied_or_refused_with_invalid_input(
    where: str, junk: Any, synced: bool
) -> None:
    book = synced_book(100) if synced else DepthBook(SYMBOL)
    event = diff(101, 101, bids=[("2999", "1")], asks=[("3001", "2")])
    if where in event:
        event[where] = junk
    elif where == "bid":
        event["b"] = [junk]
    elif where == "ask":
        event["a"] = [junk, ["3002", "1"]]
    elif where == "bid_price":
        event["b"] = [[junk, "1"]]
    else:
        event["a"] = [["3001", junk]]
    try:
        result = book.on_event(event)
    except InvalidInput:
        return
    assert isinstance(result, DiffResult)
    if not synced:  # the levels are checked when the event is replayed on a snapshot
        try:
            book.apply_snapshot(100, [], [])
        except InvalidInput:
            assert not book.synced
            return
    for price, qty in book.bids() + book.asks():
        assert price > 0 and qty > 0


@settings(max_examples=100, deadline=None)
@given(frame=st.one_of(st.text(max_size=40), st.binary(max_size=40)))
def test_any_frame_is_applied_or_refused_with_invalid_input(frame: str | bytes) -> None:
    book = synced_book(100)
    with contextlib.suppress(InvalidInput):
        book.on_frame(frame)


# --- equality with a naive reference on random streams ----------------------------------------


class NaiveBook:
    """Binance's procedure written plainly over ``Decimal`` dicts, sorted when read."""

    def __init__(self) -> None:
        self.synced = False
        self.first = False
        self.last: int | None = None
        self.buffer: list[dict[str, Any]] = []
        self.sides: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}

    def event(self, message: dict[str, Any]) -> DiffResult:
        if not self.synced:
            self.buffer.append(message)
            return DiffResult.BUFFERED
        assert self.last is not None
        if message["u"] <= self.last:
            return DiffResult.STALE
        bridge = self.first and message["U"] <= self.last + 1
        if not (bridge or message["U"] == self.last + 1):
            self.synced, self.last, self.buffer = False, None, [message]
            self.sides = {"b": {}, "a": {}}
            return DiffResult.GAP
        for key in ("b", "a"):
            self.change(self.sides[key], message[key])
        self.last, self.first = message["u"], False
        return DiffResult.APPLIED

    @staticmethod
    def change(side: dict[Decimal, Decimal], levels: Iterable[Sequence[str]]) -> None:
        for price, qty in levels:
            if Decimal(qty) == 0:
                side.pop(Decimal(price), None)
            else:
                side[Decimal(price)] = Decimal(qty)

    def snapshot(self, last: int, bids: list[list[str]], asks: list[list[str]]) -> bool:
        self.sides = {"b": {}, "a": {}}
        self.change(self.sides["b"], bids)
        self.change(self.sides["a"], asks)
        self.synced, self.first, self.last = True, True, last
        pending, self.buffer = self.buffer, []
        for i, message in enumerate(pending):
            if self.event(message) is DiffResult.GAP:
                self.buffer.extend(pending[i + 1 :])
                return False
        return True

    def bids(self) -> list[tuple[Decimal, Decimal]]:
        return sorted(self.sides["b"].items(), reverse=True) if self.synced else []

    def asks(self) -> list[tuple[Decimal, Decimal]]:
        return sorted(self.sides["a"].items()) if self.synced else []


def _written(value: Decimal, style: int) -> str:
    """One decimal in the ways an exchange may write it."""
    if style == 0:
        return f"{value:.8f}"
    if style == 1:
        return f"{value.normalize():f}"
    return f"{value:.10f}"


PRICES = st.builds(
    lambda ticks, fine: Decimal(ticks) / 4 + (Decimal("1e-10") if fine else 0),
    st.integers(1, 40),
    st.integers(0, 30).map(lambda n: n == 0),
)
QUANTITIES = st.one_of(st.just(Decimal(0)), st.integers(0, 10**6).map(lambda n: Decimal(n) / 1000))
LEVELS = st.lists(
    st.tuples(PRICES, QUANTITIES, st.integers(0, 2)).map(
        lambda t: [_written(t[0], t[2]), _written(t[1], t[2])]
    ),
    max_size=6,
)
STEPS = st.lists(
    st.one_of(
        # an event: how far its first id is from "continuous" (mostly 0), how many ids it spans
        st.tuples(
            st.just("event"),
            st.sampled_from([0, 0, 0, 0, 0, 0, 1, 2, -1, -3]),
            st.integers(0, 3),
            LEVELS,
            LEVELS,
        ),
        st.tuples(st.just("snapshot"), st.integers(-4, 4), st.just(0), LEVELS, LEVELS),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_random_streams_give_the_same_book_as_a_naive_reference(steps: list[Any]) -> None:
    ours, naive = DepthBook(SYMBOL), NaiveBook()
    next_id = 10
    for kind, shift, span, bids, asks in steps:
        if kind == "event":
            first = max(0, next_id + shift)
            message = diff(first, first + span, bids=bids, asks=asks)
            next_id = max(next_id, first + span + 1)
            assert ours.on_event(message) is naive.event(message)
        else:
            last = max(0, next_id - 1 + shift)
            assert ours.apply_snapshot(last, bids, asks) is naive.snapshot(last, bids, asks)
        assert ours.synced is naive.synced
        assert ours.last_update_id == naive.last
        assert ours.buffered == len(naive.buffer)
        assert ours.bids() == naive.bids() and ours.asks() == naive.asks()
        assert ours.best_bid() == (naive.bids()[0] if naive.bids() else None)
        assert ours.best_ask() == (naive.asks()[0] if naive.asks() else None)
        assert ours.bids(2) == naive.bids()[:2] and ours.asks(3) == naive.asks()[:3]
