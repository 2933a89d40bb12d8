"""JSON shapes of Deribit's API v2 results, built from the exchange's state.

Field names and value kinds follow Deribit's documentation and what ccxt's ``deribit`` parses
(``order_state``, ``filled_amount``, ``average_price``, ``direction``, ``mark_iv``, ``greeks``,
``size_currency``, ``floating_profit_loss``, ...). Numbers go out as JSON numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from oms_chain.devnet.deribit import black76
from oms_chain.devnet.deribit.instruments import Instrument
from oms_chain.devnet.deribit.ledger import Position

if TYPE_CHECKING:
    from oms_chain.devnet.deribit.exchange import DeribitExchange
    from oms_chain.devnet.deribit.orders import OrderRecord
    from oms_chain.devnet.exchange.matching import Trade as EngineTrade

__all__ = [
    "account_summary_json",
    "book_change_json",
    "book_summary_json",
    "order_book_json",
    "order_json",
    "position_json",
    "settlement_json",
    "ticker_json",
    "user_trade_json",
]


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _r(value: float, digits: int = 5) -> float:
    return round(value, digits)


def order_json(ex: DeribitExchange, record: OrderRecord) -> dict[str, object]:
    """An order as ``private/buy``, ``private/get_open_orders_by_currency`` and
    ``user.orders.*`` return it."""
    instrument = record.instrument
    out: dict[str, object] = {
        "order_id": record.order_id,
        "instrument_name": instrument.name,
        "direction": record.direction,
        "amount": float(record.amount),
        "contracts": float(record.amount / instrument.contract_size),
        "filled_amount": float(record.filled),
        "price": "market_price" if record.price is None else float(record.price),
        "average_price": float(record.average_price),
        "order_state": record.state,
        "order_type": record.order_type,
        "time_in_force": record.time_in_force,
        "post_only": record.post_only,
        "reduce_only": record.reduce_only,
        "label": record.label,
        "creation_timestamp": record.created_ms,
        "last_update_timestamp": record.updated_ms,
        "commission": float(record.commission),
        "profit_loss": float(record.profit_loss),
        "replaced": record.replaced,
        "max_show": float(record.amount),
        "api": True,
        "web": False,
        "is_liquidation": False,
        "risk_reducing": False,
        "mmp": False,
    }
    if record.cancel_reason is not None:
        out["cancel_reason"] = record.cancel_reason
    return out


def user_trade_json(
    ex: DeribitExchange,
    record: OrderRecord,
    trade: EngineTrade,
    trade_id: str,
    trade_seq: int,
    fee: Decimal,
    maker: bool,
    profit_loss: Decimal,
) -> dict[str, object]:
    """One of the account's fills as ``private/get_user_trades_by_currency`` returns it."""
    instrument = record.instrument
    index = ex.index[instrument.currency]
    out: dict[str, object] = {
        "trade_id": trade_id,
        "trade_seq": trade_seq,
        "timestamp": trade.time,
        "tick_direction": 0,
        "state": "filled" if record.filled == record.amount else "open",
        "order_id": record.order_id,
        "order_type": record.order_type,
        "instrument_name": instrument.name,
        "direction": record.direction,
        "amount": float(trade.qty),
        "contracts": float(trade.qty / instrument.contract_size),
        "price": float(trade.price),
        "index_price": float(index),
        "mark_price": float(ex.mark_price(instrument)),
        "liquidity": "M" if maker else "T",
        "fee": float(fee),
        "fee_currency": instrument.currency,
        "profit_loss": float(profit_loss),
        "label": record.label,
        "post_only": record.post_only,
        "reduce_only": record.reduce_only,
        "matching_id": None,
        "api": True,
    }
    if instrument.is_option:
        assert instrument.strike is not None and instrument.expiry_ms is not None
        years = max(0.0, (instrument.expiry_ms - trade.time) / (365 * 24 * 3600 * 1000))
        iv = black76.implied_vol(
            float(trade.price * index),
            float(index),
            float(instrument.strike),
            years,
            bool(instrument.is_call),
        )
        out["iv"] = _r(iv * 100, 2) if iv is not None else None
        out["underlying_price"] = float(index)
    return out


def settlement_json(
    instrument: Instrument,
    pos: Position,
    cash: Decimal,
    payoff: Decimal,
    delivery: Decimal,
    now_ms: int,
) -> dict[str, object]:
    """A delivery record (``private/get_settlement_history_by_currency``)."""
    return {
        "type": "delivery",
        "timestamp": now_ms,
        "instrument_name": instrument.name,
        "position": float(pos.size),
        "mark_price": float(payoff),
        "index_price": float(delivery),
        "profit_loss": float(cash - pos.size * pos.average_price),
        "session_profit_loss": float(cash),
    }


