"""The exchange simulator: engine, Binance REST, websockets, agents and faults on one port.

>>> sim = ExchangeSimulator()
>>> await sim.start()                       # doctest: +SKIP
>>> sim.create_account("key", "secret", {"USDC": 10_000})   # doctest: +SKIP
>>> sim.url, sim.ws_url                     # doctest: +SKIP
('http://127.0.0.1:40123', 'ws://127.0.0.1:40123')

Non-async callers use :func:`run_in_thread`, which runs the simulator's event loop in a daemon
thread and returns a handle with the same helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from oms_chain.devnet.exchange.agents import (
    AgentRunner,
    AnchoredPath,
    GbmPath,
    MarketMaker,
    PriceAnchor,
    PriceBoard,
    PricePath,
    Taker,
)
from oms_chain.devnet.exchange.faults import FaultKind, Faults, RestFault
from oms_chain.devnet.exchange.markets import DEFAULT_PRICES_USD, SymbolSpec, default_markets
from oms_chain.devnet.exchange.matching import MatchingEngine
from oms_chain.devnet.exchange.rest import RestApi
from oms_chain.devnet.exchange.security import ApiKey, KeyRing, OrderCounter, WeightLimiter
from oms_chain.devnet.exchange.streams import StreamHub
from oms_chain.model.errors import DevnetError, InvalidInput

__all__ = [
    "AGENT_BALANCES",
    "MAX_VOLATILITY",
    "ExchangeSimulator",
    "SimulatorConfig",
    "SimulatorThread",
    "run_in_thread",
]

T = TypeVar("T")

AGENT_BALANCES: Mapping[str, Decimal] = {
    "ETH": Decimal(1_000_000),
    "BTC": Decimal(100_000),
    "USDC": Decimal(10_000_000_000),
}
"""What the built-in market-maker and taker accounts start with."""


class _ClockLike(Protocol):
    def now_ns(self) -> int: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SimulatorConfig:
    """Settings of one simulator. Keyword-only; unknown keys are a TypeError.

    ``port=0`` picks a free loopback port. ``agents=False`` gives an empty, still market;
    ``agents_running=False`` lets the agents seed the book with one step at start and then wait
    (a still market, moved only by :meth:`ExchangeSimulator.step_agents`).
    ``weight_limit`` is the REST request weight per IP per minute (Binance: 6000);
    ``order_limit_10s`` the new orders per account per 10 seconds (Binance: 100).
    ``ban_after_429s``: after that many 429 answers to one IP within a minute, the IP gets 418
    for ``ban_s`` seconds, like Binance's automated bans (None = never ban).
    ``ws_ping_interval_s``: server ping frames; a connection without pong is closed.
    ``depth_interval_s`` / ``fast_depth_interval_s`` pace ``@depth`` / ``@depth@100ms``.
    ``price_sigma`` is the volatility per agent step: of the free GBM paths, or with ``anchor``
    of the mean-reverting deviation from the anchor (at most ``anchor_band_bps``). ``anchor``
    (a :class:`~oms_chain.devnet.exchange.agents.PriceAnchor`, e.g. the devnet's pools) is read
    at start and every ``anchor_interval_s``; each asset it prices then follows it.
    ``price_paths`` overrides the GBM paths (per asset, USD); ``price_board`` shares a board
    owned by someone else (the simulator then never advances it: the owner does, e.g. a scenario
    driver that moves the AMM pools to the same prices). ``clock`` is any object with
    ``now_ns()`` (e.g. ``oms_chain.model.clock.ManualClock``); default: wall clock.
    """

    host: str = "127.0.0.1"
    port: int = 0
    markets: Sequence[SymbolSpec] | None = None
    prices_usd: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_PRICES_USD))
    seed: int = 0
    agents: bool = True
    agents_running: bool = True
    agent_interval_s: float = 0.1
    mm_levels: int = 10
    taker_prob: float = 0.5
    price_sigma: float = 0.0005
    anchor: PriceAnchor | None = None
    anchor_interval_s: float = 1.0
    anchor_band_bps: float = 25.0
    price_paths: Mapping[str, PricePath] | None = None
    price_board: PriceBoard | None = None
    weight_limit: int = 6000
    order_limit_10s: int = 100
    depth_interval_s: float = 1.0
    fast_depth_interval_s: float = 0.1
    ticker_interval_s: float = 1.0
    ws_ping_interval_s: float | None = 20.0
    ban_after_429s: int | None = None
    ban_s: int = 120
    history_limit: int = 20_000
    clock: _ClockLike | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.price_sigma <= MAX_VOLATILITY:
            raise InvalidInput(
                f"price_sigma (volatility) must be within [0, {MAX_VOLATILITY}] per step, got "
                f"{self.price_sigma}"
            )
        if self.anchor is not None and (
            self.price_board is not None or self.price_paths is not None
        ):
            raise InvalidInput(
                "anchor cannot be combined with price_board or price_paths: the anchor makes "
                "its own paths; pass one of them"
            )
        if self.anchor_interval_s <= 0:
            raise InvalidInput(f"anchor_interval_s must be > 0, got {self.anchor_interval_s}")
        if not 0 <= self.anchor_band_bps <= 1000:
            raise InvalidInput(
                f"anchor_band_bps must be within [0, 1000], got {self.anchor_band_bps}"
            )


MAX_VOLATILITY = 0.05
"""Largest accepted volatility per agent step (5 %; the default is 0.0005)."""


class ExchangeSimulator:
    """A local exchange speaking Binance spot REST + websockets on ``127.0.0.1``."""

    MM_ACCOUNT = "sim-market-maker"
    TAKER_ACCOUNT = "sim-taker"

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = SimulatorConfig(**overrides)
        elif overrides:
            raise TypeError("pass either a SimulatorConfig or keyword overrides, not both")
        self.config = config
        markets = (
            list(config.markets)
            if config.markets is not None
            else default_markets(config.prices_usd)
        )
        self.faults = Faults()
        self.keys = KeyRing()
        self.listen_keys: dict[str, str] = {}
        self.engine = MatchingEngine(
            markets, clock=config.clock, seed=config.seed, history_limit=config.history_limit
        )
        self.limiter = WeightLimiter(
            config.weight_limit,
            self.engine.now_ms,
            ban_after_429s=config.ban_after_429s,
            ban_ms=config.ban_s * 1000,
        )
        self.order_counter = OrderCounter(config.order_limit_10s, self.engine.now_ms)
        self.hub = StreamHub(
            self.engine,
            self.keys,
            self.listen_keys,
            self.faults,
            depth_interval_s=config.depth_interval_s,
            fast_depth_interval_s=config.fast_depth_interval_s,
            ticker_interval_s=config.ticker_interval_s,
            ping_interval_s=config.ws_ping_interval_s,
            order_counter=self.order_counter,
        )
        self.engine.listener = self.hub
        self.rest = RestApi(self)
        #: ``GET /sapi/v1/system/status`` answers ``system_maintenance`` while True
        self.maintenance = False
        self.board, self.agents = self._make_agents(markets)
        self._anchor_task: asyncio.Task[None] | None = None
        #: anchor reads that failed (the prices then keep their last anchor)
        self.anchor_failures = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None

    def _make_agents(self, markets: Sequence[SymbolSpec]) -> tuple[PriceBoard, AgentRunner]:
        config = self.config
        master = random.Random(config.seed)
        if config.price_board is not None:
            paths = config.price_board.paths
        elif config.price_paths is not None:
            paths = dict(config.price_paths)
        elif config.anchor is not None:
            assets = sorted({m.base for m in markets} | {m.quote for m in markets})
            paths = {
                asset: AnchoredPath(
                    Decimal(config.prices_usd[asset]),
                    sigma=config.price_sigma,
                    band_bps=config.anchor_band_bps,
                    rng=random.Random(master.getrandbits(64)),
                )
                for asset in assets
                if asset in config.prices_usd and config.prices_usd[asset] != 1
            }
        else:
            assets = sorted({m.base for m in markets} | {m.quote for m in markets})
            paths = {
                asset: GbmPath(
                    Decimal(config.prices_usd[asset]),
                    sigma=config.price_sigma,
                    rng=random.Random(master.getrandbits(64)),
                )
                for asset in assets
                if asset in config.prices_usd and config.prices_usd[asset] != 1
            }
        board = config.price_board if config.price_board is not None else PriceBoard(paths)
        agents: list[MarketMaker | Taker] = []
        if config.agents:
            self.engine.create_account(self.MM_ACCOUNT, AGENT_BALANCES, maker_fee=Decimal(0))
            self.engine.create_account(self.TAKER_ACCOUNT, AGENT_BALANCES)
            for spec in markets:
                agents.append(
                    MarketMaker(
                        self.engine,
                        self.MM_ACCOUNT,
                        spec,
                        board,
                        random.Random(master.getrandbits(64)),
                        levels=config.mm_levels,
                    )
                )
                agents.append(
                    Taker(
                        self.engine,
                        self.TAKER_ACCOUNT,
                        spec,
                        board,
                        random.Random(master.getrandbits(64)),
                        trade_prob=config.taker_prob,
                    )
                )
        runner = AgentRunner(
            board,
            agents,
            interval_s=config.agent_interval_s,
            advance_board=config.price_board is None,
        )
        return board, runner

    # ------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        """The aiohttp application (REST, websockets, admin)."""
        from oms_chain.devnet.exchange.admin import add_admin_routes

        app = web.Application()
        for prefix in ("/api/v3", "/sapi/v1", "/fapi/v1", "/dapi/v1"):
            app.router.add_route("*", prefix + "/{path:.+}", self.rest.dispatch)
        app.router.add_get("/ws", self.hub.handle_raw)
        app.router.add_get("/ws/{name:.*}", self.hub.handle_raw)
        app.router.add_get("/stream", self.hub.handle_combined)
        app.router.add_get("/ws-api/v3", self.hub.handle_api)
        add_admin_routes(app, self)
        return app

    async def start(self) -> ExchangeSimulator:
        """Bind the port, seed the book (one agent step) and start streams and agents."""
        if self._runner is not None:
            raise DevnetError("exchange simulator already started")
        runner = web.AppRunner(
            self.app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise DevnetError(
                f"exchange simulator cannot listen on {self.config.host}:{self.config.port}: {exc}"
            ) from exc
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        self._runner, self._site = runner, site
        self.hub.start()
        if self.config.anchor is not None:
            await self.refresh_anchor()
            self._anchor_task = asyncio.get_running_loop().create_task(self._follow_anchor())
        if self.config.agents:
            self.agents.step()
            if self.config.agents_running:
                self.agents.start()
        return self

    async def refresh_anchor(self) -> dict[str, Decimal]:
        """Read the anchor now and move every anchored asset to it; returns what was applied
        (empty when there is no anchor or the read failed, counted in ``anchor_failures``)."""
        anchor = self.config.anchor
        if anchor is None:
            return {}
        try:
            prices = await anchor.prices_usd()
        except Exception:  # a node hiccup: keep the last anchor, try again next time
            self.anchor_failures += 1
            return {}
        applied: dict[str, Decimal] = {}
        for asset, price in prices.items():
            path = self.board.paths.get(asset)
            if isinstance(path, AnchoredPath) and price > 0:
                path.set_anchor(price)
                applied[asset] = path.anchor
        return applied

    async def _follow_anchor(self) -> None:
        while True:
            await asyncio.sleep(self.config.anchor_interval_s)
            await self.refresh_anchor()

    async def stop(self) -> None:
        """Stop agents, close websockets and the HTTP server."""
        await self.agents.stop()
        if self._anchor_task is not None:
            self._anchor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._anchor_task
            self._anchor_task = None
        if self.config.anchor is not None:
            await self.config.anchor.close()
        await self.hub.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._site = None

    async def __aenter__(self) -> ExchangeSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._port is None:
            raise DevnetError("exchange simulator not started")
        return self._port

    @property
    def url(self) -> str:
        """REST base, e.g. ``http://127.0.0.1:40123`` (endpoints live under ``/api/v3``)."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Websocket base, e.g. ``ws://127.0.0.1:40123`` (``/ws``, ``/stream``, ``/ws-api/v3``)."""
        return f"ws://{self.config.host}:{self.port}"

    def binance_urls(self, urls: Mapping[str, Any]) -> dict[str, Any]:
        """Rewrite a ccxt ``binance.urls['api']`` dict so every entry points here, keeping paths:
        ``https://api.binance.com/api/v3`` -> ``http://127.0.0.1:P/api/v3``,
        ``wss://stream.binance.com:9443/ws`` -> ``ws://127.0.0.1:P/ws``."""

        def rewrite(value: Any) -> Any:
            if isinstance(value, Mapping):
                return {k: rewrite(v) for k, v in value.items()}
            if isinstance(value, str) and "://" in value:
                parts = urlsplit(value)
                base = self.ws_url if parts.scheme in ("ws", "wss") else self.url
                return base + parts.path + (f"?{parts.query}" if parts.query else "")
            return value

        return {k: rewrite(v) for k, v in urls.items()}

    # ------------------------------------------------------------ accounts and prices

    def create_account(
        self,
        api_key: str,
        secret: str,
        balances: Mapping[str, Decimal | int | str] | None = None,
        *,
        account_id: str | None = None,
        maker_fee: Decimal = Decimal("0.001"),
        taker_fee: Decimal = Decimal("0.001"),
    ) -> str:
        """Open a funded account reachable with ``api_key`` / ``secret``; returns its id."""
        account_id = account_id or f"acct-{api_key}"
        self.engine.create_account(
            account_id, balances, maker_fee=Decimal(maker_fee), taker_fee=Decimal(taker_fee)
        )
        self.keys.add(ApiKey(api_key=api_key, secret=secret, account_id=account_id))
        return account_id

    def prices_usd(self) -> dict[str, Decimal]:
        """Current USD prices of the price path (share them with the devnet AMMs)."""
        prices = {
            asset: Decimal(1)
            for spec in self.engine.markets.values()
            for asset in (spec.base, spec.quote)
        }
        prices.update(self.board.snapshot())
        return prices

    # ------------------------------------------------------------ agents

    def pause_agents(self) -> None:
        """Freeze the market: agents stop acting until :meth:`resume_agents`."""
        self.agents.paused = True

    def resume_agents(self) -> None:
        """Let the agents act again."""
        self.agents.paused = False

    def step_agents(self, steps: int = 1) -> None:
        """Run ``steps`` agent steps now (deterministic for a given seed)."""
        self.agents.step(steps)

    # ------------------------------------------------------------ faults

    async def drop_websockets(self, abrupt: bool = True) -> int:
        """Close every websocket connection; ``abrupt`` aborts the TCP connection."""
        return await self.hub.drop_all(abrupt=abrupt)

    def skip_depth_updates(self, symbol: str | None = None, count: int = 1) -> None:
        """Drop the next ``count`` diff-depth events (of ``symbol``, or any) so ids jump."""
        self.faults.arm_skip_depth(symbol, count)

    def inject_rest_fault(
        self,
        kind: FaultKind,
        *,
        method: str | None = None,
        path: str | None = None,
        count: int | None = 1,
        delay_s: float = 0.0,
        status: int = 503,
    ) -> RestFault:
        """Arm a REST fault (see :mod:`.faults`): ``delay``, ``fail``, ``timeout`` (the request
        is processed, the answer held for ``delay_s``) or ``drop`` (processed, then the
        connection is closed unanswered)."""
        fault = RestFault(
            kind=kind, method=method, path=path, count=count, delay_s=delay_s, status=status
        )
        self.faults.add_rest(fault)
        return fault

    def throttle(self, weight_limit: int | None) -> None:
        """Set the request weight limit per IP and minute (None = back to the configured one)."""
        self.limiter.limit = weight_limit if weight_limit is not None else self.config.weight_limit

    def clear_faults(self) -> None:
        """Disarm every fault and restore the weight limit."""
        self.faults.clear()
        self.throttle(None)


class SimulatorThread:
    """A simulator running on its own event loop in a daemon thread (for non-async callers)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.simulator = ExchangeSimulator(config)
        self._thread = threading.Thread(target=self._main, name="exchange-simulator", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.simulator.start())
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.simulator.stop())
        self._loop.close()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the simulator's loop thread and return its result."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def refresh_anchor(self) -> dict[str, Decimal]:
        """Thread-safe :meth:`ExchangeSimulator.refresh_anchor` (waits for the read)."""
        return asyncio.run_coroutine_threadsafe(self.simulator.refresh_anchor(), self._loop).result(
            timeout=30
        )

    @property
    def url(self) -> str:
        """REST base URL."""
        return self.simulator.url

    @property
    def ws_url(self) -> str:
        """Websocket base URL."""
        return self.simulator.ws_url

    def create_account(
        self, api_key: str, secret: str, balances: Mapping[str, Decimal | int | str] | None = None
    ) -> str:
        """Thread-safe :meth:`ExchangeSimulator.create_account`."""
        return self.call(lambda: self.simulator.create_account(api_key, secret, balances))

    def stop(self) -> None:
        """Stop the simulator and its thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> SimulatorThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(config: SimulatorConfig | None = None, **overrides: Any) -> SimulatorThread:
    """Start a simulator in a background thread; returns once it listens."""
    return SimulatorThread(config if config is not None else SimulatorConfig(**overrides))
