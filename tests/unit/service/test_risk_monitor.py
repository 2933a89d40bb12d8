"""The risk monitor: bounded rate on an injected clock, hysteresis, events in the store, and
webhooks POSTed over real HTTP on loopback (an aiohttp test server), retried with backoff,
never blocking the monitor."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from oms_chain.model import Asset, ManualClock
from oms_chain.model.errors import InvalidInput
from oms_chain.risk import AlertRule, Holding, MarketSnapshot, Metric
from oms_chain.service.risk_monitor import MONITOR_STREAM, RiskMonitor, WebhookSender
from oms_chain.store import open_store

NS = 1_000_000_000
ETH = Asset.native(1)
HELD = [Holding(instrument=ETH, quantity=D(7), venue="wallet:1")]
RULE = AlertRule(name="delta", metric=Metric.ABS_DELTA_USD, threshold=D(15000), clear_at=D(13000))


class Receiver:
    """A webhook receiver that answers ``statuses`` in turn (then 200) and records bodies."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.bodies: list[dict[str, Any]] = []
        self.hits = 0
        self.gate: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.gate is not None:
            await self.gate.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.bodies.append(json.loads(await request.text()))
        return web.Response(status=status)


async def serve(receiver: Receiver) -> TestServer:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


class Sleeps:
    """Injected backoff sleep: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, s: float) -> None:
        self.delays.append(s)
        await asyncio.sleep(0)


def market(clock: ManualClock, spot: int) -> MarketSnapshot:
    return MarketSnapshot(now_ns=clock.now_ns(), spots={"ETH": D(spot)})


async def test_alert_is_sent_once_while_true_and_cleared_past_clear_at(tmp_path):
    receiver = Receiver()
    server = await serve(receiver)
    hook = WebhookSender(str(server.make_url("/hook")), sleep=Sleeps())
    clock = ManualClock()
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    mon = RiskMonitor(
        rules=[RULE], holdings=lambda: HELD, clock=clock, store=store, webhooks=[hook]
    )
    sent = []
    for spot in (2000, 2200, 2300, 1900, 1800, 1700):
        clock.advance(2 * NS)
        sent.append(await mon.on_market(market(clock, spot)))
    assert [len(a or ()) for a in sent] == [0, 1, 0, 0, 1, 0]
    await hook.drain()
    assert [(b["rule"], b["raised"], b["value"]) for b in receiver.bodies] == [
        ("delta", True, "15400.0"),
        ("delta", False, "12600.0"),
    ]
    assert receiver.bodies[0]["message"] == "delta: abs_delta_usd 15400.0 is above the limit 15000"
    recs = [r for r in store.read_all() if r.stream_id == MONITOR_STREAM]
    assert [r.event_type for r in recs] == ["PortfolioAlertRaised", "PortfolioAlertCleared"]
    await hook.close()
    await server.close()


async def test_a_raised_alert_is_not_sent_again_after_a_restart(tmp_path):
    clock = ManualClock()
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    mon = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=clock, store=store)
    assert len(await mon.on_market(market(clock, 2200)) or ()) == 1
    again = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=clock, store=store)
    assert again.state.active == frozenset({"delta"})
    clock.advance(2 * NS)
    assert await again.on_market(market(clock, 2300)) == ()
    clock.advance(2 * NS)
    (cleared,) = await again.on_market(market(clock, 1800)) or ()
    assert not cleared.raised


async def test_updates_inside_the_interval_are_coalesced_to_the_newest():
    clock = ManualClock()
    mon = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=clock, min_interval_s=1)
    assert await mon.on_market(market(clock, 2000)) == ()
    for spot in (2300, 2100, 2150):  # inside the second: kept back
        clock.advance(NS // 10)
        assert await mon.on_market(market(clock, spot)) is None
    assert mon.evaluations == 1
    (alert,) = await mon.flush() or ()
    assert alert.value == D(7 * 2150)
    assert await mon.flush() is None
    clock.advance(NS)
    assert await mon.on_market(market(clock, 2150)) == ()
    assert mon.evaluations == 3


async def test_a_failing_webhook_is_retried_with_backoff():
    receiver = Receiver(statuses=[500, 503, 200])
    server = await serve(receiver)
    sleeps = Sleeps()
    hook = WebhookSender(str(server.make_url("/hook")), backoff_s=0.5, attempts=5, sleep=sleeps)
    hook.send({"n": 1})
    await hook.drain()
    assert (receiver.hits, hook.delivered, hook.failed, sleeps.delays) == (3, 1, 0, [0.5, 1.0])
    assert receiver.bodies == [{"n": 1}]
    await hook.close()
    await server.close()


async def test_a_dead_webhook_gives_up_and_does_not_stall_the_monitor_or_other_hooks():
    receiver = Receiver()
    server = await serve(receiver)
    dead_server = await serve(Receiver())
    dead_url = str(dead_server.make_url("/hook"))
    await dead_server.close()  # nothing listens there any more: connection refused
    sleeps = Sleeps()
    dead = WebhookSender(dead_url, attempts=3, backoff_s=1, max_backoff_s=1.5, sleep=sleeps)
    live = WebhookSender(str(server.make_url("/hook")), sleep=Sleeps())
    clock = ManualClock()
    mon = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=clock, webhooks=[dead, live])
    await mon.on_market(market(clock, 2200))
    await asyncio.gather(dead.drain(), live.drain())
    assert (dead.delivered, dead.failed, sleeps.delays) == (0, 1, [1.0, 1.5])
    assert [b["raised"] for b in receiver.bodies] == [True]
    await dead.close()
    await live.close()
    await server.close()


async def test_a_hung_receiver_fills_the_bounded_queue_and_never_blocks_send():
    receiver = Receiver()
    receiver.gate = asyncio.Event()  # the receiver answers nothing until released
    server = await serve(receiver)
    hook = WebhookSender(str(server.make_url("/hook")), max_queue=2, sleep=Sleeps())
    hook.send({"n": 0})
    while receiver.hits == 0:  # the first POST is now hanging at the receiver
        await asyncio.sleep(0.01)
    for n in range(1, 6):
        hook.send({"n": n})
    assert (hook.pending, hook.dropped) == (2, 3)
    receiver.gate.set()
    await hook.drain()
    assert [b["n"] for b in receiver.bodies] == [0, 4, 5]
    await hook.close()
    await server.close()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"url": "ftp://x"}, "http:// or https://"),
        ({"max_queue": 0}, "max_queue"),
        ({"attempts": True}, "attempts"),
        ({"backoff_s": -1}, "backoff_s"),
    ],
)
def test_bad_webhook_arguments_are_refused(kw, match):
    args: dict[str, Any] = {"url": "http://127.0.0.1:1/hook", **kw}
    url = args.pop("url")
    with pytest.raises(InvalidInput, match=match):
        WebhookSender(url, **args)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"rules": [RULE, RULE]}, "used twice"),
        ({"rules": [1]}, "AlertRule"),
        ({"holdings": 3}, "holdings"),
        ({"min_interval_s": -1}, "min_interval_s"),
        ({"store": object()}, "store"),
        ({"webhooks": ["http://x"]}, "WebhookSender"),
        ({"sleep": 3}, "sleep must be a callable"),
    ],
)
def test_bad_monitor_arguments_are_refused(kw, match):
    args: dict[str, Any] = {"rules": [RULE], "holdings": lambda: HELD, "clock": ManualClock()}
    args.update(kw)
    with pytest.raises(InvalidInput, match=match):
        RiskMonitor(**args)


async def test_a_bad_market_is_refused():
    mon = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=ManualClock())
    with pytest.raises(InvalidInput, match="MarketSnapshot"):
        await mon.on_market({"ETH": 1})  # type: ignore[arg-type]


async def test_a_venue_quote_feed_drives_the_monitor_on_the_injected_clock():
    from oms_chain.model import SpotPair
    from oms_chain.service.risk_monitor import quote_feed
    from oms_chain.venues import PaperVenue

    clock = ManualClock()
    eth = Asset.cex("paper", "ETH", 8)
    pair = SpotPair(base=eth, quote=Asset.cex("paper", "USDC", 6))
    venue = PaperVenue("paper", clock=clock, prices={pair.id: D(2000)})
    path = iter([D(2200), D(2300), D(1800)])

    async def sleep(s: float) -> None:  # time passes and the market moves
        clock.advance(int(s * NS))
        venue.set_price(pair.id, next(path))

    mon = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=clock, min_interval_s=1)
    feed = quote_feed({"ETH": (venue, pair)}, clock=clock, interval_s=2, sleep=sleep, updates=4)
    await mon.run(feed)
    assert mon.evaluations == 4
    assert [(a.raised, a.value) for a in mon.alerts] == [(True, D(15400)), (False, D(12600))]
    with pytest.raises(InvalidInput, match="sources"):
        await anext(quote_feed({}, clock=clock, interval_s=1))


class TimerSleep:
    """Injected sleep of the monitor's timer: records each delay and lets exactly that much
    time pass on the manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, s: float) -> None:
        self.delays.append(s)
        self.clock.advance(round(s * NS))