def _greeks(ex: DeribitExchange, instrument: Instrument) -> tuple[Decimal, float, black76.Greeks]:
    mark = ex.option_mark(instrument)
    return mark.price, mark.iv, mark.greeks


def _bid_ask_iv(ex: DeribitExchange, instrument: Instrument, price: Decimal | None) -> float:
    if price is None or instrument.strike is None or instrument.expiry_ms is None:
        return 0.0
    index = ex.index[instrument.currency]
    years = max(0.0, (instrument.expiry_ms - ex.now_ms()) / (365 * 24 * 3600 * 1000))
    iv = black76.implied_vol(
        float(price * index),
        float(index),
        float(instrument.strike),
        years,
        bool(instrument.is_call),
    )
    return _r(iv * 100, 2) if iv is not None else 0.0


def ticker_json(ex: DeribitExchange, instrument: Instrument) -> dict[str, object]:
    """``public/ticker``: best prices, mark, index, and for options mark IV and Greeks."""
    bid, ask = ex.engine.best_bid_ask(instrument.name)
    stats = ex.stats[instrument.name]
    index = ex.index[instrument.currency]
    out: dict[str, object] = {
        "timestamp": ex.now_ms(),
        "instrument_name": instrument.name,
        "state": "open" if instrument.name in ex.active else "closed",
        "best_bid_price": _f(bid[0]) if bid else 0.0,
        "best_bid_amount": _f(bid[1]) if bid else 0.0,
        "best_ask_price": _f(ask[0]) if ask else 0.0,
        "best_ask_amount": _f(ask[1]) if ask else 0.0,
        "last_price": _f(stats.last),
        "index_price": float(index),
        "estimated_delivery_price": float(index),
        "settlement_price": None,
        "open_interest": float(_open_interest(ex, instrument)),
        "stats": {
            "volume": float(stats.volume),
            "high": _f(stats.high),
            "low": _f(stats.low),
            "price_change": None,
        },
    }
    if instrument.is_option:
        mark, iv, greeks = _greeks(ex, instrument)
        out.update(
            mark_price=float(mark),
            mark_iv=_r(iv * 100, 2),
            bid_iv=_bid_ask_iv(ex, instrument, bid[0] if bid else None),
            ask_iv=_bid_ask_iv(ex, instrument, ask[0] if ask else None),
            underlying_price=float(index),
            underlying_index="index_price",
            interest_rate=0.0,
            greeks={
                "delta": _r(greeks.delta),
                "gamma": _r(greeks.gamma),
                "vega": _r(greeks.vega),
                "theta": _r(greeks.theta),
                "rho": _r(greeks.rho),
            },
        )
    else:
        out.update(mark_price=float(index), current_funding=0.0, funding_8h=0.0)
    return out


def order_book_json(ex: DeribitExchange, instrument: Instrument, depth: int) -> dict[str, object]:
    """``public/get_order_book``: the ticker plus ``bids`` / ``asks`` and ``change_id``."""
    change_id, bids, asks = ex.engine.depth(instrument.name, depth)
    out = ticker_json(ex, instrument)
    out.update(
        change_id=change_id,
        bids=[[float(p), float(q)] for p, q in bids],
        asks=[[float(p), float(q)] for p, q in asks],
    )
    return out


def book_summary_json(ex: DeribitExchange, instrument: Instrument) -> dict[str, object]:
    """One entry of ``public/get_book_summary_by_currency``."""
    bid, ask = ex.engine.best_bid_ask(instrument.name)
    stats = ex.stats[instrument.name]
    index = ex.index[instrument.currency]
    bid_p = bid[0] if bid else None
    ask_p = ask[0] if ask else None
    out: dict[str, object] = {
        "instrument_name": instrument.name,
        "base_currency": instrument.currency,
        "quote_currency": instrument.currency if instrument.is_option else "USD",
        "creation_timestamp": ex.now_ms(),
        "bid_price": _f(bid_p),
        "ask_price": _f(ask_p),
        "mid_price": _f((bid_p + ask_p) / 2) if bid_p is not None and ask_p is not None else None,
        "mark_price": float(ex.mark_price(instrument)),
        "last": _f(stats.last),
        "high": _f(stats.high),
        "low": _f(stats.low),
        "volume": float(stats.volume),
        "volume_usd": float(stats.volume * (stats.last or 0) * index)
        if instrument.is_option
        else float(stats.volume),
        "open_interest": float(_open_interest(ex, instrument)),
        "estimated_delivery_price": float(index),
        "price_change": None,
    }
    if instrument.is_option:
        out.update(
            mark_iv=_r(ex.option_mark(instrument).iv * 100, 2),
            underlying_price=float(index),
            underlying_index="index_price",
            interest_rate=0.0,
        )
    else:
        out.update(current_funding=0.0, funding_8h=0.0)
    return out


