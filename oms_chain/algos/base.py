"""What every execution algorithm shares: the parent's state view, the decisions a scheduler
returns, parameter parsing, sleeping, seeded randomness and the participation-rate cap.

A scheduler is pure: :meth:`Scheduler.decide` maps (the intent and its params, the parent and
its children, the time, market observations) to a :class:`Decision`. It keeps no state that
matters between calls, so after a restart the engine replays its events, rebuilds the
:class:`ParentView` and the schedule stands exactly where it stood. Child sequence numbers
are derived from the children that exist (:attr:`ParentView.next_seq`), so a slice recorded
before a crash is seen, never spawned twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Protocol, runtime_checkable

from oms_chain.model.clock import Clock, ManualClock
from oms_chain.model.errors import InvalidInput, InvalidIntent
from oms_chain.model.ids import OrderId, VenueId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import AlgoParam, Intent, Side
from oms_chain.model.orders import Order, OrderStatus
from oms_chain.routing.plan import ALLOW_WARNINGS_PARAM, allowed_warnings
from oms_chain.venues.base import LiquidityCurve

__all__ = [
    "CancelChild",
    "ChildView",
    "ClockSleeper",
    "Decision",
    "ManualSleeper",
    "MarketData",
    "MarketRequest",
    "MarketSnapshot",
    "ParamReader",
    "ParentView",
    "Scheduler",
    "Sleeper",
    "SpawnChild",
    "apply_participation_cap",
    "parse_duration",
    "participation_room",
    "quantize_down",
    "seeded_rng",
]

_ZERO = Decimal(0)
_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_NS["d"] = 24 * _NS["h"]
#: Longest duration param accepted (ten years): beyond it a schedule is a typo.
MAX_DURATION_NS = 10 * 366 * _NS["d"]
#: Largest magnitude of a decimal param (base or quote units, ratios).
MAX_PARAM_DECIMAL = Decimal(10) ** 18
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)\s*$")


# --- the parent as a scheduler sees it ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildView:
    """One child order: sequence number, quantities in base, status, when it was created."""

    seq: int
    order_id: OrderId
    venue: VenueId | None
    quantity: Decimal
    filled: Decimal
    limit_price: Decimal | None
    status: OrderStatus
    ts_init: int

    @classmethod
    def from_order(cls, order: Order) -> ChildView:
        """The view of a child :class:`~oms_chain.model.orders.Order`."""
        return cls(
            seq=order.seq,
            order_id=order.order_id,
            venue=order.venue,
            quantity=order.quantity,
            filled=order.filled_quantity,
            limit_price=order.limit_price,
            status=order.status,
            ts_init=order.ts_init,
        )

    @property
    def is_open(self) -> bool:
        """Still working (or its send is unsettled): its unfilled part may still execute."""
        return self.status not in _TERMINAL

    @property
    def leaves(self) -> Decimal:
        """Quantity that may still execute (zero once terminal)."""
        return self.quantity - self.filled if self.is_open else _ZERO


_TERMINAL = frozenset(
    {
        OrderStatus.REJECTED,
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
        OrderStatus.FAILED,
    }
)
_FAILED = frozenset({OrderStatus.REJECTED, OrderStatus.FAILED})


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentView:
    """The parent order of an algo at ``now_ns``: its intent, quantity and children."""

    intent: Intent
    quantity: Decimal
    children: tuple[ChildView, ...]
    now_ns: int

    @classmethod
    def of(cls, intent: Intent, parent: Order, children: list[Order], now_ns: int) -> ParentView:
        """Build the view from the engine's parent order and its child orders."""
        return cls(
            intent=intent,
            quantity=parent.quantity,
            children=tuple(sorted((ChildView.from_order(c) for c in children), key=_seq)),
            now_ns=now_ns,
        )

    @property
    def start_ns(self) -> int:
        """When the schedule starts: the intent's creation time."""
        return self.intent.ts_init

    @property
    def filled(self) -> Decimal:
        """Base quantity filled across every child."""
        return sum((c.filled for c in self.children), _ZERO)

    @property
    def committed(self) -> Decimal:
        """Filled plus what open children may still fill: the most this parent can end up with
        if no new child is spawned."""
        return sum((c.filled + c.leaves for c in self.children), _ZERO)

    @property
    def open_children(self) -> tuple[ChildView, ...]:
        return tuple(c for c in self.children if c.is_open)

    @property
    def failed_children(self) -> int:
        """Children the venue rejected or that failed (never executed)."""
        return sum(1 for c in self.children if c.status in _FAILED and c.filled == 0)

    @property
    def next_seq(self) -> int:
        """The sequence number the next new child gets."""
        return max((c.seq for c in self.children), default=-1) + 1

    @property
    def room(self) -> Decimal:
        """What may still be spawned without the children exceeding the parent."""
        return max(self.quantity - self.committed, _ZERO)


