"""A price-time-priority matching engine with balances, fees and Binance's order semantics.

Pure Python and synchronous: no I/O, no asyncio, time from an injected clock. Money is
:class:`~decimal.Decimal`; every amount is exact at 8 decimals (see :mod:`.markets`).

Semantics follow Binance spot:

* ``LIMIT`` with ``GTC`` (rests), ``IOC`` (fills what it can, the rest EXPIRES) and ``FOK``
  (fills completely or EXPIRES without any fill); ``MARKET`` by ``quantity`` or by
  ``quoteOrderQty``; ``LIMIT_MAKER`` is rejected (-2010) when it would take.
* Takers fill against the best price first and, within a price, the oldest order first.
  A taker fills at the maker's price. Self-trades are allowed (STP mode ``NONE``).
* Funds are locked when an order is accepted (quote for buys, base for sells), spent from the
  lock as fills happen and released when the order ends. Fees are charged in the asset the
  account *receives* (base for the buyer, quote for the seller), rounded up to 8 decimals, and
  collected in :attr:`MatchingEngine.fees_collected`, so per asset
  ``sum(free + locked over accounts) + fees_collected`` never changes except by deposits.
* Each operation that changes a book bumps that book's ``update_id`` by exactly one and reports
  the changed price levels, which is what the diff-depth stream needs for gap-free ``U``/``u``.
* ``STOP_LOSS_LIMIT`` / ``TAKE_PROFIT_LIMIT`` lock their funds when accepted and wait off the
  book (``isWorking`` false) until the last trade price reaches ``stopPrice`` (stop-loss: a buy
  at or above, a sell at or below; take-profit: the reverse); then they work as a LIMIT order of
  the same id. One that would trigger at once is refused (-2010 ``Stop price would trigger
  immediately.``).

Over ~600 lines on purpose: the order semantics are one state machine over shared book and
balance state; splitting them would spread the invariants over several modules.
"""

from __future__ import annotations

import bisect
import random
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Protocol

from oms_chain.devnet.exchange.errors import (
    ExchangeApiError,
    bad_symbol,
    duplicate_order,
    insufficient_balance,
    mandatory_param,
    no_such_order,
    unknown_order,
    would_take,
)
from oms_chain.devnet.exchange.markets import ASSET_DECIMALS, SymbolSpec

__all__ = [
    "BUY",
    "SELL",
    "STOP_LIMIT_TYPES",
    "Account",
    "EngineListener",
    "MatchingEngine",
    "Order",
    "PlaceResult",
    "Trade",
    "check_invariants",
]

