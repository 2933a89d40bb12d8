"""Races at the exchange simulator, through unmodified ccxt over real HTTP and websockets.

- A ``create_order`` delayed inside its receive window, after the venue's lookup found nothing,
  ends with its fill recorded and no second send (absence is "not yet" until the window closes).
- A 503 on send is resolved within a few seconds by the background reconciler (the window
  closes, nothing arrived: never received), with no other order sent.
- A cancel crossing a fill ends cancelled with the fill recorded.
- A TWAP whose first slice is delayed that way never trades more than its intent.
Positions always equal what the simulator's balances moved by.

Time is the wall clock here (venue I/O); tests wait for conditions, never for fixed sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxt_pro

from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig
from oms_chain.engine import Engine, EngineConfig, InMemoryEventLog
from oms_chain.engine.algo_runner import VenueMarketData
from oms_chain.model import Intent, SystemClock
from oms_chain.model.events import (
    FillRecorded,
    OrderFailed,
    OrderOutcomeUnknown,
    VenueReconciled,
    event_from_payload,
)
from oms_chain.model.instruments import SpotPair
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.testing import running_simulator
from oms_chain.testing.waiting import until
from oms_chain.venues.cex import CcxtVenue, CcxtVenueConfig

API_KEY, SECRET = "race-key", "race-secret"
OURS = f"acct-{API_KEY}"
OTHER_KEY, OTHER_SECRET = "race-other", "race-other-secret"
OTHER = f"acct-{OTHER_KEY}"
START = {"USDC": Decimal(100_000), "ETH": Decimal(10)}
SYMBOL = "ETHUSDC"
_OPTIONS = {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}}


@dataclass
class World:
    sim: ExchangeSimulator
    venue: CcxtVenue
    engine: Engine
    store: InMemoryEventLog
    pair: SpotPair

    def intent(self, intent_id: str, **kw: Any) -> Intent:
        args: dict[str, Any] = dict(
            intent_id=intent_id,
            account="trader",
            instrument=self.pair,
            side="buy",
            quantity="0.1",
            venues=[self.venue.venue_id],
            now_ns=SystemClock().now_ns(),
            max_slippage_bps=100,
        )
        args.update(kw)
        return Intent.create(**args)

    def best(self) -> tuple[Decimal, Decimal]:
        (bid, _), (ask, _) = self.sim.engine.best_bid_ask(SYMBOL)  # type: ignore[misc]
        return Decimal(bid), Decimal(ask)

    def sim_orders(self) -> list[Any]:
        return self.sim.engine.all_orders(OURS, SYMBOL)

    def sim_executed(self) -> Decimal:
        return sum((o.executed_qty for o in self.sim_orders()), Decimal(0))

    def eth_moved(self) -> Decimal:
        return self.sim.engine.accounts[OURS].total("ETH") - START["ETH"]

    def engine_eth(self) -> Decimal:
        """What our positions and fees say the account's ETH moved by (the buyer pays its
        commission in the base asset)."""
        held = sum(
            (p.quantity for p in self.engine.positions() if p.key.venue == "sim"), Decimal(0)
        )
        fees = sum(
            (f.fee for f in self.engine.projections.fills.values() if f.fee_currency == "ETH"),
            Decimal(0),
        )
        return held - fees

    def events(self, order_id: str) -> list[Any]:
        out = []
        for rec in self.store.read_all(0):
            e = event_from_payload(rec.event_type, rec.version, rec.payload)
            oid = getattr(e, "order_id", None) or getattr(getattr(e, "fill", None), "order_id", "")
            if oid == order_id or isinstance(e, VenueReconciled):
                out.append(e)
        return out


@asynccontextmanager
async def world(*, recv_window_ms: int, timeout_s: float = 1.0) -> AsyncIterator[World]:
    config = SimulatorConfig(seed=5, fast_depth_interval_s=0.05)
    accounts = {API_KEY: (SECRET, START), OTHER_KEY: (OTHER_SECRET, START)}
    async with running_simulator(config, accounts) as sim:
        venue = CcxtVenue(
            CcxtVenueConfig(
                exchange="binance",
                venue_id="sim",
                api_key=API_KEY,
                secret=SECRET,
                options={**_OPTIONS, "recvWindow": recv_window_ms},
                urls=sim.binance_urls(ccxt_pro.binance().urls["api"]),
                enable_rate_limit=False,
                rate_per_s=500.0,
                burst=100,
                poll_interval_s=0.2,
                timeout_s=timeout_s,
                backoff_initial_s=0.05,
                backoff_max_s=0.5,
                clock_skew_margin_s=0.5,
            )
        )
        await venue.start()
        clock = SystemClock()
        store = InMemoryEventLog()
        engine = Engine(
            store=store,
            venues=[venue],
            risk=RiskGate(RiskLimits(max_order_notional=Decimal(10**9)), clock=clock),
            clock=clock,
            market_data=VenueMarketData([venue]),
            config=EngineConfig(send_timeout_s=20),
        )
        pair = venue.market("ETH/USDC").instrument
        w = World(sim=sim, venue=venue, engine=engine, store=store, pair=pair)
        engine.set_reference_price(pair.id, w.best()[1])
        await engine.start()
        try:
            yield w
        finally:
            await engine.stop()
            await venue.close()


def child_of(engine: Engine, parent: Order, index: int = 0) -> Order:
    return engine.order(engine.order(parent.order_id).children[index])


async def test_an_order_delayed_inside_its_receive_window_is_filled_not_failed() -> None:
    async with world(recv_window_ms=8000) as w:
        w.sim.inject_rest_fault("delay", method="POST", path="/api/v3/order", delay_s=3.0)
        ask = w.best()[1]
        parent = await w.engine.submit(w.intent("late-1", limit_price=str(ask + 5)))
        child = child_of(w.engine, parent)
        await until("the delayed order to fill", lambda: child_of(w.engine, parent).is_terminal)
        child = child_of(w.engine, parent)
        assert child.status is OrderStatus.FILLED and child.filled_quantity == Decimal("0.1")
        evs = w.events(child.order_id)
        kinds = [type(e) for e in evs]
        assert OrderOutcomeUnknown in kinds  # the venue's lookup found nothing
        assert OrderFailed not in kinds  # never declared "never received"
        unknown_at = kinds.index(OrderOutcomeUnknown)
        fill_at = kinds.index(FillRecorded)
        # the background reconciler looked while the order was missing, and waited
        assert VenueReconciled in kinds[unknown_at:fill_at]
        orders = w.sim_orders()
        assert [o.client_order_id for o in orders] == [child.client_order_id]  # one send
        assert w.engine.order(parent.order_id).status is OrderStatus.FILLED
        assert w.engine_eth() == w.eth_moved() == Decimal("0.0999")  # 0.1 less 0.1 % fee


async def test_a_503_on_send_is_resolved_within_seconds_and_nothing_else_is_sent() -> None:
    async with world(recv_window_ms=1500) as w:
        w.sim.inject_rest_fault("fail", method="POST", path="/api/v3/order", status=503)
        ask = w.best()[1]
        loop = asyncio.get_running_loop()
        started = loop.time()
        parent = await w.engine.submit(w.intent("f503", limit_price=str(ask + 5)))
        assert child_of(w.engine, parent).status is OrderStatus.IN_FLIGHT
        await until("the 503 to be resolved", lambda: child_of(w.engine, parent).is_terminal, 15)
        elapsed = loop.time() - started
        child = child_of(w.engine, parent)
        assert child.status is OrderStatus.FAILED
        assert "never received" in (child.reason or "")
        assert "receive window" in (child.reason or "")
        assert elapsed < 8, elapsed  # window 1.5 s + 0.5 s margin, then one look
        assert w.sim.faults.fired == {"fail": 1}
        assert w.sim_orders() == []  # not re-sent, nothing else sent
        assert w.engine.order(parent.order_id).status is OrderStatus.FAILED
        assert w.engine_eth() == w.eth_moved() == 0


async def test_a_cancel_crossing_a_fill_ends_cancelled_with_the_fill_recorded() -> None:
    async with world(recv_window_ms=5000, timeout_s=5.0) as w:
        bid, ask = w.best()
        tick = w.venue.market("ETH/USDC").price_step
        assert tick is not None
        price = bid + tick  # the best bid: the crossing sell meets us first
        assert price < ask
        parent = await w.engine.submit(w.intent("cross", quantity="0.2", limit_price=str(price)))
        await until("the order to rest", lambda: child_of(w.engine, parent).venue_order_id)
        assert child_of(w.engine, parent).status is OrderStatus.WORKING
        w.sim.inject_rest_fault("delay", method="DELETE", path="/api/v3/order", delay_s=1.0)
        cancel = asyncio.create_task(w.engine.cancel(parent.order_id))
        await until("the cancel to be on its way", lambda: w.sim.faults.fired.get("delay") == 1)
        # while the cancel is held, another account hits our resting order
        w.sim.engine.place(
            OTHER,
            SYMBOL,
            "SELL",
            "LIMIT",
            quantity=Decimal("0.05"),
            price=price,
            time_in_force="IOC",
        )
        await cancel
        await until(
            "the crossed fill to be recorded",
            lambda: child_of(w.engine, parent).filled_quantity == Decimal("0.05"),
        )
        child = child_of(w.engine, parent)
        assert child.status is OrderStatus.CANCELLED
        (sim_order,) = w.sim_orders()
        assert sim_order.status == "CANCELED" and sim_order.executed_qty == Decimal("0.05")
        fills = [f for f in w.engine.projections.fills.values() if f.order_id == child.order_id]
        trades = w.sim.engine.account_trades(OURS, SYMBOL)
        assert sorted(str(f.trade_id) for f in fills) == sorted(str(t.trade_id) for t in trades)
        assert w.engine.order(parent.order_id).filled_quantity == Decimal("0.05")
        assert w.engine_eth() == w.eth_moved()
        assert w.sim_executed() == Decimal("0.05")


async def test_a_twap_whose_slice_is_delayed_never_trades_more_than_its_intent() -> None:
    async with world(recv_window_ms=8000) as w:
        w.sim.inject_rest_fault("delay", method="POST", path="/api/v3/order", delay_s=3.0)
        ask = w.best()[1]
        intent = w.intent(
            "twap-late",
            quantity="0.3",
            limit_price=str(ask + 5),
            algo="twap",
            algo_params={"duration": "3s", "slices": 3},
        )
        parent = await w.engine.submit(intent)
        await until("the twap to end", lambda: w.engine.order(parent.order_id).is_terminal, 40)
        final = w.engine.order(parent.order_id)
        assert final.status is OrderStatus.FILLED, final
        assert final.filled_quantity == Decimal("0.3")
        assert w.sim_executed() == Decimal("0.3")  # not 0.4: the delayed slice was not re-sent
        coids = [o.client_order_id for o in w.sim_orders()]
        assert len(coids) == len(set(coids)) == len(final.children)
        assert w.engine_eth() == w.eth_moved() == Decimal("0.2997")  # 0.3 less 0.1 % fee
