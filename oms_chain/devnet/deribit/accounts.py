"""Opening an API account on the Deribit-protocol exchange.

Each account has two sides: its Deribit ledger (:class:`~.ledger.DeribitAccount`: cash per
currency, positions, fees, fills) and an account of the matching engine holding effectively
unlimited synthetic units of every instrument and its cash, so that the engine only matches
and every amount that counts is booked on the ledger (:meth:`~.ledger.DeribitAccount.book_trade`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from oms_chain.devnet.deribit.instruments import CURRENCIES
from oms_chain.devnet.deribit.ledger import ZERO, DeribitAccount
from oms_chain.model.errors import InvalidInput

if TYPE_CHECKING:
    from oms_chain.devnet.deribit.exchange import DeribitExchange

__all__ = ["non_negative", "open_account"]

#: Units of every instrument (and its cash) an engine account holds: never exhausted.
_SYNTHETIC = Decimal("1e40")


def non_negative(value: object) -> bool:
    """Whether ``value`` reads as a finite Decimal >= 0."""
    try:
        number = Decimal(value)  # type: ignore[arg-type]
    except (ArithmeticError, ValueError, TypeError):
        return False
    return number.is_finite() and number >= 0


def open_account(
    ex: DeribitExchange,
    client_id: str,
    client_secret: str,
    balances: Mapping[str, Decimal | int | str],
) -> DeribitAccount:
    """Open ``client_id`` on ``ex`` with starting cash per currency (``{"ETH": 100}``), its
    engine account beside it.

    Raises:
        InvalidInput: a known or malformed client id, an unknown currency or a negative or
            non-numeric balance; nothing is opened.
    """
    if client_id in ex.accounts:
        raise InvalidInput(f"account {client_id!r} already exists; pick another client id")
    if not client_id or len(client_id) > 64:
        raise InvalidInput(f"client_id must be 1 to 64 characters, got {client_id!r}")
    for currency, amount in balances.items():
        if currency not in CURRENCIES:
            raise InvalidInput(f"unknown currency {currency!r}; use one of {CURRENCIES}")
        if not non_negative(amount):
            raise InvalidInput(
                f"starting balance of {currency} must be a number >= 0, got {amount!r}"
            )
    engine_id = f"deribit:{client_id}"
    synthetic: dict[str, Decimal] = {}
    for name in ex.instruments:
        synthetic[name] = _SYNTHETIC
        synthetic[f"{name}:cash"] = _SYNTHETIC
    ex.engine.create_account(engine_id, synthetic, maker_fee=ZERO, taker_fee=ZERO)
    account = DeribitAccount(
        client_id=client_id,
        client_secret=client_secret,
        user_id=len(ex.accounts) + 1,
        engine_id=engine_id,
    )
    for currency, amount in balances.items():
        account.balance[currency] += Decimal(amount)
        account.deposits[currency] += Decimal(amount)
    ex.accounts[client_id] = account
    return account
