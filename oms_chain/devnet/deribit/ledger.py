"""Accounts of the Deribit-protocol exchange: cash per currency, positions, standard margin.

Money is Decimal, in the settlement currency (ETH, BTC), rounded to 8 decimals where a division
makes that necessary (inverse perpetual profit and loss, settlement payoffs, fees).

Standard margin (Deribit's, per currency, position by position):

* long options: no margin (the premium is paid); short call: initial
  ``max(0.15 - OTM / index, 0.1) + mark``, maintenance ``0.075 + mark`` per contract; short
  put: initial ``max(max(0.15 - OTM / index, 0.1) + mark, maintenance)``, maintenance
  ``max(0.075, 0.075 * mark) + mark``;
* perpetual: initial 2 %, maintenance 1 % of the position's value in the currency;
* open orders add initial margin: a buy option order its premium, a sell option order the
  short-option initial margin, a perpetual order 2 % of its value.

``equity = balance + options value (size x mark) + perpetual floating P&L``;
``available_funds = equity - initial_margin``; an order that would make it negative is refused
(10009 ``not_enough_funds``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from oms_chain.devnet.deribit.instruments import Instrument

__all__ = [
    "OPTION_FEE",
    "OPTION_FEE_CAP",
    "PERP_TAKER_FEE",
    "DeribitAccount",
    "Position",
    "option_fee",
    "perp_fee",
    "q8",
    "short_option_margin",
]

ZERO = Decimal(0)
_Q8 = Decimal("1e-8")
OPTION_FEE = Decimal("0.0003")
"""Option fee per contract, in the underlying (maker and taker)."""
OPTION_FEE_CAP = Decimal("0.125")
"""Option fees never exceed 12.5 % of the premium."""
PERP_TAKER_FEE = Decimal("0.0005")
"""Perpetual taker fee as a fraction of the value; makers pay 0."""
PERP_IM = Decimal("0.02")
PERP_MM = Decimal("0.01")


def q8(value: Decimal) -> Decimal:
    """Round half-even to 8 decimals."""
    return value.quantize(_Q8, rounding=ROUND_HALF_EVEN)


def option_fee(amount: Decimal, price: Decimal) -> Decimal:
    """Fee of an option fill: 0.0003 per contract, at most 12.5 % of the premium."""
    return min(OPTION_FEE * amount, OPTION_FEE_CAP * price * amount).quantize(
        _Q8, rounding=ROUND_UP
    )


def perp_fee(amount_usd: Decimal, price: Decimal, maker: bool) -> Decimal:
    """Fee of a perpetual fill in the currency: 0 for makers, 0.05 % of the value for takers."""
    if maker:
        return ZERO
    return (amount_usd / price * PERP_TAKER_FEE).quantize(_Q8, rounding=ROUND_UP)


def short_option_margin(
    instrument: Instrument, mark: Decimal, index: Decimal
) -> tuple[Decimal, Decimal]:
    """(initial, maintenance) margin per short option contract, in the underlying."""
    assert instrument.strike is not None
    strike = instrument.strike
    if instrument.is_call:
        otm = max(ZERO, strike - index)
        maintenance = Decimal("0.075") + mark
        initial = max(Decimal("0.15") - otm / index, Decimal("0.1")) + mark
    else:
        otm = max(ZERO, index - strike)
        maintenance = max(Decimal("0.075"), Decimal("0.075") * mark) + mark
        initial = max(max(Decimal("0.15") - otm / index, Decimal("0.1")) + mark, maintenance)
    return initial, maintenance


@dataclass(slots=True)
class Position:
    """A position in one instrument: ``size`` signed (contracts for options, USD for the
    perpetual), ``average_price`` of the open size, realized P&L in the currency."""

    instrument: Instrument
    size: Decimal = ZERO
    average_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO

    def apply(self, signed_amount: Decimal, price: Decimal) -> Decimal:
        """Add a fill; return the cash the fill realizes (perpetual P&L on the closed part;
        0 for options, whose premium moves separately)."""
        size = self.size
        inverse = not self.instrument.is_option
        if size == 0 or (size > 0) == (signed_amount > 0):
            new = size + signed_amount
            if inverse:  # inverse contracts average harmonically
                coins = (size / self.average_price if size else ZERO) + signed_amount / price
                self.average_price = new / coins
            else:
                self.average_price = (size * self.average_price + signed_amount * price) / new
            self.size = new
            return ZERO
        closing = min(abs(signed_amount), abs(size))
        sign = 1 if size > 0 else -1
        if inverse:
            pnl = q8(closing * sign * (1 / self.average_price - 1 / price))
        else:
            pnl = closing * sign * (price - self.average_price)
        self.realized_pnl += pnl
        self.size = size + signed_amount
        if self.size == 0:
            self.average_price = ZERO
        elif (self.size > 0) != (size > 0):  # flipped: the rest opens at the fill price
            self.average_price = price
        return pnl if inverse else ZERO

    def floating_pnl(self, mark: Decimal) -> Decimal:
        """Unrealized P&L at ``mark``, in the currency."""
        if self.size == 0:
            return ZERO
        if self.instrument.is_option:
            return self.size * (mark - self.average_price)
        return q8(self.size * (1 / self.average_price - 1 / mark))

    def margins(self, mark: Decimal, index: Decimal) -> tuple[Decimal, Decimal]:
        """(initial, maintenance) margin of this position, in the currency."""
        if self.size == 0:
            return ZERO, ZERO
        if self.instrument.is_option:
            if self.size > 0:
                return ZERO, ZERO
            initial, maintenance = short_option_margin(self.instrument, mark, index)
            return -self.size * initial, -self.size * maintenance
        value = abs(self.size) / mark
        return q8(value * PERP_IM), q8(value * PERP_MM)


@dataclass(slots=True)
class DeribitAccount:
    """One API client: credentials, cash per currency, positions, fills and settlements."""

    client_id: str
    client_secret: str
    user_id: int
    engine_id: str
    balance: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    deposits: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    fees_paid: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    positions: dict[str, Position] = field(default_factory=dict)
    trades: list[dict[str, object]] = field(default_factory=list)
    settlements: list[dict[str, object]] = field(default_factory=list)

    def position(self, instrument: Instrument) -> Position:
        """The account's position in ``instrument`` (created empty on first use)."""
        pos = self.positions.get(instrument.name)
        if pos is None:
            pos = self.positions[instrument.name] = Position(instrument)
        return pos

    def book_trade(
        self, instrument: Instrument, sign: int, qty: Decimal, price: Decimal, maker: bool
    ) -> tuple[Decimal, Decimal]:
        """Book one fill of ``qty`` at ``price`` (``sign`` 1 bought, -1 sold) on the position
        and the cash of the instrument's currency: an option's premium changes hands, the
        perpetual realizes its P&L; the fee is paid either way. Returns ``(fee, realized)``."""
        pos = self.position(instrument)
        realized = pos.apply(sign * qty, price)
        if instrument.is_option:
            fee = option_fee(qty, price)
            cash = -sign * price * qty
        else:
            fee = perp_fee(qty, price, maker)
            cash = realized
        self.balance[instrument.currency] += cash - fee
        self.fees_paid[instrument.currency] += fee
        if pos.size == 0:
            del self.positions[instrument.name]
        return fee, realized
