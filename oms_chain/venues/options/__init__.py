"""Options venues behind the :class:`~oms_chain.venues.base.Venue` protocol.

:class:`DeribitOptionsVenue` trades options on a Deribit-protocol exchange through unmodified
ccxt (premiums in the underlying); :mod:`.types` holds what both options venues report besides
orders: tickers with IV and Greeks, positions, expiry settlements. :class:`OnchainOptionsVenue`
trades our ``OptionsMarket`` contract by RFQ to makers, settled and tracked like every on-chain
order (the shared :class:`~oms_chain.venues.amm.account.ChainAccount`).
"""

from oms_chain.venues.options.deribit import (
    DeribitOptionsConfig,
    DeribitOptionsVenue,
)
from oms_chain.venues.options.factory import deribit_options_venue, onchain_options_venue
from oms_chain.venues.options.onchain import (
    MakerQuote,
    OnchainOptionsConfig,
    OnchainOptionsVenue,
    SeriesListing,
)
from oms_chain.venues.options.types import (
    OptionPosition,
    OptionSettlement,
    OptionTicker,
    premium_in_quote,
)

__all__ = [
    "DeribitOptionsConfig",
    "DeribitOptionsVenue",
    "MakerQuote",
    "OnchainOptionsConfig",
    "OnchainOptionsVenue",
    "OptionPosition",
    "OptionSettlement",
    "OptionTicker",
    "SeriesListing",
    "deribit_options_venue",
    "onchain_options_venue",
    "premium_in_quote",
]
