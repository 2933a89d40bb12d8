"""Re-submitting an intent id: identical content is idempotent, different content is refused."""

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from engine_world import ETH, PAIR, build_world
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model import Asset, IntentConflict, InvalidIntent, SpotPair
from oms_chain.store.projections import Projections

OTHER_PAIR = SpotPair(base=ETH, quote=Asset.cex("paper", "USDT", 6))

# Each entry: a change to the base intent's create() arguments, and the fields it changes.
_amount = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(5), places=3)
CHANGES: dict[str, Any] = {
    "quantity": _amount.filter(lambda d: d != 1),
    "side": st.just("sell"),
    "account": st.just("acct2"),
    "instrument": st.just(OTHER_PAIR),
    "limit_price": st.decimals(min_value=Decimal(1), max_value=Decimal(5000), places=2),
    "max_slippage_bps": st.one_of(st.none(), st.integers(0, 1000).filter(lambda b: b != 50)),
    "deadline_ns": st.integers(2 * 10**18, 3 * 10**18),
    "venues": st.sampled_from([["paper", "backup"], ["backup", "paper"]]),
    "reduce_only": st.just(True),
}


def _expected(changes: dict[str, Any]) -> tuple[str, ...]:
    order = [
        "account",
        "instrument",
        "side",
        "quantity",
        "notional",
        "limit_price",
        "max_slippage_bps",
        "deadline_ns",
        "venues",
        "reduce_only",
    ]
    return tuple(f for f in order if f in changes)


@settings(max_examples=40, deadline=None)
@given(
    changes=st.fixed_dictionaries({}, optional=CHANGES).filter(bool), later=st.integers(1, 10**9)
)
def test_a_resubmission_with_any_changed_field_is_refused_naming_it(changes, later):
    async def scenario() -> None:
        w = build_world()
        await w.engine.start()
        first = await w.engine.submit(w.intent("i1"))
        n = len(w.store)
        w.clock.advance(later)
        with pytest.raises(IntentConflict) as info:
            await w.engine.submit(w.intent("i1", **changes))
        assert info.value.fields == _expected(changes)
        assert isinstance(info.value, InvalidIntent)
        for f in info.value.fields:
            assert f in str(info.value)
        assert len(w.store) == n  # nothing written
        assert sum(w.venue.received().values()) == 1
        assert w.engine.order(first.order_id) == first
        await w.engine.stop()

    asyncio.run(scenario())


async def test_notional_instead_of_quantity_names_both(world):
    await world.engine.submit(world.intent("n1"))
    with pytest.raises(IntentConflict) as info:
        await world.engine.submit(world.intent("n1", quantity=None, notional="2000"))
    assert info.value.fields == ("quantity", "notional")
    assert str(info.value) == (
        "intent n1 was already submitted with different content (quantity Decimal('1') -> "
        "None, notional None -> Decimal('2000')); resubmit it unchanged, or use a new "
        "intent id for a different order"
    )


async def test_an_identical_resubmission_later_is_idempotent(world):
    a = await world.engine.submit(world.intent("same", quantity="1.50"))
    n = len(world.store)
    world.clock.advance(5)
    again = world.intent("same", quantity="1.5")  # same value, later ts_init
    assert again.ts_init != world.engine.projections.intent_data[again.intent_id].ts_init
    assert await world.engine.submit(again) == a
    assert len(world.store) == n
    assert sum(world.venue.received().values()) == 1


async def test_the_comparison_survives_a_restart():
    w = build_world()
    await w.engine.start()
    first = await w.engine.submit(w.intent("r1", limit_price="2100"))
    await w.engine.stop()
    fresh = w.restart()
    await fresh.start()
    n = len(w.store)
    with pytest.raises(IntentConflict) as info:
        await fresh.submit(w.intent("r1", limit_price="2200"))
    assert info.value.fields == ("limit_price",)
    assert await fresh.submit(w.intent("r1", limit_price="2100.0")) == first
    assert len(w.store) == n
    await fresh.stop()


async def test_the_stored_intent_survives_a_projection_snapshot(world):
    it = world.intent("s1", limit_price="2100", deadline_ns=2 * 10**18)
    await world.engine.submit(it)
    p = Projections.from_snapshot(world.engine.projections.to_snapshot())
    assert p.intent_data[it.intent_id].differences(it) == ()
    assert p.intent_data[it.intent_id].differences(world.intent("s1")) == (
        "limit_price",
        "deadline_ns",
    )


def test_differences_refuses_a_non_intent():
    w = build_world()
    with pytest.raises(InvalidIntent, match="can only compare with an Intent"):
        w.intent("x").differences({"intent_id": "x"})  # type: ignore[arg-type]
    assert PAIR != OTHER_PAIR
