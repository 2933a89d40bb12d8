"""The Deribit-protocol exchange's test account and an unmodified ccxt client on it (imported by
the conftest and by the tests)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro

from oms_chain.devnet.deribit import DeribitSimulator

API_KEY, SECRET = "deribit-test-key", "deribit-test-secret"
BALANCES = {"ETH": Decimal(100), "BTC": Decimal(10)}
START_NS = 1_796_288_400 * 1_000_000_000  # 2026-12-03T09:00:00Z


def client(sim: DeribitSimulator, secret: str = SECRET) -> Any:
    """Unmodified ``ccxt.pro.deribit`` pointed at the simulator (only ``urls['api']``)."""
    exchange = ccxtpro.deribit({"apiKey": API_KEY, "secret": secret})
    exchange.urls["api"] = sim.deribit_urls()
    return exchange
