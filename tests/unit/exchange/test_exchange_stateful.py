"""Stateful test of the matching engine: random accounts place (stop-limit orders too), take and
cancel; after every step the book is uncrossed, funds are conserved and locked exactly, no
waiting stop order should already have triggered, and a book rebuilt only from the engine's depth
deltas equals the engine's own book, with gap-free update ids."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from oms_chain.devnet.exchange import ExchangeApiError, MatchingEngine, check_invariants
from oms_chain.devnet.exchange.markets import default_markets

ACCOUNTS = st.sampled_from(["a", "b", "c"])
SIDES = st.sampled_from(["BUY", "SELL"])
QTY = st.integers(min_value=1, max_value=400).map(lambda n: D(n) * D("0.001"))  # ETH/BTC steps
PRICE = st.integers(min_value=4_900, max_value=5_100).map(lambda n: D(n) * D("0.00001"))


class DeltaBook:
    """A book rebuilt only from ``on_depth`` events, like a diff-depth stream client."""

    def __init__(self) -> None:
        self.update_id = 0
        self.bids: dict[D, D] = {}
        self.asks: dict[D, D] = {}
        self.gaps = 0

    def on_depth(self, symbol: str, update_id: int, bids: list, asks: list) -> None:
        if update_id != self.update_id + 1:
            self.gaps += 1
        self.update_id = update_id
        for levels, side in ((bids, self.bids), (asks, self.asks)):
            for price, qty in levels:
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)

    def on_execution(self, *args: object) -> None: ...
    def on_trade(self, *args: object) -> None: ...
    def on_balances(self, *args: object) -> None: ...


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = MatchingEngine(default_markets(), seed=9)
        self.deltas = DeltaBook()
        self.engine.listener = self.deltas
        for account in ("a", "b", "c"):
            self.engine.create_account(
                account, {"ETH": D(100), "BTC": D(5)}, maker_fee=D("0.0001"), taker_fee=D("0.0007")
            )

    def _try(self, **kwargs: object) -> None:
        with contextlib.suppress(ExchangeApiError):
            self.engine.place(symbol="ETHBTC", **kwargs)  # type: ignore[arg-type]

    @rule(
        account=ACCOUNTS,
        side=SIDES,
        qty=QTY,
        price=PRICE,
        tif=st.sampled_from(["GTC", "IOC", "FOK"]),
    )
    def limit(self, account: str, side: str, qty: D, price: D, tif: str) -> None:
        self._try(
            account_id=account,
            side=side,
            order_type="LIMIT",
            quantity=qty,
            price=price,
            time_in_force=tif,
        )

    @rule(account=ACCOUNTS, side=SIDES, qty=QTY, price=PRICE)
    def maker(self, account: str, side: str, qty: D, price: D) -> None:
        self._try(
            account_id=account, side=side, order_type="LIMIT_MAKER", quantity=qty, price=price
        )

    @rule(account=ACCOUNTS, side=SIDES, qty=QTY)
    def market(self, account: str, side: str, qty: D) -> None:
        self._try(account_id=account, side=side, order_type="MARKET", quantity=qty)

    @rule(account=ACCOUNTS, side=SIDES, qty=QTY)
    def market_by_quote(self, account: str, side: str, qty: D) -> None:
        self._try(account_id=account, side=side, order_type="MARKET", quote_quantity=qty / 20)

    @rule(
        account=ACCOUNTS,
        side=SIDES,
        qty=QTY,
        price=PRICE,
        stop=PRICE,
        kind=st.sampled_from(["STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]),
        tif=st.sampled_from(["GTC", "IOC", "FOK"]),
    )
    def stop_limit(
        self, account: str, side: str, qty: D, price: D, stop: D, kind: str, tif: str
    ) -> None:
        self._try(
            account_id=account,
            side=side,
            order_type=kind,
            quantity=qty,
            price=price,
            time_in_force=tif,
            stop_price=stop,
        )

    @precondition(lambda self: any(self.engine.open_orders(a) for a in "abc"))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        orders = [o for a in "abc" for o in self.engine.open_orders(a)]
        order = data.draw(st.sampled_from(orders))
        self.engine.cancel(order.account_id, order.symbol, order_id=order.order_id)

    @invariant()
    def engine_is_consistent(self) -> None:
        assert not self.engine.is_crossed("ETHBTC")
        assert check_invariants(self.engine) == []

    @invariant()
    def no_pending_stop_is_already_triggered(self) -> None:
        last = self.engine.last_price.get("ETHBTC")
        for order in self.engine.pending_stops("ETHBTC"):
            assert order.is_open and not order.is_working
            if last is not None:
                rises = (order.type == "STOP_LOSS_LIMIT") == (order.side == "BUY")
                assert (last < order.stop_price) if rises else (last > order.stop_price)

    @invariant()
    def delta_book_equals_engine_book(self) -> None:
        update_id, bids, asks = self.engine.depth("ETHBTC", 10_000)
        assert self.deltas.gaps == 0
        assert self.deltas.update_id == update_id
        assert sorted(self.deltas.bids.items(), reverse=True) == bids
        assert sorted(self.deltas.asks.items()) == asks


EngineMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_engine_state_machine = EngineMachine.TestCase
