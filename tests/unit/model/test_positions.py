from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import Fill, Portfolio, Position, PositionKey, Side

KEY = PositionKey("a", "paper", "spot:ETH/USDC")


def fill(side: Side, qty: str, price: str, fee: str = "0", venue: str = "paper", n: int = 0):
    return Fill(
        trade_id=f"t{n}",
        order_id="o",
        client_order_id="c",
        venue=venue,
        account="a",
        instrument_id="spot:ETH/USDC",
        side=side,
        quantity=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency="USDC",
        ts_event=0,
    )


def test_average_price_realized_and_unrealized_pnl_textbook():
    p = Position(key=KEY)
    p = p.apply(fill(Side.BUY, "2", "100"))
    p = p.apply(fill(Side.BUY, "2", "110"))
    assert (p.quantity, p.avg_price) == (Decimal(4), Decimal(105))
    p = p.apply(fill(Side.SELL, "1", "120"))
    assert p.realized_pnl == Decimal(15)
    assert p.avg_price == Decimal(105)
    assert p.unrealized_pnl(Decimal(100)) == Decimal(-15)
    p = p.apply(fill(Side.SELL, "5", "90"))  # closes 3 at a loss, flips short 2 at 90
    assert p.realized_pnl == Decimal(15) + Decimal(3) * Decimal(-15)
    assert (p.quantity, p.avg_price) == (Decimal(-2), Decimal(90))
    assert p.unrealized_pnl(Decimal(80)) == Decimal(20)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(min_value=1, max_value=50),
            st.integers(min_value=50, max_value=150),
        ),
        max_size=30,
    ),
    st.integers(min_value=50, max_value=150),
)
def test_total_pnl_equals_cash_flows_plus_mark_of_holdings(trades, mark):
    p = Position(key=KEY)
    cash = Decimal(0)
    for side, q, px in trades:
        p = p.apply(fill(side, str(q), str(px)))
        cash -= side.sign * Decimal(q) * Decimal(px)
    expected = cash + p.quantity * Decimal(mark)
    # average cost divides; allow rounding at the 28th significant digit
    assert abs(p.realized_pnl + p.unrealized_pnl(Decimal(mark)) - expected) < Decimal("1e-15")
    assert p.quantity == sum(s.sign * q for s, q, _ in trades)


def test_portfolio_nets_across_venues():
    pf = Portfolio()
    pf.apply(fill(Side.BUY, "3", "100", venue="binance"))
    pf.apply(fill(Side.SELL, "1", "101", venue="uniswap"))
    assert pf.net_quantity("spot:ETH/USDC") == Decimal(2)
    assert len(pf) == 2
    assert pf.unrealized_pnl({"spot:ETH/USDC": Decimal(100)}) == Decimal(1)


def _fold(fills: list[Fill]) -> Position:
    p = Position(key=KEY)
    for f in fills:
        p = p.apply(f)
    return p


def test_the_fold_gives_the_same_digits_whatever_decimal_context_the_thread_was_left_in():
    """ccxt's decimal_to_precision sets ROUND_HALF_UP on the thread's context; a replay in such a
    process once differed from the live fold in the 28th digit. The ledger's context is fixed."""
    from decimal import ROUND_HALF_UP, localcontext

    import ccxt

    # buys at prices whose average is not exact at 28 digits, then a partial sell
    fills = [fill(Side.BUY, "1", "2000.5", n=0), fill(Side.BUY, "2", "1999.25", n=1)]
    fills += [fill(Side.BUY, "3", "2001.125", n=2), fill(Side.SELL, "5", "2003", n=3)]
    fills += [fill(Side.BUY, "0.7", "1998.333", n=4), fill(Side.SELL, "1.1", "2000.01", n=5)]
    expected = _fold(fills)
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_UP  # what ccxt leaves behind
        ccxt.decimal_to_precision("1.25", ccxt.ROUND, 1)  # and ccxt itself, for real
        assert _fold(fills) == expected
        ctx.prec = 12  # and a precision a library could lower
        assert _fold(fills) == expected
    assert expected.quantity == Decimal("0.6") and expected.fill_count == 6
