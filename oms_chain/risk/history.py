"""Price histories for :func:`~oms_chain.risk.historical_var`: from klines or a CSV file.

The only module of ``risk`` that reads a file (:func:`load_price_history`); the risk math never
calls it, it takes the arrays this returns. Klines are ccxt's OHLCV rows
``[timestamp_ms, open, high, low, close, volume]``, oldest first, as ``fetch_ohlcv`` returns them.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oms_chain.model.errors import InvalidInput
from oms_chain.risk._book import Array

__all__ = ["closes_from_klines", "load_price_history", "price_history_from_klines"]

_TIME_COLUMNS = frozenset({"ts", "time", "timestamp", "date", "datetime", "open_time"})


def closes_from_klines(klines: Sequence[Sequence[Any]], what: str = "klines") -> Array:
    """Close prices of OHLCV rows, oldest first.

    Raises:
        InvalidInput: a row is not ``[ts, o, h, l, c, ...]``, a close is not a positive finite
            number, or the timestamps are not strictly increasing.
    """
    if isinstance(klines, str | bytes) or not isinstance(klines, Sequence):
        raise InvalidInput(f"{what} must be a list of OHLCV rows, got {type(klines).__name__}")
    closes = np.empty(len(klines))
    last_ts: float | None = None
    for i, row in enumerate(klines):
        if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) < 5:
            raise InvalidInput(f"{what}[{i}] must be [timestamp, open, high, low, close, ...]")
        ts, close = row[0], row[4]
        for name, value in (("timestamp", ts), ("close", close)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"{what}[{i}] {name} must be a number, got {value!r}")
        if not (math.isfinite(close) and close > 0):
            raise InvalidInput(f"{what}[{i}] close must be positive and finite, got {close!r}")
        if last_ts is not None and ts <= last_ts:
            raise InvalidInput(f"{what}[{i}] timestamp {ts} is not after the previous {last_ts}")
        last_ts = float(ts)
        closes[i] = float(close)
    return closes


def price_history_from_klines(klines: Mapping[str, Sequence[Sequence[Any]]]) -> dict[str, Array]:
    """``{underlying: closes}`` from ``{underlying: OHLCV rows}`` (see :func:`closes_from_klines`).

    Raises:
        InvalidInput: not a mapping, a bad row, or series of different lengths.
    """
    if not isinstance(klines, Mapping):
        raise InvalidInput(f"klines must map underlying to OHLCV rows, got {type(klines).__name__}")
    out = {name: closes_from_klines(rows, f"klines[{name!r}]") for name, rows in klines.items()}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise InvalidInput(f"kline series must have the same length, got {sorted(lengths)}")
    return out


def load_price_history(path: str | Path) -> dict[str, Array]:
    """Read a CSV file with a header row: one column per underlying (its symbol), oldest row
    first; a time column (``ts``, ``time``, ``timestamp``, ``date``, ``datetime``,
    ``open_time``) is allowed and ignored.

    Raises:
        InvalidInput: the file cannot be read, has no header or no price column, or a cell is
            not a positive number (the row and column are named).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read price history {str(p)!r}: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InvalidInput(f"price history {str(p)!r} is empty; expected a header row")
    header = [h.strip() for h in rows[0]]
    cols = [i for i, h in enumerate(header) if h.lower() not in _TIME_COLUMNS]
    if not cols:
        raise InvalidInput(f"price history {str(p)!r} has no price column (header {header})")
    out = {header[i]: np.empty(len(rows) - 1) for i in cols}
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InvalidInput(f"{p.name} line {r}: {len(row)} cells, the header has {len(header)}")
        for i in cols:
            try:
                value = float(row[i])
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise InvalidInput(
                    f"{p.name} line {r}, column {header[i]!r}: {row[i]!r} is not a positive price"
                )
            out[header[i]][r - 2] = value
    return out
