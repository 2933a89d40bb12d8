"""The Deribit-protocol options exchange on one loopback port: exchange, market maker,
index, expiry, faults.

>>> sim = await DeribitSimulator(DeribitConfig(seed=1)).start()      # doctest: +SKIP
>>> sim.create_account("key", "secret", {"ETH": 100})               # doctest: +SKIP
>>> ex = ccxt.pro.deribit({"apiKey": "key", "secret": "secret"})    # doctest: +SKIP
>>> ex.urls["api"] = sim.deribit_urls()                             # doctest: +SKIP

Non-async callers use :func:`run_deribit_in_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from aiohttp import web

from oms_chain.devnet.deribit.admin import add_admin_routes
from oms_chain.devnet.deribit.agents import MM_BALANCES, QuotingMaker
from oms_chain.devnet.deribit.exchange import DEFAULT_INDEX_USD, DeribitExchange
from oms_chain.devnet.deribit.instruments import Instrument
from oms_chain.devnet.deribit.ledger import DeribitAccount
from oms_chain.devnet.deribit.marks import VolSurface
from oms_chain.devnet.deribit.server import DeribitServer
from oms_chain.devnet.exchange.agents import PriceAnchor
from oms_chain.devnet.exchange.faults import FaultKind, Faults, RestFault
from oms_chain.model.errors import DevnetError, InvalidInput

__all__ = ["DeribitConfig", "DeribitSimulator", "DeribitThread", "run_deribit_in_thread"]

T = TypeVar("T")


class _ClockLike(Protocol):
    def now_ns(self) -> int: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class DeribitConfig:
    """Settings of one Deribit-protocol exchange. Keyword-only; unknown keys are a TypeError.

    ``port=0`` picks a free loopback port. ``index_usd`` is where the ETH / BTC indices start;
    ``anchor`` (a :class:`~oms_chain.devnet.exchange.agents.PriceAnchor`, e.g. the devnet's
    pools) moves them every ``anchor_interval_s``. ``instruments`` overrides the default
    listing (perpetuals and options on the next four Fridays). ``agents=False`` leaves the books
    empty; ``agents_running=False`` quotes once at start and then only on
    :meth:`DeribitSimulator.step_agents`. ``auto_settle`` delivers expired options on every
    agent step. ``clock``: any object with ``now_ns()``; default: wall clock.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    index_usd: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_INDEX_USD))
    instruments: Sequence[Instrument] | None = None
    surface: VolSurface | None = None
    agents: bool = True
    agents_running: bool = True
    agent_interval_s: float = 0.5
    auto_settle: bool = True
    anchor: PriceAnchor | None = None
    anchor_interval_s: float = 1.0
    ws_ping_interval_s: float | None = 20.0
    clock: _ClockLike | None = None

    def __post_init__(self) -> None:
        if self.agent_interval_s <= 0:
            raise InvalidInput(f"agent_interval_s must be > 0, got {self.agent_interval_s}")
        if self.anchor_interval_s <= 0:
            raise InvalidInput(f"anchor_interval_s must be > 0, got {self.anchor_interval_s}")
        for currency, price in self.index_usd.items():
            if currency not in ("ETH", "BTC") or Decimal(price) <= 0:
                raise InvalidInput(
                    f"index_usd takes positive ETH / BTC prices, got {currency}={price}"
                )