def _seq(c: ChildView) -> int:
    return c.seq


# --- market observations ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketRequest:
    """What a scheduler wants observed before it decides.

    ``curves``: liquidity curves of the intent's venues on its side. ``volume_since_ns``: the
    market's traded volume from that time until now. ``buckets``: ``(start_ns, bucket_ns,
    count)`` of historical volume buckets.
    """

    curves: bool = False
    volume_since_ns: int | None = None
    buckets: tuple[int, int, int] | None = None

    @property
    def empty(self) -> bool:
        return not self.curves and self.volume_since_ns is None and self.buckets is None


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSnapshot:
    """Observations answering a :class:`MarketRequest` (fields not asked for are empty)."""

    curves: tuple[LiquidityCurve, ...] = ()
    market_volume: Decimal | None = None
    volume_buckets: tuple[Decimal, ...] | None = None


EMPTY_MARKET = MarketSnapshot()


@runtime_checkable
class MarketData(Protocol):
    """Market observations for algorithms (quotes, traded volume, volume history)."""

    async def liquidity(self, venue: VenueId, instrument: Instrument, side: Side) -> LiquidityCurve:
        """What ``venue`` offers now on ``side`` (``BUY``: the asks), fees and fixed cost."""
        ...

    async def traded_volume(self, instrument: Instrument, start_ns: int, end_ns: int) -> Decimal:
        """Base quantity the whole market traded in ``[start_ns, end_ns)``."""
        ...

    async def volume_buckets(
        self, instrument: Instrument, start_ns: int, bucket_ns: int, count: int
    ) -> tuple[Decimal, ...]:
        """Traded base volume in ``count`` consecutive buckets of ``bucket_ns`` from
        ``start_ns`` (history: the same question always gets the same answer)."""
        ...


# --- decisions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnChild:
    """Send a new child: ``quantity`` base at ``limit_price`` (``None``: market order bounded
    by the intent's slippage), on ``venue`` if given (else the runner's default venue)."""

    seq: int
    quantity: Decimal
    limit_price: Decimal | None
    venue: VenueId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelChild:
    """Cancel the open child ``seq`` (stale, or the schedule is over)."""

    seq: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A scheduler's answer: children to spawn and to cancel, when to be asked again
    (``wake_at_ns``; ``None``: only when something happens), and whether the algo is over
    (``done``; open children are then cancelled and the parent closed)."""

    spawn: tuple[SpawnChild, ...] = ()
    cancel: tuple[CancelChild, ...] = ()
    wake_at_ns: int | None = None
    done: bool = False
    reason: str = ""


@runtime_checkable
class Scheduler(Protocol):
    """Turns a parent's state into the next actions; pure and deterministic."""

    def market_request(self, view: ParentView) -> MarketRequest:
        """What to observe before :meth:`decide` (an empty request: nothing)."""
        ...

    def decide(self, view: ParentView, market: MarketSnapshot) -> Decision:
        """The next actions for ``view`` at ``view.now_ns``."""
        ...


# --- parameters ---------------------------------------------------------------------------


def parse_duration(name: str, value: AlgoParam) -> int:
    """A duration param in integer nanoseconds: an int of ns, or a string like ``"90s"``,
    ``"30m"``, ``"2h"``, ``"1.5h"``, ``"250ms"``.

    Raises:
        InvalidIntent: not a positive duration; the message names the param.
    """
    ns: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        ns = value
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        ns = int(Decimal(m.group(1)) * _NS[m.group(2)])
    if ns is None or not 0 < ns <= MAX_DURATION_NS:
        raise InvalidIntent(
            f"algo_params[{name!r}] must be a positive duration of at most ten years (int ns "
            f"or e.g. '90s', '30m', '2h'), got {value!r}"
        )
    return ns