def _open_interest(ex: DeribitExchange, instrument: Instrument) -> Decimal:
    return sum(
        (
            pos.size
            for account in ex.accounts.values()
            if (pos := account.positions.get(instrument.name)) is not None and pos.size > 0
        ),
        Decimal(0),
    )


def position_json(ex: DeribitExchange, pos: Position) -> dict[str, object]:
    """One entry of ``private/get_positions``."""
    instrument = pos.instrument
    index = ex.index[instrument.currency]
    mark = ex.mark_price(instrument)
    initial, maintenance = pos.margins(mark, index)
    floating = pos.floating_pnl(mark)
    out: dict[str, object] = {
        "instrument_name": instrument.name,
        "kind": instrument.kind,
        "direction": "buy" if pos.size > 0 else "sell" if pos.size < 0 else "zero",
        "size": float(pos.size),
        "average_price": float(pos.average_price),
        "mark_price": float(mark),
        "index_price": float(index),
        "floating_profit_loss": float(floating),
        "realized_profit_loss": float(pos.realized_pnl),
        "total_profit_loss": float(floating + pos.realized_pnl),
        "initial_margin": float(initial),
        "maintenance_margin": float(maintenance),
        "open_orders_margin": 0.0,
        "settlement_price": None,
        "estimated_liquidation_price": None,
    }
    if instrument.is_option:
        _, _, greeks = _greeks(ex, instrument)
        size = float(pos.size)
        out.update(
            size_currency=float(pos.size),
            average_price_usd=float(pos.average_price * index),
            floating_profit_loss_usd=float(floating * index),
            delta=_r(size * greeks.delta),
            gamma=_r(size * greeks.gamma),
            vega=_r(size * greeks.vega),
            theta=_r(size * greeks.theta),
        )
    else:
        size_currency = pos.size / mark
        out.update(
            size_currency=float(size_currency.quantize(Decimal("1e-8"))),
            delta=float(size_currency.quantize(Decimal("1e-8"))),
            leverage=50,
            realized_funding=0.0,
            interest_value=0.0,
        )
    return out


def account_summary_json(ex: DeribitExchange, client_id: str, currency: str) -> dict[str, object]:
    """``private/get_account_summary`` of one currency (standard margin)."""
    account = ex.accounts[client_id]
    figures = ex.margin(account, currency)
    delta = Decimal(0)
    for pos in account.positions.values():
        if pos.instrument.currency != currency:
            continue
        if pos.instrument.is_option:
            delta += pos.size * Decimal(repr(ex.option_mark(pos.instrument).greeks.delta))
        else:
            delta += pos.size / ex.mark_price(pos.instrument)
    out: dict[str, object] = {name: float(value) for name, value in figures.items()}
    out.update(
        currency=currency,
        available_withdrawal_funds=float(max(Decimal(0), figures["available_funds"])),
        projected_initial_margin=float(figures["initial_margin"]),
        projected_maintenance_margin=float(figures["maintenance_margin"]),
        session_upl=float(figures["options_pl"] + figures["futures_pl"]),
        futures_session_upl=float(figures["futures_pl"]),
        options_session_upl=float(figures["options_pl"]),
        total_pl=float(figures["options_pl"] + figures["futures_pl"]),
        delta_total=float(delta.quantize(Decimal("1e-6"))),
        fee_balance=0.0,
        portfolio_margining_enabled=False,
        cross_collateral_enabled=False,
        margin_model="segregated_sm",
        deposit_address="",
        id=account.user_id,
        username=account.client_id,
        type="main",
        system_name=account.client_id,
    )
    return out


def book_change_json(
    known: tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]],
    instrument_name: str,
    change_id: int,
    timestamp_ms: int,
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
) -> dict[str, object]:
    """A ``book.*`` change notification of the engine's changed levels; ``known`` (bids, asks:
    price -> amount the subscribers last saw) is updated to match."""
    return {
        "type": "change",
        "timestamp": timestamp_ms,
        "instrument_name": instrument_name,
        "prev_change_id": change_id - 1,
        "change_id": change_id,
        "bids": _level_actions(known[0], bids),
        "asks": _level_actions(known[1], asks),
    }


def _level_actions(
    known: dict[Decimal, Decimal], levels: list[tuple[Decimal, Decimal]]
) -> list[list[object]]:
    out: list[list[object]] = []
    for price, amount in levels:
        if amount == 0:
            if known.pop(price, None) is not None:
                out.append(["delete", float(price), 0.0])
        else:
            action = "change" if price in known else "new"
            known[price] = amount
            out.append([action, float(price), float(amount)])
    return out
