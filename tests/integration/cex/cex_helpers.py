"""Helpers for the ccxt venue tests: a CcxtVenue config aimed at an in-process simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxt_pro

from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.venues.cex import CcxtVenueConfig

API_KEY = "cex-key"
SECRET = "cex-secret"
BALANCES = {"USDC": Decimal(100_000), "ETH": Decimal(10), "BTC": Decimal(1)}
OPTIONS = {
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchMarkets": {"types": ["spot"]},
}


def venue_config(sim: ExchangeSimulator, **overrides: Any) -> CcxtVenueConfig:
    """Binance through ccxt, with only ``urls['api']`` pointed at the simulator."""
    settings: dict[str, Any] = {
        "exchange": "binance",
        "api_key": API_KEY,
        "secret": SECRET,
        "options": OPTIONS,
        "urls": sim.binance_urls(ccxt_pro.binance().urls["api"]),
        "enable_rate_limit": False,
        "rate_per_s": 200.0,
        "burst": 50,
        "poll_interval_s": 0.2,
        "timeout_s": 2.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
    }
    settings.update(overrides)
    return CcxtVenueConfig(**settings)


async def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until true; the timeout only bounds a failure (load makes it slow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
