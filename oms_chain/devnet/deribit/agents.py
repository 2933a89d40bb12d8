"""Market makers of the Deribit-protocol exchange: two-sided quotes around the marks.

Options are quoted around their Black-76 mark from the volatility surface (bid below, ask
above, ``levels`` deep, rounded to Deribit's variable tick); the perpetual around the index.
A maker requotes an instrument when its mark moved since the last quotes, so moving the index
(:meth:`DeribitExchange.set_index`) moves every book.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from oms_chain.devnet.deribit.errors import DeribitApiError
from oms_chain.devnet.deribit.exchange import DeribitExchange
from oms_chain.devnet.deribit.instruments import OPTION_TICK, Instrument

__all__ = ["MM_BALANCES", "QuotingMaker", "round_to_tick"]

MM_BALANCES: Mapping[str, Decimal] = {"ETH": Decimal(1_000_000), "BTC": Decimal(100_000)}
"""What the built-in maker account starts with."""

_OPTION_SIZE: Mapping[str, Decimal] = {"ETH": Decimal(25), "BTC": Decimal(2)}
_PERP_SIZE: Mapping[str, Decimal] = {"ETH": Decimal(100_000), "BTC": Decimal(1_000_000)}


def round_to_tick(instrument: Instrument, price: Decimal, up: bool) -> Decimal:
    """Round ``price`` to the instrument's tick at that price, up or down (see
    :meth:`Instrument.round_price`)."""
    return instrument.round_price(price, up)


@dataclass(slots=True)
class QuotingMaker:
    """Quotes every active instrument from one account (exempt from margin checks).

    An instrument is requoted when its mark moved by a quarter of the half-spread (options:
    at least one tick) since its last quotes, so slow time decay does not churn the books.

    ``half_spread`` is a fraction of the option mark (at least ``min_half_spread`` in the
    underlying); the perpetual uses ``perp_half_spread`` of the index.
    """

    exchange: DeribitExchange
    client_id: str
    levels: int = 3
    half_spread: Decimal = Decimal("0.04")
    min_half_spread: Decimal = Decimal("0.0002")
    perp_half_spread: Decimal = Decimal("0.0002")
    quoted: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, list[str]] = field(default_factory=dict)

    def step(self) -> int:
        """Requote instruments whose mark changed; return how many were requoted."""
        ex = self.exchange
        count = 0
        for name in sorted(ex.active):
            instrument = ex.instruments[name]
            mark = ex.mark_price(instrument)
            last = self.quoted.get(name)
            if last is not None and abs(mark - last) < self._threshold(instrument, last):
                continue
            self._requote(instrument, mark)
            self.quoted[name] = mark
            count += 1
        for name in [n for n in self.orders if n not in ex.active]:
            del self.orders[name]
            self.quoted.pop(name, None)
        return count

    def _threshold(self, instrument: Instrument, last: Decimal) -> Decimal:
        if instrument.is_option:
            return max(last * self.half_spread / 4, OPTION_TICK)
        return last * self.perp_half_spread / 4

    def _requote(self, instrument: Instrument, mark: Decimal) -> None:
        ex = self.exchange
        for order_id in self.orders.pop(instrument.name, []):
            record = ex.orders.get(order_id)
            if record is not None and record.state == "open":
                ex.cancel(self.client_id, order_id)
        if instrument.is_option:
            half = max(mark * self.half_spread, self.min_half_spread)
            size = _OPTION_SIZE[instrument.currency]
        else:
            half = mark * self.perp_half_spread
            size = _PERP_SIZE[instrument.currency]
        placed: list[str] = []
        for level in range(self.levels):
            width = half * (1 + level)
            bid = round_to_tick(instrument, mark - width, up=False)
            ask = round_to_tick(instrument, mark + width, up=True)
            for direction, price in (("buy", bid), ("sell", ask)):
                if price <= 0:
                    continue
                try:
                    order, _ = ex.place(
                        self.client_id,
                        instrument.name,
                        direction,
                        size,
                        price=price,
                        post_only=True,
                        reject_post_only=True,
                        label="mm",
                    )
                except DeribitApiError:  # would take a user's resting order: skip the level
                    continue
                if order["order_state"] == "open":
                    placed.append(str(order["order_id"]))
        self.orders[instrument.name] = placed
