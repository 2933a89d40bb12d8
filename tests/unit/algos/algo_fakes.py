"""A small fake engine implementing exactly the calls an AlgoRunner uses, plus builders."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.algos.base import ChildView, MarketSnapshot, ParentView
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import (
    InstrumentId,
    OrderId,
    VenueId,
    child_order_id,
    parent_order_id,
)
from oms_chain.model.intent import Side
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.venues.base import LiquidityCurve

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
START = 1_700_000_000_000_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
_S = OrderStatus


def make_intent(algo: str, params: dict[str, Any] | None = None, **kw: Any) -> Intent:
    args: dict[str, Any] = dict(
        intent_id=kw.pop("intent_id", "i-1"),
        account="acct",
        instrument=PAIR,
        side="buy",
        quantity="100",
        venues=["paper", "other"],
        now_ns=START,
        algo=algo,
        algo_params=params or {},
    )
    args.update(kw)
    return Intent.create(**args)


@dataclass(frozen=True)
class Touched:
    """Stand-in event: something happened to ``order_id``."""

    order_id: OrderId


#: How much of a new child fills at once (fraction of its quantity).
FillPolicy = Callable[[Order], Decimal]


def fill_all(_: Order) -> Decimal:
    return Decimal(1)


def fill_none(_: Order) -> Decimal:
    return Decimal(0)


class FakeEngine:
    """Engine stand-in with the hooks of the real one: order, subscribe, algo_state,
    spawn_child (idempotent on seq, write-ahead: recorded, then sent), cancel, stop_algo."""

    def __init__(
        self, intent: Intent, clock: ManualClock, *, policy: FillPolicy = fill_all
    ) -> None:
        self.intent = intent
        self.clock = clock
        self.policy = policy
        self.pid = parent_order_id(intent.intent_id)
        assert intent.quantity is not None
        self.orders: dict[OrderId, Order] = {
            self.pid: Order(
                order_id=self.pid,
                intent_id=intent.intent_id,
                account=intent.account,
                instrument=intent.instrument,
                side=intent.side,
                quantity=intent.quantity,
                limit_price=intent.limit_price,
                ts_init=intent.ts_init,
            ).transition(_S.RISK_ACCEPTED, ts=intent.ts_init)
        }
        self.state = "running"
        self.recorded: Counter[int] = Counter()
        self.sent: Counter[int] = Counter()
        self.spawn_log: list[tuple[int, int, Decimal, Decimal | None, VenueId]] = []
        self.max_committed = Decimal(0)
        self.pauses: list[tuple[int, int | None]] = []
        self._queues: list[asyncio.Queue[Any]] = []

    # --- the hooks ---------------------------------------------------------------------

    def order(self, order_id: OrderId) -> Order:
        return self.orders[order_id]

    def subscribe(self) -> AsyncIterator[Any]:
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._queues.append(q)

        async def gen() -> AsyncIterator[Any]:
            try:
                while True:
                    item = await q.get()
                    if item is None:
                        return
                    yield item
            finally:
                if q in self._queues:
                    self._queues.remove(q)

        return gen()

    def algo_state(self, parent_id: OrderId) -> str:
        return self.state

    def algo_pauses(self, parent_id: OrderId) -> tuple[tuple[int, int | None], ...]:
        return tuple(self.pauses)

    async def spawn_child(
        self,
        parent_id: OrderId,
        *,
        seq: int,
        venue: VenueId,
        quantity: Decimal,
        limit_price: Decimal | None,
    ) -> Order:
        parent = self.orders[parent_id]
        cid = child_order_id(parent_id, seq)
        if cid in self.orders:
            return self.orders[cid]
        if parent.is_terminal:
            raise InvalidInput(f"order {parent_id} is terminal")
        allocated = sum(
            (c.filled_quantity if c.is_terminal else c.quantity for c in self.children()),
            Decimal(0),
        )
        if quantity <= 0 or allocated + quantity > parent.quantity:
            raise InvalidInput(f"child of {quantity} past the parent ({allocated} allocated)")
        now = self.clock.now_ns()
        child = Order(
            order_id=cid,
            intent_id=parent.intent_id,
            account=parent.account,
            instrument=parent.instrument,
            side=parent.side,
            quantity=quantity,
            limit_price=limit_price,
            parent_id=parent_id,
            seq=seq,
            venue=venue,
            ts_init=now,
        ).transition(_S.RISK_ACCEPTED, ts=now)
        child = child.transition(_S.SENDING, ts=now)
        self.orders[cid] = child
        self.orders[parent_id] = parent.with_child(cid)
        self.recorded[seq] += 1
        self.spawn_log.append((now, seq, quantity, limit_price, venue))
        self._sync()
        await asyncio.sleep(0)  # the send is a suspension point: a kill can land here
        self.sent[seq] += 1
        self.orders[cid] = self.orders[cid].transition(_S.WORKING, ts=now)
        ratio = self.policy(self.orders[cid])
        if ratio > 0:
            self.fill(seq, (quantity * ratio).quantize(Decimal("1e-8")))
        self._publish(cid)
        return self.orders[cid]

    async def spawn_routed(
        self,
        parent_id: OrderId,
        *,
        seq: int,
        quantity: Decimal,
        limit_price: Decimal | None,
    ) -> list[Order]:
        """No router here: the whole slice goes to the first venue, like an engine without a
        splitter."""
        child = await self.spawn_child(
            parent_id,
            seq=seq,
            venue=self.intent.venues[0],
            quantity=quantity,
            limit_price=limit_price,
        )
        return [child]

    async def cancel(self, order_id: OrderId) -> Order:
        if order_id == self.pid:
            for c in self.children():
                if not c.is_terminal:
                    self._end(c, _S.CANCELLED)
            self.state = "cancelled"
            self._sync()
            self._publish(self.pid)
            return self.orders[self.pid]
        order = self.orders[order_id]
        if not order.is_terminal:
            self._end(order, _S.CANCELLED)
            self._sync()
        self._publish(order_id)
        return self.orders[self.pid]

    async def stop_algo(self, parent_id: OrderId, reason: str) -> Order:
        self.state = "cancelled"
        return await self.cancel(parent_id)

    # --- test controls -------------------------------------------------------------------

    def children(self) -> list[Order]:
        return [self.orders[c] for c in self.orders[self.pid].children]

    def child(self, seq: int) -> Order:
        return self.orders[child_order_id(self.pid, seq)]

    def fill(self, seq: int, quantity: Decimal, price: Decimal | None = None) -> None:
        child = self.child(seq)
        px = price or child.limit_price or Decimal(2000)
        self.orders[child.order_id] = child.with_fill(quantity, px, ts=self.clock.now_ns())
        self._sync()
        self._publish(child.order_id)

    def set_state(self, state: str) -> None:
        now = self.clock.now_ns()
        if state == "paused" and self.state != "paused":
            self.pauses.append((now, None))
        elif state != "paused" and self.state == "paused":
            self.pauses[-1] = (self.pauses[-1][0], now)
        self.state = state
        self._publish(self.pid)

    def close_stream(self) -> None:
        for q in list(self._queues):
            q.put_nowait(None)

    @property
    def parent(self) -> Order:
        return self.orders[self.pid]

    @property
    def committed(self) -> Decimal:
        return sum(
            (c.filled_quantity + (c.leaves_quantity if c.is_open else 0) for c in self.children()),
            Decimal(0),
        )

    @property
    def visible(self) -> Decimal:
        return sum((c.leaves_quantity for c in self.children() if c.is_open), Decimal(0))

    def view(self) -> ParentView:
        return ParentView.of(self.intent, self.parent, self.children(), self.clock.now_ns())

    # --- internals -----------------------------------------------------------------------

    def _end(self, order: Order, to: OrderStatus) -> None:
        self.orders[order.order_id] = order.transition(to, ts=self.clock.now_ns())

    def _sync(self) -> None:
        p = self.orders[self.pid]
        kids = self.children()
        filled = sum((k.filled_quantity for k in kids), Decimal(0))
        paid = sum(((k.avg_fill_price or Decimal(0)) * k.filled_quantity for k in kids), Decimal(0))
        p = p.with_children_filled(filled, paid / filled if filled else None)
        if filled >= p.quantity:
            target = _S.FILLED
        elif self.state == "cancelled" and all(k.is_terminal for k in kids):
            target = _S.CANCELLED
        else:
            target = _S.PARTIALLY_FILLED if filled else _S.WORKING
        if target is not p.status:
            if target is _S.PARTIALLY_FILLED and p.status is _S.RISK_ACCEPTED:
                p = p.transition(_S.WORKING, ts=self.clock.now_ns())
            if target is not p.status:
                p = p.transition(target, ts=self.clock.now_ns())
        self.orders[self.pid] = p
        self.max_committed = max(self.max_committed, self.committed)

    def _publish(self, order_id: OrderId) -> None:
        for q in self._queues:
            q.put_nowait(Touched(order_id))


class FakeMarket:
    """Market data set by the test: curves per venue, traded volume, volume buckets."""

    def __init__(self) -> None:
        self.curves: dict[VenueId, LiquidityCurve] = {}
        self.volume = Decimal(0)
        self.buckets: tuple[Decimal, ...] = ()
        self.bucket_calls: list[tuple[int, int, int]] = []

    async def liquidity(self, venue: VenueId, instrument: Any, side: Side) -> LiquidityCurve:
        if venue not in self.curves:
            raise InvalidInput(f"no curve for {venue}")
        return self.curves[venue]

    async def traded_volume(self, instrument: Any, start_ns: int, end_ns: int) -> Decimal:
        return self.volume

    async def volume_buckets(
        self, instrument: Any, start_ns: int, bucket_ns: int, count: int
    ) -> tuple[Decimal, ...]:
        self.bucket_calls.append((start_ns, bucket_ns, count))
        return self.buckets


def curve(
    venue: str,
    levels: list[tuple[str, str]],
    *,
    side: Side = Side.BUY,
    fee_bps: str = "0",
    fixed: str = "0",
) -> LiquidityCurve:
    from oms_chain.venues.base import LiquidityLevel

    return LiquidityCurve(
        venue=VenueId(venue),
        instrument_id=InstrumentId(PAIR.id),
        side=side,
        levels=tuple(LiquidityLevel(Decimal(p), Decimal(q)) for p, q in levels),
        taker_fee_bps=Decimal(fee_bps),
        fixed_cost=Decimal(fixed),
        ts_event=START,
    )


class PureSim:
    """Drives a scheduler without a runner: children as plain views, actions applied at once."""

    def __init__(self, intent: Intent, scheduler: Any, clock: ManualClock) -> None:
        self.intent = intent
        self.scheduler = scheduler
        self.clock = clock
        assert intent.quantity is not None
        self.quantity = intent.quantity
        self.children: list[ChildView] = []

    def view(self) -> ParentView:
        return ParentView(
            intent=self.intent,
            quantity=self.quantity,
            children=tuple(self.children),
            now_ns=self.clock.now_ns(),
        )

    def step(self, market: MarketSnapshot | None = None, fill: Decimal = Decimal(1)) -> Any:
        """One decision, applied: spawns fill ``fill`` of their size at once, cancels land."""
        d = self.scheduler.decide(self.view(), market or MarketSnapshot())
        for c in d.cancel:
            self._replace(c.seq, status=_S.CANCELLED)
        for s in d.spawn:
            assert all(c.seq != s.seq for c in self.children), "seq spawned twice"
            filled = (s.quantity * fill).quantize(Decimal("1e-8"))
            status = _S.FILLED if filled == s.quantity else _S.WORKING
            if 0 < filled < s.quantity:
                status = _S.PARTIALLY_FILLED
            self.children.append(
                ChildView(
                    seq=s.seq,
                    order_id=OrderId(f"p/{s.seq}"),
                    venue=s.venue,
                    quantity=s.quantity,
                    filled=filled,
                    limit_price=s.limit_price,
                    status=status,
                    ts_init=self.clock.now_ns(),
                )
            )
        return d

    def settle(self, market: MarketSnapshot | None = None, fill: Decimal = Decimal(1)) -> Any:
        """Decide until a decision does nothing (at most 10 rounds); return the last one."""
        for _ in range(10):
            d = self.step(market, fill)
            if not d.spawn and not d.cancel:
                return d
        raise AssertionError("scheduler did not settle")

    def fill(self, seq: int, quantity: Decimal) -> None:
        c = next(c for c in self.children if c.seq == seq)
        filled = c.filled + quantity
        status = _S.FILLED if filled == c.quantity else _S.PARTIALLY_FILLED
        self._replace(seq, filled=filled, status=status)

    def _replace(self, seq: int, **changes: Any) -> None:
        from dataclasses import replace

        self.children = [replace(c, **changes) if c.seq == seq else c for c in self.children]

    @property
    def committed(self) -> Decimal:
        return self.view().committed

    @property
    def filled(self) -> Decimal:
        return self.view().filled
