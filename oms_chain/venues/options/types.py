"""What both options venues report besides orders: one option's market (bid / ask / IV / Greeks),
positions and expiry settlements. Frozen values in our units; each venue's names stay at its edge.

Premium units: every premium here is in :attr:`OptionTicker.premium_currency` (Deribit quotes
premiums in the underlying, the on-chain market in its quote stablecoin).
:func:`premium_in_quote` converts an underlying-denominated premium explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import OptionContract

__all__ = ["OptionPosition", "OptionSettlement", "OptionTicker", "premium_in_quote"]


def premium_in_quote(premium_in_underlying: Decimal, underlying_price: Decimal) -> Decimal:
    """A premium quoted in the underlying (Deribit: ETH per contract) in the quote asset (USD),
    at ``underlying_price`` quote per underlying: the exact product, no rounding.

    Raises:
        InvalidInput: a negative premium or a non-positive price.
    """
    if not isinstance(premium_in_underlying, Decimal) or premium_in_underlying < 0:
        raise InvalidInput(f"premium must be a non-negative Decimal, got {premium_in_underlying!r}")
    if not isinstance(underlying_price, Decimal) or underlying_price <= 0:
        raise InvalidInput(f"underlying price must be a positive Decimal, got {underlying_price!r}")
    return premium_in_underlying * underlying_price


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionTicker:
    """One option's market as its venue reports it.

    ``bid`` / ``ask`` / ``mark`` are premiums per contract in ``premium_currency`` (``None``:
    nobody quotes that side). Implied volatilities are fractions (0.65 = 65 %); Greeks are per
    contract, delta in underlying units, vega per 1 vol point as the venue reports it.
    ``name`` is the venue's own name of the instrument (``ETH-11DEC26-3000-C``, a series id).
    """

    venue: str
    name: str
    contract: OptionContract
    premium_currency: str
    bid: Decimal | None
    ask: Decimal | None
    mark: Decimal | None
    bid_iv: Decimal | None
    ask_iv: Decimal | None
    mark_iv: Decimal | None
    delta: Decimal | None
    gamma: Decimal | None
    vega: Decimal | None
    theta: Decimal | None
    underlying_price: Decimal | None
    ts_event: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionPosition:
    """A position in one option: ``quantity`` contracts, positive long, negative short;
    ``average_price`` and ``mark`` in ``premium_currency``; ``collateral`` locked for a short
    (in ``collateral_currency``; zero for a long)."""

    venue: str
    name: str
    contract: OptionContract
    quantity: Decimal
    premium_currency: str
    average_price: Decimal | None
    mark: Decimal | None
    collateral: Decimal
    collateral_currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionSettlement:
    """An expired position settled at ``settlement_price`` (quote per underlying): ``payoff``
    is what the position received (negative: paid) in ``payoff_currency``; ``reference`` names
    the venue's record (a delivery id, a transaction hash)."""

    venue: str
    name: str
    contract: OptionContract
    quantity: Decimal
    settlement_price: Decimal
    payoff: Decimal
    payoff_currency: str
    reference: str
    ts_event: int
