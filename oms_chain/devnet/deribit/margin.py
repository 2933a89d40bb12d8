"""Deribit's standard margin over the exchange's state (the per-position rules are in
:mod:`.ledger`).

``equity = balance + options value (size x mark) + perpetual floating P&L``; initial margin is
the positions' plus the open orders' (a buy option order reserves its premium and fee, a sell
option order the short-option initial margin of the part that opens a short, a perpetual order
2 % of the part that opens or grows a position); ``available_funds = equity - initial_margin``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from oms_chain.devnet.deribit.instruments import Instrument
from oms_chain.devnet.deribit.ledger import (
    PERP_IM,
    ZERO,
    DeribitAccount,
    option_fee,
    q8,
    short_option_margin,
)

if TYPE_CHECKING:
    from oms_chain.devnet.deribit.exchange import DeribitExchange
    from oms_chain.devnet.deribit.orders import OrderRecord

__all__ = ["account_margin", "order_margin"]


def order_margin(
    ex: DeribitExchange,
    account: DeribitAccount,
    instrument: Instrument,
    direction: str,
    amount: Decimal,
    price: Decimal,
) -> Decimal:
    """Initial margin an order of ``amount`` at ``price`` takes, in the currency."""
    position = account.positions.get(instrument.name)
    held = position.size if position is not None else ZERO
    opening = amount
    if held and (held > 0) != (direction == "buy"):
        opening = max(ZERO, amount - abs(held))
    if instrument.is_option:
        if direction == "buy":
            return price * amount + option_fee(amount, price)
        initial, _ = short_option_margin(
            instrument, ex.mark_price(instrument), ex.index[instrument.currency]
        )
        return opening * initial
    return q8(opening / price * PERP_IM)


def account_margin(
    ex: DeribitExchange,
    account: DeribitAccount,
    currency: str,
    excluding: OrderRecord | None = None,
) -> dict[str, Decimal]:
    """Standard-margin figures of one currency: balance, equity, initial / maintenance
    margin, open orders' margin, available funds, options value and P&L."""
    balance = account.balance[currency]
    options_value = futures_upl = options_upl = ZERO
    initial = maintenance = ZERO
    for pos in account.positions.values():
        instrument = pos.instrument
        if instrument.currency != currency or pos.size == 0:
            continue
        mark = ex.mark_price(instrument)
        im, mm = pos.margins(mark, ex.index[currency])
        initial += im
        maintenance += mm
        if instrument.is_option:
            options_value += pos.size * mark
            options_upl += pos.floating_pnl(mark)
        else:
            futures_upl += pos.floating_pnl(mark)
    orders_margin = ZERO
    for record in ex.open_orders(account.client_id, currency):
        if record is excluding:
            continue
        assert record.price is not None
        orders_margin += order_margin(
            ex, account, record.instrument, record.direction, record.remaining, record.price
        )
    equity = balance + options_value + futures_upl
    initial += orders_margin
    return {
        "balance": balance,
        "equity": equity,
        "margin_balance": equity,
        "initial_margin": q8(initial),
        "maintenance_margin": q8(maintenance),
        "open_orders_margin": q8(orders_margin),
        "available_funds": q8(equity - initial),
        "options_value": q8(options_value),
        "options_pl": q8(options_upl),
        "futures_pl": futures_upl,
    }
