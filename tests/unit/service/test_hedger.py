"""The hedger over a real engine, a paper venue and a SQLite store: hedges go through the risk
gate, every decision is an event recorded before the intent, and a restart sends no second
hedge."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any

import pytest

from oms_chain.engine import Engine
from oms_chain.model import Asset, ManualClock, OrderStatus, SpotPair
from oms_chain.model.errors import InvalidInput, OmsError, VenueUnavailable
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.risk import (
    NS_PER_YEAR,
    HedgePolicy,
    HedgeState,
    Holding,
    MarketSnapshot,
    RiskGate,
    RiskLimits,
)
from oms_chain.service.hedger import Hedger, engine_holdings
from oms_chain.store import open_store
from oms_chain.venues import Fault, PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
WALLET_ETH = Asset.native(1)
NS = 1_000_000_000


def band_policy(**kw: Any) -> HedgePolicy:
    args: dict[str, Any] = dict(
        name="eth",
        underlying="ETH",
        instrument="ETH/USDC",
        venues=("paper",),
        band=D(2),
        max_hedge=D(20),
        cooldown_s=5,
    )
    args.update(kw)
    return HedgePolicy(**args)


@dataclass
class Rig:
    clock: ManualClock
    store: Any
    venue: PaperVenue
    engine: Engine
    hedger: Hedger
    held: list[Holding]

    def market(self, spot: D, **kw: Any) -> MarketSnapshot:
        return MarketSnapshot(now_ns=self.clock.now_ns(), spots={"ETH": spot}, **kw)

    def types(self) -> list[str]:
        return [r.event_type for r in self.store.read_all()]


async def make_rig(
    path: Any,
    policy: HedgePolicy,
    held: list[Holding],
    *,
    clock: ManualClock | None = None,
    venue: PaperVenue | None = None,
    instrument: SpotPair = PAIR,
    **limits: Any,
) -> Rig:
    clock = clock or ManualClock(start_ns=1_700_000_000 * NS)
    venue = venue or PaperVenue("paper", clock=clock, prices={instrument.id: D(2000)})
    store = open_store(f"sqlite:///{path}")
    engine = Engine(
        store=store, venues=[venue], risk=RiskGate(RiskLimits(**limits), clock=clock), clock=clock
    )
    await engine.start()
    hedger = Hedger(
        engine=engine,
        store=store,
        policy=policy,
        instrument=instrument,
        account="acct",
        clock=clock,
        holdings=lambda: held,
    )
    hedger.start()
    return Rig(clock, store, venue, engine, hedger, held)


async def test_delta_outside_the_band_is_hedged_through_the_engine(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(7), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(), held)
    status = await rig.hedger.step(rig.market(D(2000)))
    assert (status.delta, status.hedges, status.in_flight) == (D(7), 1, None)
    assert status.decision.side == "sell" and status.decision.quantity == D(7)
    (order,) = rig.engine.orders()[:1]
    assert (order.intent_id, order.status, order.filled_quantity) == (
        "hedge-eth-1",
        OrderStatus.FILLED,
        D(7),
    )
    # the decision is recorded before the engine's first event of the intent
    types = rig.types()
    assert types.index("HedgeDecided") < types.index("OrderInitialized")
    assert rig.hedger.delta(rig.market(D(2000))) == 0
    again = await rig.hedger.step(rig.market(D(2000)))
    assert (again.decision.action, again.hedges) == ("none", 1)


async def test_a_long_gamma_position_is_scalped_on_moves_and_reports_the_pnl(tmp_path):
    clock = ManualClock(start_ns=1_700_000_000 * NS)
    call = OptionContract(
        underlying=WALLET_ETH,
        quote=Asset.erc20(1, "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "USDC", 6),
        strike=D(2000),
        expiry_ns=clock.now_ns() + NS_PER_YEAR // 12,
        option_kind=OptionKind.CALL,
    )
    held = [Holding(instrument=call, quantity=D(20), venue="deribit")]
    policy = band_policy(
        mode="gamma_scalp", scalp_move_pct=D(3), band=D("1.5"), cooldown_s=0, name="scalp"
    )
    rig = await make_rig(tmp_path / "s.db", policy, held, clock=clock)
    vols = {call.id: D("0.8")}
    deltas_after = []
    path = [D(2000), D(2030), D(2080), D(2150), D(2080), D(2010), D(2000)]
    for spot in path:
        clock.advance(60 * NS)
        rig.venue.set_price(PAIR.id, spot)
        st = await rig.hedger.step(rig.market(spot, vols=vols))
        if st.decision.action == "hedge":
            deltas_after.append(rig.hedger.delta(rig.market(spot, vols=vols)))
    decided = [e for e in rig.hedger.events if type(e).__name__ == "HedgeDecided"]
    assert [e.spot for e in decided] == [D(2000), D(2080), D(2150), D(2080), D(2010)]
    assert [e.side for e in decided] == ["sell", "sell", "sell", "buy", "buy"]
    assert all(abs(d) <= policy.band for d in deltas_after)
    assert "moved 4.00 % from the last hedge at 2000" in decided[1].reason
    ledger = rig.hedger.ledger()
    expected = sum((q * (D(2000) - p) for q, p in ledger.trades), D(0))
    assert ledger.pnl(D(2000)) == expected
    assert expected > 0  # long gamma: sold high, bought back low


async def test_cool_down_is_recorded_once_while_it_lasts(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(30), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(max_hedge=D(10)), held)
    first = await rig.hedger.step(rig.market(D(2000)))
    assert first.decision.capped and first.delta == D(30)
    for _ in range(3):
        rig.clock.advance(NS)
        st = await rig.hedger.step(rig.market(D(2000)))
        assert st.decision.action == "skip" and "cool-down" in st.decision.reason
    assert rig.types().count("HedgeSkipped") == 1
    rig.clock.advance(5 * NS)
    st = await rig.hedger.step(rig.market(D(2000)))
    assert (st.decision.action, st.decision.quantity, st.hedges) == ("hedge", D(10), 2)


async def test_a_hedge_the_risk_gate_rejects_is_an_engine_event_and_not_retried_at_once(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(7), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(), held, max_order_notional=D(1000))
    await rig.hedger.step(rig.market(D(2000)))
    (order,) = rig.engine.orders()
    assert order.status is OrderStatus.REJECTED
    assert "max_notional" in (order.reason or "")
    rig.clock.advance(NS)
    st = await rig.hedger.step(rig.market(D(2000)))
    assert st.decision.action == "skip" and len(rig.engine.orders()) == 1


async def test_a_crash_between_decision_and_submit_sends_one_hedge_after_restart(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(7), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(), held)

    async def crash(intent: Any) -> Any:
        raise SystemExit("killed")

    rig.engine.submit = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await rig.hedger.step(rig.market(D(2000)))
    rig.store.close()
    rig.clock.advance(10 * NS)
    again = await make_rig(tmp_path / "s.db", band_policy(), held, clock=rig.clock, venue=rig.venue)
    skipped = [e for e in again.hedger.events if type(e).__name__ == "HedgeSkipped"]
    assert len(skipped) == 1 and "never reached the engine" in skipped[0].reason
    st = await again.hedger.step(again.market(D(2000)))
    assert st.hedges == 2 and st.decision.quantity == D(7)
    assert [o.intent_id for o in again.engine.orders() if o.parent_id is None] == ["hedge-eth-2"]
    assert sum(again.venue.received().values()) == 1


async def test_a_hedge_in_flight_at_a_crash_is_not_sent_again_after_restart(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(7), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(cooldown_s=0), held)
    rig.venue.inject(Fault.LOSE_RESPONSE)  # executed at the venue, the answer lost
    st = await rig.hedger.step(rig.market(D(2000)))
    assert st.in_flight == "hedge-eth-1"
    # its unfilled rest counts in delta, so nothing more is asked for ...
    again_now = await rig.hedger.step(rig.market(D(2000)))
    assert (again_now.delta, again_now.decision.action) == (D(0), "none")
    # ... and while it is open no other hedge is sent, even when delta moves on
    held.append(Holding(instrument=WALLET_ETH, quantity=D(5), venue="wallet:1"))
    moved = await rig.hedger.step(rig.market(D(2000)))
    assert moved.decision.action == "skip" and "still in flight" in moved.decision.reason
    held.pop()
    await rig.engine.stop()
    rig.store.close()
    again = await make_rig(tmp_path / "s.db", band_policy(cooldown_s=0), held, venue=rig.venue)
    st = await again.hedger.step(again.market(D(2000)))
    assert (st.decision.action, st.hedges, st.delta) == ("none", 1, D(0))
    assert sum(again.venue.received().values()) == 1


async def test_hedge_size_is_rounded_down_to_the_instruments_precision(tmp_path):
    coarse = SpotPair(base=Asset.cex("paper", "ETH", 2), quote=USDC)
    held = [Holding(instrument=WALLET_ETH, quantity=D("7.123456"), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(), held, instrument=coarse)
    st = await rig.hedger.step(rig.market(D(2000)))
    assert (st.decision.quantity, rig.engine.orders()[0].quantity) == (D("7.12"), D("7.12"))
    tiny = [Holding(instrument=WALLET_ETH, quantity=D("0.004"), venue="wallet:1")]
    rig2 = await make_rig(tmp_path / "t.db", band_policy(band=D(0)), tiny, instrument=coarse)
    await rig2.hedger.step(rig2.market(D(2000)))
    assert rig2.engine.orders() == []
    assert "below the precision of ETH/USDC (0.01)" in rig2.hedger.events[-1].reason


async def test_bad_arguments_are_refused_before_anything_is_read(tmp_path):
    rig = await make_rig(tmp_path / "s.db", band_policy(), [])
    base: dict[str, Any] = dict(
        engine=rig.engine,
        store=rig.store,
        policy=band_policy(),
        instrument=PAIR,
        account="acct",
        clock=rig.clock,
    )
    for key, bad in [
        ("engine", object()),
        ("store", object()),
        ("policy", {}),
        ("instrument", "ETH/USDC"),
        ("account", ""),
        ("holdings", 3),
    ]:
        with pytest.raises(InvalidInput):
            Hedger(**{**base, key: bad})
    fresh = Hedger(**base)
    with pytest.raises(OmsError, match="start"):
        await fresh.step(rig.market(D(2000)))
    with pytest.raises(InvalidInput, match="no spot for 'ETH'"):
        await rig.hedger.step(MarketSnapshot(now_ns=1, spots={"BTC": D(1)}))
    with pytest.raises(InvalidInput, match="MarketSnapshot"):
        await rig.hedger.step({"ETH": D(1)})  # type: ignore[arg-type]


async def test_a_decision_closed_unsent_after_a_restart_starts_no_cool_down(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(7), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(cooldown_s=5), held)

    async def crash(intent: Any) -> Any:
        raise SystemExit("killed")

    rig.engine.submit = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await rig.hedger.step(rig.market(D(2000)))
    rig.store.close()
    # restarted at once: the closed decision was never sent, so no cool-down is running
    again = await make_rig(tmp_path / "s.db", band_policy(), held, clock=rig.clock, venue=rig.venue)
    assert again.hedger.state() == HedgeState()
    st = await again.hedger.step(again.market(D(2000)))
    assert (st.decision.action, st.decision.quantity, st.hedges) == ("hedge", D(7), 2)
    assert sum(again.venue.received().values()) == 1


async def test_a_hedge_the_engine_refused_moves_neither_cool_down_nor_scalp_spot(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(7), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(cooldown_s=5), held)
    t0 = rig.clock.now_ns()
    await rig.hedger.step(rig.market(D(2000)))
    assert rig.hedger.state() == HedgeState(last_hedge_ns=t0, last_hedge_spot=D(2000))
    rig.clock.advance(10 * NS)
    held.append(Holding(instrument=WALLET_ETH, quantity=D(5), venue="wallet:1"))

    async def down(intent: Any) -> Any:
        raise VenueUnavailable("paper venue is down; retry later")

    rig.engine.submit = down  # type: ignore[method-assign]
    refused = await rig.hedger.step(rig.market(D(2100)))
    assert refused.hedges == 2 and refused.in_flight is None
    assert rig.types()[-2:] == ["HedgeDecided", "HedgeSkipped"]
    assert rig.hedger.state() == HedgeState(last_hedge_ns=t0, last_hedge_spot=D(2000))
    del rig.engine.submit
    st = await rig.hedger.step(rig.market(D(2100)))  # same instant: no cool-down from the refusal
    assert (st.decision.action, st.decision.quantity, st.hedges) == ("hedge", D(5), 3)
    assert rig.hedger.state() == HedgeState(
        last_hedge_ns=rig.clock.now_ns(), last_hedge_spot=D(2100)
    )


async def test_a_position_whose_instrument_no_order_names_is_refused_not_dropped(tmp_path):
    held = [Holding(instrument=WALLET_ETH, quantity=D(7), venue="wallet:1")]
    rig = await make_rig(tmp_path / "s.db", band_policy(), held)
    await rig.hedger.step(rig.market(D(2000)))
    (pos,) = rig.engine.positions()
    assert pos.quantity == D(-7)
    (h,) = engine_holdings(rig.engine, "acct")
    assert h.quantity == D(-7)
    # an engine view whose positions outlive the orders naming their instrument
    partial = SimpleNamespace(orders=lambda: [], positions=rig.engine.positions)
    with pytest.raises(InvalidInput) as info:
        engine_holdings(partial, "acct")  # type: ignore[arg-type]
    assert str(info.value) == (
        "position -7.0000 of spot:paper:ETH/paper:USDC (account acct, venue paper) has no "
        "order naming its instrument, so its delta cannot be computed; pass the instrument's "
        "holding explicitly instead of relying on the engine's positions"
    )
    assert engine_holdings(partial, "someone-else") == []  # (another account's is not read)
