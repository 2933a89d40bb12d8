"""The ccxt venue: centralized exchanges behind the :class:`~oms_chain.venues.base.Venue` protocol.

Configure with :class:`CcxtVenueConfig` (exchange id, credentials, options, optional URL
overrides); ccxt's dicts become our types in :mod:`.normalize`. :class:`DepthBook` is the local
order book kept from Binance's diff-depth stream (used by :class:`CcxtVenue` for
Binance-protocol exchanges).
"""

from oms_chain.venues.cex.book import DepthBook, DiffResult
from oms_chain.venues.cex.config import CcxtVenueConfig
from oms_chain.venues.cex.normalize import (
    CcxtMarket,
    balances_from_ccxt,
    exact_decimal,
    fill_report_from_ccxt,
    levels_from_ccxt,
    order_report_from_ccxt,
)
from oms_chain.venues.cex.throttle import Backoff, TokenBucket
from oms_chain.venues.cex.venue import CcxtVenue

__all__ = [
    "Backoff",
    "CcxtMarket",
    "CcxtVenue",
    "CcxtVenueConfig",
    "DepthBook",
    "DiffResult",
    "TokenBucket",
    "balances_from_ccxt",
    "exact_decimal",
    "fill_report_from_ccxt",
    "levels_from_ccxt",
    "order_report_from_ccxt",
]