async def test_a_sharp_move_then_a_quiet_market_alerts_when_the_interval_ends(tmp_path):
    clock = ManualClock(start_ns=1_000 * NS)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    timer = TimerSleep(clock)
    mon = RiskMonitor(
        rules=[RULE],
        holdings=lambda: HELD,
        clock=clock,
        min_interval_s=1,
        store=store,
        sleep=timer,
    )
    assert await mon.on_market(market(clock, 2000)) == ()
    clock.advance(NS // 5)
    assert await mon.on_market(market(clock, 2300)) is None  # held back by the rate ...
    clock.advance(3 * NS // 10)
    assert await mon.on_market(market(clock, 2350)) is None  # ... the newest wins
    await mon.drain()  # ... and no further update comes
    assert timer.delays == [0.5]
    assert mon.evaluations == 2
    (alert,) = mon.alerts
    assert (alert.raised, alert.value, alert.ts_ns) == (True, D(7 * 2350), 1_001 * NS)
    assert [r.event_type for r in store.read_all()] == ["PortfolioAlertRaised"]
    await mon.drain()  # nothing held back: returns at once
    assert await mon.flush() is None
    await mon.close()


async def test_flush_evaluates_at_once_and_stops_the_timer():
    clock = ManualClock()
    timer = TimerSleep(clock)
    mon = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=clock, sleep=timer)
    await mon.on_market(market(clock, 2000))
    await mon.on_market(market(clock, 2300))
    (alert,) = await mon.flush() or ()
    assert (alert.value, alert.ts_ns, timer.delays) == (D(7 * 2300), clock.now_ns(), [])
    await mon.drain()
    assert mon.evaluations == 2


async def test_a_snapshot_the_risk_functions_refuse_degrades_the_monitor_and_it_goes_on(tmp_path):
    receiver = Receiver()
    server = await serve(receiver)
    hook = WebhookSender(str(server.make_url("/hook")), sleep=Sleeps())
    clock = ManualClock(start_ns=5 * NS)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    mon = RiskMonitor(
        rules=[RULE],
        holdings=lambda: HELD,
        clock=clock,
        store=store,
        webhooks=[hook],
        sleep=TimerSleep(clock),
    )
    no_spot = MarketSnapshot(now_ns=7 * NS, spots={"BTC": D(1)})

    async def feed() -> Any:
        for m in (2000, no_spot, no_spot, 2300, 1700):
            clock.advance(2 * NS)
            yield m if isinstance(m, MarketSnapshot) else market(clock, m)

    await mon.run(feed())
    await hook.drain()
    assert (mon.evaluations, mon.failed_evaluations, mon.degraded) == (3, 2, None)
    assert [(a.raised, a.value) for a in mon.alerts] == [(True, D(16100)), (False, D(11900))]
    recs = [r for r in store.read_all() if r.stream_id == MONITOR_STREAM]
    # the same failure twice is recorded once
    assert [r.event_type for r in recs] == [
        "RiskMonitorDegraded",
        "PortfolioAlertRaised",
        "PortfolioAlertCleared",
    ]
    degraded = recs[0].payload
    assert (degraded["snapshot_ns"], degraded["ts_event"]) == (7 * NS, 9 * NS)
    assert degraded["reason"].startswith("InvalidInput: ") and "ETH" in degraded["reason"]
    assert receiver.bodies[0]["kind"] == "monitor_degraded"
    assert receiver.bodies[0]["reason"] == degraded["reason"]
    assert [b.get("raised") for b in receiver.bodies[1:]] == [True, False]
    await hook.close()
    await server.close()


async def test_a_held_back_snapshot_that_is_refused_degrades_from_the_timer():
    clock = ManualClock()
    mon = RiskMonitor(rules=[RULE], holdings=lambda: HELD, clock=clock, sleep=TimerSleep(clock))
    await mon.on_market(market(clock, 2000))
    assert await mon.on_market(MarketSnapshot(now_ns=0, spots={"BTC": D(1)})) is None
    await mon.drain()  # the failure stays inside the monitor
    assert (mon.evaluations, mon.failed_evaluations) == (1, 1)
    assert mon.degraded is not None and mon.degraded.startswith("InvalidInput: ")
    clock.advance(NS)
    assert await mon.on_market(market(clock, 2000)) == ()
    assert mon.degraded is None


# --- push feeds ------------------------------------------------------------------------------


async def _pushed(clock: ManualClock, moves: list[tuple[float, str]]) -> Any:
    """A price source that pushes ``moves`` (seconds after the previous one, price)."""
    for dt, price in moves:
        clock.advance(int(dt * NS))
        yield D(price)


async def test_push_feed_snapshots_each_pushed_price_once_every_underlying_has_one():
    clock = ManualClock(NS)
    eth: asyncio.Queue[D | None] = asyncio.Queue()
    btc: asyncio.Queue[D | None] = asyncio.Queue()

    async def drain(q: asyncio.Queue[D | None]) -> Any:
        while (v := await q.get()) is not None:
            yield v

    from oms_chain.service.risk_monitor import push_feed

    feed = push_feed({"ETH": drain(eth), "BTC": drain(btc)}, clock=clock, vols={})
    eth.put_nowait(D(2000))
    btc.put_nowait(D(40000))
    first = await anext(feed)  # ETH alone gave none: BTC had no price yet
    assert (first.spots, first.now_ns) == ({"ETH": D(2000), "BTC": D(40000)}, NS)
    clock.advance(NS)
    eth.put_nowait(D(2100))
    second = await anext(feed)
    assert (second.spots, second.now_ns) == ({"ETH": D(2100), "BTC": D(40000)}, 2 * NS)
    eth.put_nowait(None)
    btc.put_nowait(None)
    with pytest.raises(StopAsyncIteration):
        await anext(feed)


async def test_monitor_fed_by_pushes_is_rate_bounded_and_alerts_on_the_newest_price():
    from oms_chain.service.risk_monitor import push_feed

    clock = ManualClock(NS)
    never = asyncio.Event()

    async def sleep(_: float) -> None:  # the timer never fires: run() flushes at the end
        await never.wait()

    monitor = RiskMonitor(
        rules=[RULE], holdings=lambda: HELD, clock=clock, min_interval_s=1.0, sleep=sleep
    )
    # pushed at t = 0, 0.5 and 0.6 s: the first is evaluated, the others held back (rate),
    # the newest of them evaluated when the feed ends
    source = _pushed(clock, [(0.0, "2000"), (0.5, "2300"), (0.1, "2400")])
    await monitor.run(push_feed({"ETH": source}, clock=clock))
    assert monitor.evaluations == 2
    (alert,) = monitor.alerts
    assert (alert.rule.name, alert.value) == ("delta", D(16800))


async def test_a_failing_push_source_ends_the_feed_with_its_error():
    from oms_chain.service.risk_monitor import push_feed

    async def broken() -> Any:
        yield D(1)
        raise ConnectionError("ticker websocket closed")

    clock = ManualClock(NS)
    feed = push_feed({"ETH": broken()}, clock=clock)
    assert (await anext(feed)).spots == {"ETH": D(1)}
    with pytest.raises(ConnectionError, match="ticker websocket closed"):
        await anext(feed)
    with pytest.raises(InvalidInput, match="must map each underlying"):
        await anext(push_feed({}, clock=clock))  # checked on first use, before any task
