"""Market-maker and taker agents that keep a moving, realistic book around a price path.

Prices are per asset in USD (ETH, BTC, USDC), so every symbol's mid is ``price(base) /
price(quote)`` and ETHBTC stays coherent with ETHUSDC / BTCUSDC - and with the devnet AMMs when
they are fed the same :class:`PriceBoard`, or when each asset's path is an
:class:`AnchoredPath` that follows a :class:`PriceAnchor` (e.g. the devnet's pool prices). All
randomness comes from seeded :class:`random.Random` instances: the same seed and the same number
of steps give the same book.
The path itself is computed in floats (a random walk is not money) and converted to 8-decimal
``Decimal`` at the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from oms_chain.devnet.exchange.errors import ExchangeApiError
from oms_chain.devnet.exchange.markets import SymbolSpec
from oms_chain.devnet.exchange.matching import BUY, SELL, MatchingEngine

__all__ = [
    "Agent",
    "AgentRunner",
    "AnchoredPath",
    "GbmPath",
    "ListPath",
    "MarketMaker",
    "PriceAnchor",
    "PriceBoard",
    "PricePath",
    "StaticAnchor",
    "Taker",
]

_PRICE_QUANT = Decimal("0.00000001")


class PricePath(Protocol):
    """A USD price that moves one step at a time."""

    @property
    def current(self) -> Decimal:
        """Price now."""
        ...

    def advance(self) -> Decimal:
        """Move one step and return the new price."""
        ...


class GbmPath:
    """Geometric Brownian motion: ``p *= exp((mu - sigma^2/2) + sigma * N(0, 1))`` per step."""

    def __init__(
        self, start: Decimal, *, sigma: float = 0.0005, mu: float = 0.0, rng: random.Random
    ) -> None:
        self._price = float(start)
        self._current = Decimal(start)
        self._sigma = sigma
        self._mu = mu
        self._rng = rng

    @property
    def current(self) -> Decimal:
        return self._current

    def advance(self) -> Decimal:
        shock = self._rng.gauss(0.0, 1.0)
        self._price *= math.exp((self._mu - self._sigma**2 / 2) + self._sigma * shock)
        self._current = Decimal(repr(self._price)).quantize(_PRICE_QUANT)
        return self._current


class AnchoredPath:
    """A price that wanders around an anchor it is told (e.g. the pools' price) and never
    strays further than ``band_bps``.

    ``price = anchor * exp(x)``, where the log deviation ``x`` is mean-reverting (a discrete
    Ornstein-Uhlenbeck walk): ``x <- x * (1 - reversion) + sigma * N(0, 1)``, clamped to
    ``+-band_bps / 10_000``. ``sigma=0`` pins the price to the anchor. The same seed, the same
    anchors and the same number of steps give the same prices.
    """

    def __init__(
        self,
        anchor: Decimal,
        *,
        sigma: float = 0.0005,
        reversion: float = 0.05,
        band_bps: float = 25.0,
        rng: random.Random,
    ) -> None:
        if anchor <= 0:
            raise ValueError(f"an anchor price must be > 0, got {anchor}")
        if not 0 <= reversion <= 1:
            raise ValueError(f"reversion must be within [0, 1], got {reversion}")
        self._anchor = Decimal(anchor)
        self._sigma = sigma
        self._reversion = reversion
        self._band = band_bps / 10_000
        self._rng = rng
        self._deviation = 0.0
        self._current = self._price()

    @property
    def anchor(self) -> Decimal:
        """The price the path follows."""
        return self._anchor

    @property
    def current(self) -> Decimal:
        return self._current

    def set_anchor(self, anchor: Decimal) -> None:
        """Follow ``anchor`` from now on (the current price moves with it at once)."""
        if anchor <= 0:
            raise ValueError(f"an anchor price must be > 0, got {anchor}")
        self._anchor = Decimal(anchor)
        self._current = self._price()

    def advance(self) -> Decimal:
        shock = self._rng.gauss(0.0, 1.0)
        moved = self._deviation * (1 - self._reversion) + self._sigma * shock
        self._deviation = max(-self._band, min(self._band, moved))
        self._current = self._price()
        return self._current

    def _price(self) -> Decimal:
        factor = Decimal(repr(math.exp(self._deviation)))
        return (self._anchor * factor).quantize(_PRICE_QUANT)


class PriceAnchor(Protocol):
    """Where anchored prices come from: current USD prices per asset (``{"ETH": ...}``)."""

    async def prices_usd(self) -> Mapping[str, Decimal]:
        """Read the prices now (may do I/O); assets it does not know are left out."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class StaticAnchor:
    """A :class:`PriceAnchor` that answers the prices it was given (change them with
    :meth:`set`): for tests, and for pinning a simulator to prices of your choice."""

    def __init__(self, prices: Mapping[str, Decimal | int | str]) -> None:
        self.prices = {asset: Decimal(price) for asset, price in prices.items()}

    def set(self, asset: str, price: Decimal | int | str) -> None:
        """Answer ``price`` for ``asset`` from now on."""
        self.prices[asset] = Decimal(price)

    async def prices_usd(self) -> Mapping[str, Decimal]:
        return dict(self.prices)

    async def close(self) -> None:
        return None


class ListPath:
    """A given list of prices, one per step; holds the last one when exhausted."""

    def __init__(self, prices: Sequence[Decimal | int | str]) -> None:
        if not prices:
            raise ValueError("ListPath needs at least one price")
        self._prices = [Decimal(p) for p in prices]
        self._index = 0

    @property
    def current(self) -> Decimal:
        return self._prices[self._index]

    def advance(self) -> Decimal:
        self._index = min(self._index + 1, len(self._prices) - 1)
        return self.current


class PriceBoard:
    """USD price paths per asset; assets without a path are worth 1 USD (stablecoins)."""

    def __init__(self, paths: Mapping[str, PricePath]) -> None:
        self.paths = dict(paths)

    def price(self, asset: str) -> Decimal:
        """Current USD price of ``asset``."""
        path = self.paths.get(asset)
        return path.current if path is not None else Decimal(1)

    def mid(self, base: str, quote: str) -> Decimal:
        """Fair price of ``base`` in ``quote``."""
        return self.price(base) / self.price(quote)

    def advance(self) -> None:
        """Move every path one step."""
        for path in self.paths.values():
            path.advance()

    def snapshot(self) -> dict[str, Decimal]:
        """Current USD price of every asset with a path."""
        return {asset: path.current for asset, path in self.paths.items()}


class Agent(Protocol):
    """Something that acts on the engine once per step."""

    def step(self) -> None:
        """Act once."""
        ...


class MarketMaker:
    """Quotes ``levels`` LIMIT_MAKER orders per side around the board's mid.

    Each step it cancels quotes that left the band ``half_spread .. half_spread + levels x
    level_step`` around the mid (the mid moved), tops each side up to ``levels`` quotes on the
    grid with random sizes worth ``min_usd``..``max_usd``, and refreshes one random level with
    probability ``refresh_prob`` so queues churn even when the price does not move.
    """

    def __init__(
        self,
        engine: MatchingEngine,
        account_id: str,
        spec: SymbolSpec,
        board: PriceBoard,
        rng: random.Random,
        *,
        levels: int = 10,
        half_spread_bps: Decimal = Decimal(5),
        level_step_bps: Decimal = Decimal(3),
        min_usd: float = 500.0,
        max_usd: float = 5000.0,
        refresh_prob: float = 0.3,
    ) -> None:
        self.engine = engine
        self.account_id = account_id
        self.spec = spec
        self.board = board
        self.rng = rng
        self.levels = levels
        self.half_spread = half_spread_bps / 10000
        self.level_step = level_step_bps / 10000
        self.min_usd = min_usd
        self.max_usd = max_usd
        self.refresh_prob = refresh_prob

    def _grid(self) -> tuple[set[Decimal], set[Decimal]]:
        mid = self.board.mid(self.spec.base, self.spec.quote)
        bids: set[Decimal] = set()
        asks: set[Decimal] = set()
        for i in range(self.levels):
            offset = self.half_spread + self.level_step * i
            bids.add(self.spec.floor_to_tick(mid * (1 - offset)))
            asks.add(self.spec.ceil_to_tick(mid * (1 + offset)))
        return bids, asks

    def _size(self) -> Decimal:
        usd = Decimal(repr(self.rng.uniform(self.min_usd, self.max_usd)))
        qty = self.spec.floor_to_step(usd / self.board.price(self.spec.base))
        return max(qty, self.spec.min_qty)

    def step(self) -> None:
        spec = self.spec
        mid = self.board.mid(spec.base, spec.quote)
        inner, outer = self.half_spread, self.half_spread + self.level_step * self.levels
        bands = {
            BUY: (mid * (1 - outer), mid * (1 - inner)),
            SELL: (mid * (1 + inner), mid * (1 + outer)),
        }
        quoted: dict[tuple[str, Decimal], int] = {}
        for order in self.engine.open_orders(self.account_id, spec.symbol):
            low, high = bands[order.side]
            key = (order.side, order.price)
            if low <= order.price <= high and key not in quoted:
                quoted[key] = order.order_id
            else:  # the mid moved away (or a duplicate level): pull the quote
                self.engine.cancel(self.account_id, spec.symbol, order_id=order.order_id)
        if quoted and self.rng.random() < self.refresh_prob:
            key = self.rng.choice(sorted(quoted))
            self.engine.cancel(self.account_id, spec.symbol, order_id=quoted.pop(key))
        bids, asks = self._grid()
        for side, prices in ((BUY, sorted(bids, reverse=True)), (SELL, sorted(asks))):
            count = sum(1 for s, _ in quoted if s == side)
            for price in prices:
                if count >= self.levels:
                    break
                if (side, price) in quoted or price <= 0:
                    continue
                with contextlib.suppress(ExchangeApiError):
                    self.engine.place(
                        self.account_id,
                        spec.symbol,
                        side,
                        "LIMIT_MAKER",
                        quantity=self._size(),
                        price=price,
                    )
                    count += 1


class Taker:
    """Sends a MARKET order of random side and size (``min_usd``..``max_usd``) with
    probability ``trade_prob`` per step, so trades print and the book's top levels get eaten."""

    def __init__(
        self,
        engine: MatchingEngine,
        account_id: str,
        spec: SymbolSpec,
        board: PriceBoard,
        rng: random.Random,
        *,
        trade_prob: float = 0.5,
        min_usd: float = 100.0,
        max_usd: float = 3000.0,
    ) -> None:
        self.engine = engine
        self.account_id = account_id
        self.spec = spec
        self.board = board
        self.rng = rng
        self.trade_prob = trade_prob
        self.min_usd = min_usd
        self.max_usd = max_usd

    def step(self) -> None:
        if self.rng.random() >= self.trade_prob:
            return
        side = BUY if self.rng.random() < 0.5 else SELL
        usd = Decimal(repr(self.rng.uniform(self.min_usd, self.max_usd)))
        qty = max(
            self.spec.floor_to_step(usd / self.board.price(self.spec.base)), self.spec.min_qty
        )
        with contextlib.suppress(ExchangeApiError):
            self.engine.place(self.account_id, self.spec.symbol, side, "MARKET", quantity=qty)


class AgentRunner:
    """Advances the board and steps every agent, either by hand (:meth:`step`) or as an asyncio
    task every ``interval_s`` seconds (:meth:`start`). With ``advance_board=False`` someone else
    moves the shared board (e.g. a scenario driver that also moves the AMM pools)."""

    def __init__(
        self,
        board: PriceBoard,
        agents: Iterable[Agent],
        *,
        interval_s: float = 0.1,
        advance_board: bool = True,
    ) -> None:
        self.board = board
        self.agents = list(agents)
        self.interval_s = interval_s
        self.advance_board = advance_board
        self.paused = False
        self.steps = 0
        self._task: asyncio.Task[None] | None = None

    def step(self, count: int = 1) -> None:
        """Run ``count`` steps synchronously."""
        for _ in range(count):
            if self.advance_board:
                self.board.advance()
            for agent in self.agents:
                agent.step()
            self.steps += 1

    def start(self) -> None:
        """Start stepping in the background (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the background task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        """True while the background task runs and is not paused."""
        return self._task is not None and not self.paused

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.paused:
                self.step()
