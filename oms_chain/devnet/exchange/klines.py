"""Candlesticks (klines) from the engine's trades: Binance's intervals, REST rows and the
``<symbol>@kline_<interval>`` stream events.

A candle covers ``[open_time, open_time + span - 1]`` ms of trade time (UTC, like Binance's
default). The stream sends the open candle after every trade in it (``"x": false``) and the
final one (``"x": true``) once a trade lands in a later candle or the candle's time is over.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from oms_chain.devnet.exchange.markets import fmt
from oms_chain.devnet.exchange.matching import Trade

__all__ = ["KLINE_MS", "Candle", "CandleStreams", "candles"]

KLINE_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
"""Binance's kline intervals (``1M`` aside) and their length in milliseconds."""

_ZERO = Decimal(0)


@dataclass(slots=True)
class Candle:
    """One candle being built from trades (prices and volumes exact)."""

    symbol: str
    interval: str
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    first_id: int
    last_id: int
    volume: Decimal = _ZERO
    quote_volume: Decimal = _ZERO
    taker_buy_volume: Decimal = _ZERO
    taker_buy_quote: Decimal = _ZERO
    count: int = 0

    @classmethod
    def start(cls, trade: Trade, interval: str) -> Candle:
        """A candle opened by ``trade`` in ``interval``."""
        span = KLINE_MS[interval]
        candle = cls(
            symbol=trade.symbol,
            interval=interval,
            open_time=trade.time // span * span,
            open=trade.price,
            high=trade.price,
            low=trade.price,
            close=trade.price,
            first_id=trade.trade_id,
            last_id=trade.trade_id,
        )
        candle.add(trade)
        candle.count = 1
        return candle

    @property
    def close_time(self) -> int:
        """Last millisecond the candle covers."""
        return self.open_time + KLINE_MS[self.interval] - 1

    def covers(self, time_ms: int) -> bool:
        """Whether ``time_ms`` falls in this candle."""
        return self.open_time <= time_ms <= self.close_time

    def add(self, trade: Trade) -> None:
        """Fold ``trade`` (of this candle's time) in."""
        if self.count:
            self.high = max(self.high, trade.price)
            self.low = min(self.low, trade.price)
            self.close = trade.price
            self.last_id = trade.trade_id
            self.count += 1
        self.volume += trade.qty
        self.quote_volume += trade.quote_qty
        if not trade.buyer_is_maker:
            self.taker_buy_volume += trade.qty
            self.taker_buy_quote += trade.quote_qty

    def row(self) -> list[object]:
        """The ``GET /api/v3/klines`` row."""
        return [
            self.open_time,
            fmt(self.open),
            fmt(self.high),
            fmt(self.low),
            fmt(self.close),
            fmt(self.volume),
            self.close_time,
            fmt(self.quote_volume),
            self.count,
            fmt(self.taker_buy_volume),
            fmt(self.taker_buy_quote),
            "0",
        ]

    def event(self, event_time: int, *, closed: bool) -> dict[str, object]:
        """The ``<symbol>@kline_<interval>`` stream event."""
        return {
            "e": "kline",
            "E": event_time,
            "s": self.symbol,
            "k": {
                "t": self.open_time,
                "T": self.close_time,
                "s": self.symbol,
                "i": self.interval,
                "f": self.first_id,
                "L": self.last_id,
                "o": fmt(self.open),
                "c": fmt(self.close),
                "h": fmt(self.high),
                "l": fmt(self.low),
                "v": fmt(self.volume),
                "n": self.count,
                "x": closed,
                "q": fmt(self.quote_volume),
                "V": fmt(self.taker_buy_volume),
                "Q": fmt(self.taker_buy_quote),
                "B": "0",
            },
        }


def candles(trades: Iterable[Trade], interval: str, lo: int = 0, hi: int = 2**62) -> list[Candle]:
    """Candles of ``interval`` over the trades whose time is in ``[lo, hi]``, oldest first
    (intervals without a trade have no candle)."""
    span = KLINE_MS[interval]
    by_open: dict[int, Candle] = {}
    for trade in trades:
        if not lo <= trade.time <= hi:
            continue
        candle = by_open.get(trade.time // span * span)
        if candle is None:
            by_open[trade.time // span * span] = Candle.start(trade, interval)
        else:
            candle.add(trade)
    return [by_open[t] for t in sorted(by_open)]


class CandleStreams:
    """The open candle of every subscribed ``<symbol>@kline_<interval>`` stream, and the events
    to send when trades arrive or candles end."""

    def __init__(self) -> None:
        self._open: dict[str, Candle | None] = {}
        self._by_symbol: dict[str, dict[str, str]] = {}  # lower symbol -> stream -> interval

    def open(self, stream: str, history: Iterable[Trade], now_ms: int) -> None:
        """Start following ``stream`` (e.g. ``ethusdc@kline_1m``); the candle of ``now_ms`` so
        far is rebuilt from the ``history`` of trades."""
        lower, _, interval = stream.partition("@kline_")
        span = KLINE_MS[interval]
        current = candles(history, interval, now_ms // span * span)
        self._open[stream] = current[-1] if current else None
        self._by_symbol.setdefault(lower, {})[stream] = interval

    def close(self, stream: str) -> None:
        """Stop following ``stream``."""
        self._open.pop(stream, None)
        lower = stream.partition("@kline_")[0]
        self._by_symbol.get(lower, {}).pop(stream, None)

    def on_trade(self, trade: Trade, now_ms: int) -> Iterator[tuple[str, dict[str, object]]]:
        """``(stream, event)`` to send for ``trade``: the final event of a candle it ends, then
        the candle it is in."""
        for stream, interval in list(self._by_symbol.get(trade.symbol.lower(), {}).items()):
            candle = self._open.get(stream)
            if candle is not None and candle.covers(trade.time):
                candle.add(trade)
            else:
                if candle is not None and trade.time > candle.close_time:
                    yield stream, candle.event(now_ms, closed=True)
                candle = self._open[stream] = Candle.start(trade, interval)
            yield stream, candle.event(now_ms, closed=False)

    def closing(self, now_ms: int) -> Iterator[tuple[str, dict[str, object]]]:
        """``(stream, final event)`` of every candle whose time is over at ``now_ms``."""
        for stream, candle in list(self._open.items()):
            if candle is not None and now_ms > candle.close_time:
                yield stream, candle.event(now_ms, closed=True)
                self._open[stream] = None