class DeribitSimulator:
    """A local exchange speaking Deribit's API v2 (HTTP and websocket) on ``127.0.0.1``."""

    MM_ACCOUNT = "deribit-market-maker"

    def __init__(self, config: DeribitConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = DeribitConfig(**overrides)
        elif overrides:
            raise TypeError("pass either a DeribitConfig or keyword overrides, not both")
        self.config = config
        self.faults = Faults()
        self.exchange = DeribitExchange(
            instruments=config.instruments,
            index_usd=config.index_usd,
            clock=config.clock,
            seed=config.seed,
            surface=config.surface,
        )
        self.server = DeribitServer(self)
        self.maker: QuotingMaker | None = None
        if config.agents:
            self.exchange.create_account(self.MM_ACCOUNT, "", MM_BALANCES)
            self.exchange.margin_exempt.add(self.MM_ACCOUNT)
            self.maker = QuotingMaker(self.exchange, self.MM_ACCOUNT)
        #: anchor reads that failed (the index then keeps its last value)
        self.anchor_failures = 0
        #: agent steps that raised (the loop goes on)
        self.agent_failures = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> DeribitSimulator:
        """Bind the port, quote once, start the agent loop; returns self."""
        app = web.Application()
        self.server.routes(app)
        add_admin_routes(app, self)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        if self.config.anchor is not None:
            await self._read_anchor()
        self.step_agents()
        if self.config.agents_running:
            self._tasks.append(asyncio.create_task(self._agent_loop()))
            if self.config.anchor is not None:
                self._tasks.append(asyncio.create_task(self._anchor_loop()))
        return self

    async def stop(self) -> None:
        """Stop the loops and the server."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.server.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.config.anchor is not None:
            await self.config.anchor.close()

    async def __aenter__(self) -> DeribitSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._port is None:
            raise DevnetError("the Deribit simulator is not started; await start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the value for ccxt's ``urls['api']['rest']``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws/api/v2``, the value for ``urls['api']['ws']``."""
        return f"ws://{self.config.host}:{self.port}/ws/api/v2"

    def deribit_urls(self) -> dict[str, str]:
        """``urls['api']`` for ccxt's ``deribit`` / ``ccxt.pro.deribit``."""
        return {"rest": self.url, "ws": self.ws_url}

    # ------------------------------------------------------------------ controls

    def create_account(
        self, client_id: str, client_secret: str, balances: Mapping[str, Decimal | int | str]
    ) -> DeribitAccount:
        """Open an API account (its client id and secret are ccxt's apiKey / secret)."""
        return self.exchange.create_account(client_id, client_secret, balances)

    def set_index(self, currency: str, price: Decimal | int | str) -> None:
        """Move an index (USD); the maker requotes on its next step."""
        self.exchange.set_index(currency, Decimal(price))

    def step_agents(self) -> int:
        """Deliver expired options (with ``auto_settle``) and let the maker requote once;
        returns how many instruments it requoted."""
        if self.config.auto_settle:
            self.exchange.settle_expired()
        return self.maker.step() if self.maker is not None else 0

    def settle_expired(self, delivery_usd: Mapping[str, Decimal] | None = None) -> list[str]:
        """Deliver every expired option now (see :meth:`DeribitExchange.settle_expired`)."""
        return self.exchange.settle_expired(delivery_usd)

    def inject_fault(
        self,
        kind: FaultKind,
        method: str | None = None,
        *,
        count: int | None = 1,
        delay_s: float = 0.0,
        status: int = 503,
        code: int = 10040,
    ) -> RestFault:
        """Arm a fault for calls of a Deribit ``method`` (``private/buy``; None = any): see
        :mod:`oms_chain.devnet.exchange.faults` for the kinds. HTTP and websocket calls both
        match; a ``fail`` answers Deribit's 10040 ``retry`` (or 10028 ``too_many_requests``)."""
        fault = _MethodFault(
            kind=kind,
            method=None,
            path=None if method is None else f"/{method}",
            count=count,
            delay_s=delay_s,
            status=status,
            code=code,
        )
        self.faults.add_rest(fault)
        return fault

    def skip_book_changes(self, instrument: str | None = None, count: int = 1) -> None:
        """Drop the next ``count`` ``book.*`` changes (clients see a ``prev_change_id`` gap)."""
        self.faults.arm_skip_depth(instrument, count)

    async def drop_connections(self) -> int:
        """Close every websocket connection."""
        return await self.server.drop_connections()

    # ------------------------------------------------------------------ loops

    async def _agent_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.agent_interval_s)
            try:
                self.step_agents()
            except Exception:  # one bad step must not stop the market; counted for tests
                self.agent_failures += 1

    async def _read_anchor(self) -> None:
        anchor = self.config.anchor
        assert anchor is not None
        try:
            prices = await anchor.prices_usd()
        except Exception:  # a node hiccup: keep the last index
            self.anchor_failures += 1
            return
        for currency in ("ETH", "BTC"):
            price = prices.get(currency) or prices.get("W" + currency)
            if price is not None and currency in self.exchange.index and price > 0:
                self.exchange.set_index(currency, Decimal(price))

    async def _anchor_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.anchor_interval_s)
            await self._read_anchor()


@dataclass(slots=True)
class _MethodFault(RestFault):
    """A fault rule matching a Deribit method at the end of the HTTP or websocket path."""

    def matches(self, method: str, path: str) -> bool:
        return self.path is None or path.endswith(self.path)


class DeribitThread:
    """A :class:`DeribitSimulator` running on its own event loop in a daemon thread."""

    def __init__(
        self, simulator: DeribitSimulator, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.simulator = simulator
        self._loop = loop
        self._thread = thread

    @property
    def url(self) -> str:
        """REST base URL."""
        return self.simulator.url

    @property
    def ws_url(self) -> str:
        """Websocket URL."""
        return self.simulator.ws_url

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the simulator's loop and return its result."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed back to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def create_account(
        self, client_id: str, client_secret: str, balances: Mapping[str, Decimal | int | str]
    ) -> DeribitAccount:
        """Open an API account (thread-safe)."""
        return self.call(lambda: self.simulator.create_account(client_id, client_secret, balances))

    def set_index(self, currency: str, price: Decimal | int | str) -> None:
        """Move an index (thread-safe)."""
        self.call(lambda: self.simulator.set_index(currency, price))

    def stop(self) -> None:
        """Stop the simulator and its thread."""
        if not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


def run_deribit_in_thread(config: DeribitConfig | None = None, **overrides: Any) -> DeribitThread:
    """Start a :class:`DeribitSimulator` in a daemon thread; returns once it listens."""
    loop = asyncio.new_event_loop()
    started: Future[DeribitSimulator] = Future()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            sim = DeribitSimulator(config, **overrides)
            loop.run_until_complete(sim.start())
            started.set_result(sim)
        except BaseException as exc:
            started.set_exception(exc)
            return
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=main, name="deribit-simulator", daemon=True)
    thread.start()
    return DeribitThread(started.result(timeout=60), loop, thread)
