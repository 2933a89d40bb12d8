"""ccxt's dicts turned into our types, at the edge: markets, orders, trades, balances, books.

ccxt hands out numbers as floats (or strings where it keeps them). Every number is read through
:func:`exact_decimal` — a float becomes the shortest decimal that round-trips it, which is the
decimal string the exchange sent — and snapped to the market's precision where one applies.
No arithmetic is done on floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.model.assets import Asset
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import ClientOrderId, TradeId, VenueId, VenueOrderId
from oms_chain.model.instruments import Instrument, SpotPair
from oms_chain.model.intent import Side
from oms_chain.venues.base import FillReport, LiquidityLevel, OrderStatusReport, VenueOrderStatus

__all__ = [
    "CcxtMarket",
    "balances_from_ccxt",
    "exact_decimal",
    "fill_report_from_ccxt",
    "levels_from_ccxt",
    "order_report_from_ccxt",
    "to_ccxt_number",
]

_BPS = Decimal(10_000)
_MS_TO_NS = 1_000_000
_STATUS = {
    "closed": VenueOrderStatus.FILLED,
    "canceled": VenueOrderStatus.CANCELLED,
    "cancelled": VenueOrderStatus.CANCELLED,
    "expired": VenueOrderStatus.EXPIRED,
    "rejected": VenueOrderStatus.REJECTED,
}


def exact_decimal(value: object, *, what: str = "number") -> Decimal:
    """A ccxt number (float, int, decimal string) as the exact decimal the exchange sent.

    Raises:
        InvalidInput: ``None``, a bool or something that is not a finite number.
    """
    if value is None or isinstance(value, bool):
        raise InvalidInput(f"ccxt {what} is missing or not a number: {value!r}")
    if isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, (int, Decimal)):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value)
        except ArithmeticError:
            raise InvalidInput(f"ccxt {what} {value!r} is not a decimal number") from None
    else:
        raise InvalidInput(f"ccxt {what} has unexpected type {type(value).__name__}: {value!r}")
    if not d.is_finite():
        raise InvalidInput(f"ccxt {what} is not finite: {value!r}")
    return d


def _maybe_decimal(value: object, what: str) -> Decimal | None:
    return None if value is None else exact_decimal(value, what=what)


def to_ccxt_number(value: Decimal, *, what: str) -> float:
    """``value`` as the float ccxt's signatures take, refusing any that would not round-trip
    (ccxt formats it back to a decimal string with the market's precision before sending).

    Raises:
        InvalidInput: the decimal has more significant digits than a float carries.
    """
    f = float(value)
    if Decimal(repr(f)) != value:
        raise InvalidInput(f"{what} {value} cannot be sent through ccxt without rounding")
    return f


def _quantum(precision: object, tick_size_mode: bool) -> Decimal | None:
    if precision is None:
        return None
    if tick_size_mode:
        return exact_decimal(precision, what="precision")
    return Decimal(1).scaleb(-int(exact_decimal(precision, what="precision")))


def _snap(value: Decimal, step: Decimal | None) -> Decimal:
    """Drop float noise below the market's step; keeps a value that is on the grid unchanged."""
    if step is None or step <= 0:
        return value
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return value.quantize(Decimal(1).scaleb(min(exponent, 0)))


def _decimals(step: Decimal | None, default: int = 8) -> int:
    if step is None:
        return default
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@dataclass(frozen=True, slots=True, kw_only=True)
class CcxtMarket:
    """What we keep of one ccxt market: its symbol, our instrument, steps and fees.

    :meth:`from_ccxt` builds spot markets; the options venue builds its own with an
    :class:`~oms_chain.model.instruments.OptionContract` as ``instrument``."""

    symbol: str
    instrument: Instrument
    amount_step: Decimal | None
    price_step: Decimal | None
    taker_fee_bps: Decimal
    maker_fee_bps: Decimal

    @classmethod
    def from_ccxt(
        cls, market: Mapping[str, Any], venue: str, *, tick_size_mode: bool
    ) -> CcxtMarket:
        """Build from ``exchange.markets[symbol]``; ``tick_size_mode`` is ccxt's
        ``precisionMode == TICK_SIZE`` (precision given as steps, not digit counts).

        Raises:
            InvalidInput: not a spot market, or fields missing.
        """
        if not market.get("spot"):
            raise InvalidInput(f"ccxt market {market.get('symbol')!r} is not spot; not supported")
        precision = market.get("precision") or {}
        amount_step = _quantum(precision.get("amount"), tick_size_mode)
        price_step = _quantum(precision.get("price"), tick_size_mode)
        base = Asset.cex(venue, market["base"], _decimals(amount_step))
        quote = Asset.cex(venue, market["quote"], _decimals(price_step))
        taker = _maybe_decimal(market.get("taker"), "taker fee") or Decimal(0)
        maker = _maybe_decimal(market.get("maker"), "maker fee") or Decimal(0)
        return cls(
            symbol=market["symbol"],
            instrument=SpotPair(base=base, quote=quote),
            amount_step=amount_step,
            price_step=price_step,
            taker_fee_bps=taker * _BPS,
            maker_fee_bps=maker * _BPS,
        )

    def amount(self, value: object) -> Decimal:
        return _snap(exact_decimal(value, what=f"{self.symbol} amount"), self.amount_step)

    def price(self, value: object) -> Decimal:
        return _snap(exact_decimal(value, what=f"{self.symbol} price"), self.price_step)


def _ts_ns(*candidates: object, default: int) -> int:
    for c in candidates:
        if isinstance(c, (int, float)) and not isinstance(c, bool) and c > 0:
            return int(c) * _MS_TO_NS
    return default


def _side(value: object, what: str) -> Side:
    try:
        return Side(str(value).lower())
    except ValueError:
        raise InvalidInput(f"ccxt {what} side {value!r} is neither buy nor sell") from None


def fill_report_from_ccxt(
    trade: Mapping[str, Any],
    market: CcxtMarket,
    *,
    venue: VenueId,
    client_order_id: ClientOrderId,
    ts_default: int,
) -> FillReport:
    """One ccxt trade (``fetch_my_trades`` / ``watch_my_trades`` / ``order['trades']``).

    Raises:
        InvalidInput: id, order id, side, amount or price missing.
    """
    if trade.get("id") is None or trade.get("order") is None:
        raise InvalidInput(f"ccxt trade without id or order id: {trade.get('id')!r}")
    fee = trade.get("fee") or {}
    fee_cost = fee.get("cost")
    return FillReport(
        venue=venue,
        trade_id=TradeId(str(trade["id"])),
        client_order_id=client_order_id,
        venue_order_id=VenueOrderId(str(trade["order"])),
        side=_side(trade.get("side"), "trade"),
        quantity=market.amount(trade.get("amount")),
        price=market.price(trade.get("price")),
        fee=Decimal(0) if fee_cost is None else exact_decimal(fee_cost, what="fee"),
        fee_currency=str(fee.get("currency") or market.instrument.quote.symbol),
        ts_event=_ts_ns(trade.get("timestamp"), default=ts_default),
    )


def order_report_from_ccxt(
    order: Mapping[str, Any],
    market: CcxtMarket,
    *,
    venue: VenueId,
    fills: Sequence[FillReport] = (),
    client_order_id: ClientOrderId | None = None,
    ts_default: int,
) -> OrderStatusReport:
    """One ccxt order as our report; ``fills`` are the order's trades already normalized.

    ``client_order_id`` is used when ccxt does not carry one (some exchanges echo none).

    Raises:
        InvalidInput: id, status or amounts missing or unknown.
    """
    coid = order.get("clientOrderId") or client_order_id
    if coid is None or order.get("id") is None:
        raise InvalidInput(f"ccxt order without id or client order id: {order.get('id')!r}")
    raw_status = order.get("status")
    filled = market.amount(order.get("filled") or 0)
    if raw_status == "open":
        status = VenueOrderStatus.PARTIALLY_FILLED if filled > 0 else VenueOrderStatus.OPEN
    elif raw_status in _STATUS:
        status = _STATUS[raw_status]
    else:
        raise InvalidInput(f"ccxt order {order.get('id')} has unknown status {raw_status!r}")
    price = order.get("price")
    limit_price = (
        market.price(price) if order.get("type") != "market" and price not in (None, 0) else None
    )
    return OrderStatusReport(
        venue=venue,
        client_order_id=ClientOrderId(str(coid)),
        venue_order_id=VenueOrderId(str(order["id"])),
        status=status,
        quantity=market.amount(order.get("amount")),
        filled_quantity=filled,
        limit_price=limit_price,
        fills=tuple(sorted(fills, key=lambda f: (f.ts_event, f.trade_id))),
        ts_event=_ts_ns(
            order.get("lastUpdateTimestamp"),
            order.get("lastTradeTimestamp"),
            order.get("timestamp"),
            default=ts_default,
        ),
        reason=None if status is not VenueOrderStatus.REJECTED else "rejected by the exchange",
    )


def balances_from_ccxt(balance: Mapping[str, Any]) -> dict[str, Decimal]:
    """Free balance per asset code from ``fetch_balance`` / ``watch_balance`` (zeros dropped)."""
    free = balance.get("free") or {}
    out: dict[str, Decimal] = {}
    for code, amount in free.items():
        if amount is None:
            continue
        d = exact_decimal(amount, what=f"{code} balance")
        if d != 0:
            out[str(code)] = d
    return out


def levels_from_ccxt(
    rows: Sequence[Sequence[Any]], market: CcxtMarket
) -> tuple[LiquidityLevel, ...]:
    """Book side ``[[price, amount], ...]`` (best first) as levels, empty levels dropped."""
    levels = []
    for row in rows:
        qty = market.amount(row[1])
        if qty > 0:
            levels.append(LiquidityLevel(market.price(row[0]), qty))
    return tuple(levels)
