"""Property tests: whatever orders arrive, the book is never crossed, money is conserved and no
order fills more than its quantity."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import event, given, settings
from hypothesis import strategies as st

from oms_chain.devnet.exchange import ExchangeApiError, MatchingEngine, check_invariants
from oms_chain.devnet.exchange.markets import default_markets

ACCOUNTS = ("a", "b", "c")

order_st = st.tuples(
    st.sampled_from(ACCOUNTS),
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(
        # resting kinds are listed more than once so books fill up and crosses happen often
        ["LIMIT_GTC"] * 4
        + ["LIMIT_MAKER"] * 2
        + ["LIMIT_IOC", "LIMIT_FOK", "MARKET", "MARKET_QUOTE", "CANCEL"]
    ),
    st.integers(min_value=20, max_value=30_000),  # quantity in steps of 0.0001 ETH (>= 6 USDC)
    st.integers(min_value=-20, max_value=20),  # price offset from 3000 in 0.5 USDC
)


def apply(engine: MatchingEngine, op: tuple[str, str, str, int, int]) -> None:
    account, side, kind, qty_steps, offset = op
    qty = D(qty_steps) * D("0.0001")
    price = D(3000) + D(offset) / 2
    try:
        if kind == "CANCEL":
            open_orders = engine.open_orders(account, "ETHUSDC")
            if open_orders:
                engine.cancel(
                    account, "ETHUSDC", order_id=open_orders[qty_steps % len(open_orders)].order_id
                )
        elif kind == "MARKET":
            engine.place(account, "ETHUSDC", side, "MARKET", quantity=qty)
        elif kind == "MARKET_QUOTE":
            engine.place(account, "ETHUSDC", side, "MARKET", quote_quantity=qty * 1000)
        elif kind == "LIMIT_MAKER":
            engine.place(account, "ETHUSDC", side, "LIMIT_MAKER", quantity=qty, price=price)
        else:
            engine.place(
                account,
                "ETHUSDC",
                side,
                "LIMIT",
                quantity=qty,
                price=price,
                time_in_force=kind.split("_")[1],
            )
    except ExchangeApiError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.lists(order_st, min_size=5, max_size=80))
def test_random_order_flow_keeps_every_invariant(ops: list[tuple[str, str, str, int, int]]) -> None:
    engine = MatchingEngine(default_markets(), seed=3)
    for account in ACCOUNTS:
        engine.create_account(
            account,
            {"USDC": D(50_000), "ETH": D(20)},
            maker_fee=D("0.0002"),
            taker_fee=D("0.00075"),
        )
    for op in ops:
        apply(engine, op)
        assert not engine.is_crossed("ETHUSDC")
        assert check_invariants(engine) == []
    for account in ACCOUNTS:
        for order in engine.all_orders(account, "ETHUSDC"):
            assert 0 <= order.executed_qty <= order.orig_qty
            if order.status == "FILLED":
                assert order.executed_qty == order.orig_qty
    count = len(engine.trades["ETHUSDC"])
    event("trades: none" if count == 0 else "trades: 1-9" if count < 10 else "trades: 10+")


@settings(max_examples=100, deadline=None)
@given(st.lists(order_st, min_size=1, max_size=40))
def test_per_asset_totals_equal_deposits_after_any_flow(
    ops: list[tuple[str, str, str, int, int]],
) -> None:
    engine = MatchingEngine(default_markets(), seed=4)
    for account in ACCOUNTS:
        engine.create_account(account, {"USDC": D(50_000), "ETH": D(20)})
    for op in ops:
        apply(engine, op)
    totals = engine.asset_totals()
    assert totals["USDC"] == D(150_000) and totals["ETH"] == D(60)
