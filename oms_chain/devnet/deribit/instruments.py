"""Deribit instruments: names, contract sizes, tick rules, minimum amounts, default listings.

Names follow Deribit: options ``ETH-27DEC26-3000-C`` (currency, expiry day without a leading
zero, three-letter month, two-digit year, strike, ``C``/``P``), perpetuals ``ETH-PERPETUAL``.
Expiries are at 08:00 UTC. Option premiums are quoted in the underlying (ETH, BTC) with a
tick of 0.0001 below 0.005 and 0.0005 from 0.005 up (``tick_size_steps``); one option is one
unit of the underlying, ETH options trade in whole contracts, BTC options in 0.1. Perpetuals
are inverse: amounts in USD (ETH-PERPETUAL: contract 1 USD, tick 0.05; BTC-PERPETUAL: contract
10 USD, tick 0.5), profit and loss settled in the currency.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from oms_chain.devnet.deribit.errors import DeribitApiError, invalid_amount, invalid_params
from oms_chain.devnet.exchange.markets import SymbolSpec
from oms_chain.model.errors import InvalidInput

__all__ = [
    "CURRENCIES",
    "OPTION_TICK",
    "OPTION_TICK_ABOVE",
    "OPTION_TICK_STEP_PRICE",
    "Instrument",
    "default_expiries",
    "default_instruments",
    "expiry_code",
    "option_name",
]

CURRENCIES: tuple[str, ...] = ("BTC", "ETH")
"""Settlement currencies of the local exchange (each its own margin account)."""

OPTION_TICK = Decimal("0.0001")
OPTION_TICK_STEP_PRICE = Decimal("0.005")
OPTION_TICK_ABOVE = Decimal("0.0005")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_OPTION_MIN: Mapping[str, Decimal] = {"ETH": Decimal(1), "BTC": Decimal("0.1")}
_PERP: Mapping[str, tuple[Decimal, Decimal]] = {  # contract size (USD) = min amount, tick
    "ETH": (Decimal(1), Decimal("0.05")),
    "BTC": (Decimal(10), Decimal("0.5")),
}
_STRIKE_STEPS: Mapping[str, Decimal] = {"ETH": Decimal(100), "BTC": Decimal(2000)}
_NAME = re.compile(r"^[A-Z0-9_\-]{1,40}$")
_HUGE = Decimal("1e15")


def expiry_code(expiry_ms: int) -> str:
    """Deribit's expiry part of a name: ``4DEC26`` for 2026-12-04 08:00 UTC."""
    when = datetime.fromtimestamp(expiry_ms / 1000, tz=UTC)
    return f"{when.day}{_MONTHS[when.month - 1]}{when.year % 100:02d}"


