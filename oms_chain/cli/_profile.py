"""VWAP volume profiles: from a file (``--profile``) or the exchange's klines."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from oms_chain.cli._app import _read_runtime
from oms_chain.cli._args import MAX_SLICES, _decimal_text, _unwrapped
from oms_chain.cli._errors import _one_line
from oms_chain.cli._output import err_console
from oms_chain.model.errors import InvalidInput


def _read_profile(path: Path, slices: int | None) -> str:
    """``--profile FILE``: non-negative weights (commas, spaces or lines between them)."""
    try:
        if not path.is_file():
            raise InvalidInput(f"--profile {path}: no such file")
        if path.stat().st_size > 1_000_000:
            raise InvalidInput(f"--profile {path}: over 1 MB; give one weight per slice")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--profile {path}: cannot read it ({exc})") from None
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    weights = [_decimal_text(p, "--profile weight") for p in parts]
    if not 1 <= len(weights) <= MAX_SLICES or sum(weights) <= 0:
        raise InvalidInput(
            f"--profile {path}: needs 1 to {MAX_SLICES} non-negative weights with a positive sum"
        )
    if slices is not None and slices != len(weights):
        raise InvalidInput(
            f"--slices {slices} conflicts with the {len(weights)} weights of --profile; give one"
        )
    return ",".join(str(w) for w in weights)


_TIMEFRAMES = (
    ("1s", 1),
    ("1m", 60),
    ("3m", 180),
    ("5m", 300),
    ("15m", 900),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("4h", 14400),
    ("6h", 21600),
    ("12h", 43200),
    ("1d", 86400),
)


def _kline_timeframe(duration_ns: int, buckets: int) -> tuple[str, int]:
    """The largest Binance kline interval that fits a bucket, coarse enough that the window
    takes at most 1000 klines."""
    bucket_s = duration_ns / 10**9 / buckets
    chosen = _TIMEFRAMES[0]
    for tf in _TIMEFRAMES:
        if tf[1] <= bucket_s:
            chosen = tf
    while duration_ns / 10**9 / chosen[1] > 1000 and chosen != _TIMEFRAMES[-1]:
        chosen = _TIMEFRAMES[_TIMEFRAMES.index(chosen) + 1]
    return chosen


def _kline_profile(
    symbol: str, duration_ns: int, buckets: int, *, config: Path | None, exchange: bool
) -> str:
    """VWAP weights: the exchange's traded volume (ccxt ``fetch_ohlcv``, Binance
    ``GET /api/v3/klines``) in ``buckets`` equal buckets over the ``duration_ns`` just before
    now. A window without volume gives an even profile.

    Raises:
        InvalidInput: no exchange to ask; VenueUnavailable: the exchange did not answer.
    """
    import ccxt

    from oms_chain.model.errors import VenueUnavailable
    from oms_chain.service import local_exchange_urls

    hint = "pass --profile FILE"
    if not exchange:
        raise InvalidInput(f"--algo vwap without --profile reads the exchange's klines; {hint}")
    rest_url: str | None = None
    sandbox = False
    ex_id = "binance"
    if config is not None:
        from oms_chain.engine import load_config

        found = [v for v in load_config(config).venues if v.kind == "ccxt"]
        if not found:
            raise InvalidInput(f"--algo vwap: the config has no exchange for klines; {hint}")
        ex_id, sandbox = found[0].exchange or found[0].name, found[0].testnet
    else:
        _, info = _read_runtime()
        ex = info["chains"].get("exchange")
        if not isinstance(ex, dict) or "rest_url" not in ex:
            raise InvalidInput(f"--algo vwap: the running devnet has no exchange; {hint}")
        rest_url = str(ex["rest_url"])
    klass = getattr(ccxt, ex_id, None)
    if klass is None:
        raise InvalidInput(f"{ex_id!r} is not a ccxt exchange id")
    client = klass(
        {
            "enableRateLimit": False,
            "timeout": 10_000,
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    if rest_url is not None:
        client.urls["api"] = local_exchange_urls(client.urls["api"], rest_url)
    elif sandbox:
        client.set_sandbox_mode(True)
    base, quote = (_unwrapped(a) for a in symbol.split("/"))
    timeframe, tf_s = _kline_timeframe(duration_ns, buckets)
    duration_ms = duration_ns // 10**6
    try:
        now_ms = int(client.fetch_time())
        since = now_ms - duration_ms
        rows = client.fetch_ohlcv(
            f"{base}/{quote}",
            timeframe,
            since=since,
            limit=min(1000, duration_ms // (tf_s * 1000) + 1),
        )
    except ccxt.BaseError as exc:
        raise VenueUnavailable(
            f"could not read {base}/{quote} klines from {ex_id} for the VWAP profile "
            f"({type(exc).__name__}: {_one_line(str(exc))[:200]}); {hint}"
        ) from None
    volumes = [Decimal(0)] * buckets
    for row in rows:
        ts, volume = int(row[0]), row[5]
        if ts < since or volume is None:
            continue
        idx = min(buckets - 1, (ts - since) * buckets // max(duration_ms, 1))
        volumes[idx] += Decimal(str(volume))
    if sum(volumes) <= 0:
        err_console.print(
            f"[dim]no {base}/{quote} volume on {ex_id} in the last window: even VWAP profile[/]",
            highlight=False,
        )
        volumes = [Decimal(1)] * buckets
    return ",".join(f"{v.normalize():f}" for v in volumes)
