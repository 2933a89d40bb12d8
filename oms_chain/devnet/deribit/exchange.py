"""The Deribit-protocol exchange's state machine: instruments, orders, fills, margin, expiry.

Books and matching are the Binance simulator's :class:`~oms_chain.devnet.exchange.MatchingEngine`
(price-time priority, IOC / FOK / market semantics, post-only via ``LIMIT_MAKER``): every
instrument is one engine book whose engine accounts hold effectively unlimited synthetic
position and cash units, so the engine only matches. What Deribit adds is around it: premiums in
the underlying, inverse perpetual P&L and fees booked on the accounts' ledgers (:mod:`.ledger`,
opened by :mod:`.accounts`), standard margin (:mod:`.margin`), marks from a volatility surface
(:mod:`.marks`), an index the devnet moves, and delivery at expiry (:mod:`.expiry`).

Synchronous and free of I/O; time from an injected clock. Public methods validate first and
raise :class:`~oms_chain.devnet.deribit.errors.DeribitApiError` without changing state. What
happened is reported to ``listeners`` as ``(kind, key, payload)``: ``("book", instrument,
change)``, ``("order", client_id, order)``, ``("trade", client_id, trade)``.

This module is the order side: placing (terms checked by :mod:`.orders`), editing, cancelling,
and binding the engine's executions and trades back to Deribit orders.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from oms_chain.devnet.deribit import accounts, expiry, margin, wire
from oms_chain.devnet.deribit.errors import (
    DeribitApiError,
    already_closed,
    invalid_params,
    not_enough_funds,
    order_not_found,
    unknown_instrument,
)
from oms_chain.devnet.deribit.instruments import Instrument, default_instruments
from oms_chain.devnet.deribit.ledger import ZERO, DeribitAccount
from oms_chain.devnet.deribit.marks import OptionMark, VolSurface, option_mark
from oms_chain.devnet.deribit.orders import TIME_IN_FORCE, OrderRecord, order_terms
from oms_chain.devnet.exchange.errors import ExchangeApiError
from oms_chain.devnet.exchange.matching import MatchingEngine
from oms_chain.devnet.exchange.matching import Order as EngineOrder
from oms_chain.devnet.exchange.matching import Trade as EngineTrade
from oms_chain.model.errors import InvalidInput

__all__ = ["DEFAULT_INDEX_USD", "DeribitExchange", "OrderRecord"]

DEFAULT_INDEX_USD: Mapping[str, Decimal] = {"ETH": Decimal(3000), "BTC": Decimal(60000)}
"""Index prices the exchange starts at (the devnet AMMs' WETH and WBTC prices)."""

Listener = Callable[[str, str, object], None]


class _ClockLike(Protocol):
    def now_ns(self) -> int: ...


class _SystemClock:
    def now_ns(self) -> int:
        import time

        return time.time_ns()


@dataclass(slots=True)
class _Stats:
    volume: Decimal = ZERO
    high: Decimal | None = None
    low: Decimal | None = None
    last: Decimal | None = None


class DeribitExchange:
    """Instruments, accounts, orders and marks of the local Deribit-protocol exchange."""

    def __init__(
        self,
        *,
        instruments: Sequence[Instrument] | None = None,
        index_usd: Mapping[str, Decimal] | None = None,
        clock: _ClockLike | None = None,
        seed: int = 0,
        surface: VolSurface | None = None,
    ) -> None:
        self.clock: _ClockLike = clock or _SystemClock()
        self.index: dict[str, Decimal] = {
            k: Decimal(v) for k, v in (index_usd or DEFAULT_INDEX_USD).items()
        }
        listing = (
            list(instruments)
            if instruments is not None
            else default_instruments(self.now_ms(), self.index)
        )
        self.instruments: dict[str, Instrument] = {i.name: i for i in listing}
        self.active: set[str] = set(self.instruments)
        self.surface = surface or VolSurface()
        self.engine = MatchingEngine(
            [i.engine_spec() for i in listing], clock=self.clock, seed=seed, listener=self
        )
        self.accounts: dict[str, DeribitAccount] = {}
        self._by_engine_account: dict[str, DeribitAccount] = {}
        self.orders: dict[str, OrderRecord] = {}
        self._by_engine: dict[tuple[str, int], OrderRecord] = {}
        self._ids = itertools.count(1)
        self._trade_seq: defaultdict[str, int] = defaultdict(int)
        self.stats: defaultdict[str, _Stats] = defaultdict(_Stats)
        self.delivery_prices: defaultdict[str, list[tuple[int, Decimal]]] = defaultdict(list)
        self.listeners: list[Listener] = []
        self._levels: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {
            name: ({}, {}) for name in self.instruments
        }
        self._touched: dict[str, OrderRecord] = {}
        self._open: defaultdict[str, dict[str, OrderRecord]] = defaultdict(dict)
        #: accounts that are never margin-checked and whose closed orders are forgotten (agents)
        self.margin_exempt: set[str] = set()
        self._new_trades: list[tuple[str, dict[str, object]]] = []

    # ------------------------------------------------------------------ accounts, marks

    def now_ms(self) -> int:
        """Current time of the injected clock, milliseconds."""
        return self.clock.now_ns() // 1_000_000

    def create_account(
        self, client_id: str, client_secret: str, balances: Mapping[str, Decimal | int | str]
    ) -> DeribitAccount:
        """Open an API account with starting cash per currency (``{"ETH": 100}``)."""
        account = accounts.open_account(self, client_id, client_secret, balances)
        self._by_engine_account[account.engine_id] = account
        return account

    def account(self, client_id: str) -> DeribitAccount:
        """The account of an API client id; 13004 ``invalid_credentials`` when unknown."""
        account = self.accounts.get(client_id)
        if account is None:
            raise DeribitApiError(13004, "invalid_credentials", http_status=401)
        return account

    def instrument(self, name: object, *, tradable: bool = False) -> Instrument:
        """A listed instrument by name (10020 when unknown; 10012 ``book_closed`` when
        ``tradable`` and it has expired)."""
        if not isinstance(name, str) or name not in self.instruments:
            raise unknown_instrument(name)
        if tradable and name not in self.active:
            raise DeribitApiError(10012, "book_closed", {"reason": f"{name} has expired"})
        return self.instruments[name]

    def set_index(self, currency: str, price: Decimal) -> None:
        """Move the index of ``currency`` (USD); marks, margins and agents follow."""
        if currency not in self.index:
            raise InvalidInput(f"unknown index {currency!r}; known: {sorted(self.index)}")
        if not accounts.non_negative(price) or Decimal(price) == 0:
            raise InvalidInput(
                f"index price of {currency} must be a positive number, got {price!r}"
            )
        self.index[currency] = Decimal(price)

    def option_mark(self, instrument: Instrument) -> OptionMark:
        """Black-76 mark of an option at the current index and time."""
        return option_mark(instrument, self.index[instrument.currency], self.now_ms(), self.surface)

    def mark_price(self, instrument: Instrument) -> Decimal:
        """Mark: options from the surface (underlying units), the perpetual at the index."""
        if instrument.is_option:
            return self.option_mark(instrument).price
        return self.index[instrument.currency]

    # ------------------------------------------------------------------ orders

    def place(
        self,
        client_id: str,
        instrument_name: object,
        direction: str,
        amount: Decimal,
        *,
        order_type: str = "limit",
        price: Decimal | None = None,
        time_in_force: str = "good_til_cancelled",
        post_only: bool = False,
        reject_post_only: bool = False,
        reduce_only: bool = False,
        label: str = "",
    ) -> tuple[dict[str, object], list[dict[str, object]]]:
        """``private/buy`` / ``private/sell``: the order and the fills it made at once."""
        account = self.account(client_id)
        instrument = self.instrument(instrument_name, tradable=True)
        price, engine_type = order_terms(
            account,
            instrument,
            direction,
            amount,
            order_type=order_type,
            price=price,
            time_in_force=time_in_force,
            post_only=post_only,
            reject_post_only=reject_post_only,
            reduce_only=reduce_only,
            label=label,
            best_opposite=lambda: self._best_opposite(instrument.name, direction),
        )
        if client_id not in self.margin_exempt:
            margin_price = price if price is not None else self._market_price(instrument, direction)
            self._check_margin(account, instrument, direction, amount, margin_price)

        now = self.now_ms()
        record = OrderRecord(
            order_id=f"{instrument.currency}-{next(self._ids)}",
            instrument=instrument,
            client_id=client_id,
            direction=direction,
            order_type=order_type,
            time_in_force=time_in_force if order_type == "limit" else "good_til_cancelled",
            amount=amount,
            price=price,
            created_ms=now,
            updated_ms=now,
            label=label,
            post_only=post_only,
            reduce_only=reduce_only,
        )
        if order_type == "market":
            record.time_in_force = "immediate_or_cancel"
        self.orders[record.order_id] = record
        self._open[client_id][record.order_id] = record
        fills_before = len(record.trades)
        try:
            self._engine_place(record, amount, price, engine_type)
        except ExchangeApiError as exc:  # validated above; this is the engine's last word
            del self.orders[record.order_id]
            del self._open[client_id][record.order_id]
            raise DeribitApiError(11030, "other_reject", {"reason": exc.msg}) from None
        self._touched[record.order_id] = record
        trades = list(record.trades[fills_before:])
        self._flush()
        return wire.order_json(self, record), trades

    def _engine_place(
        self, record: OrderRecord, amount: Decimal, price: Decimal | None, engine_type: str
    ) -> None:
        account = self.accounts[record.client_id]
        tif = None if engine_type == "MARKET" else TIME_IN_FORCE[record.time_in_force]
        if engine_type == "LIMIT_MAKER":
            tif = None
        result = self.engine.place(
            account.engine_id,
            record.instrument.name,
            record.direction.upper(),
            engine_type,
            quantity=amount,
            price=price,
            time_in_force=tif,
            client_order_id=record.order_id,
        )
        order = result.order
        if order.status == "EXPIRED" and record.state == "open":
            self._close(record, "filled" if record.remaining == 0 else "cancelled")
            if record.state == "cancelled":
                record.cancel_reason = "immediate_or_cancel"

    def _close(self, record: OrderRecord, state: str) -> None:
        record.state = state
        self._open[record.client_id].pop(record.order_id, None)
        if record.client_id in self.margin_exempt:
            self.orders.pop(record.order_id, None)
            if record.engine_key is not None:
                self._by_engine.pop(record.engine_key, None)

    def cancel(self, client_id: str, order_id: object) -> dict[str, object]:
        """``private/cancel``: the order as cancelled."""
        record = self.own_order(client_id, order_id)
        if record.state != "open":
            raise already_closed(order_id)
        self._engine_cancel(record)
        self._close(record, "cancelled")
        record.cancel_reason = "user_request"
        record.updated_ms = self.now_ms()
        self._touched[record.order_id] = record
        self._flush()
        return wire.order_json(self, record)

    def cancel_all(self, client_id: str, currency: str | None = None) -> int:
        """Cancel every open order of an account (optionally of one currency)."""
        count = 0
        for record in self.open_orders(client_id, currency):
            self.cancel(client_id, record.order_id)
            count += 1
        return count

    def edit(
        self, client_id: str, order_id: object, amount: Decimal, price: Decimal | None
    ) -> tuple[dict[str, object], list[dict[str, object]]]:
        """``private/edit``: new total amount and/or price of an open limit order (same id;
        like Deribit it loses its time priority)."""
        record = self.own_order(client_id, order_id)
        if record.state != "open":
            raise already_closed(order_id)
        instrument = record.instrument
        instrument.check_amount(amount)
        if amount <= record.filled:
            raise DeribitApiError(
                10021,
                "invalid_amount",
                {"reason": f"amount {amount} is not above the filled {record.filled}"},
            )
        new_price = record.price if price is None else price
        if new_price is None:
            raise invalid_params("price", "a market order cannot be edited")
        instrument.check_price(new_price)
        account = self.accounts[client_id]
        extra = amount - record.filled
        if client_id not in self.margin_exempt:
            self._check_margin(
                account, instrument, record.direction, extra, new_price, excluding=record
            )
        self._engine_cancel(record)
        record.amount = amount
        record.price = new_price
        record.replaced = True
        record.updated_ms = self.now_ms()
        fills_before = len(record.trades)
        engine_type = "LIMIT_MAKER" if record.post_only else "LIMIT"
        if record.post_only:
            best = self._best_opposite(instrument.name, record.direction)
            if best is not None and (
                new_price >= best if record.direction == "buy" else new_price <= best
            ):
                engine_type = "LIMIT"  # documented simplification: an edit may take
        self._engine_place(record, extra, new_price, engine_type)
        self._touched[record.order_id] = record
        trades = list(record.trades[fills_before:])
        self._flush()
        return wire.order_json(self, record), trades

    def _engine_cancel(self, record: OrderRecord) -> None:
        if record.engine_key is None:
            return
        self._by_engine.pop(record.engine_key, None)
        symbol, engine_id = record.engine_key
        order = self.engine.get_order(
            self.accounts[record.client_id].engine_id, symbol, order_id=engine_id
        )
        if order.is_open:
            self.engine.cancel(order.account_id, symbol, order_id=engine_id)

    def own_order(self, client_id: str, order_id: object) -> OrderRecord:
        self.account(client_id)
        if not isinstance(order_id, str) or not order_id:
            raise DeribitApiError(
                10025, "invalid_order_id", {"reason": "order_id must be a non-empty string"}
            )
        record = self.orders.get(order_id)
        if record is None or record.client_id != client_id:
            raise order_not_found(order_id)
        return record

    def _best_opposite(self, name: str, direction: str) -> Decimal | None:
        bid, ask = self.engine.best_bid_ask(name)
        level = ask if direction == "buy" else bid
        return level[0] if level is not None else None

    def _market_price(self, instrument: Instrument, direction: str) -> Decimal:
        best = self._best_opposite(instrument.name, direction)
        return best if best is not None else self.mark_price(instrument)

    # ------------------------------------------------------------------ margin

    def _check_margin(
        self,
        account: DeribitAccount,
        instrument: Instrument,
        direction: str,
        amount: Decimal,
        price: Decimal,
        excluding: OrderRecord | None = None,
    ) -> None:
        needed = margin.order_margin(self, account, instrument, direction, amount, price)
        available = self.margin(account, instrument.currency, excluding)["available_funds"]
        if needed > 0 and available - needed < 0:
            raise not_enough_funds(needed, available, instrument.currency)

    def margin(
        self, account: DeribitAccount, currency: str, excluding: OrderRecord | None = None
    ) -> dict[str, Decimal]:
        """Standard-margin figures of one currency (see :mod:`.margin`), Decimal."""
        return margin.account_margin(self, account, currency, excluding)

    # ------------------------------------------------------------------ queries

    def open_orders(
        self, client_id: str, currency: str | None = None, kind: str | None = None
    ) -> list[OrderRecord]:
        """Open orders of an account, oldest first."""
        return [
            r
            for r in self._open.get(client_id, {}).values()
            if (currency is None or r.instrument.currency == currency)
            and (kind is None or r.instrument.kind == kind)
        ]

    # ------------------------------------------------------------------ expiry

    def settle_expired(self, delivery_usd: Mapping[str, Decimal] | None = None) -> list[str]:
        """Deliver every option whose expiry has passed (see :func:`.expiry.deliver`): open
        orders cancelled, positions closed for cash in the underlying. Returns the names."""
        due = expiry.deliver(self, delivery_usd)
        self._flush()
        return due

    def cancel_for_settlement(self, record: OrderRecord) -> None:
        """Cancel an open order of an expiring instrument (``cancel_reason`` ``settlement``)."""
        self._engine_cancel(record)
        self._close(record, "cancelled")
        record.cancel_reason = "settlement"
        record.updated_ms = self.now_ms()
        self._touched[record.order_id] = record

    # ------------------------------------------------------------------ engine listener

    def on_execution(self, order: EngineOrder, execution_type: str, trade: object) -> None:
        """Engine callback: bind new engine orders to their Deribit order."""
        if execution_type == "NEW":
            record = self.orders.get(order.client_order_id)
            if record is not None:
                record.engine_key = (order.symbol, order.order_id)
                self._by_engine[record.engine_key] = record

    def on_trade(self, trade: EngineTrade) -> None:
        """Engine callback: a fill; book it on both accounts."""
        instrument = self.instruments[trade.symbol]
        stats = self.stats[trade.symbol]
        stats.volume += trade.qty
        stats.last = trade.price
        stats.high = trade.price if stats.high is None else max(stats.high, trade.price)
        stats.low = trade.price if stats.low is None else min(stats.low, trade.price)
        self._trade_seq[trade.symbol] += 1
        trade_id = f"{instrument.currency}-{next(self._ids)}"
        for order_id, engine_account, sign, maker in (
            (trade.buyer_order_id, trade.buyer_account, 1, trade.buyer_is_maker),
            (trade.seller_order_id, trade.seller_account, -1, not trade.buyer_is_maker),
        ):
            record = self._by_engine[(trade.symbol, order_id)]
            account = self._by_engine_account[engine_account]
            self._book_fill(account, record, instrument, sign, trade, maker, trade_id)

    def _book_fill(
        self,
        account: DeribitAccount,
        record: OrderRecord,
        instrument: Instrument,
        sign: int,
        trade: EngineTrade,
        maker: bool,
        trade_id: str,
    ) -> None:
        qty, price = trade.qty, trade.price
        fee, realized = account.book_trade(instrument, sign, qty, price, maker)
        record.filled += qty
        record.value += price * qty
        record.commission += fee
        record.profit_loss += realized
        record.updated_ms = trade.time
        if record.filled == record.amount:
            self._close(record, "filled")
        data = wire.user_trade_json(
            self, record, trade, trade_id, self._trade_seq[trade.symbol], fee, maker, realized
        )
        record.trades.append(data)
        account.trades.append(data)
        self._touched[record.order_id] = record
        self._new_trades.append((account.client_id, data))

    def on_depth(
        self,
        symbol: str,
        update_id: int,
        bids: list[tuple[Decimal, Decimal]],
        asks: list[tuple[Decimal, Decimal]],
    ) -> None:
        """Engine callback: changed levels -> a Deribit ``book.*`` change."""
        change = wire.book_change_json(
            self._levels[symbol], symbol, update_id, self.now_ms(), bids, asks
        )
        for listener in self.listeners:
            listener("book", symbol, change)

    def on_balances(self, account_id: str, assets: frozenset[str]) -> None:
        """Engine callback: synthetic balances; nothing to do."""

    def _flush(self) -> None:
        touched, self._touched = self._touched, {}
        trades, self._new_trades = self._new_trades, []
        for listener in self.listeners:
            for client_id, data in trades:
                listener("trade", client_id, data)
            for record in touched.values():
                listener("order", record.client_id, wire.order_json(self, record))
