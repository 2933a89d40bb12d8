"""Fuzzed intents: the engine either records a complete, valid story or writes nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from engine_world import PAIR, build_world
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model import Intent, InvalidInput, OmsError

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**9),
    st.text(max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.lists(st.sampled_from(["paper", "other", ""]), max_size=3),
)
FIELDS = [
    "side",
    "quantity",
    "notional",
    "limit_price",
    "max_slippage_bps",
    "deadline_ns",
    "algo",
    "venues",
    "reduce_only",
    "intent_id",
    "account",
]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), junk, max_size=4))
def test_fuzzed_intents_are_refused_cleanly_or_recorded_completely(changes):
    async def scenario() -> None:
        w = build_world(max_order_notional=Decimal(100_000), max_position={"ETH": Decimal(50)})
        await w.engine.start()
        n = len(w.store)
        base = dict(
            intent_id="f",
            account="acct",
            instrument=PAIR,
            side="buy",
            quantity="1",
            venues=["paper"],
            now_ns=w.clock.now_ns(),
            max_slippage_bps=10,
        )
        base.update(changes)
        try:
            intent = Intent.create(**base)
        except InvalidInput:
            assert len(w.store) == n
            await w.engine.stop()
            return
        try:
            order = await w.engine.submit(intent)
        except OmsError as exc:
            assert isinstance(exc, InvalidInput), exc
            assert len(w.store) == n  # refused before anything was written
        else:
            stream = [r.event_type for r in w.store.read_all() if r.stream_id == order.order_id]
            assert stream[0] == "OrderInitialized"
            assert stream[1] in ("OrderAccepted", "OrderRejected")
            if stream[1] == "OrderAccepted":
                assert stream[2:4] == ["ChildOrderCreated", "OrderSubmitted"]
            else:
                assert len(stream) == 2 and order.reason
        await w.engine.stop()

    asyncio.run(scenario())
