"""The options venue tests' exchange account and venue config (imported by the conftest and by
the tests)."""

from __future__ import annotations

from oms_chain.devnet.deribit import DeribitSimulator
from oms_chain.venues.cex import CcxtVenueConfig
from oms_chain.venues.options import DeribitOptionsConfig

API_KEY, SECRET = "optvenue-key", "optvenue-secret"
START_NS = 1_796_288_400 * 1_000_000_000  # Thursday 2026-12-03T09:00:00Z


def venue_config(sim: DeribitSimulator) -> DeribitOptionsConfig:
    return DeribitOptionsConfig(
        ccxt=CcxtVenueConfig(
            exchange="deribit", api_key=API_KEY, secret=SECRET, urls=sim.deribit_urls()
        ),
        currencies=("ETH",),
    )
