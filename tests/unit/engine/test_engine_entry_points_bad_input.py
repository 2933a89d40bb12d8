"""Every public engine entry point refuses NaN, infinities, wrong types and out-of-range values
with an ``InvalidInput`` naming the argument, before anything is written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from engine_world import PAIR, World, build_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_chain.model import InvalidInput, OmsError
from oms_chain.risk import TradingState

bad_amounts = st.one_of(
    st.just(Decimal("NaN")),
    st.just(Decimal("sNaN")),
    st.just(Decimal("Infinity")),
    st.just(Decimal("-Infinity")),
    st.decimals(max_value=Decimal(0), allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal(10) ** 19, allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.integers(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
bad_ids = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.just(""),
    st.text(min_size=201, max_size=210),
    st.lists(st.text(max_size=3), max_size=2),
    st.just(Decimal("NaN")),
)
bad_texts = st.one_of(st.none(), st.integers(), st.floats(), st.text(min_size=1001, max_size=1005))
bad_seqs = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=1_000_001),
    st.booleans(),
    st.floats(),
    st.text(max_size=3),
    st.none(),
)


def _open_world() -> tuple[World, str, str]:
    """A started engine with one resting direct order and one algo parent."""
    w = build_world(max_order_notional=Decimal(10**9))

    async def setup() -> tuple[str, str]:
        await w.engine.start()
        direct = await w.engine.submit(w.intent("rest", limit_price="1900"))
        algo = await w.engine.submit(
            w.intent(
                "algo",
                limit_price="1900",
                algo="twap",
                algo_params={"duration": "1h", "slices": 4},
            )
        )
        return direct.order_id, algo.order_id

    direct, algo = asyncio.run(setup())
    return w, direct, algo


def _calls(w: World, direct: str, algo: str, value: Any) -> list[Callable[[], Awaitable[Any]]]:
    """Each entry point called with ``value`` in one argument position, the rest valid."""
    e = w.engine

    async def sync(fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        return fn(*a, **kw)

    return [
        lambda: e.amend(direct, quantity=value),
        lambda: e.amend(direct, limit_price=value),
        lambda: e.spawn_child(algo, seq=7, venue="paper", quantity=value, limit_price=None),
        lambda: e.spawn_child(algo, seq=7, venue="paper", quantity=Decimal(1), limit_price=value),
        lambda: e.spawn_routed(algo, seq=7, quantity=value, limit_price=None),
        lambda: e.spawn_routed(algo, seq=7, quantity=Decimal(1), limit_price=value),
        lambda: sync(e.set_reference_price, PAIR.id, value),
    ]


def _id_calls(w: World, algo: str, value: Any) -> list[Callable[[], Awaitable[Any]]]:
    e = w.engine

    async def sync(fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        return fn(*a, **kw)

    return [
        lambda: e.cancel(value),
        lambda: e.amend(value, quantity=Decimal(2)),
        lambda: e.spawn_child(value, seq=7, venue="paper", quantity=Decimal(1), limit_price=None),
        lambda: e.spawn_child(algo, seq=7, venue=value, quantity=Decimal(1), limit_price=None),
        lambda: e.spawn_routed(value, seq=7, quantity=Decimal(1), limit_price=None),
        lambda: e.stop_algo(value, "stop"),
        lambda: e.reconcile(value),
        lambda: sync(e.pause, value),
        lambda: sync(e.resume, value),
        lambda: sync(e.algo_state, value),
        lambda: sync(e.order, value),
        lambda: sync(e.algo_pauses, value),
        lambda: sync(e.set_reference_price, value, Decimal(2000)),
    ]


def _refused_and_nothing_written(w: World, calls: list[Callable[[], Awaitable[Any]]]) -> None:
    async def run() -> None:
        for call in calls:
            before = len(w.store)
            with pytest.raises(OmsError) as info:
                await call()
            assert isinstance(info.value, InvalidInput), repr(info.value)
            assert len(w.store) == before, f"{info.value} wrote to the store"

    asyncio.run(run())


_WORLD: dict[str, Any] = {}


def _world() -> tuple[World, str, str]:
    if not _WORLD:
        _WORLD["w"] = _open_world()
    return _WORLD["w"]  # type: ignore[no-any-return]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_amounts)
def test_bad_amounts_are_refused_naming_the_argument_and_nothing_is_written(value: Any) -> None:
    w, direct, algo = _world()
    _refused_and_nothing_written(w, _calls(w, direct, algo, value))


@settings(max_examples=40, deadline=None)
@given(bad_ids)
def test_bad_order_and_venue_ids_are_refused_and_nothing_is_written(value: Any) -> None:
    w, _direct, algo = _world()
    _refused_and_nothing_written(w, _id_calls(w, algo, value))


@settings(max_examples=30, deadline=None)
@given(bad_seqs)
def test_bad_child_sequence_numbers_are_refused(value: Any) -> None:
    w, _direct, algo = _world()
    e = w.engine
    _refused_and_nothing_written(
        w,
        [
            lambda: e.spawn_child(
                algo, seq=value, venue="paper", quantity=Decimal(1), limit_price=None
            ),
            lambda: e.spawn_routed(algo, seq=value, quantity=Decimal(1), limit_price=None),
        ],
    )


@settings(max_examples=30, deadline=None)
@given(bad_texts, st.sampled_from(["pause", "resume", "stop_algo", "set_trading_state"]))
def test_bad_reasons_and_states_are_refused(value: Any, entry: str) -> None:
    w, _direct, algo = _world()
    e = w.engine

    async def call() -> Any:
        if entry == "stop_algo":
            return await e.stop_algo(algo, value)
        if entry == "set_trading_state":
            return e.set_trading_state(TradingState.ACTIVE, value)
        return getattr(e, entry)(algo, value)

    _refused_and_nothing_written(w, [call])


@pytest.mark.parametrize("state", ["halted", 1, None, Decimal("NaN")])
def test_a_trading_state_that_is_not_a_trading_state_is_refused(state: Any) -> None:
    w, _direct, _algo = _world()
    before = len(w.store)
    with pytest.raises(InvalidInput, match="state must be a TradingState"):
        w.engine.set_trading_state(state, "because")
    assert len(w.store) == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("NaN"), "amend quantity must be a finite Decimal"),
        (1.5, "amend quantity must be a Decimal"),
        ("2", "amend quantity must be a Decimal"),
        (Decimal("-1"), "amend quantity must be positive"),
        (Decimal(10) ** 30, "amend quantity .* is out of range"),
    ],
)
def test_amend_names_what_was_wrong(value: Any, message: str) -> None:
    w, direct, _algo = _world()
    with pytest.raises(InvalidInput, match=message):
        asyncio.run(w.engine.amend(direct, quantity=value))