class ParamReader:
    """Reads and checks ``intent.algo_params``; every error names the param.

    Call :meth:`finish` last: it rejects params no getter asked for (typos).
    """

    def __init__(self, intent: Intent) -> None:
        if not isinstance(intent, Intent):
            raise InvalidIntent(f"a scheduler takes an Intent, got {type(intent).__name__}")
        self._algo = intent.algo
        self._params: Mapping[str, AlgoParam] = intent.params
        # the plan warnings an intent allows are for the engine's splitter, whatever the algo
        self._seen: set[str] = {ALLOW_WARNINGS_PARAM}
        try:
            allowed_warnings(self._params.get(ALLOW_WARNINGS_PARAM))
        except InvalidInput as exc:
            raise InvalidIntent(f"{self._algo} {exc}") from None

    def _get(self, name: str) -> AlgoParam | None:
        self._seen.add(name)
        return self._params.get(name)

    def _bad(self, name: str, want: str, got: object) -> InvalidIntent:
        return InvalidIntent(f"{self._algo} algo_params[{name!r}] must be {want}, got {got!r}")

    def has(self, name: str) -> bool:
        return name in self._params

    def decimal(
        self,
        name: str,
        default: Decimal | None = None,
        *,
        low: Decimal | None = None,
        high: Decimal | None = None,
        low_open: bool = False,
    ) -> Decimal | None:
        """A Decimal (int and numeric strings accepted) within ``low..high``."""
        raw = self._get(name)
        if raw is None:
            return default
        want = "a number" + (f" > {low}" if low_open else f" >= {low}" if low is not None else "")
        if high is not None:
            want += f" and <= {high}"
        if isinstance(raw, bool):
            raise self._bad(name, want, raw)
        try:
            value = Decimal(raw) if isinstance(raw, int | str) else raw
        except InvalidOperation:
            raise self._bad(name, want, raw) from None
        if not value.is_finite() or abs(value) > MAX_PARAM_DECIMAL:
            raise self._bad(name, want + f" (magnitude at most {MAX_PARAM_DECIMAL:.0e})", raw)
        if low is not None and (value < low or (low_open and value == low)):
            raise self._bad(name, want, raw)
        if high is not None and value > high:
            raise self._bad(name, want, raw)
        return value

    def integer(
        self, name: str, default: int | None = None, *, low: int = 1, high: int = 10**9
    ) -> int | None:
        """An int (not a bool) within ``low..high``."""
        raw = self._get(name)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise self._bad(name, f"an int in [{low}, {high}]", raw)
        return raw

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._get(name)
        if raw is None:
            return default
        if not isinstance(raw, bool):
            raise self._bad(name, "true or false", raw)
        return raw

    def duration(self, name: str, default: int | None = None) -> int | None:
        raw = self._get(name)
        if raw is None:
            return default
        return parse_duration(f"{self._algo} {name}", raw)

    def text(self, name: str, default: str | None = None) -> str | None:
        raw = self._get(name)
        if raw is None:
            return default
        if not isinstance(raw, str) or not raw.strip():
            raise self._bad(name, "a non-empty string", raw)
        return raw.strip()

    def finish(self) -> None:
        """Raises InvalidIntent naming any param that no getter read."""
        unknown = sorted(set(self._params) - self._seen)
        if unknown:
            raise InvalidIntent(
                f"{self._algo} does not take algo_params {unknown}; accepted: {sorted(self._seen)}"
            )


def require_quantity(intent: Intent) -> Decimal:
    """The intent's base quantity; algos schedule base quantities, not notionals."""
    if not isinstance(intent, Intent):
        raise InvalidIntent(f"a scheduler takes an Intent, got {type(intent).__name__}")
    if intent.quantity is None:
        raise InvalidIntent(
            f"algo {intent.algo!r} needs the intent's quantity (base); notional is not supported"
        )
    return intent.quantity


# --- helpers ------------------------------------------------------------------------------


