"""Delivery of expired options at a delivery price, cash in the underlying.

A call pays ``max(0, S - K) / S`` per contract and a put ``max(0, K - S) / S`` (Deribit's
cash settlement of options quoted in the underlying), rounded to 8 decimals per position.
Open orders of a delivered instrument are cancelled (``cancel_reason`` ``settlement``), its
positions removed, the instrument leaves the active listing and the delivery price is recorded
per currency (``public/get_delivery_prices``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from oms_chain.devnet.deribit import wire
from oms_chain.devnet.deribit.ledger import ZERO, q8
from oms_chain.model.errors import InvalidInput

if TYPE_CHECKING:
    from oms_chain.devnet.deribit.exchange import DeribitExchange

__all__ = ["deliver"]


def deliver(ex: DeribitExchange, delivery_usd: Mapping[str, Decimal] | None = None) -> list[str]:
    """Deliver every active option whose expiry is at or before the exchange's clock, at
    ``delivery_usd[currency]`` (default: the index). Returns the instrument names delivered."""
    for currency, price in (delivery_usd or {}).items():
        try:
            valid = Decimal(price).is_finite() and Decimal(price) > 0
        except (ArithmeticError, ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidInput(f"delivery price of {currency} must be positive, got {price!r}")
    now = ex.now_ms()
    due = sorted(
        name
        for name in ex.active
        if (exp := ex.instruments[name].expiry_ms) is not None and exp <= now
    )
    recorded: set[str] = set()
    for name in due:
        instrument = ex.instruments[name]
        currency = instrument.currency
        delivery = Decimal((delivery_usd or {}).get(currency, ex.index[currency]))
        if currency not in recorded:
            ex.delivery_prices[currency].append((now, delivery))
            recorded.add(currency)
        for account in ex.accounts.values():
            for record in ex.open_orders(account.client_id, currency):
                if record.instrument is instrument:
                    ex.cancel_for_settlement(record)
        assert instrument.strike is not None
        strike = instrument.strike
        intrinsic = max(ZERO, delivery - strike if instrument.is_call else strike - delivery)
        payoff = intrinsic / delivery
        for account in ex.accounts.values():
            pos = account.positions.get(name)
            if pos is None or pos.size == 0:
                continue
            cash = q8(pos.size * payoff)
            account.balance[currency] += cash
            account.settlements.append(
                wire.settlement_json(instrument, pos, cash, payoff, delivery, now)
            )
            del account.positions[name]
        ex.active.discard(name)
    return due
