"""Random sequences of commands and venue behaviour against the engine and the paper venue."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from decimal import Decimal

from engine_world import PAIR, build_world
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from oms_chain.engine import Engine
from oms_chain.model import InvalidInput, OrderStatus, RetryableError, VenueRejected
from oms_chain.risk import TradingState
from oms_chain.store.projections import Projections
from oms_chain.venues import Fault, PaperVenue

UNSETTLED = (OrderStatus.SENDING, OrderStatus.IN_FLIGHT)
STATS: Counter[str] = Counter()


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.n = 0

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    @initialize(seed=st.integers(0, 2**32 - 1), partial=st.sampled_from([0.0, 0.5]))
    def start(self, seed: int, partial: float) -> None:
        w = build_world(max_order_notional=Decimal(100_000))
        w.venue = PaperVenue(
            "paper",
            clock=w.clock,
            prices={PAIR.id: Decimal(2000)},
            rng=random.Random(seed),
            partial_fill_probability=partial,
        )
        w.restart(max_order_notional=Decimal(100_000))
        self.w = w
        self.run(w.engine.start())

    @property
    def engine(self) -> Engine:
        return self.w.engine

    @rule(
        side=st.sampled_from(["buy", "sell"]),
        qty=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(5), places=2),
        offset=st.one_of(st.none(), st.integers(-30, 30)),
        fault=st.sampled_from(
            [
                None,
                None,
                None,
                Fault.LOSE_RESPONSE,
                Fault.TIMEOUT_BEFORE,
                Fault.REJECT,
                Fault.PARTIAL,
                Fault.UNAVAILABLE,
            ]
        ),
    )
    def submit(self, side: str, qty: Decimal, offset: int | None, fault: Fault | None) -> None:
        self.n += 1
        limit = None if offset is None else str(Decimal(2000) + offset)
        if fault is not None:
            self.w.venue.inject(fault)
        intent = self.w.intent(f"i{self.n}", side=side, quantity=str(qty), limit_price=limit)
        try:
            order = self.run(self.engine.submit(intent))
        except RetryableError:
            return  # the venue had to be reconciled and could not be: nothing was written
        finally:
            self.w.venue.clear_faults()
        assert order.intent_id == intent.intent_id

    @rule(data=st.data(), fault=st.sampled_from([None, None, Fault.LOSE_RESPONSE]))
    def cancel(self, data: st.DataObject, fault: Fault | None) -> None:
        parents = sorted(o.order_id for o in self.engine.orders() if o.parent_id is None)
        if not parents:
            return
        oid = data.draw(st.sampled_from(parents))
        if fault:
            self.w.venue.inject(fault, op="cancel")
        try:
            self.run(self.engine.cancel(oid))
        except RetryableError:
            pass  # cancel answer lost: reconciled later
        finally:
            self.w.venue.clear_faults()

    @rule(
        data=st.data(), qty=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(6), places=2)
    )
    def amend(self, data: st.DataObject, qty: Decimal) -> None:
        parents = sorted(
            o.order_id for o in self.engine.orders() if o.parent_id is None and o.is_open
        )
        if not parents:
            return
        oid = data.draw(st.sampled_from(parents))
        # below filled, not amendable now, or answer lost:
        with contextlib.suppress(InvalidInput, VenueRejected, RetryableError):
            self.run(self.engine.amend(oid, quantity=qty))

    @rule(price=st.integers(1960, 2040))
    def move_price(self, price: int) -> None:
        self.w.venue.set_price(PAIR.id, Decimal(price))
        self.run(self.w.venue.flush())

    @rule()
    def reconcile(self) -> None:
        self.run(self.engine.reconcile("paper"))

    @rule(state=st.sampled_from(list(TradingState)))
    def kill_switch(self, state: TradingState) -> None:
        self.engine.set_trading_state(state, "test")

    @rule()
    def restart(self) -> None:
        before = self.engine.projections.summary()
        self.run(self.engine.stop())
        snap = self.engine.projections.to_snapshot()
        assert Projections.from_snapshot(snap).summary() == before
        fresh = self.w.restart(max_order_notional=Decimal(100_000))
        fresh.replay()
        assert fresh.projections.summary() == before
        assert fresh.projections.to_snapshot() == snap
        self.run(fresh.start())  # continues after the replayed position, then reconciles

    @invariant()
    def every_venue_report_was_applied(self) -> None:
        assert self.engine.report_errors == []

    @invariant()
    def filled_never_exceeds_quantity(self) -> None:
        for o in self.engine.orders():
            assert Decimal(0) <= o.filled_quantity <= o.quantity or o.quantity == 0

    @invariant()
    def parents_are_the_sum_of_their_children(self) -> None:
        proj = self.engine.projections
        for o in self.engine.orders():
            if o.parent_id is None and o.children:
                kids = proj.children(o)
                assert o.filled_quantity == sum((k.filled_quantity for k in kids), Decimal(0))

    @invariant()
    def positions_equal_the_sum_of_fills(self) -> None:
        proj = self.engine.projections
        net: dict[str, Decimal] = {}
        for f in proj.fills.values():
            net[f.instrument_id] = net.get(f.instrument_id, Decimal(0)) + f.quantity * f.side.sign
        for p in self.engine.positions():
            assert p.quantity == net.get(p.key.instrument_id, Decimal(0))
        assert sum((f.quantity for f in proj.fills.values()), Decimal(0)) == sum(
            (o.filled_quantity for o in self.engine.orders() if o.parent_id is not None), Decimal(0)
        )

    @invariant()
    def no_order_is_sent_twice_and_settled_orders_agree_with_the_venue(self) -> None:
        assert all(n == 1 for n in self.w.venue.received().values())
        venue = {r.client_order_id: r for r in self.w.venue.reports()}
        for o in self.engine.orders():
            if o.parent_id is None or o.status in UNSETTLED or o.client_order_id not in venue:
                continue
            assert venue[o.client_order_id].filled_quantity == o.filled_quantity

    def teardown(self) -> None:
        if hasattr(self, "w"):
            STATS.update(o.status.value for o in self.engine.orders())
            self.run(self.engine.stop())
        self.loop.close()


EngineMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_engine_state_machine = EngineMachine.TestCase


def test_the_machine_reaches_every_interesting_order_status() -> None:
    """Guard against a machine that silently stops exercising the engine (derandomized run).

    What a derandomized run generates still depends on the process (the modules imported before
    it changes it), so the run is long enough to reach every status in any of them."""

    class Probe(EngineMachine):
        pass

    Probe.TestCase.settings = settings(
        max_examples=200,
        stateful_step_count=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    STATS.clear()
    Probe.TestCase().runTest()
    for status in ("filled", "partially_filled", "cancelled", "rejected", "working", "failed"):
        assert STATS[status] > 0, (status, STATS)