BUY = "BUY"
SELL = "SELL"
ZERO = Decimal(0)
_QUANT = Decimal(1).scaleb(-ASSET_DECIMALS)
STOP_LIMIT_TYPES = frozenset({"STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_ORDER_TYPES = frozenset({"LIMIT", "MARKET", "LIMIT_MAKER"}) | STOP_LIMIT_TYPES
_TIFS = frozenset({"GTC", "IOC", "FOK"})
_OPEN = frozenset({"NEW", "PARTIALLY_FILLED"})
_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


class _ClockLike(Protocol):
    def now_ns(self) -> int: ...


class EngineListener(Protocol):
    """Receives what the engine did, synchronously, in order. Snapshot what you need at once:
    the :class:`Order` objects passed in keep changing afterwards."""

    def on_execution(self, order: Order, execution_type: str, trade: Trade | None) -> None:
        """An order changed: ``NEW``, ``TRADE``, ``CANCELED`` or ``EXPIRED``."""

    def on_trade(self, trade: Trade) -> None:
        """A public trade happened."""

    def on_depth(
        self,
        symbol: str,
        update_id: int,
        bids: list[tuple[Decimal, Decimal]],
        asks: list[tuple[Decimal, Decimal]],
    ) -> None:
        """Price levels changed (new aggregate quantity, 0 = level gone) as update ``update_id``."""

    def on_balances(self, account_id: str, assets: frozenset[str]) -> None:
        """Balances of ``assets`` changed for ``account_id``."""


@dataclass(slots=True, eq=False)
class Order:
    """An order as the engine keeps it. ``price`` is 0 for MARKET orders; ``locked`` is the part of
    the account's locked balance (quote for BUY, base for SELL) still held for this order."""

    symbol: str
    order_id: int
    account_id: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    update_time: int
    working_time: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    locked: Decimal = ZERO
    cancel_client_order_id: str = ""
    stop_price: Decimal = ZERO
    is_working: bool = True

    @property
    def remaining(self) -> Decimal:
        """Quantity not yet executed."""
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        """True while the order rests on the book (NEW or PARTIALLY_FILLED)."""
        return self.status in _OPEN


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill between a buyer and a seller order, with both sides' commissions."""

    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time: int
    buyer_order_id: int
    seller_order_id: int
    buyer_account: str
    seller_account: str
    buyer_is_maker: bool
    buyer_commission: Decimal
    seller_commission: Decimal
    base_asset: str
    quote_asset: str


@dataclass(slots=True)
class Account:
    """Balances of one account (``free`` + ``locked`` per asset) and its fee rates."""

    account_id: str
    maker_fee: Decimal
    taker_fee: Decimal
    free: defaultdict[str, Decimal]
    locked: defaultdict[str, Decimal]
    update_time: int = 0

    def total(self, asset: str) -> Decimal:
        """Free plus locked balance of ``asset``."""
        return self.free[asset] + self.locked[asset]


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """What placing an order produced: the order (final state of this call) and its fills."""

    order: Order
    trades: tuple[Trade, ...]


class _BookSide:
    """One side of a book: FIFO queues per price, aggregate quantity per price, sorted prices."""

    __slots__ = ("is_bid", "levels", "prices", "totals")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[Decimal] = []  # ascending
        self.levels: dict[Decimal, deque[Order]] = {}
        self.totals: dict[Decimal, Decimal] = {}

    def best(self) -> Decimal | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def in_priority(self) -> Iterator[Decimal]:
        return reversed(self.prices) if self.is_bid else iter(self.prices)

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            bisect.insort(self.prices, price)
            level = self.levels[price] = deque()
            self.totals[price] = ZERO
        level.append(order)
        self.totals[price] += order.remaining

    def remove(self, order: Order) -> None:
        price = order.price
        level = self.levels[price]
        level.remove(order)
        self.totals[price] -= order.remaining
        if not level:
            self._drop_level(price)

    def _drop_level(self, price: Decimal) -> None:
        del self.levels[price]
        del self.totals[price]
        index = bisect.bisect_left(self.prices, price)
        del self.prices[index]

    def depth(self, limit: int) -> list[tuple[Decimal, Decimal]]:
        out: list[tuple[Decimal, Decimal]] = []
        for price in self.in_priority():
            if len(out) >= limit:
                break
            out.append((price, self.totals[price]))
        return out


class _Book:
    __slots__ = ("asks", "bids", "changed_asks", "changed_bids", "update_id")

    def __init__(self) -> None:
        self.bids = _BookSide(is_bid=True)
        self.asks = _BookSide(is_bid=False)
        self.update_id = 0
        self.changed_bids: set[Decimal] = set()
        self.changed_asks: set[Decimal] = set()

    def side(self, side: str) -> _BookSide:
        return self.bids if side == BUY else self.asks

    def mark(self, side: str, price: Decimal) -> None:
        (self.changed_bids if side == BUY else self.changed_asks).add(price)


class _SystemClock:
    __slots__ = ()

    def now_ns(self) -> int:
        import time

        return time.time_ns()


def _fee(amount: Decimal, rate: Decimal) -> Decimal:
    if not rate:
        return ZERO
    return (amount * rate).quantize(_QUANT, rounding=ROUND_UP)


def _affordable(budget: Decimal, price: Decimal, spec: SymbolSpec) -> Decimal:
    """Largest step multiple whose cost at ``price`` stays within ``budget``. The division is
    rounded to 28 digits, so the floor is checked against the exact product."""
    qty = spec.floor_to_step(budget / price)
    while qty > 0 and qty * price > budget:
        qty -= spec.step_size
    return qty


class MatchingEngine:
    """Books, accounts, orders and trades of the simulated exchange.

    Every public method is synchronous and either completes or raises
    :class:`~oms_chain.devnet.exchange.errors.ExchangeApiError` without changing any state.
    """

    def __init__(
        self,
        markets: Sequence[SymbolSpec],
        *,
        clock: _ClockLike | None = None,
        seed: int = 0,
        listener: EngineListener | None = None,
        history_limit: int = 20_000,
    ) -> None:
        self.markets: dict[str, SymbolSpec] = {m.symbol: m for m in markets}
        self.clock: _ClockLike = clock or _SystemClock()
        self.listener = listener
        self.accounts: dict[str, Account] = {}
        self.fees_collected: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.deposits: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.last_price: dict[str, Decimal] = {}
        self._books: dict[str, _Book] = {s: _Book() for s in self.markets}
        self._next_order_id: dict[str, int] = dict.fromkeys(self.markets, 1)
        self._next_trade_id: dict[str, int] = dict.fromkeys(self.markets, 1)
        self._orders: dict[tuple[str, int], Order] = {}
        self._by_client_id: dict[tuple[str, str, str], Order] = {}
        self._open: dict[str, dict[tuple[str, int], Order]] = defaultdict(dict)
        self._history: dict[tuple[str, str], deque[Order]] = defaultdict(deque)
        self._account_trades: dict[tuple[str, str], deque[Trade]] = defaultdict(
            lambda: deque(maxlen=history_limit)
        )
        self.trades: dict[str, deque[Trade]] = {
            s: deque(maxlen=history_limit) for s in self.markets
        }
        self._history_limit = history_limit
        self._rng = random.Random(seed)
        self._touched_balances: dict[str, set[str]] = {}
        self._stops: dict[str, dict[int, Order]] = {s: {} for s in self.markets}

    # ----------------------------------------------------------------- accounts

    def now_ms(self) -> int:
        """Current time of the injected clock in milliseconds."""
        return self.clock.now_ns() // 1_000_000

    def create_account(
        self,
        account_id: str,
        balances: Mapping[str, Decimal | int | str] | None = None,
        *,
        maker_fee: Decimal = Decimal("0.001"),
        taker_fee: Decimal = Decimal("0.001"),
    ) -> Account:
        """Open an account with starting ``balances`` (free) and fee rates (0.001 = 0.1 %)."""
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} already exists")
        account = Account(
            account_id=account_id,
            maker_fee=Decimal(maker_fee),
            taker_fee=Decimal(taker_fee),
            free=defaultdict(Decimal),
            locked=defaultdict(Decimal),
            update_time=self.now_ms(),
        )
        self.accounts[account_id] = account
        for asset, amount in (balances or {}).items():
            self.deposit(account_id, asset, Decimal(amount))
        return account

    def deposit(self, account_id: str, asset: str, amount: Decimal) -> None:
        """Credit ``amount`` of ``asset`` to the account's free balance (negative = withdraw)."""
        account = self._account(account_id)
        if account.free[asset] + amount < 0:
            raise insufficient_balance()
        account.free[asset] += amount
        self.deposits[asset] += amount
        account.update_time = self.now_ms()
        if self.listener is not None:
            self.listener.on_balances(account_id, frozenset({asset}))

    def _account(self, account_id: str) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise ValueError(f"unknown account {account_id!r}") from None

    def market(self, symbol: str) -> SymbolSpec:
        """The spec of ``symbol``; raises -1121 for an unknown symbol."""
        spec = self.markets.get(symbol)
        if spec is None:
            raise bad_symbol()
        return spec

    # ----------------------------------------------------------------- queries

    def update_id(self, symbol: str) -> int:
        """Last update id of the book of ``symbol`` (Binance's ``lastUpdateId``)."""
        self.market(symbol)
        return self._books[symbol].update_id

    def depth(
        self, symbol: str, limit: int = 100
    ) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """``(lastUpdateId, bids best-first, asks best-first)`` of up to ``limit`` levels."""
        self.market(symbol)
        book = self._books[symbol]
        return book.update_id, book.bids.depth(limit), book.asks.depth(limit)

    def best_bid_ask(
        self, symbol: str
    ) -> tuple[tuple[Decimal, Decimal] | None, tuple[Decimal, Decimal] | None]:
        """Best bid and best ask as ``(price, quantity)``, or None for an empty side."""
        self.market(symbol)
        book = self._books[symbol]
        bid, ask = book.bids.best(), book.asks.best()
        return (
            (bid, book.bids.totals[bid]) if bid is not None else None,
            (ask, book.asks.totals[ask]) if ask is not None else None,
        )

    def get_order(
        self,
        account_id: str,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """An order of ``account_id`` by exchange id or client id; raises -2013 if unknown."""
        self.market(symbol)
        order = self._find(account_id, symbol, order_id, client_order_id)
        if order is None:
            raise no_such_order()
        return order

    def _find(
        self, account_id: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        if order_id is None and client_order_id is None:
            raise ExchangeApiError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        order: Order | None
        if order_id is not None:
            order = self._orders.get((symbol, order_id))
            if (
                order is not None
                and client_order_id is not None
                and order.client_order_id != client_order_id
            ):
                order = None
        else:
            assert client_order_id is not None
            order = self._by_client_id.get((account_id, symbol, client_order_id))
        if order is None or order.account_id != account_id:
            return None
        return order

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[Order]:
        """Open orders of an account (all symbols, or one), oldest first."""
        if symbol is not None:
            self.market(symbol)
        orders = self._open.get(account_id, {}).values()
        selected = [o for o in orders if symbol is None or o.symbol == symbol]
        selected.sort(key=lambda o: (o.symbol, o.order_id))
        return selected

    def all_orders(self, account_id: str, symbol: str) -> list[Order]:
        """Every kept order of an account on ``symbol`` (open and closed), oldest first."""
        self.market(symbol)
        return list(self._history.get((account_id, symbol), ()))

    def account_trades(self, account_id: str, symbol: str) -> list[Trade]:
        """Every kept fill in which the account was buyer or seller on ``symbol``, oldest first."""
        self.market(symbol)
        return list(self._account_trades.get((account_id, symbol), ()))

    def pending_stops(self, symbol: str) -> list[Order]:
        """Stop-limit orders of ``symbol`` accepted but not yet triggered, oldest first."""
        self.market(symbol)
        return [self._stops[symbol][i] for i in sorted(self._stops[symbol])]

    def book_orders(self, symbol: str) -> Iterable[Order]:
        """All resting orders of a book (for invariants and tests)."""
        book = self._books[symbol]
        for side in (book.bids, book.asks):
            for level in side.levels.values():
                yield from level

    def is_crossed(self, symbol: str) -> bool:
        """True when best bid >= best ask (must never be true after an operation)."""
        book = self._books[symbol]
        bid, ask = book.bids.best(), book.asks.best()
        return bid is not None and ask is not None and bid >= ask

    def asset_totals(self) -> dict[str, Decimal]:
        """Per asset: sum over accounts of free + locked, plus fees collected."""
        totals: defaultdict[str, Decimal] = defaultdict(Decimal)
        for account in self.accounts.values():
            for asset, amount in account.free.items():
                totals[asset] += amount
            for asset, amount in account.locked.items():
                totals[asset] += amount
        for asset, amount in self.fees_collected.items():
            totals[asset] += amount
        return dict(totals)

    def reference_price(self, symbol: str) -> Decimal:
        """Last trade price, else the mid of the book, else the symbol's reference price."""
        last = self.last_price.get(symbol)
        if last is not None:
            return last
        book = self._books[symbol]
        bid, ask = book.bids.best(), book.asks.best()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid or ask or self.markets[symbol].reference_price

    # ----------------------------------------------------------------- commands

    def new_client_order_id(self) -> str:
        """A fresh 22-character client order id (deterministic for a given seed)."""
        return "sim" + format(self._rng.getrandbits(96), "024x")[:19]

    def check_order(
        self,
        symbol: str,
        side: str,
        order_type: str,
        *,
        quantity: Decimal | None = None,
        quote_quantity: Decimal | None = None,
        price: Decimal | None = None,
        time_in_force: str | None = None,
        stop_price: Decimal | None = None,
    ) -> SymbolSpec:
        """Check an order's parameters and the symbol's filters without placing it (what
        Binance evaluates before anything else, e.g. before the cancel of a cancel-replace).
        Raises ExchangeApiError (-11xx, -1013, -2010 ``Stop price would trigger immediately.``)."""
        spec = self.market(symbol)
        if side not in (BUY, SELL):
            raise ExchangeApiError(-1117, "Invalid side.")
        if order_type not in _ORDER_TYPES:
            raise ExchangeApiError(-1116, "Invalid orderType.")

        is_stop = order_type in STOP_LIMIT_TYPES
        if is_stop:
            if stop_price is None:
                raise mandatory_param("stopPrice")
        elif stop_price is not None:
            raise ExchangeApiError(-1106, "Parameter 'stopPrice' sent when not required.")
        if order_type == "LIMIT" or is_stop:
            if time_in_force is None:
                raise mandatory_param("timeInForce")
            if time_in_force not in _TIFS:
                raise ExchangeApiError(-1115, "Invalid timeInForce.")
        elif time_in_force is not None:
            if order_type == "MARKET":
                raise ExchangeApiError(-1106, "Parameter 'timeInForce' sent when not required.")
            if time_in_force != "GTC":
                raise ExchangeApiError(-1115, "Invalid timeInForce.")
        if order_type in ("LIMIT", "LIMIT_MAKER") or is_stop:
            if price is None:
                raise mandatory_param("price")
            if quantity is None:
                raise mandatory_param("quantity")
            if quote_quantity is not None:
                raise ExchangeApiError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        else:
            if price is not None:
                raise ExchangeApiError(-1106, "Parameter 'price' sent when not required.")
            if (quantity is None) == (quote_quantity is None):
                raise ExchangeApiError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
        for name, value in (
            ("price", price),
            ("quantity", quantity),
            ("quoteOrderQty", quote_quantity),
            ("stopPrice", stop_price),
        ):
            if value is not None:
                spec.check_precision(name, value)
                if value <= 0:
                    raise ExchangeApiError(
                        -1013, "Invalid quantity." if "rice" not in name else "Invalid price."
                    )
        if stop_price is not None:
            spec.check_price(stop_price)
            if _triggered(order_type, side, stop_price, self.reference_price(symbol)):
                raise ExchangeApiError(-2010, "Stop price would trigger immediately.")

        if price is not None:
            spec.check_price(price)
        if quantity is not None:
            spec.check_quantity(quantity)
        if price is not None and quantity is not None:
            spec.check_notional(price * quantity)
        elif quantity is not None:
            spec.check_notional(quantity * self.reference_price(symbol), market=True)
        elif quote_quantity is not None:
            spec.check_notional(quote_quantity, market=True)

        return spec

    def place(
        self,
        account_id: str,
        symbol: str,
        side: str,
        order_type: str,
        *,
        quantity: Decimal | None = None,
        quote_quantity: Decimal | None = None,
        price: Decimal | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
        stop_price: Decimal | None = None,
    ) -> PlaceResult:
        """Validate, accept and match one order. Raises ExchangeApiError (nothing changed) on
        a bad parameter (-11xx), a filter failure (-1013) or a refusal (-2010). A stop-limit
        order (``stop_price`` given) is accepted without matching; it works once triggered."""
        spec = self.check_order(
            symbol,
            side,
            order_type,
            quantity=quantity,
            quote_quantity=quote_quantity,
            price=price,
            time_in_force=time_in_force,
            stop_price=stop_price,
        )
        account = self._account(account_id)
        book = self._books[symbol]
        now = self.now_ms()
        is_stop = order_type in STOP_LIMIT_TYPES
        cid = client_order_id if client_order_id is not None else self.new_client_order_id()
        if client_order_id is not None:
            if client_order_id == "":
                raise ExchangeApiError(-1118, "New client order ID was empty.")
            if not _CLIENT_ID.match(client_order_id):
                raise ExchangeApiError(
                    -1100,
                    "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                    f"'{_CLIENT_ID.pattern}'.",
                )
            existing = self._by_client_id.get((account_id, symbol, client_order_id))
            if existing is not None and existing.is_open:
                raise duplicate_order()

        opposite = book.asks if side == BUY else book.bids
        best_opposite = opposite.best()
        if order_type == "LIMIT_MAKER" and best_opposite is not None:
            assert price is not None
            if (side == BUY and price >= best_opposite) or (
                side == SELL and price <= best_opposite
            ):
                raise would_take()

        # How much can be taken now, and what must be locked.
        limit = price if order_type != "MARKET" else None
        plan_qty, plan_cost, satisfied = (
            (ZERO, ZERO, True)
            if is_stop
            else self._plan(opposite, side, limit, quantity, quote_quantity, spec)
        )
        tif = time_in_force or "GTC"
        fok_fails = (
            order_type == "LIMIT" and tif == "FOK" and quantity is not None and plan_qty < quantity
        )
        if quote_quantity is not None and plan_qty < spec.min_qty:
            raise ExchangeApiError(
                -2010, "Order book liquidity is less than `LOT_SIZE` filter minimum quantity."
            )
        if side == BUY:
            lock_asset = spec.quote
            if order_type == "MARKET":
                lock = plan_cost
            else:
                assert price is not None and quantity is not None
                lock = price * quantity
        else:
            lock_asset = spec.base
            lock = plan_qty if quote_quantity is not None else quantity or ZERO
        if fok_fails:
            lock = ZERO
        if account.free[lock_asset] < lock:
            raise insufficient_balance()

        # Accepted from here on: nothing below raises.
        order_id = self._next_order_id[symbol]
        self._next_order_id[symbol] = order_id + 1
        order = Order(
            symbol=symbol,
            order_id=order_id,
            account_id=account_id,
            client_order_id=cid,
            side=side,
            type=order_type,
            time_in_force=tif,
            price=price if price is not None else ZERO,
            orig_qty=quantity if quantity is not None else plan_qty,
            orig_quote_qty=quote_quantity if quote_quantity is not None else ZERO,
            time=now,
            update_time=now,
            working_time=now,
            locked=lock,
        )
        account.free[lock_asset] -= lock
        account.locked[lock_asset] += lock
        self._register(order)
        if is_stop:
            assert stop_price is not None
            order.stop_price = stop_price
            order.is_working = False
            order.working_time = -1
            self._stops[symbol][order_id] = order
        touched = self._touched_balances = {account_id: {lock_asset}} if lock else {}
        if self.listener is not None:
            self.listener.on_execution(order, "NEW", None)
        if is_stop:
            self._finish(book, symbol, touched)
            return PlaceResult(order=order, trades=())
        trades = self._work(book, spec, order, account, satisfied=satisfied, fok_fails=fok_fails)
        self._finish(book, symbol, touched)
        self._trigger_stops(symbol)
        return PlaceResult(order=order, trades=tuple(trades))

    def _work(
        self,
        book: _Book,
        spec: SymbolSpec,
        order: Order,
        account: Account,
        *,
        satisfied: bool = True,
        fok_fails: bool = False,
    ) -> list[Trade]:
        """Match an accepted order against the book, then rest it or end it."""
        now = self.now_ms()
        side = order.side
        lock_asset = spec.quote if side == BUY else spec.base
        opposite = book.asks if side == BUY else book.bids
        limit = order.price if order.type != "MARKET" else None
        trades: list[Trade] = []
        if not fok_fails:
            self._take(book, spec, order, opposite, limit, trades, now)
        rests = order.type != "MARKET" and order.time_in_force == "GTC" and order.remaining > 0
        listener = self.listener
        if rests:
            required = order.price * order.remaining if side == BUY else order.remaining
            self._release(account, lock_asset, order, order.locked - required)
            book.side(side).add(order)
            book.mark(side, order.price)
            order.status = "PARTIALLY_FILLED" if order.executed_qty else "NEW"
        else:
            self._release(account, lock_asset, order, order.locked)
            if order.remaining > 0 or not satisfied:  # IOC/FOK/MARKET rest, or book ran dry
                order.status = "EXPIRED"
            else:
                order.status = "FILLED"
            self._close(order)
            if order.status == "EXPIRED" and listener is not None:
                order.update_time = now
                listener.on_execution(order, "EXPIRED", None)
        return trades

    def _trigger_stops(self, symbol: str) -> None:
        """Work every pending stop of ``symbol`` that the last trade price has reached, oldest
        first, until no more trigger (a triggered order's own trades may trigger others)."""
        pending = self._stops[symbol]
        book, spec = self._books[symbol], self.markets[symbol]
        while pending:
            last = self.last_price.get(symbol)
            if last is None:
                return
            due = [
                i
                for i in sorted(pending)
                if _triggered(pending[i].type, pending[i].side, pending[i].stop_price, last)
            ]
            if not due:
                return
            order = pending.pop(due[0])
            order.is_working = True
            order.working_time = order.update_time = self.now_ms()
            account = self.accounts[order.account_id]
            lock_asset = spec.quote if order.side == BUY else spec.base
            self._touched_balances = {order.account_id: {lock_asset}}
            fok_fails = False
            if order.time_in_force == "FOK":
                opposite = book.asks if order.side == BUY else book.bids
                got, _, _ = self._plan(
                    opposite, order.side, order.price, order.remaining, None, spec
                )
                fok_fails = got < order.remaining
            self._work(book, spec, order, account, fok_fails=fok_fails)
            self._finish(book, symbol, self._touched_balances)

    def cancel(
        self,
        account_id: str,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        *,
        cancel_client_order_id: str | None = None,
    ) -> Order:
        """Cancel an open order; raises -2011 ``Unknown order sent.`` if it is not open.
        ``cancel_client_order_id`` names the cancel request (Binance's ``newClientOrderId`` of
        DELETE /api/v3/order); one is generated when not given."""
        self.market(symbol)
        account = self._account(account_id)
        order = self._find(account_id, symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise unknown_order()
        order.cancel_client_order_id = cancel_client_order_id or self.new_client_order_id()
        book = self._books[symbol]
        if order.is_working:
            book.side(order.side).remove(order)
            book.mark(order.side, order.price)
        else:
            del self._stops[symbol][order.order_id]
        spec = self.markets[symbol]
        lock_asset = spec.quote if order.side == BUY else spec.base
        self._release(account, lock_asset, order, order.locked)
        order.status = "CANCELED"
        order.update_time = self.now_ms()
        self._close(order)
        if self.listener is not None:
            self.listener.on_execution(order, "CANCELED", None)
        self._finish(book, symbol, {account_id: {lock_asset}})
        return order

    def cancel_all(self, account_id: str, symbol: str) -> list[Order]:
        """Cancel every open order of an account on ``symbol``."""
        return [
            self.cancel(account_id, symbol, order_id=o.order_id)
            for o in self.open_orders(account_id, symbol)
        ]

    # ----------------------------------------------------------------- internals

    def _plan(
        self,
        opposite: _BookSide,
        side: str,
        limit: Decimal | None,
        quantity: Decimal | None,
        quote_quantity: Decimal | None,
        spec: SymbolSpec,
    ) -> tuple[Decimal, Decimal, bool]:
        """Dry run of taking: (quantity that would fill now, its quote cost, whether that
        satisfies the order: full quantity, or the quote budget spent to the step size)."""
        filled = ZERO
        cost = ZERO
        last_price: Decimal | None = None
        for level_price in opposite.in_priority():
            if limit is not None and (
                (side == BUY and level_price > limit) or (side == SELL and level_price < limit)
            ):
                break
            available = opposite.totals[level_price]
            if quantity is not None:
                take = min(available, quantity - filled)
            else:
                assert quote_quantity is not None
                take = min(available, _affordable(quote_quantity - cost, level_price, spec))
            if take <= 0:
                return filled, cost, True
            filled += take
            cost += take * level_price
            last_price = level_price
        if quantity is not None:
            return filled, cost, filled == quantity
        assert quote_quantity is not None
        budget_left = last_price is not None and _affordable(
            quote_quantity - cost, last_price, spec
        )
        return filled, cost, not budget_left

    def _take(
        self,
        book: _Book,
        spec: SymbolSpec,
        taker: Order,
        opposite: _BookSide,
        limit: Decimal | None,
        trades: list[Trade],
        now: int,
    ) -> None:
        side = taker.side
        maker_side = SELL if side == BUY else BUY
        quote_mode = taker.orig_quote_qty > 0
        while True:
            best = opposite.best()
            if best is None:
                break
            if limit is not None and (
                (side == BUY and best > limit) or (side == SELL and best < limit)
            ):
                break
            level = opposite.levels[best]
            maker = level[0]
            if quote_mode:
                budget = _affordable(taker.orig_quote_qty - taker.cum_quote, best, spec)
                qty = min(maker.remaining, budget, taker.remaining)
            else:
                qty = min(maker.remaining, taker.remaining)
            if qty <= 0:
                break
            trades.append(self._fill(spec, taker, maker, best, qty, now))
            opposite.totals[best] -= qty
            book.mark(maker_side, best)
            if maker.remaining == 0:
                level.popleft()
                self._close(maker)
                if not level:
                    opposite._drop_level(best)
            if taker.remaining == 0:
                break

    def _fill(
        self, spec: SymbolSpec, taker: Order, maker: Order, price: Decimal, qty: Decimal, now: int
    ) -> Trade:
        quote = price * qty
        buyer, seller = (taker, maker) if taker.side == BUY else (maker, taker)
        buyer_acct = self.accounts[buyer.account_id]
        seller_acct = self.accounts[seller.account_id]
        buyer_rate = buyer_acct.taker_fee if buyer is taker else buyer_acct.maker_fee
        seller_rate = seller_acct.taker_fee if seller is taker else seller_acct.maker_fee
        fee_b = _fee(qty, buyer_rate)
        fee_s = _fee(quote, seller_rate)
        base, quote_asset = spec.base, spec.quote
        # buyer pays quote out of its lock and receives base minus fee
        buyer.locked -= quote
        buyer_acct.locked[quote_asset] -= quote
        buyer_acct.free[base] += qty - fee_b
        # seller delivers base out of its lock and receives quote minus fee
        seller.locked -= qty
        seller_acct.locked[base] -= qty
        seller_acct.free[quote_asset] += quote - fee_s
        self.fees_collected[base] += fee_b
        self.fees_collected[quote_asset] += fee_s
        buyer_acct.update_time = seller_acct.update_time = now
        for order in (taker, maker):
            order.executed_qty += qty
            order.cum_quote += quote
            order.update_time = now
        taker.status = "FILLED" if taker.remaining == 0 else "PARTIALLY_FILLED"
        maker.status = "FILLED" if maker.remaining == 0 else "PARTIALLY_FILLED"
        symbol = spec.symbol
        trade_id = self._next_trade_id[symbol]
        self._next_trade_id[symbol] = trade_id + 1
        trade = Trade(
            symbol=symbol,
            trade_id=trade_id,
            price=price,
            qty=qty,
            quote_qty=quote,
            time=now,
            buyer_order_id=buyer.order_id,
            seller_order_id=seller.order_id,
            buyer_account=buyer.account_id,
            seller_account=seller.account_id,
            buyer_is_maker=buyer is maker,
            buyer_commission=fee_b,
            seller_commission=fee_s,
            base_asset=base,
            quote_asset=quote_asset,
        )
        self.trades[symbol].append(trade)
        self.last_price[symbol] = price
        self._account_trades[(buyer.account_id, symbol)].append(trade)
        if seller.account_id != buyer.account_id:
            self._account_trades[(seller.account_id, symbol)].append(trade)
        touched = self._touched_balances
        touched.setdefault(buyer.account_id, set()).update((base, quote_asset))
        touched.setdefault(seller.account_id, set()).update((base, quote_asset))
        listener = self.listener
        if listener is not None:
            listener.on_trade(trade)
            listener.on_execution(taker, "TRADE", trade)
            listener.on_execution(maker, "TRADE", trade)
        return trade

    def _release(self, account: Account, asset: str, order: Order, amount: Decimal) -> None:
        if amount:
            order.locked -= amount
            account.locked[asset] -= amount
            account.free[asset] += amount

    def _register(self, order: Order) -> None:
        key = (order.symbol, order.order_id)
        self._orders[key] = order
        self._by_client_id[(order.account_id, order.symbol, order.client_order_id)] = order
        self._open[order.account_id][key] = order
        history = self._history[(order.account_id, order.symbol)]
        history.append(order)
        if len(history) > self._history_limit:
            self._trim(history)

    def _trim(self, history: deque[Order]) -> None:
        keep: deque[Order] = deque()
        dropping = len(history) - self._history_limit // 2
        for order in history:
            if dropping > 0 and not order.is_open:
                dropping -= 1
                self._orders.pop((order.symbol, order.order_id), None)
                ckey = (order.account_id, order.symbol, order.client_order_id)
                if self._by_client_id.get(ckey) is order:
                    del self._by_client_id[ckey]
            else:
                keep.append(order)
        history.clear()
        history.extend(keep)

    def _close(self, order: Order) -> None:
        self._open[order.account_id].pop((order.symbol, order.order_id), None)

    def _finish(self, book: _Book, symbol: str, touched: dict[str, set[str]]) -> None:
        listener = self.listener
        if book.changed_bids or book.changed_asks:
            book.update_id += 1
            if listener is not None:
                bids = [
                    (p, book.bids.totals.get(p, ZERO))
                    for p in sorted(book.changed_bids, reverse=True)
                ]
                asks = [(p, book.asks.totals.get(p, ZERO)) for p in sorted(book.changed_asks)]
                listener.on_depth(symbol, book.update_id, bids, asks)
            book.changed_bids.clear()
            book.changed_asks.clear()
        if listener is not None:
            for account_id, assets in touched.items():
                listener.on_balances(account_id, frozenset(assets))
        self._touched_balances = {}


def _triggered(order_type: str, side: str, stop_price: Decimal, last: Decimal) -> bool:
    """Whether a stop order of ``order_type`` / ``side`` triggers at last trade price ``last``."""
    if order_type == "STOP_LOSS_LIMIT":
        return last >= stop_price if side == BUY else last <= stop_price
    return last <= stop_price if side == BUY else last >= stop_price


def check_invariants(engine: MatchingEngine) -> list[str]:
    """Invariant violations of an engine's state (empty list = healthy). Used by tests."""
    problems: list[str] = []
    locked: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for symbol, spec in engine.markets.items():
        if engine.is_crossed(symbol):
            problems.append(f"{symbol} book crossed")
        for order in [*engine.book_orders(symbol), *engine.pending_stops(symbol)]:
            asset = spec.quote if order.side == BUY else spec.base
            locked[(order.account_id, asset)] += order.locked
            if order.executed_qty > order.orig_qty:
                problems.append(f"{symbol} order {order.order_id} overfilled")
            expected = order.price * order.remaining if order.side == BUY else order.remaining
            if order.locked != expected:
                problems.append(
                    f"{symbol} order {order.order_id} locks {order.locked} != {expected}"
                )
    for account in engine.accounts.values():
        for asset, amount in account.locked.items():
            if amount != locked.get((account.account_id, asset), ZERO):
                problems.append(f"{account.account_id} locked {asset} {amount} != orders' locks")
        for asset, amount in account.free.items():
            if amount < 0:
                problems.append(f"{account.account_id} free {asset} negative")
    totals = engine.asset_totals()
    for asset, amount in totals.items():
        if amount != engine.deposits.get(asset, ZERO):
            problems.append(
                f"{asset} not conserved: {amount} != deposits {engine.deposits.get(asset)}"
            )
    return problems