def seeded_rng(intent: Intent, salt: str = "") -> random.Random:
    """A RNG seeded from the intent id (and ``salt``): the same intent draws the same numbers
    on every run and after every restart."""
    digest = hashlib.blake2b(f"{intent.intent_id}\x00{salt}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


def quantize_down(quantity: Decimal, decimals: int) -> Decimal:
    """``quantity`` rounded down to ``decimals`` places (never rounds a child up)."""
    return quantity.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


def participation_room(
    view: ParentView, max_participation: Decimal | None, volume: Decimal | None
) -> Decimal | None:
    """How much more may be committed under the participation cap (``None``: no cap)."""
    if max_participation is None:
        return None
    return max(max_participation * (volume or _ZERO) - view.committed, _ZERO)


def apply_participation_cap(
    decision: Decision, view: ParentView, max_participation: Decimal | None, volume: Decimal | None
) -> Decision:
    """Trim ``decision``'s spawns so that everything committed (filled plus open) stays within
    ``max_participation`` of the market ``volume`` traded since the parent started.

    ``volume`` ``None`` with a cap set means "unknown": nothing is spawned.
    """
    if max_participation is None or not decision.spawn:
        return decision
    allowed = max_participation * (volume or _ZERO) - view.committed
    decimals = view.intent.instrument.size_decimals
    kept: list[SpawnChild] = []
    for s in decision.spawn:
        qty = quantize_down(min(s.quantity, allowed), decimals)
        if qty <= 0:
            break
        kept.append(replace(s, quantity=qty))
        allowed -= qty
    return replace(decision, spawn=tuple(kept))


# --- sleeping -----------------------------------------------------------------------------


@runtime_checkable
class Sleeper(Protocol):
    """Waits until a point in (injected) time; also tells the time it sleeps by."""

    def now_ns(self) -> int:
        """Integer nanoseconds since the Unix epoch, from the injected clock."""
        ...

    async def sleep_until(self, ts_ns: int) -> None:
        """Return once the clock reads ``ts_ns`` or later."""
        ...


class ClockSleeper:
    """Sleeps on the event loop until an injected clock reaches a time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now_ns(self) -> int:
        return self._clock.now_ns()

    async def sleep_until(self, ts_ns: int) -> None:
        while (left := ts_ns - self._clock.now_ns()) > 0:
            await asyncio.sleep(left / 1e9)


@dataclass(order=True)
class _Waiter:
    ts_ns: int
    order: int
    future: asyncio.Future[None] = field(compare=False)


class ManualSleeper:
    """Sleepers that wake only when a test moves a :class:`ManualClock` with :meth:`advance_to`.

    ``settle`` is how many event-loop turns to give woken tasks to run before the next one is
    woken (they act without real I/O in tests).
    """

    def __init__(self, clock: ManualClock, *, settle: int = 50) -> None:
        self._clock = clock
        self._heap: list[_Waiter] = []
        self._count = 0
        self._settle = settle

    @property
    def clock(self) -> ManualClock:
        return self._clock

    def now_ns(self) -> int:
        return self._clock.now_ns()

    @property
    def pending(self) -> list[int]:
        """Wake times of current sleepers, earliest first."""
        return sorted(w.ts_ns for w in self._heap if not w.future.done())

    async def sleep_until(self, ts_ns: int) -> None:
        if ts_ns <= self._clock.now_ns():
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._heap, _Waiter(ts_ns, self._count, fut))
        await fut

    async def settle(self) -> None:
        """Let woken / ready tasks run."""
        for _ in range(self._settle):
            await asyncio.sleep(0)

    async def advance_to(self, ts_ns: int) -> None:
        """Move the clock to ``ts_ns``, waking every sleeper due by then in time order (the
        clock reads each sleeper's own wake time when it wakes)."""
        await self.settle()
        while self._heap and self._heap[0].ts_ns <= ts_ns:
            w = heapq.heappop(self._heap)
            if w.future.done():
                continue
            if w.ts_ns > self._clock.now_ns():
                self._clock.set(w.ts_ns)
            w.future.set_result(None)
            await self.settle()
        if ts_ns > self._clock.now_ns():
            self._clock.set(ts_ns)
        await self.settle()

    async def advance(self, ns: int) -> None:
        """:meth:`advance_to` ``now + ns``."""
        await self.advance_to(self._clock.now_ns() + ns)