def option_name(currency: str, expiry_ms: int, strike: Decimal, is_call: bool) -> str:
    """``ETH-27DEC26-3000-C``."""
    return f"{currency}-{expiry_code(expiry_ms)}-{strike.normalize():f}-{'C' if is_call else 'P'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """One listed instrument. ``kind`` is ``option`` or ``future`` (the perpetual);
    ``expiry_ms`` is ``None`` for the perpetual."""

    name: str
    kind: str
    currency: str
    contract_size: Decimal
    min_trade_amount: Decimal
    tick_size: Decimal
    created_ms: int
    expiry_ms: int | None = None
    strike: Decimal | None = None
    is_call: bool | None = None

    @property
    def is_option(self) -> bool:
        """True for options."""
        return self.kind == "option"

    def tick_at(self, price: Decimal) -> Decimal:
        """The tick a price must be a multiple of (options: 0.0005 from 0.005 up)."""
        if self.is_option and abs(price) >= OPTION_TICK_STEP_PRICE:
            return OPTION_TICK_ABOVE
        return self.tick_size

    def round_price(self, price: Decimal, up: bool) -> Decimal:
        """``price`` rounded up or down to a price this instrument accepts (options: to 0.0001
        below 0.005, to 0.0005 from there)."""
        rounding = ROUND_CEILING if up else ROUND_FLOOR
        fine = (price / self.tick_size).to_integral_value(rounding) * self.tick_size
        if not self.is_option or fine < OPTION_TICK_STEP_PRICE:
            return fine
        return (price / OPTION_TICK_ABOVE).to_integral_value(rounding) * OPTION_TICK_ABOVE

    def check_price(self, price: Decimal) -> None:
        """Raise 10043 ``price_wrong_tick`` / -32602 for a price this instrument refuses."""
        if not price.is_finite() or price <= 0:
            raise invalid_params("price", "price must be a positive number")
        if price > _HUGE:
            raise DeribitApiError(10007, "price_too_high", {"reason": "price is out of range"})
        tick = self.tick_at(price)
        if price % tick != 0:
            raise DeribitApiError(
                10043,
                "price_wrong_tick",
                {"reason": f"price {price} of {self.name} must be a multiple of {tick}"},
            )

    def check_amount(self, amount: Decimal) -> None:
        """Raise 10021 / 10002 for an amount that is not a positive multiple of the minimum."""
        if not amount.is_finite() or amount <= 0:
            raise invalid_amount("amount must be a positive number")
        if amount > _HUGE:
            raise invalid_amount("amount is out of range")
        if amount % self.min_trade_amount != 0:
            raise invalid_amount(
                f"amount {amount} of {self.name} must be a multiple of {self.min_trade_amount}"
            )

    def engine_spec(self) -> SymbolSpec:
        """The matching engine's view: a book in synthetic position and cash units."""
        return SymbolSpec(
            symbol=self.name,
            base=self.name,
            quote=f"{self.name}:cash",
            tick_size=self.tick_size,
            step_size=self.min_trade_amount,
            min_qty=self.min_trade_amount,
            max_qty=_HUGE,
            min_notional=Decimal(0),
            max_notional=_HUGE * _HUGE,
            max_price=_HUGE,
        )

    def to_json(self, active: bool = True) -> dict[str, object]:
        """``public/get_instruments`` entry."""
        out: dict[str, object] = {
            "instrument_name": self.name,
            "instrument_id": zlib.crc32(self.name.encode()) % 1_000_000,
            "kind": self.kind,
            "base_currency": self.currency,
            "counter_currency": "USD",
            "quote_currency": self.currency if self.is_option else "USD",
            "settlement_currency": self.currency,
            "contract_size": float(self.contract_size),
            "min_trade_amount": float(self.min_trade_amount),
            "tick_size": float(self.tick_size),
            "maker_commission": 0.0003 if self.is_option else 0.0,
            "taker_commission": 0.0003 if self.is_option else 0.0005,
            "block_trade_commission": 0.0003 if self.is_option else 0.00025,
            "is_active": active,
            "creation_timestamp": self.created_ms,
            "expiration_timestamp": self.expiry_ms if self.expiry_ms else 32503708800000,
            "price_index": f"{self.currency.lower()}_usd",
            "rfq": False,
        }
        if self.is_option:
            assert self.strike is not None
            out.update(
                option_type="call" if self.is_call else "put",
                strike=float(self.strike),
                settlement_period="week",
                tick_size_steps=[
                    {"above_price": float(OPTION_TICK_STEP_PRICE), "tick_size": 0.0005}
                ],
            )
        else:
            out.update(
                settlement_period="perpetual",
                future_type="reversed",
                instrument_type="reversed",
                max_leverage=50,
                max_liquidation_commission=0.0075,
                tick_size_steps=[],
            )
        return out


def default_expiries(now_ms: int, count: int = 4) -> list[int]:
    """The next ``count`` Fridays at 08:00 UTC that are more than one hour away."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    day = now.replace(hour=8, minute=0, second=0, microsecond=0)
    out: list[int] = []
    while len(out) < count:
        if day.weekday() == 4 and day - now > timedelta(hours=1):
            out.append(int(day.timestamp() * 1000))
        day += timedelta(days=1)
    return out


def _strikes(currency: str, index: Decimal, each_side: int) -> list[Decimal]:
    step = _STRIKE_STEPS.get(currency, Decimal(100))
    atm = (index / step).to_integral_value() * step
    return [atm + step * i for i in range(-each_side, each_side + 1) if atm + step * i > 0]


def default_instruments(
    now_ms: int,
    index_usd: Mapping[str, Decimal],
    *,
    expiries_ms: Sequence[int] | None = None,
    strikes: Mapping[str, Iterable[Decimal]] | None = None,
    strikes_each_side: int = 3,
) -> list[Instrument]:
    """The perpetual and options of every currency priced in ``index_usd`` (ETH, BTC):
    strikes around the index (ETH every 100, BTC every 2000, ``strikes_each_side`` each way)
    unless given, on the next four Friday expiries unless given."""
    expiries = list(expiries_ms) if expiries_ms is not None else default_expiries(now_ms)
    out: list[Instrument] = []
    for currency in CURRENCIES:
        if currency not in index_usd:
            continue
        size, tick = _PERP[currency]
        out.append(
            Instrument(
                name=f"{currency}-PERPETUAL",
                kind="future",
                currency=currency,
                contract_size=size,
                min_trade_amount=size,
                tick_size=tick,
                created_ms=now_ms,
            )
        )
        chosen = (
            list(strikes[currency])
            if strikes is not None and currency in strikes
            else _strikes(currency, index_usd[currency], strikes_each_side)
        )
        for expiry in expiries:
            for strike in chosen:
                for is_call in (True, False):
                    out.append(
                        Instrument(
                            name=option_name(currency, expiry, Decimal(strike), is_call),
                            kind="option",
                            currency=currency,
                            contract_size=Decimal(1),
                            min_trade_amount=_OPTION_MIN[currency],
                            tick_size=OPTION_TICK,
                            created_ms=now_ms,
                            expiry_ms=expiry,
                            strike=Decimal(strike),
                            is_call=is_call,
                        )
                    )
    for instrument in out:
        if not _NAME.match(instrument.name):
            raise InvalidInput(
                f"instrument name {instrument.name!r} is not Deribit-shaped; check the strikes"
            )
    return out
