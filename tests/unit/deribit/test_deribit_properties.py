"""Properties of the Deribit-protocol exchange under random order flow: premiums, fees and
deliveries conserve cash exactly and the perpetual's P&L is zero-sum (to the 1e-8 rounding of
each fill), positions net to zero per instrument, books never cross, refusals change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.devnet.deribit import DeribitApiError, DeribitExchange, default_instruments
from oms_chain.devnet.exchange.matching import check_invariants
from oms_chain.model.clock import ManualClock

NOW_MS = int(datetime(2026, 12, 3, 9, tzinfo=UTC).timestamp() * 1000)
EXPIRY_MS = int(datetime(2026, 12, 4, 8, tzinfo=UTC).timestamp() * 1000)
NAMES = ["ETH-4DEC26-3000-C", "ETH-4DEC26-2900-P", "ETH-PERPETUAL"]
ACCOUNTS = ["a", "b", "c"]

OPTION_PRICES = st.sampled_from(["0.0012", "0.0049", "0.005", "0.0105", "0.02", "0.0995"])
PERP_PRICES = st.sampled_from(["2990", "2999.95", "3000", "3000.05", "3010.5"])


def _exchange() -> tuple[DeribitExchange, ManualClock]:
    clock = ManualClock(NOW_MS * 1_000_000)
    index = {"ETH": Decimal(3000)}
    listing = default_instruments(
        NOW_MS, index, expiries_ms=[EXPIRY_MS], strikes={"ETH": [Decimal(2900), Decimal(3000)]}
    )
    ex = DeribitExchange(instruments=listing, index_usd=index, clock=clock)
    for name in ACCOUNTS:
        ex.create_account(name, "s", {"ETH": 50})
    return ex, clock


ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(NAMES),
            st.sampled_from(["buy", "sell"]),
            st.integers(1, 40),
            st.booleans(),  # market?
            OPTION_PRICES,
            PERP_PRICES,
        ),
        st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 30)),
        st.tuples(
            st.just("edit"), st.sampled_from(ACCOUNTS), st.integers(0, 30), st.integers(1, 60)
        ),
        st.tuples(st.just("index"), st.sampled_from(["2800", "3000", "3150"])),
    ),
    min_size=5,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(actions=ACTIONS, delivery=st.sampled_from(["2700", "2950", "3000", "3333"]))
def test_random_flow_conserves_cash_and_nets_positions(actions: list[tuple], delivery: str) -> None:  # type: ignore[type-arg]
    ex, clock = _exchange()
    ids: list[str] = []
    for action in actions:
        before = {n: (dict(a.balance), {k: p.size for k, p in a.positions.items()})
                  for n, a in ex.accounts.items()}  # fmt: skip
        try:
            if action[0] == "place":
                _, who, name, side, size, market, option_price, perp_price = action
                perp = name.endswith("PERPETUAL")
                amount = Decimal(size * 10 if perp else size)
                order, _ = ex.place(
                    who, name, side, amount,
                    order_type="market" if market else "limit",
                    price=None if market else Decimal(perp_price if perp else option_price),
                )  # fmt: skip
                ids.append(str(order["order_id"]))
            elif action[0] == "cancel" and ids:
                ex.cancel(action[1], ids[action[2] % len(ids)])
            elif action[0] == "edit" and ids:
                record = ex.orders.get(ids[action[2] % len(ids)])
                if record is not None and record.price is not None:
                    ex.edit(
                        action[1],
                        record.order_id,
                        Decimal(action[3])
                        * record.instrument.min_trade_amount
                        * (10 if record.instrument.kind == "future" else 1),
                        None,
                    )
            elif action[0] == "index":
                ex.set_index("ETH", Decimal(action[1]))
        except DeribitApiError:
            after = {n: (dict(a.balance), {k: p.size for k, p in a.positions.items()})
                     for n, a in ex.accounts.items()}  # fmt: skip
            assert after == before  # a refusal changes nothing
        _check(ex)
    clock.advance((EXPIRY_MS - NOW_MS) * 1_000_000)
    ex.settle_expired({"ETH": Decimal(delivery)})
    _check(ex)
    for account in ex.accounts.values():
        assert all(not p.instrument.is_option for p in account.positions.values())


def _check(ex: DeribitExchange) -> None:
    # Premiums, fees and deliveries move cash exactly; the perpetual's P&L is zero-sum once
    # the open positions' floating P&L (at any common mark) is counted, up to the 1e-8
    # rounding of each realized fill.
    mark = ex.index["ETH"]
    deposits = sum((a.deposits["ETH"] for a in ex.accounts.values()), Decimal(0))
    total = Decimal(0)
    fills = 0
    for account in ex.accounts.values():
        total += account.balance["ETH"] + account.fees_paid["ETH"]
        fills += len(account.trades)
        perp = account.positions.get("ETH-PERPETUAL")
        if perp is not None and perp.size:
            total += perp.size * (1 / perp.average_price - 1 / mark)
    assert abs(total - deposits) <= Decimal("1e-8") * (fills + 1)
    option_cash_only = all(not t["instrument_name"].endswith("PERPETUAL")  # type: ignore[union-attr]
                           for a in ex.accounts.values() for t in a.trades)  # fmt: skip
    if option_cash_only:
        assert total == deposits
    for name in NAMES:
        net = sum(
            (a.positions[name].size for a in ex.accounts.values() if name in a.positions),
            Decimal(0),
        )
        assert net == 0, name
    assert [p for p in check_invariants(ex.engine) if "crossed" in p] == []
